// Convolution kernels for small maps (Geom::batched, under 16x16 output positions): one image
// gives a GEMM too few columns, so groups of images sit side by side in one column matrix and
// each group is one GEMM (see dispatch.h for the per-image kernels and the dispatch).
#ifndef COARSENET_OPS_CONV_SMALL_MAPS_H_
#define COARSENET_OPS_CONV_SMALL_MAPS_H_

#include <algorithm>
#include <cstring>

#include "ops/conv/columns.h"

namespace cn::conv {

// Small maps (Geom::batched): groups of images side by side. A multi-image matrix has rows of
// cols = m * ohw values, image j's positions at columns [j * ohw, (j + 1) * ohw). Each slot owns
// one column matrix (every conv group) and one gathered y/dy of (f x cols).

// Rows [r0, r1) of the column matrix of conv group grp for images [i0, i0 + m) into col.
template <typename DType>
void Im2ColImages(const Geom& g, const DType* x, int64_t grp, int64_t r0, int64_t r1,
                  int64_t i0, int64_t m, DType* col) {
  for (int64_t j = 0; j < m; ++j)
    Im2Col(g, x + ((i0 + j) * g.c + grp * g.cg()) * g.hw(), r0, r1, 0, g.ohw(),
           col + j * g.ohw(), m * g.ohw());
}

// out (rows x m * ohw) = images [i0, i0 + m) of y (N, rows, ohw), side by side.
template <typename DType>
void GatherImages(const DType* y, int64_t rows, int64_t ohw, int64_t i0, int64_t m, DType* out) {
  ParallelFor(m * rows, 16, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t j = q / rows, r = q % rows;
      std::memcpy(out + r * m * ohw + j * ohw, y + ((i0 + j) * rows + r) * ohw,
                  ohw * sizeof(DType));
    }
  });
}

template <typename DType>
void ForwardBatched(const Geom& g, const DType* x, const DType* w, const DType* bias, DType* y,
                    int32_t req, DType* ws) {
  const int64_t kg = g.kg(), fg = g.fg(), ohw = g.ohw();
  const int64_t slot_elems = (g.groups * kg + g.f) * g.images() * ohw;
  ForEachImageGroup(g, g.images(), [&](int64_t slot, int64_t i0, int64_t m) {
    const int64_t cols = m * ohw;
    DType* col = ws + slot * slot_elems;
    DType* out = col + g.groups * kg * cols;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      Im2ColImages(g, x, grp, 0, kg, i0, m, col);
      Gemm(false, false, fg, cols, kg, DType(1), w + grp * fg * kg, kg, col, cols, DType(0),
           out + grp * fg * cols, cols);
    }
    ParallelFor(m * g.f, 16, [&](int64_t q0, int64_t q1) {  // scatter into NCHW
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t j = q / g.f, f = q % g.f;
        const DType* src = out + f * cols + j * ohw;
        const DType b = bias ? bias[f] : DType(0);
        DType* dst = y + ((i0 + j) * g.f + f) * ohw;
        for (int64_t p = 0; p < ohw; ++p) Store(&dst[p], req, src[p] + b);
      }
    });
  });
}

template <typename DType>
void DataGradBatched(const Geom& g, const DType* dy, const DType* w, const DType* bias,
                     DType* dx, int32_t req, DType* ws) {
  const int64_t kg = g.kg(), fg = g.fg(), cg = g.cg(), hw = g.hw(), ohw = g.ohw();
  const int64_t slot_elems = (g.groups * kg + g.f) * g.images() * ohw;
  ForEachImageGroup(g, g.images(), [&](int64_t slot, int64_t i0, int64_t m) {
    const int64_t cols = m * ohw;
    DType* col = ws + slot * slot_elems;
    DType* dyb = col + g.groups * kg * cols;
    GatherImages(dy, g.f, ohw, i0, m, dyb);
    for (int64_t grp = 0; grp < g.groups; ++grp)
      Gemm(true, false, kg, cols, fg, DType(1), w + grp * fg * kg, kg, dyb + grp * fg * cols,
           cols, DType(0), col + grp * kg * cols, cols);
    ParallelFor(m * g.groups, 1, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t j = q / g.groups, grp = q % g.groups;
        DType* dxg = dx + ((i0 + j) * g.c + grp * cg) * hw;
        if (req != CN_REQ_ADD) std::fill(dxg, dxg + cg * hw, DType(0));
        Col2Im(g, col + grp * kg * cols + j * ohw, cols, 0, ohw, dxg);
        if (bias)
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t p = 0; p < hw; ++p) dxg[c * hw + p] += bias[grp * cg + c];
      }
    });
  });
}

// dW += dy col^T over the image groups in sequence; threads own disjoint rows of the column
// matrix (columns of dW) as in WeightGrad. A pass is kMinImageGroups image groups wide (see
// Geom::weight_grad_images): the more columns, the fewer passes over dW.
template <typename DType>
void WeightGradBatched(const Geom& g, const DType* x, const DType* dy, DType* dw, int32_t req,
                       DType* ws) {
  const int64_t kg = g.kg(), fg = g.fg(), ohw = g.ohw(), per = g.weight_grad_images();
  for (int64_t i0 = 0; i0 < g.n; i0 += per) {
    const int64_t m = std::min(per, g.n - i0), cols = m * ohw;
    const DType beta = i0 == 0 && req != CN_REQ_ADD ? 0 : 1;
    DType* dyb = ws + g.groups * kg * cols;
    GatherImages(dy, g.f, ohw, i0, m, dyb);
    ForEachRowChunk(g.groups * kg, [&](int64_t q0, int64_t q1) {
      for (int64_t grp = q0 / kg; grp * kg < q1; ++grp) {
        const int64_t r0 = std::max(q0, grp * kg) - grp * kg;
        const int64_t r1 = std::min(q1, (grp + 1) * kg) - grp * kg;
        DType* col = ws + (grp * kg + r0) * cols;
        Im2ColImages(g, x, grp, r0, r1, i0, m, col);
        Gemm(false, true, fg, r1 - r0, cols, DType(1), dyb + grp * fg * cols, cols, col, cols,
             beta, dw + grp * fg * kg + r0, kg);
      }
    });
  }
}

}  // namespace cn::conv

#endif  // COARSENET_OPS_CONV_SMALL_MAPS_H_
