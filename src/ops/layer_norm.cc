// LayerNorm: normalizes data along `axis`, then scales by gamma and shifts by beta per channel.
//   data is viewed as (outer, C, inner) around axis; at every (outer, inner) position, over C:
//   mean = E[x], std = sqrt(Var[x] + eps), xhat = (x - mean) / std, y = xhat * gamma + beta.
//   Outputs: output (data's shape); mean and std (data's shape with the axis set to 1), visible
//   only with output_mean_var. As in MXNet no gradient flows back through mean and std.
// Backward, with g = dy * gamma and means over the axis:
//   dx = (g - mean(g) - xhat * mean(g * xhat)) / std,
//   dgamma = sum(dy * xhat) and dbeta = sum(dy) over every position.
// The usual axis = -1 works on contiguous rows, one row at a time per thread, statistics in
// double. Other axes take blocks of inner positions together so every access is contiguous.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/norm_moments.h"

namespace {

struct LayerNormParam {
  int axis;
  float eps;
  bool output_mean_var;
  static void Declare(cn::ParamDecl<LayerNormParam>& d) {
    d.field("axis", &LayerNormParam::axis, -1,
            "The axis to normalize along (negative counts from the end).");
    d.field("eps", &LayerNormParam::eps, 1e-5f, "An epsilon parameter to prevent division by 0.")
        .above(0);
    d.field("output_mean_var", &LayerNormParam::output_mean_var, false,
            "Also output the mean and std calculated along the given axis.");
  }
};

enum { kData, kGamma, kBeta };
enum { kOut, kMean, kStd };

constexpr int64_t kBlock = 64;  // inner positions per task when axis is not the last one

struct Layout {
  int64_t outer, c, inner;
  int64_t blocks() const { return (inner + kBlock - 1) / kBlock; }
};

Layout View(const LayerNormParam& p, const cn::Shape& x) {
  int axis = p.axis < 0 ? p.axis + x.ndim : p.axis;
  if (axis < 0 || axis >= x.ndim)
    throw cn::Error(cn::Msg("axis ", p.axis, " is out of range for input 'data' of shape ", x));
  return {x.prod(0, axis), x[axis], x.prod(axis + 1, x.ndim)};
}

void InferShape(const LayerNormParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(kData);
  if (!x.known()) return;
  if (x.ndim < 1) throw cn::Error("input 'data' must have at least 1 dim, found a scalar");
  if (!(p.eps >= 0)) throw cn::Error(cn::Msg("eps must be non-negative, found ", p.eps));
  Layout v = View(p, x);
  if (v.c == 0) throw cn::Error(cn::Msg("axis ", p.axis, " of input 'data' ", x, " is empty"));
  s.SetInput(kGamma, cn::Shape{v.c});
  s.SetInput(kBeta, cn::Shape{v.c});
  s.SetOutput(kOut, x);
  cn::Shape moments = x;
  moments[p.axis < 0 ? p.axis + x.ndim : p.axis] = 1;
  s.SetOutput(kMean, moments);
  s.SetOutput(kStd, moments);
}

// Work unit: one contiguous row when inner == 1, else a block of up to kBlock inner positions
// of one outer index, reduced over the C channels together.
struct Task {
  int64_t base, stat, n;  // offset of (o, 0, i0) in data, of (o, i0) in mean/std, positions
};
int64_t NumTasks(const Layout& v) { return v.inner == 1 ? v.outer : v.outer * v.blocks(); }
Task TaskAt(const Layout& v, int64_t t) {
  if (v.inner == 1) return {t * v.c, t, 1};
  int64_t o = t / v.blocks(), i0 = (t % v.blocks()) * kBlock;
  return {o * v.c * v.inner + i0, o * v.inner + i0, std::min(kBlock, v.inner - i0)};
}

template <typename DType>
struct Fwd {
  Layout v;
  double eps;
  const DType *x, *gamma, *beta;  // x may alias y (in-place): each element is read, then written
  DType *y, *mean, *sd;
  int32_t req, req_mean, req_std;

