// Depthwise convolution kernels (Geom::depthwise: one input channel per group, fg filters each;
// MobileNet's 3x3 layers). As GEMMs these have one row per group and K = kh kw, so they run
// direct instead, one (image, channel) plane per task: the input plane is copied into a
// zero-bordered buffer, so every tap is a shifted row operation without bounds checks that
// vectorises, and padding costs nothing per tap. With stride 1 a tap is one long loop over the
// whole plane: outputs are computed on the buffer's wider grid (its row stride), the columns
// past the output width are dropped, so small maps (14x14, 7x7) do not run short rows.
// The weight gradient gives each thread whole channels (summed over all images), so no
// reduction between threads is needed.
#ifndef COARSENET_OPS_CONV_DEPTHWISE_H_
#define COARSENET_OPS_CONV_DEPTHWISE_H_

#include <algorithm>
#include <vector>

#include "ops/conv/columns.h"

namespace cn::conv {

// The zero-bordered copy of one input plane: (h + 2 ph) x (w + 2 pw); the output position
// (oy, ox) reads tap (ki, kj) at row oy sh + ki dh, column ox sw + kj dw. The zero tail lets
// a stride-1 tap run over whole rows of the wider grid (oy cols + ox for ox < cols).
struct PaddedPlane {
  int64_t rows, cols, tail;
  explicit PaddedPlane(const Geom& g)
      : rows(g.h + 2 * g.ph), cols(g.w + 2 * g.pw), tail((g.kw - 1) * g.dw) {}
  int64_t size() const { return rows * cols + tail; }
  bool flat(const Geom& g) const { return g.sh == 1 && g.sw == 1; }
  int64_t offset(const Geom& g, int64_t ki, int64_t kj) const {
    return ki * g.dh * cols + kj * g.dw;
  }
  // Copies a plane into the interior; the border and tail are never written, so a buffer
  // zeroed once (a fresh std::vector) serves every plane.
  template <typename DType>
  void Fill(const Geom& g, const DType* plane, DType* buf) const {
    for (int64_t y = 0; y < g.h; ++y)
      std::copy_n(plane + y * g.w, g.w, buf + (y + g.ph) * cols + g.pw);
  }
  // An output-sized plane (oh, ow) on the wide grid (oh x cols), zero past the output width.
  template <typename DType>
  void Widen(const Geom& g, const DType* plane, DType* wide) const {
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      std::copy_n(plane + oy * g.ow, g.ow, wide + oy * cols);
      std::fill(wide + oy * cols + g.ow, wide + (oy + 1) * cols, DType(0));
    }
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
  const bool flat = pad.flat(g);
  ParallelFor(g.n * g.c, 1, [&](int64_t t0, int64_t t1) {
    std::vector<DType> buf(pad.size()), acc(flat ? g.oh * pad.cols : g.ow);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i = t / g.c, ch = t % g.c;
      pad.Fill(g, x + t * g.hw(), buf.data());
      for (int64_t o = ch * fg; o < (ch + 1) * fg; ++o) {
        const DType* wo = w + o * taps;
        DType* yo = y + (i * g.f + o) * g.ohw();
        if (flat) {  // every tap one loop over oh rows of the wide grid
          const int64_t len = g.oh * pad.cols;
          DType* a = acc.data();
          std::fill(a, a + len, bias ? bias[o] : DType(0));
          for (int64_t ki = 0; ki < g.kh; ++ki)
            for (int64_t kj = 0; kj < g.kw; ++kj) {
              const DType wv = wo[ki * g.kw + kj];
              const DType* src = buf.data() + pad.offset(g, ki, kj);
              for (int64_t q = 0; q < len; ++q) a[q] += wv * src[q];
            }
          for (int64_t oy = 0; oy < g.oh; ++oy) {
            const DType* src = a + oy * pad.cols;
            DType* dst = yo + oy * g.ow;
            if (req == CN_REQ_ADD)
              for (int64_t ox = 0; ox < g.ow; ++ox) dst[ox] += src[ox];
            else
              std::copy_n(src, g.ow, dst);
          }
          continue;
        }
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
  const bool flat = pad.flat(g);
  const int64_t len = g.oh * pad.cols;
  ParallelFor(g.n * g.c, 1, [&](int64_t t0, int64_t t1) {
    std::vector<DType> buf(pad.size()), wide(flat ? len : 0);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i = t / g.c, ch = t % g.c;
      std::fill(buf.begin(), buf.end(), DType(0));
      for (int64_t o = ch * fg; o < (ch + 1) * fg; ++o) {
        const DType* wo = w + o * taps;
        const DType* go = dy + (i * g.f + o) * g.ohw();
        if (flat) {  // dy on the wide grid, one loop per tap
          pad.Widen(g, go, wide.data());
          const DType* src = wide.data();
          for (int64_t ki = 0; ki < g.kh; ++ki)
            for (int64_t kj = 0; kj < g.kw; ++kj) {
              const DType wv = wo[ki * g.kw + kj];
              DType* dst = buf.data() + pad.offset(g, ki, kj);
              for (int64_t q = 0; q < len; ++q) dst[q] += wv * src[q];
            }
          continue;
        }
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

// Stride-1 weight gradient (the flat wide-grid layout): for every tap, lanes of partial sums
// over the wide grid, kept across kWgImages images before they are added into a double total
// (per-plane dot products on 7x7 maps spent their time in the tails and the final reductions).
constexpr int kWgLanes = 16;
constexpr int64_t kWgImages = 8;

template <typename DType>
void DepthwiseWeightGradFlat(const Geom& g, const DType* x, const DType* dy, DType* dw,
                             int32_t req) {
  const PaddedPlane pad(g);
  const int64_t fg = g.fg(), taps = g.kh * g.kw;
  const int64_t len = g.oh * pad.cols;
  const int64_t padded = (len + kWgLanes - 1) / kWgLanes * kWgLanes;  // zero past len
  const int64_t max_off = pad.offset(g, g.kh - 1, g.kw - 1);
  ParallelFor(g.c, 1, [&](int64_t c0, int64_t c1) {
    std::vector<DType> buf(std::max(pad.size(), max_off + padded)), wide(padded);
    std::vector<DType> lanes(fg * taps * kWgLanes);
    std::vector<double> total(fg * taps);
    std::vector<int64_t> offs(taps);
    for (int64_t t = 0; t < taps; ++t) offs[t] = pad.offset(g, t / g.kw, t % g.kw);
    for (int64_t ch = c0; ch < c1; ++ch) {
      std::fill(total.begin(), total.end(), 0.0);
      for (int64_t i0 = 0; i0 < g.n; i0 += kWgImages) {
        std::fill(lanes.begin(), lanes.end(), DType(0));
        for (int64_t i = i0; i < std::min(g.n, i0 + kWgImages); ++i) {
          pad.Fill(g, x + (i * g.c + ch) * g.hw(), buf.data());
          for (int64_t k = 0; k < fg; ++k) {
            pad.Widen(g, dy + (i * g.f + ch * fg + k) * g.ohw(), wide.data());
            const DType* wv = wide.data();
            for (int64_t t = 0; t < taps; ++t) {
              DType* acc = lanes.data() + (k * taps + t) * kWgLanes;
              const DType* src = buf.data() + offs[t];
              DType a[kWgLanes];  // a local copy stays in registers (no aliasing with src)
              std::copy_n(acc, kWgLanes, a);
              for (int64_t q = 0; q < padded; q += kWgLanes)
                for (int l = 0; l < kWgLanes; ++l) a[l] += wv[q + l] * src[q + l];
              std::copy_n(a, kWgLanes, acc);
            }
          }
        }
        for (int64_t q = 0; q < fg * taps; ++q) {
          DType sum = 0;
          for (int l = 0; l < kWgLanes; ++l) sum += lanes[q * kWgLanes + l];
          total[q] += sum;
        }
      }
      for (int64_t q = 0; q < fg * taps; ++q)
        Store(&dw[ch * fg * taps + q], req, DType(total[q]));
    }
  });
}

// dw[o][ki][kj] = sum over images and positions of dy[o] times the input under tap (ki, kj).
// Per image the sums run in DType, across images in double.
template <typename DType>
void DepthwiseWeightGrad(const Geom& g, const DType* x, const DType* dy, DType* dw,
                         int32_t req) {
  const PaddedPlane pad(g);
  if (pad.flat(g)) return DepthwiseWeightGradFlat(g, x, dy, dw, req);
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
