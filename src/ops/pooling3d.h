// 3-D pooling (NCDHW) by direct loops: the Pooling op's path for 5-D data (MXNet's MaxPool3D,
// AvgPool3D, GlobalMax/AvgPool3D). Same rules as the 2-D kernel: output size floor or ceil
// ("full") of (size + 2 pad - kernel) / stride + 1; avg divides by the window clipped to the
// padded input (count_include_pad) or to the input; max takes the first maximum in (d, h, w)
// order and saves its tap index kd * KH * KW + kh * KW + kw (as a float) for backward.
#ifndef COARSENET_OPS_POOLING3D_H_
#define COARSENET_OPS_POOLING3D_H_

#include <algorithm>
#include <limits>
#include <vector>

#include "coarsenet/op.h"

namespace cn_pool3d {

struct Geom3 {
  int64_t planes, in[3], out[3], k[3], s[3], p[3];
  bool include_pad;
  int64_t in_vol() const { return in[0] * in[1] * in[2]; }
  int64_t out_vol() const { return out[0] * out[1] * out[2]; }
  // Window [start, end) of output i in dimension a, clipped to the padded input, and the
  // number of elements avg divides by.
  void Window(int a, int64_t i, int64_t* lo, int64_t* hi, int64_t* count) const {
    const int64_t start = i * s[a] - p[a], end = std::min(start + k[a], in[a] + p[a]);
    *lo = std::max(start, int64_t(0));
    *hi = std::min(end, in[a]);
    *count = include_pad ? end - start : *hi - *lo;
  }
};

// Calls fn(out_index, x_index, tap, divisor) for every output and every in-input tap, in
// (d, h, w) order; x_index is within one plane.
template <typename Fn>
void ForWindows(const Geom3& g, Fn&& fn) {
  for (int64_t od = 0; od < g.out[0]; ++od) {
    int64_t d0, d1, cd;
    g.Window(0, od, &d0, &d1, &cd);
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      int64_t h0, h1, ch;
      g.Window(1, oh, &h0, &h1, &ch);
      for (int64_t ow = 0; ow < g.out[2]; ++ow) {
        int64_t w0, w1, cw;
        g.Window(2, ow, &w0, &w1, &cw);
        const int64_t o = (od * g.out[1] + oh) * g.out[2] + ow;
        const int64_t divisor = std::max<int64_t>(cd * ch * cw, 1);
        fn.begin(o);
        for (int64_t d = d0; d < d1; ++d)
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) {
              const int64_t tap = ((d - od * g.s[0] + g.p[0]) * g.k[1] +
                                   (h - oh * g.s[1] + g.p[1])) * g.k[2] +
                                  (w - ow * g.s[2] + g.p[2]);
              fn.tap(o, (d * g.in[1] + h) * g.in[2] + w, tap);
            }
        fn.end(o, divisor);
      }
    }
  }
}

template <typename DType>
void Forward(const Geom3& g, bool is_max, bool is_avg, const DType* x, DType* y, int32_t req,
             DType* arg) {
  cn::ParallelFor(g.planes, 1, [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      const DType* xp = x + plane * g.in_vol();
      DType* yp = y + plane * g.out_vol();
      DType* ap = arg ? arg + plane * g.out_vol() : nullptr;
      struct {
        const DType* xp;
        DType* yp;
        DType* ap;
        int32_t req;
        bool is_max, is_avg;
        DType acc, best_tap;
        void begin(int64_t) {
          acc = is_max ? std::numeric_limits<DType>::lowest() : DType(0);
          best_tap = DType(-1);
        }
        void tap(int64_t, int64_t xi, int64_t t) {
          if (!is_max) {
            acc += xp[xi];
          } else if (xp[xi] > acc || best_tap < 0) {
            acc = xp[xi];
            best_tap = DType(t);
          }
        }
        void end(int64_t o, int64_t divisor) {
          if (req != CN_REQ_NULL)
            cn::Store(&yp[o], req, is_avg ? acc / DType(divisor) : acc);
          if (ap) ap[o] = best_tap;
        }
      } fn{xp, yp, ap, req, is_max, is_avg, DType(0), DType(-1)};
      ForWindows(g, fn);
    }
  });
}

template <typename DType>
void Backward(const Geom3& g, bool is_max, bool is_avg, const DType* dy, const DType* arg,
              DType* dx, int32_t req) {
  cn::ParallelFor(g.planes, 1, [&](int64_t b, int64_t e) {
    std::vector<DType> acc(g.in_vol());
    std::vector<DType> scale(g.out_vol(), DType(1));
    for (int64_t plane = b; plane < e; ++plane) {
      std::fill(acc.begin(), acc.end(), DType(0));
      const DType* dyp = dy + plane * g.out_vol();
      const DType* ap = arg ? arg + plane * g.out_vol() : nullptr;
      // Pass 1 (avg): each output's divisor; pass 2: spread the gradient over the window.
      struct {
        DType* scale;
        void begin(int64_t) {}
        void tap(int64_t, int64_t, int64_t) {}
        void end(int64_t o, int64_t divisor) { scale[o] = DType(1) / DType(divisor); }
      } counts{scale.data()};
      if (is_avg) ForWindows(g, counts);
      struct {
        const DType* dyp;
        const DType* ap;
        const DType* scale;
        DType* acc;
        bool is_max;
        void begin(int64_t) {}
        void tap(int64_t o, int64_t xi, int64_t t) {
          if (!is_max)
            acc[xi] += dyp[o] * scale[o];
          else if (ap[o] == DType(t))
            acc[xi] += dyp[o];
        }
        void end(int64_t, int64_t) {}
      } spread{dyp, ap, scale.data(), acc.data(), is_max};
      ForWindows(g, spread);
      DType* dxp = dx + plane * g.in_vol();
      for (int64_t i = 0; i < g.in_vol(); ++i) cn::Store(&dxp[i], req, acc[i]);
    }
  });
}

}  // namespace cn_pool3d

#endif  // COARSENET_OPS_POOLING3D_H_
