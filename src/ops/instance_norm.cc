// InstanceNorm: normalizes every (sample, channel) plane of data (N, C, spatial...) over its
// spatial positions, then scales and shifts per channel, in training and inference alike:
//   y = (x - mean[n, c]) / sqrt(var[n, c] + eps) * gamma[c] + beta[c].
//   Hidden outputs mean and var, shape (N, C), are kept for backward.
// Backward, with xhat the normalized plane and means over its L positions:
//   dx = gamma[c] / sqrt(var + eps) * (dy - mean(dy) - xhat * mean(dy * xhat)),
//   dgamma[c] = sum over n of sum(dy * xhat), dbeta[c] = sum over n of sum(dy).
// Each plane is a contiguous row: rows run in parallel with statistics in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/norm_moments.h"

namespace {

struct InstanceNormParam {
  float eps;
  static void Declare(cn::ParamDecl<InstanceNormParam>& d) {
    d.field("eps", &InstanceNormParam::eps, 1e-3f,
            "An epsilon parameter to prevent division by 0.")
        .above(0);
  }
};

enum { kData, kGamma, kBeta };
enum { kOut, kMean, kVar };

struct Planes {
  int64_t rows, c, len;  // rows = N * C planes of len spatial positions
};

Planes View(const cn::Shape& x) { return {x[0] * x[1], x[1], x.prod(2, x.ndim)}; }

void InferShape(const InstanceNormParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(kData);
  if (!x.known()) return;
  if (x.ndim < 3)
    throw cn::Error(cn::Msg("input 'data' must have at least 3 dims (batch, channel, "
                            "spatial...), found shape ", x));
  if (!(p.eps >= 0)) throw cn::Error(cn::Msg("eps must be non-negative, found ", p.eps));
  if (View(x).len == 0)
    throw cn::Error(cn::Msg("input 'data' ", x, " has no spatial positions to normalize over"));
  s.SetInput(kGamma, cn::Shape{x[1]});
  s.SetInput(kBeta, cn::Shape{x[1]});
  s.SetOutput(kOut, x);
  s.SetOutput(kMean, cn::Shape{x[0], x[1]});
  s.SetOutput(kVar, cn::Shape{x[0], x[1]});
}

template <typename DType>
void ForwardImpl(const InstanceNormParam& p, const cn::ForwardArgs& a) {
  const Planes v = View(a.in[kData].shape());
  const DType* x = a.in[kData].ptr<DType>();
  const DType* gamma = a.in[kGamma].ptr<DType>();
  const DType* beta = a.in[kBeta].ptr<DType>();
  DType* y = a.out[kOut].ptr<DType>();
  const int32_t req = a.req[kOut], req_mean = a.req[kMean], req_var = a.req[kVar];
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, v.len));
  cn::ParallelFor(v.rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const DType* xr = x + r * v.len;  // may alias yr (in-place): read before written
      DType* yr = y + r * v.len;
      double mean, var;
      cn_ops::RowMoments(xr, v.len, &mean, &var);
      if (req_mean != CN_REQ_NULL) cn::Store(a.out[kMean].ptr<DType>() + r, req_mean, DType(mean));
      if (req_var != CN_REQ_NULL) cn::Store(a.out[kVar].ptr<DType>() + r, req_var, DType(var));
      if (req == CN_REQ_NULL) continue;
      const int64_t c = r % v.c;
      // Centre first: x * scale + (beta - mean * scale) would cancel digits when |mean| >> std.
      const DType mu = DType(mean), scale = DType(gamma[c] / std::sqrt(var + p.eps)), b = beta[c];
      if (req == CN_REQ_ADD) {
#pragma omp simd
        for (int64_t k = 0; k < v.len; ++k) yr[k] += (xr[k] - mu) * scale + b;
      } else {
#pragma omp simd
        for (int64_t k = 0; k < v.len; ++k) yr[k] = (xr[k] - mu) * scale + b;
      }
    }
  });
}

void Forward(const InstanceNormParam& p, const cn::ForwardArgs& a) {
  cn_ops::CheckScaleShiftDtypes(a, kData, kGamma, kBeta);
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, { ForwardImpl<DType>(p, a); });
}

// Per-plane sums land in `sums` (2 per row); dgamma and dbeta add them up over the batch
// afterwards, in a fixed order, so results do not depend on the thread count.
template <typename DType>
void BackwardImpl(const InstanceNormParam& p, const cn::BackwardArgs& a) {
  const Planes v = View(a.in[kData].shape());
  const DType* x = a.in[kData].ptr<DType>();
  const DType* gamma = a.in[kGamma].ptr<DType>();
  const DType* dy = a.out_grad[kOut].ptr<DType>();
  const DType* mean = a.out[kMean].ptr<DType>();
  const DType* var = a.out[kVar].ptr<DType>();
  const int32_t req_x = a.req[kData], req_g = a.req[kGamma], req_b = a.req[kBeta];
  std::vector<double> sums(2 * v.rows);
  const double inv_len = 1.0 / v.len;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, v.len));
  cn::ParallelFor(v.rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const DType* xr = x + r * v.len;
      const DType* gr = dy + r * v.len;  // may alias the data gradient (in-place)
      const DType mu = mean[r], rs = DType(1 / std::sqrt(double(var[r]) + p.eps));
      double* s = &sums[2 * r];
      cn_ops::RowGradSums<DType>(xr, gr, nullptr, v.len, mu, rs, &s[0], &s[1]);
      if (req_x == CN_REQ_NULL) continue;
      const DType scale = rs * gamma[r % v.c];
      const DType mg = DType(s[0] * inv_len), mgx = DType(s[1] * inv_len);
      DType* dr = a.in_grad[kData].ptr<DType>() + r * v.len;
      for (int64_t k = 0; k < v.len; ++k)
        cn::Store(&dr[k], req_x, scale * (gr[k] - mg - (xr[k] - mu) * rs * mgx));
    }
  });
  for (int64_t c = 0; c < v.c; ++c) {
    double g = 0, b = 0;
    for (int64_t r = c; r < v.rows; r += v.c) {
      b += sums[2 * r];
      g += sums[2 * r + 1];
    }
    if (req_g != CN_REQ_NULL) cn::Store(a.in_grad[kGamma].ptr<DType>() + c, req_g, DType(g));
    if (req_b != CN_REQ_NULL) cn::Store(a.in_grad[kBeta].ptr<DType>() + c, req_b, DType(b));
  }
}

void Backward(const InstanceNormParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[kOut].dtype, DType, { BackwardImpl<DType>(p, a); });
}

void Needs(const InstanceNormParam&, cn::BackwardNeeds& n) {
  n.input(kData).input(kGamma).output(kMean).output(kVar).out_grad(kOut);
}

}  // namespace

CN_REGISTER_OP(InstanceNorm, InstanceNormParam)
    .describe("Instance normalization: normalizes each (sample, channel) plane over its "
              "spatial positions, then scales by gamma and shifts by beta per channel.")
    .inputs({"data", "gamma", "beta"})
    .outputs({"output", "mean", "var"})
    .visible_outputs(1)
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .inplace({{kData, kOut}})
    .backward_inplace({{kOut, kData}});
