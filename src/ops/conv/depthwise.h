// Depthwise convolution kernels (Geom::depthwise: one input channel per group, fg filters each;
// MobileNet's 3x3 layers). As GEMMs these have one row per group and K = kh kw, so they run
// direct instead, one (image, channel) plane per task: the input plane is copied into a
// zero-bordered buffer, so every tap is a shifted row operation without bounds checks that
// vectorises, and padding costs nothing per tap. Stride 1 (MobileNet's 3x3 layers) runs the
// wide-grid kernels of depthwise_flat.h; this file keeps the strided (row by row) kernels.
// The weight gradient gives each thread whole channels (summed over all images), so no
// reduction between threads is needed.
#ifndef COARSENET_OPS_CONV_DEPTHWISE_H_
#define COARSENET_OPS_CONV_DEPTHWISE_H_

#include <algorithm>
#include <vector>

#include "ops/conv/columns.h"
#include "ops/conv/depthwise_flat.h"

namespace cn::conv {

// The zero-bordered copy of one input plane: (h + 2 ph) x (w + 2 pw); the output position
// (oy, ox) reads tap (ki, kj) at row oy sh + ki dh, column ox sw + kj dw.
struct PaddedPlane {
  int64_t rows, cols;
  explicit PaddedPlane(const Geom& g) : rows(g.h + 2 * g.ph), cols(g.w + 2 * g.pw) {}
  int64_t size() const { return rows * cols; }
  // Copies a plane into the interior; the border is never written, so a buffer zeroed once
  // (a fresh std::vector) serves every plane.
  template <typename DType>
  void Fill(const Geom& g, const DType* plane, DType* buf) const {
    for (int64_t y = 0; y < g.h; ++y)
      std::copy_n(plane + y * g.w, g.w, buf + (y + g.ph) * cols + g.pw);
  }
};

// sum of a[q] b[q] (stride of b: sb) in independent lanes, so it vectorises without
// reassociating one serial float sum.
template <typename DType>
DType Dot(const DType* a, const DType* b, int64_t len, int64_t sb) {
  constexpr int kLanes = 16;
  DType lane[kLanes] = {};
  int64_t q = 0;
  for (; q + kLanes <= len; q += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] += a[q + l] * b[(q + l) * sb];
  DType sum = 0;
  for (; q < len; ++q) sum += a[q] * b[q * sb];
  for (int l = 0; l < kLanes; ++l) sum += lane[l];
  return sum;
}

// y = conv(x, w) + bias (may be null).
template <typename DType>
void DepthwiseForward(const Geom& g, const DType* x, const DType* w, const DType* bias,
                      DType* y, int32_t req) {
  const PaddedPlane pad(g);
  const int64_t fg = g.fg(), taps = g.kh * g.kw;
  if (g.sh == 1 && g.sw == 1) return flat::Forward(g, x, w, bias, y, req);
  ParallelFor(g.n * g.c, 1, [&](int64_t t0, int64_t t1) {
    std::vector<DType> buf(pad.size()), acc(g.ow);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i = t / g.c, ch = t % g.c;
      pad.Fill(g, x + t * g.hw(), buf.data());
      for (int64_t o = ch * fg; o < (ch + 1) * fg; ++o) {
        const DType* wo = w + o * taps;
        DType* yo = y + (i * g.f + o) * g.ohw();
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          std::fill(acc.begin(), acc.end(), bias ? bias[o] : DType(0));
          DType* a = acc.data();
          for (int64_t ki = 0; ki < g.kh; ++ki) {
            const DType* row = buf.data() + (oy * g.sh + ki * g.dh) * pad.cols;
            for (int64_t kj = 0; kj < g.kw; ++kj) {
              const DType wv = wo[ki * g.kw + kj];
              const DType* src = row + kj * g.dw;
              if (g.sw == 1)
                for (int64_t ox = 0; ox < g.ow; ++ox) a[ox] += wv * src[ox];
              else
                for (int64_t ox = 0; ox < g.ow; ++ox) a[ox] += wv * src[ox * g.sw];
            }
          }
          DType* dst = yo + oy * g.ow;
          for (int64_t ox = 0; ox < g.ow; ++ox) Store(&dst[ox], req, a[ox]);
        }
      }
    }
  });
}