  void Save(int64_t at, double m, double s) const {
    if (req_mean != CN_REQ_NULL) cn::Store(mean + at, req_mean, DType(m));
    if (req_std != CN_REQ_NULL) cn::Store(sd + at, req_std, DType(s));
  }
  void Row(const Task& k) const {
    const DType* xr = x + k.base;
    DType* yr = y + k.base;
    double m, var;
    cn_ops::RowMoments(xr, v.c, &m, &var);
    const double s = std::sqrt(var + eps);
    Save(k.stat, m, s);
    const DType mu = DType(m), rs = DType(1 / s);
    if (req == CN_REQ_ADD) {
#pragma omp simd
      for (int64_t c = 0; c < v.c; ++c) yr[c] += (xr[c] - mu) * rs * gamma[c] + beta[c];
    } else if (req != CN_REQ_NULL) {
#pragma omp simd
      for (int64_t c = 0; c < v.c; ++c) yr[c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
    }
  }
  void Block(const Task& k) const {
    double sum[kBlock] = {}, sq[kBlock] = {};
    DType mu[kBlock], rs[kBlock];
    for (int64_t c = 0; c < v.c; ++c)
      for (int64_t i = 0; i < k.n; ++i) sum[i] += x[k.base + c * v.inner + i];
    for (int64_t i = 0; i < k.n; ++i) sum[i] /= v.c;
    for (int64_t c = 0; c < v.c; ++c)
      for (int64_t i = 0; i < k.n; ++i) {
        const double d = x[k.base + c * v.inner + i] - sum[i];
        sq[i] += d * d;
      }
    for (int64_t i = 0; i < k.n; ++i) {
      const double s = std::sqrt(sq[i] / v.c + eps);
      Save(k.stat + i, sum[i], s);
      mu[i] = DType(sum[i]);
      rs[i] = DType(1 / s);
    }
    if (req == CN_REQ_NULL) return;
    for (int64_t c = 0; c < v.c; ++c)
      for (int64_t i = 0; i < k.n; ++i) {
        const int64_t at = k.base + c * v.inner + i;
        cn::Store(&y[at], req, (x[at] - mu[i]) * rs[i] * gamma[c] + beta[c]);
      }
  }
};

template <typename DType>
void ForwardImpl(const LayerNormParam& p, const cn::ForwardArgs& a) {
  const Fwd<DType> f{View(p, a.in[kData].shape()), p.eps,
                     a.in[kData].ptr<DType>(), a.in[kGamma].ptr<DType>(),
                     a.in[kBeta].ptr<DType>(), a.out[kOut].ptr<DType>(),
                     a.out[kMean].ptr<DType>(), a.out[kStd].ptr<DType>(),
                     a.req[kOut], a.req[kMean], a.req[kStd]};
  const int64_t per_task = f.v.inner == 1 ? f.v.c : f.v.c * kBlock;
  cn::ParallelFor(NumTasks(f.v), std::max<int64_t>(1, 16384 / per_task),
                  [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      if (f.v.inner == 1)
        f.Row(TaskAt(f.v, t));
      else
        f.Block(TaskAt(f.v, t));
    }
  });
}

void Forward(const LayerNormParam& p, const cn::ForwardArgs& a) {
  cn_ops::CheckScaleShiftDtypes(a, kData, kGamma, kBeta);
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, { ForwardImpl<DType>(p, a); });
}

// dx of one task (when wanted) and its terms of dgamma and dbeta, added to the caller's partial
// sums (null when neither is wanted). dy may alias dx (in-place): reductions come first.
template <typename DType>
struct Bwd {
  Layout v;
  const DType *x, *gamma, *dy, *mean, *sd;
  DType* dx;  // null when not wanted
  int32_t req_x;
  DType inv_c;

