// L2Normalization: y = x / norm with norm = sqrt(sum(x^2) + eps) taken, by mode, over
//   instance: every axis but the batch axis (norm shape (N,));
//   channel:  the channel axis 1 at every (sample, position) (norm shape (N, 1, spatial...));
//   spatial:  the spatial axes of every (sample, channel) (norm shape (N, C)).
// Each mode is an (outer, n, inner) view reduced over n: instance (N, rest, 1), channel
// (N, C, spatial), spatial (N*C, spatial, 1). The hidden output norm is kept for backward:
//   dx = (dy - y * sum(dy * y)) / norm, the sum over the same axes.
#include <algorithm>
#include <cmath>

#include "coarsenet/op.h"

namespace {

enum Mode { kInstance, kChannel, kSpatial };

struct L2NormalizationParam {
  float eps;
  int mode;
  static void Declare(cn::ParamDecl<L2NormalizationParam>& d) {
    d.field("eps", &L2NormalizationParam::eps, 1e-10f,
            "A small constant for numerical stability.")
        .above(0);
    d.choice("mode", &L2NormalizationParam::mode, {"instance", "channel", "spatial"}, "instance",
             "Specify the dimension along which to compute L2 norm.");
  }
};

enum { kOut, kNorm };

constexpr int64_t kBlock = 64;  // inner positions reduced together in channel mode

struct Layout {
  int64_t outer, n, inner;
};

Layout View(const L2NormalizationParam& p, const cn::Shape& x) {
  if (p.mode == kInstance) return {x[0], x.prod(1, x.ndim), 1};
  if (p.mode == kChannel) return {x[0], x[1], x.prod(2, x.ndim)};
  return {x[0] * x[1], x.prod(2, x.ndim), 1};
}

void InferShape(const L2NormalizationParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  if (x.ndim < (p.mode == kInstance ? 1 : 3))
    throw cn::Error(cn::Msg("input 'data' must have at least ", p.mode == kInstance ? 1 : 3,
                            " dims in ", p.mode == kChannel ? "channel" : "this", " mode, found ",
                            x));
  if (!(p.eps >= 0)) throw cn::Error(cn::Msg("eps must be non-negative, found ", p.eps));
  s.SetOutput(kOut, x);
  cn::Shape norm{x[0]};
  if (p.mode == kChannel) {
    norm = x;
    norm[1] = 1;
  } else if (p.mode == kSpatial) {
    norm = cn::Shape{x[0], x[1]};
  }
  s.SetOutput(kNorm, norm);
}

// Runs body(base, stat, count) for blocks of inner positions: data offset of (o, 0, i0), norm
// offset of (o, i0) and the number of positions; rows (inner == 1) are blocks of one.
template <typename Body>
void ForBlocks(const Layout& v, Body body) {
  const int64_t blocks = (v.inner + kBlock - 1) / kBlock;
  const int64_t task_size = std::max<int64_t>(1, v.n * std::min(kBlock, v.inner));
  const int64_t grain = std::max<int64_t>(1, 16384 / task_size);
  cn::ParallelFor(v.outer * blocks, grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / blocks, i0 = (t % blocks) * kBlock;
      body(o * v.n * v.inner + i0, o * v.inner + i0, std::min(kBlock, v.inner - i0));
    }
  });
}

template <typename DType>
void ForwardImpl(const L2NormalizationParam& p, const cn::ForwardArgs& a) {
  const Layout v = View(p, a.in[0].shape());
  const DType* x = a.in[0].ptr<DType>();  // may alias y (in-place): norms are taken first
  DType* y = a.out[kOut].ptr<DType>();
  DType* norm = a.out[kNorm].ptr<DType>();
  const int32_t req = a.req[kOut], req_norm = a.req[kNorm];
  ForBlocks(v, [&](int64_t base, int64_t stat, int64_t count) {
    double sq[kBlock] = {};
    DType inv[kBlock];
    if (v.inner == 1) {
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t k = 0; k < v.n; ++k) s += double(x[base + k]) * x[base + k];
      sq[0] = s;
    } else {
      for (int64_t k = 0; k < v.n; ++k)
        for (int64_t i = 0; i < count; ++i) {
          const double d = x[base + k * v.inner + i];
          sq[i] += d * d;
        }
    }
    for (int64_t i = 0; i < count; ++i) {
      const double nrm = std::sqrt(sq[i] + p.eps);
      if (req_norm != CN_REQ_NULL) cn::Store(norm + stat + i, req_norm, DType(nrm));
      inv[i] = DType(1 / nrm);
    }
    if (req == CN_REQ_NULL) return;
    if (v.inner == 1) {  // a contiguous row: one vectorised loop
      for (int64_t k = 0; k < v.n; ++k) cn::Store(&y[base + k], req, x[base + k] * inv[0]);
      return;
    }
    for (int64_t k = 0; k < v.n; ++k)
      for (int64_t i = 0; i < count; ++i) {
        const int64_t at = base + k * v.inner + i;
        cn::Store(&y[at], req, x[at] * inv[i]);
      }
  });
}

template <typename DType>
void BackwardImpl(const L2NormalizationParam& p, const cn::BackwardArgs& a) {
  const int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  const Layout v = View(p, a.out[kOut].shape());
  const DType* y = a.out[kOut].ptr<DType>();
  const DType* norm = a.out[kNorm].ptr<DType>();
  const DType* dy = a.out_grad[kOut].ptr<DType>();  // may alias dx (in-place)
  DType* dx = a.in_grad[0].ptr<DType>();
  ForBlocks(v, [&](int64_t base, int64_t stat, int64_t count) {
    double dot[kBlock] = {};
    if (v.inner == 1) {
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t k = 0; k < v.n; ++k) s += double(dy[base + k]) * y[base + k];
      dot[0] = s;
    } else {
      for (int64_t k = 0; k < v.n; ++k)
        for (int64_t i = 0; i < count; ++i)
          dot[i] += double(dy[base + k * v.inner + i]) * y[base + k * v.inner + i];
    }
    DType d[kBlock], inv[kBlock];
    for (int64_t i = 0; i < count; ++i) {
      d[i] = DType(dot[i]);
      inv[i] = DType(1) / norm[stat + i];
    }
    if (v.inner == 1) {
      for (int64_t k = 0; k < v.n; ++k)
        cn::Store(&dx[base + k], req, (dy[base + k] - y[base + k] * d[0]) * inv[0]);
      return;
    }
    for (int64_t k = 0; k < v.n; ++k)
      for (int64_t i = 0; i < count; ++i) {
        const int64_t at = base + k * v.inner + i;
        cn::Store(&dx[at], req, (dy[at] - y[at] * d[i]) * inv[i]);
      }
  });
}

void Forward(const L2NormalizationParam& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, { ForwardImpl<DType>(p, a); });
}

void Backward(const L2NormalizationParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[kOut].dtype, DType, { BackwardImpl<DType>(p, a); });
}

// The output and the norm suffice: the input itself is not kept.
void Needs(const L2NormalizationParam&, cn::BackwardNeeds& n) {
  n.output(kOut).output(kNorm).out_grad(kOut);
}

}  // namespace

CN_REGISTER_OP(L2Normalization, L2NormalizationParam)
    .describe("Normalizes data to unit L2 norm per instance, per channel vector or per "
              "spatial plane: y = x / sqrt(sum(x^2) + eps).")
    .inputs({"data"})
    .outputs({"output", "norm"})
    .visible_outputs(1)
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .inplace({{0, kOut}})
    .backward_inplace({{kOut, 0}});
