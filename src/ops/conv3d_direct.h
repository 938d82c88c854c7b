// 3-D convolution (NCDHW) by direct loops: the Convolution op's path for 3-value kernels.
//   y[n, f, o] = bias[f] + sum_{c in group(f), k} w[f, c, k] x[n, c, o * s - p + k * d]
// over output positions o = (od, oh, ow) and kernel taps k = (kd, kh, kw); zero outside x.
// Every output volume (n, f), input-gradient volume (n, c) and weight element is computed by one
// task from a local accumulator, so the parallel loops never write the same element and the
// results do not depend on the thread count.
#ifndef COARSENET_OPS_CONV3D_DIRECT_H_
#define COARSENET_OPS_CONV3D_DIRECT_H_

#include <vector>

#include "coarsenet/op.h"

namespace cn_conv3d {

struct Geom3 {
  int64_t n, c, f, g;       // batch, input channels, filters, groups
  int64_t in[3], out[3];    // (d, h, w) sizes
  int64_t k[3], s[3], p[3], dil[3];
  int64_t cg() const { return c / g; }
  int64_t fg() const { return f / g; }
  int64_t in_vol() const { return in[0] * in[1] * in[2]; }
  int64_t out_vol() const { return out[0] * out[1] * out[2]; }
  int64_t k_vol() const { return k[0] * k[1] * k[2]; }
};

// Calls fn(x_offset, y_offset) for every output position whose tap (kd, kh, kw) reads inside
// the input; offsets are within one (d, h, w) volume.
template <typename Fn>
inline void ForTap(const Geom3& g, int64_t kd, int64_t kh, int64_t kw, Fn&& fn) {
  for (int64_t od = 0; od < g.out[0]; ++od) {
    const int64_t id = od * g.s[0] - g.p[0] + kd * g.dil[0];
    if (id < 0 || id >= g.in[0]) continue;
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      const int64_t ih = oh * g.s[1] - g.p[1] + kh * g.dil[1];
      if (ih < 0 || ih >= g.in[1]) continue;
      const int64_t xrow = (id * g.in[1] + ih) * g.in[2], yrow = (od * g.out[1] + oh) * g.out[2];
      for (int64_t ow = 0; ow < g.out[2]; ++ow) {
        const int64_t iw = ow * g.s[2] - g.p[2] + kw * g.dil[2];
        if (iw >= 0 && iw < g.in[2]) fn(xrow + iw, yrow + ow);
      }
    }
  }
}

template <typename DType>
void Forward(const Geom3& g, const DType* x, const DType* w, const DType* bias, DType* y,
             int32_t req) {
  cn::ParallelFor(g.n * g.f, 1, [&](int64_t b, int64_t e) {
    std::vector<DType> acc(g.out_vol());
    for (int64_t nf = b; nf < e; ++nf) {
      const int64_t n = nf / g.f, f = nf % g.f, grp = f / g.fg();
      std::fill(acc.begin(), acc.end(), bias ? bias[f] : DType(0));
      for (int64_t cc = 0; cc < g.cg(); ++cc) {
        const DType* xv = x + (n * g.c + grp * g.cg() + cc) * g.in_vol();
        const DType* wk = w + (f * g.cg() + cc) * g.k_vol();
        for (int64_t kd = 0; kd < g.k[0]; ++kd)
          for (int64_t kh = 0; kh < g.k[1]; ++kh)
            for (int64_t kw = 0; kw < g.k[2]; ++kw) {
              const DType wv = wk[(kd * g.k[1] + kh) * g.k[2] + kw];
              ForTap(g, kd, kh, kw, [&](int64_t xi, int64_t yi) { acc[yi] += wv * xv[xi]; });
            }
      }
      DType* yv = y + nf * g.out_vol();
      for (int64_t i = 0; i < g.out_vol(); ++i) cn::Store(&yv[i], req, acc[i]);
    }
  });
}

template <typename DType>
void DataGrad(const Geom3& g, const DType* dy, const DType* w, DType* dx, int32_t req) {
  if (req == CN_REQ_NULL) return;
  cn::ParallelFor(g.n * g.c, 1, [&](int64_t b, int64_t e) {
    std::vector<DType> acc(g.in_vol());
    for (int64_t nc = b; nc < e; ++nc) {
      const int64_t n = nc / g.c, c = nc % g.c, grp = c / g.cg(), cc = c % g.cg();
      std::fill(acc.begin(), acc.end(), DType(0));
      for (int64_t ff = 0; ff < g.fg(); ++ff) {
        const int64_t f = grp * g.fg() + ff;
        const DType* dyv = dy + (n * g.f + f) * g.out_vol();
        const DType* wk = w + (f * g.cg() + cc) * g.k_vol();
        for (int64_t kd = 0; kd < g.k[0]; ++kd)
          for (int64_t kh = 0; kh < g.k[1]; ++kh)
            for (int64_t kw = 0; kw < g.k[2]; ++kw) {
              const DType wv = wk[(kd * g.k[1] + kh) * g.k[2] + kw];
              ForTap(g, kd, kh, kw, [&](int64_t xi, int64_t yi) { acc[xi] += wv * dyv[yi]; });
            }
      }
      DType* dxv = dx + nc * g.in_vol();
      for (int64_t i = 0; i < g.in_vol(); ++i) cn::Store(&dxv[i], req, acc[i]);
    }
  });
}

template <typename DType>
void WeightGrad(const Geom3& g, const DType* x, const DType* dy, DType* dw, int32_t req) {
  if (req == CN_REQ_NULL) return;
  const int64_t kv = g.k_vol();
  cn::ParallelFor(g.f * g.cg() * kv, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t f = i / (g.cg() * kv), cc = i / kv % g.cg(), t = i % kv;
      const int64_t kd = t / (g.k[1] * g.k[2]), kh = t / g.k[2] % g.k[1], kw = t % g.k[2];
      const int64_t c = f / g.fg() * g.cg() + cc;
      DType acc = 0;
      for (int64_t n = 0; n < g.n; ++n) {
        const DType* xv = x + (n * g.c + c) * g.in_vol();
        const DType* dyv = dy + (n * g.f + f) * g.out_vol();
        ForTap(g, kd, kh, kw, [&](int64_t xi, int64_t yi) { acc += xv[xi] * dyv[yi]; });
      }
      cn::Store(&dw[i], req, acc);
    }
  });
}

template <typename DType>
void BiasGrad(const Geom3& g, const DType* dy, DType* db, int32_t req) {
  if (req == CN_REQ_NULL) return;
  for (int64_t f = 0; f < g.f; ++f) {
    DType acc = 0;
    for (int64_t n = 0; n < g.n; ++n) {
      const DType* dyv = dy + (n * g.f + f) * g.out_vol();
      for (int64_t i = 0; i < g.out_vol(); ++i) acc += dyv[i];
    }
    cn::Store(&db[f], req, acc);
  }
}

}  // namespace cn_conv3d

#endif  // COARSENET_OPS_CONV3D_DIRECT_H_