// dx = conv^T(dy, w) + bias over dx's channels (bias may be null; Deconvolution's forward):
// each output-gradient row scatters into the bordered buffer, whose interior is dx.
template <typename DType>
void DepthwiseDataGrad(const Geom& g, const DType* dy, const DType* w, const DType* bias,
                       DType* dx, int32_t req) {
  const PaddedPlane pad(g);
  const int64_t fg = g.fg(), taps = g.kh * g.kw;
  if (g.sh == 1 && g.sw == 1 && flat::Plane::GatherableDataGrad(g))
    return flat::DataGrad(g, dy, w, bias, dx, req);
  ParallelFor(g.n * g.c, 1, [&](int64_t t0, int64_t t1) {
    std::vector<DType> buf(pad.size());
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i = t / g.c, ch = t % g.c;
      std::fill(buf.begin(), buf.end(), DType(0));
      for (int64_t o = ch * fg; o < (ch + 1) * fg; ++o) {
        const DType* wo = w + o * taps;
        const DType* go = dy + (i * g.f + o) * g.ohw();
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          const DType* grow = go + oy * g.ow;
          for (int64_t ki = 0; ki < g.kh; ++ki) {
            DType* row = buf.data() + (oy * g.sh + ki * g.dh) * pad.cols;
            for (int64_t kj = 0; kj < g.kw; ++kj) {
              const DType wv = wo[ki * g.kw + kj];
              DType* dst = row + kj * g.dw;
              if (g.sw == 1)
                for (int64_t ox = 0; ox < g.ow; ++ox) dst[ox] += wv * grow[ox];
              else
                for (int64_t ox = 0; ox < g.ow; ++ox) dst[ox * g.sw] += wv * grow[ox];
            }
          }
        }
      }
      const DType b = bias ? bias[ch] : DType(0);
      DType* out = dx + t * g.hw();
      for (int64_t yy = 0; yy < g.h; ++yy) {
        const DType* src = buf.data() + (yy + g.ph) * pad.cols + g.pw;
        for (int64_t xx = 0; xx < g.w; ++xx) Store(&out[yy * g.w + xx], req, src[xx] + b);
      }
    }
  });
}

// dw[o][ki][kj] = sum over images and positions of dy[o] times the input under tap (ki, kj).
// Per image the sums run in DType, across images in double.
template <typename DType>
void DepthwiseWeightGrad(const Geom& g, const DType* x, const DType* dy, DType* dw,
                         int32_t req) {
  const PaddedPlane pad(g);
  if (g.sh == 1 && g.sw == 1) return flat::WeightGrad(g, x, dy, dw, req);
  const int64_t fg = g.fg(), taps = g.kh * g.kw;
  ParallelFor(g.c, 1, [&](int64_t c0, int64_t c1) {
    std::vector<DType> buf(pad.size());
    std::vector<double> total(fg * taps);
    for (int64_t ch = c0; ch < c1; ++ch) {
      std::fill(total.begin(), total.end(), 0.0);
      for (int64_t i = 0; i < g.n; ++i) {
        pad.Fill(g, x + (i * g.c + ch) * g.hw(), buf.data());
        for (int64_t k = 0; k < fg; ++k) {
          const DType* go = dy + (i * g.f + ch * fg + k) * g.ohw();
          for (int64_t ki = 0; ki < g.kh; ++ki)
            for (int64_t kj = 0; kj < g.kw; ++kj) {
              DType sum = 0;
              for (int64_t oy = 0; oy < g.oh; ++oy) {
                const DType* src = buf.data() + (oy * g.sh + ki * g.dh) * pad.cols + kj * g.dw;
                sum += Dot(go + oy * g.ow, src, g.ow, g.sw);
              }
              total[k * taps + ki * g.kw + kj] += sum;
            }
        }
      }
      for (int64_t q = 0; q < fg * taps; ++q)
        Store(&dw[ch * fg * taps + q], req, DType(total[q]));
    }
  });
}

}  // namespace cn::conv

#endif  // COARSENET_OPS_CONV_DEPTHWISE_H_