  void Row(const Task& k, double* dgamma, double* dbeta) const {
    const DType *xr = x + k.base, *gr = dy + k.base;
    const DType mu = mean[k.stat], rs = DType(1) / sd[k.stat];
    if (dgamma)
      for (int64_t c = 0; c < v.c; ++c) {
        dgamma[c] += gr[c] * ((xr[c] - mu) * rs);
        dbeta[c] += gr[c];
      }
    if (!dx) return;
    double sg, sgx;
    cn_ops::RowGradSums(xr, gr, gamma, v.c, mu, rs, &sg, &sgx);
    const DType mg = DType(sg) * inv_c, mgx = DType(sgx) * inv_c;
    DType* dr = dx + k.base;
    for (int64_t c = 0; c < v.c; ++c)
      cn::Store(&dr[c], req_x, rs * (gr[c] * gamma[c] - mg - (xr[c] - mu) * rs * mgx));
  }
  void Block(const Task& k, double* dgamma, double* dbeta) const {
    DType mu[kBlock], rs[kBlock], mg[kBlock], mgx[kBlock];
    double sg[kBlock] = {}, sgx[kBlock] = {};
    for (int64_t i = 0; i < k.n; ++i) {
      mu[i] = mean[k.stat + i];
      rs[i] = DType(1) / sd[k.stat + i];
    }
    for (int64_t c = 0; c < v.c; ++c) {
      double pg = 0, pb = 0;
      for (int64_t i = 0; i < k.n; ++i) {
        const int64_t at = k.base + c * v.inner + i;
        const DType xh = (x[at] - mu[i]) * rs[i];
        sg[i] += dy[at] * gamma[c];
        sgx[i] += dy[at] * gamma[c] * xh;
        pg += dy[at] * xh;
        pb += dy[at];
      }
      if (dgamma) {
        dgamma[c] += pg;
        dbeta[c] += pb;
      }
    }
    if (!dx) return;
    for (int64_t i = 0; i < k.n; ++i) {
      mg[i] = DType(sg[i]) * inv_c;
      mgx[i] = DType(sgx[i]) * inv_c;
    }
    for (int64_t c = 0; c < v.c; ++c)
      for (int64_t i = 0; i < k.n; ++i) {
        const int64_t at = k.base + c * v.inner + i;
        const DType xh = (x[at] - mu[i]) * rs[i];
        cn::Store(&dx[at], req_x, rs[i] * (dy[at] * gamma[c] - mg[i] - xh * mgx[i]));
      }
  }
};

// The tasks are split into one part per thread; each part sums dgamma and dbeta into its own
// partial rows (in double), added up at the end in a fixed order.
template <typename DType>
void BackwardImpl(const LayerNormParam& p, const cn::BackwardArgs& a) {
  const Layout v = View(p, a.in[kData].shape());
  const int32_t req_x = a.req[kData], req_g = a.req[kGamma], req_b = a.req[kBeta];
  const Bwd<DType> b{v, a.in[kData].ptr<DType>(), a.in[kGamma].ptr<DType>(),
                     a.out_grad[kOut].ptr<DType>(), a.out[kMean].ptr<DType>(),
                     a.out[kStd].ptr<DType>(),
                     req_x == CN_REQ_NULL ? nullptr : a.in_grad[kData].ptr<DType>(), req_x,
                     DType(1.0 / v.c)};
  const bool params = req_g != CN_REQ_NULL || req_b != CN_REQ_NULL;
  const int64_t tasks = NumTasks(v);
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(cn::NumThreads(), tasks));
  std::vector<double> partial(params ? parts * 2 * v.c : 0, 0.0);
  cn::ParallelFor(parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t part = p0; part < p1; ++part) {
      double* dgamma = params ? partial.data() + part * 2 * v.c : nullptr;
      double* dbeta = params ? dgamma + v.c : nullptr;
      for (int64_t t = tasks * part / parts; t < tasks * (part + 1) / parts; ++t) {
        if (v.inner == 1)
          b.Row(TaskAt(v, t), dgamma, dbeta);
        else
          b.Block(TaskAt(v, t), dgamma, dbeta);
      }
    }
  });
  if (!params) return;
  for (int64_t c = 0; c < v.c; ++c) {
    double g = 0, s = 0;
    for (int64_t part = 0; part < parts; ++part) {
      g += partial[part * 2 * v.c + c];
      s += partial[part * 2 * v.c + v.c + c];
    }
    if (req_g != CN_REQ_NULL) cn::Store(a.in_grad[kGamma].ptr<DType>() + c, req_g, DType(g));
    if (req_b != CN_REQ_NULL) cn::Store(a.in_grad[kBeta].ptr<DType>() + c, req_b, DType(s));
  }
}

void Backward(const LayerNormParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[kOut].dtype, DType, { BackwardImpl<DType>(p, a); });
}

// Beta and the normalized output are not needed: the saved mean and std rebuild xhat.
void Needs(const LayerNormParam&, cn::BackwardNeeds& n) {
  n.input(kData).input(kGamma).output(kMean).output(kStd).out_grad(kOut);
}

int VisibleOutputs(const LayerNormParam& p) { return p.output_mean_var ? 3 : 1; }

}  // namespace

CN_REGISTER_OP(LayerNorm, LayerNormParam)
    .describe("Layer normalization: normalizes data to zero mean and unit variance along "
              "`axis` (default the last), then scales by gamma and shifts by beta.")
    .inputs({"data", "gamma", "beta"})
    .outputs({"output", "mean", "std"})
    .visible_outputs(VisibleOutputs)
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .inplace({{kData, kOut}})
    .backward_inplace({{kOut, kData}});
