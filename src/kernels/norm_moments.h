// Statistics of contiguous rows shared by LayerNorm and InstanceNorm (and the dtype check of
// every scale-and-shift normalization, BatchNorm's too). Sums run in double so
// float32 rows of any length keep full precision: the mean in one pass, the variance in a second
// pass over centred values (no cancellation of E[x^2] - E[x]^2), and the backward's two
// reductions in one pass.
#ifndef COARSENET_KERNELS_NORM_MOMENTS_H_
#define COARSENET_KERNELS_NORM_MOMENTS_H_

#include <cmath>

#include "coarsenet/op.h"

namespace cn_ops {

// gamma and beta (inputs `gamma`, `beta`) must have data's dtype: kernels read all as one type.
inline void CheckScaleShiftDtypes(const cn::ForwardArgs& a, int data, int gamma, int beta) {
  for (int i : {gamma, beta})
    if (a.in[i].dtype != a.in[data].dtype)
      throw cn::Error(cn::Msg("input '", i == gamma ? "gamma" : "beta", "' must have dtype ",
                              cn::DTypeName(a.in[data].dtype), " like data, found ",
                              cn::DTypeName(a.in[i].dtype)));
}

// Mean and biased variance of x[0, n).
template <typename DType>
inline void RowMoments(const DType* x, int64_t n, double* mean, double* var) {
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t k = 0; k < n; ++k) sum += x[k];
  const double mu = sum / n;
  double sq = 0;
#pragma omp simd reduction(+ : sq)
  for (int64_t k = 0; k < n; ++k) {
    const double d = x[k] - mu;
    sq += d * d;
  }
  *mean = mu;
  *var = sq / n;
}

// For y = xhat * scale + shift with xhat = (x - mean) * rstd, the sums sum(g) and
// sum(g * xhat) with g = dy * scale, from which dx = rstd * (g - sum_g / n - xhat * sum_gx / n).
// scale == nullptr means a scale of 1 (the caller multiplies a per-row scale in afterwards).
template <typename DType>
inline void RowGradSums(const DType* x, const DType* dy, const DType* scale, int64_t n,
                        DType mean, DType rstd, double* sum_g, double* sum_gx) {
  double sg = 0, sgx = 0;
  if (scale) {
#pragma omp simd reduction(+ : sg, sgx)
    for (int64_t k = 0; k < n; ++k) {
      const DType g = dy[k] * scale[k];
      sg += g;
      sgx += g * ((x[k] - mean) * rstd);
    }
  } else {
#pragma omp simd reduction(+ : sg, sgx)
    for (int64_t k = 0; k < n; ++k) {
      sg += dy[k];
      sgx += dy[k] * ((x[k] - mean) * rstd);
    }
  }
  *sum_g = sg;
  *sum_gx = sgx;
}

}  // namespace cn_ops

#endif  // COARSENET_KERNELS_NORM_MOMENTS_H_
