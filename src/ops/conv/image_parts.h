// WeightGrad of convolutions with few column rows (Geom::image_parts): LeNet's first layer
// (1 -> 20 channels, 5x5: 25 rows), the 3-channel 3x3 stems of CIFAR nets (27 rows). WeightGrad
// splits rows of dW across threads (dispatch.h), but these have one row chunk only, and each
// image's GEMM is too small for the host's GEMM to split, so the whole pass ran on one thread.
// Here the images are cut into a fixed number of parts (from shapes alone, never the thread
// count, so the bits do not depend on it); each part sums its images into its own partial dW,
// parts run in parallel slots, and the partials are added in part order at the end.
#ifndef COARSENET_OPS_CONV_IMAGE_PARTS_H_
#define COARSENET_OPS_CONV_IMAGE_PARTS_H_

#include <algorithm>

#include "ops/conv/columns.h"

namespace cn::conv {

template <typename DType>
void WeightGradImageParts(const Geom& g, const DType* x, const DType* dy, DType* dw,
                          int32_t req, DType* ws) {
  const int64_t tile = g.tile(), kg = g.kg(), fg = g.fg(), hw = g.hw(), ohw = g.ohw();
  const int64_t rows = g.groups * kg, per = g.images_per_part(), dw_elems = g.f * kg;
  DType* partial = ws + g.part_slots() * rows * tile;  // one dW per part, after the columns
  ForEachImageGroup(g, per, [&](int64_t slot, int64_t i0, int64_t m) {
    DType* col = ws + slot * rows * tile;
    DType* part = partial + (i0 / per) * dw_elems;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      bool first = true;
      for (int64_t i = i0; i < i0 + m; ++i) {
        const DType* xg = x + (i * g.c + grp * g.cg()) * hw;
        for (int64_t p0 = 0; p0 < ohw; p0 += tile) {
          const int64_t p1 = std::min(ohw, p0 + tile), len = p1 - p0;
          int64_t ldb;
          const DType* b = ColumnsOrInput(g, xg, 0, kg, p0, p1, col, &ldb);
          Gemm(false, true, fg, kg, len, DType(1), dy + (i * g.f + grp * fg) * ohw + p0, ohw, b,
               ldb, DType(first ? 0 : 1), part + grp * fg * kg, kg);
          first = false;
        }
      }
    }
  });
  const int64_t parts = (g.n + per - 1) / per;
  ParallelFor(dw_elems, 256, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      DType sum = partial[e];
      for (int64_t k = 1; k < parts; ++k) sum += partial[k * dw_elems + e];
      Store(&dw[e], req, sum);
    }
  });
}

}  // namespace cn::conv

#endif  // COARSENET_OPS_CONV_IMAGE_PARTS_H_
