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

#include "ops/norm_moments.h"

namespace {

struct LayerNormParam {
  int axis;
  float eps;
  bool output_mean_var;
  static void Declare(cn::ParamDecl<LayerNormParam>& d) {
    d.field("axis", &LayerNormParam::axis, -1,
            "The axis to normalize along (negative counts from the end).");
    d.field("eps", &LayerNormParam::eps, 1e-5f, "An epsilon parameter to prevent division by 0.");
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

// Tasks of the strided layout: task t is outer row t / blocks, inner positions [i0, i0 + n).
struct Task {
  int64_t base, stat, n;  // offset of (o, 0, i0) in data, of (o, i0) in mean/std, count
};
Task TaskAt(const Layout& v, int64_t t) {
  int64_t o = t / v.blocks(), i0 = (t % v.blocks()) * kBlock;
  return {o * v.c * v.inner + i0, o * v.inner + i0, std::min(kBlock, v.inner - i0)};
}

template <typename DType>
void ForwardImpl(const LayerNormParam& p, const cn::ForwardArgs& a) {
  const Layout v = View(p, a.in[kData].shape());
  const DType* x = a.in[kData].ptr<DType>();
  const DType* gamma = a.in[kGamma].ptr<DType>();
  const DType* beta = a.in[kBeta].ptr<DType>();
  DType* y = a.out[kOut].ptr<DType>();
  DType* mean_out = a.out[kMean].ptr<DType>();
  DType* std_out = a.out[kStd].ptr<DType>();
  const int32_t req = a.req[kOut], req_mean = a.req[kMean], req_std = a.req[kStd];
  auto save = [&](int64_t at, double mean, double sd) {
    if (req_mean != CN_REQ_NULL) cn::Store(mean_out + at, req_mean, DType(mean));
    if (req_std != CN_REQ_NULL) cn::Store(std_out + at, req_std, DType(sd));
  };
  if (v.inner == 1) {
    cn::ParallelFor(v.outer, std::max<int64_t>(1, 16384 / v.c), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const DType* xr = x + r * v.c;  // may alias yr (in-place): read before written
        DType* yr = y + r * v.c;
        double mean, var;
        cn_ops::RowMoments(xr, v.c, &mean, &var);
        const double sd = std::sqrt(var + p.eps);
        save(r, mean, sd);
        const DType mu = DType(mean), rs = DType(1 / sd);
        if (req == CN_REQ_ADD) {
#pragma omp simd
          for (int64_t k = 0; k < v.c; ++k) yr[k] += (xr[k] - mu) * rs * gamma[k] + beta[k];
        } else if (req != CN_REQ_NULL) {
#pragma omp simd
          for (int64_t k = 0; k < v.c; ++k) yr[k] = (xr[k] - mu) * rs * gamma[k] + beta[k];
        }
      }
    });
    return;
  }
  cn::ParallelFor(v.outer * v.blocks(), 1, [&](int64_t t0, int64_t t1) {
    double sum[kBlock], sq[kBlock];
    DType mu[kBlock], rs[kBlock];
    for (int64_t t = t0; t < t1; ++t) {
      const Task k = TaskAt(v, t);
      std::fill(sum, sum + k.n, 0.0);
      std::fill(sq, sq + k.n, 0.0);
      for (int64_t ch = 0; ch < v.c; ++ch)
        for (int64_t i = 0; i < k.n; ++i) sum[i] += x[k.base + ch * v.inner + i];
      for (int64_t i = 0; i < k.n; ++i) sum[i] /= v.c;
      for (int64_t ch = 0; ch < v.c; ++ch)
        for (int64_t i = 0; i < k.n; ++i) {
          const double d = x[k.base + ch * v.inner + i] - sum[i];
          sq[i] += d * d;
        }
      for (int64_t i = 0; i < k.n; ++i) {
        const double sd = std::sqrt(sq[i] / v.c + p.eps);
        save(k.stat + i, sum[i], sd);
        mu[i] = DType(sum[i]);
        rs[i] = DType(1 / sd);
      }
      if (req == CN_REQ_NULL) continue;
      for (int64_t ch = 0; ch < v.c; ++ch)
        for (int64_t i = 0; i < k.n; ++i) {
          const int64_t at = k.base + ch * v.inner + i;
          cn::Store(&y[at], req, (x[at] - mu[i]) * rs[i] * gamma[ch] + beta[ch]);
        }
    }
  });
}

void Forward(const LayerNormParam& p, const cn::ForwardArgs& a) {
  const cn::Tensor& x = a.in[kData];
  for (int i : {kGamma, kBeta})
    if (a.in[i].dtype != x.dtype)
      throw cn::Error(cn::Msg("input '", i == kGamma ? "gamma" : "beta", "' must have dtype ",
                              cn::DTypeName(x.dtype), " like data, found ",
                              cn::DTypeName(a.in[i].dtype)));
  CN_FLOAT_SWITCH(x.dtype, DType, { ForwardImpl<DType>(p, a); });
}

// Each part (one per thread) sums dgamma and dbeta of its rows into its own partial rows.
template <typename DType>
void BackwardImpl(const LayerNormParam& p, const cn::BackwardArgs& a) {
  const Layout v = View(p, a.in[kData].shape());
  const DType* x = a.in[kData].ptr<DType>();
  const DType* gamma = a.in[kGamma].ptr<DType>();
  const DType* dy = a.out_grad[kOut].ptr<DType>();
  const DType* mean = a.out[kMean].ptr<DType>();
  const DType* sd = a.out[kStd].ptr<DType>();
  const int32_t req_x = a.req[kData], req_g = a.req[kGamma], req_b = a.req[kBeta];
  DType* dx = req_x == CN_REQ_NULL ? nullptr : a.in_grad[kData].ptr<DType>();
  const bool params = req_g != CN_REQ_NULL || req_b != CN_REQ_NULL;
  const int64_t tasks = v.inner == 1 ? v.outer : v.outer * v.blocks();
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(cn::NumThreads(), tasks));
  std::vector<double> partial(params ? parts * 2 * v.c : 0, 0.0);
  const DType inv_c = DType(1.0 / v.c);
  cn::ParallelFor(parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t part = p0; part < p1; ++part) {
      double* dgamma = params ? partial.data() + part * 2 * v.c : nullptr;
      double* dbeta = params ? dgamma + v.c : nullptr;
      for (int64_t t = tasks * part / parts; t < tasks * (part + 1) / parts; ++t) {
        if (v.inner == 1) {
          const DType *xr = x + t * v.c, *gr = dy + t * v.c;  // gr may alias dx (in-place)
          const DType mu = mean[t], rs = DType(1) / sd[t];
          if (params)
            for (int64_t k = 0; k < v.c; ++k) {
              dgamma[k] += gr[k] * ((xr[k] - mu) * rs);
              dbeta[k] += gr[k];
            }
          if (!dx) continue;
          double sg, sgx;
          cn_ops::RowGradSums(xr, gr, gamma, v.c, mu, rs, &sg, &sgx);
          const DType mg = DType(sg) * inv_c, mgx = DType(sgx) * inv_c;
          DType* dr = dx + t * v.c;
          for (int64_t k = 0; k < v.c; ++k)
            cn::Store(&dr[k], req_x, rs * (gr[k] * gamma[k] - mg - (xr[k] - mu) * rs * mgx));
          continue;
        }
        const Task k = TaskAt(v, t);
        double sg[kBlock] = {}, sgx[kBlock] = {};
        for (int64_t ch = 0; ch < v.c; ++ch) {
          double pg = 0, pb = 0;
          for (int64_t i = 0; i < k.n; ++i) {
            const int64_t at = k.base + ch * v.inner + i;
            const DType xh = (x[at] - mean[k.stat + i]) / sd[k.stat + i];
            sg[i] += dy[at] * gamma[ch];
            sgx[i] += dy[at] * gamma[ch] * xh;
            pg += dy[at] * xh;
            pb += dy[at];
          }
          if (params) {
            dgamma[ch] += pg;
            dbeta[ch] += pb;
          }
        }
        if (!dx) continue;
        for (int64_t ch = 0; ch < v.c; ++ch)
          for (int64_t i = 0; i < k.n; ++i) {
            const int64_t at = k.base + ch * v.inner + i;
            const DType rs = DType(1) / sd[k.stat + i];
            const DType xh = (x[at] - mean[k.stat + i]) * rs;
            cn::Store(&dx[at], req_x,
                      rs * (dy[at] * gamma[ch] - DType(sg[i]) * inv_c - xh * DType(sgx[i]) * inv_c));
          }
      }
    }
  });
  if (!params) return;
  for (int64_t ch = 0; ch < v.c; ++ch) {
    double g = 0, b = 0;
    for (int64_t part = 0; part < parts; ++part) {
      g += partial[part * 2 * v.c + ch];
      b += partial[part * 2 * v.c + v.c + ch];
    }
    if (req_g != CN_REQ_NULL) cn::Store(a.in_grad[kGamma].ptr<DType>() + ch, req_g, DType(g));
    if (req_b != CN_REQ_NULL) cn::Store(a.in_grad[kBeta].ptr<DType>() + ch, req_b, DType(b));
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
