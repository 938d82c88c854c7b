// Row-wise softmax over the middle axis of an (outer, n, inner) view, shared by softmax,
// log_softmax and SoftmaxOutput. Inner positions are processed together so every memory access
// is contiguous whatever the axis.
#ifndef COARSENET_KERNELS_SOFTMAX_KERNEL_H_
#define COARSENET_KERNELS_SOFTMAX_KERNEL_H_

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "coarsenet/op.h"
#include "kernels/fast_math.h"

namespace cn_ops {

struct AxisView {
  int64_t outer, n, inner;
};

// View of `s` around `axis` (negative counts from the end).
inline AxisView ViewAround(const cn::Shape& s, int64_t axis) {
  if (axis < -s.ndim || axis >= s.ndim)
    throw cn::Error(cn::Msg("axis ", axis, " is out of range for shape ", s));
  int a = static_cast<int>(axis < 0 ? axis + s.ndim : axis);
  return {s.prod(0, a), s[a], s.prod(a + 1, s.ndim)};
}

// One contiguous row (inner == 1), the common case: three vectorised passes over a row that
// stays in cache. `tmp` holds the result so req=add and y aliasing x both work.
template <typename DType>
void SoftmaxRow(const DType* x, DType* y, DType* tmp, int64_t n, DType inv_t, bool log,
                int32_t req) {
  DType mx = -std::numeric_limits<DType>::infinity();
#pragma omp simd reduction(max : mx)
  for (int64_t k = 0; k < n; ++k) mx = x[k] > mx ? x[k] : mx;
  // Pure maps and a separate reduction: the shapes GCC vectorises reliably.
  for (int64_t k = 0; k < n; ++k) tmp[k] = cn_fast::Exp((x[k] - mx) * inv_t);
  DType sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t k = 0; k < n; ++k) sum += tmp[k];
  if (log) {
    DType lsum = std::log(sum);
    for (int64_t k = 0; k < n; ++k) cn::Store(&y[k], req, (x[k] - mx) * inv_t - lsum);
  } else {
    DType inv = 1 / sum;
    for (int64_t k = 0; k < n; ++k) cn::Store(&y[k], req, tmp[k] * inv);
  }
}

// y = softmax(x / temperature) (or its log) along the middle axis; y may alias x. The result is
// stored per req (write or add).
template <typename DType>
void SoftmaxForward(const DType* x, DType* y, AxisView v, double temperature, bool log,
                    int32_t req) {
  if (req == CN_REQ_NULL) return;
  const DType inv_t = static_cast<DType>(1.0 / temperature);
  cn::ParallelFor(v.outer, std::max<int64_t>(1, 4096 / std::max<int64_t>(v.n * v.inner, 1)),
                  [&](int64_t o0, int64_t o1) {
    std::vector<DType> mx(v.inner), sum(v.inner), row(v.n * v.inner);
    for (int64_t o = o0; o < o1; ++o) {
      const DType* xs = x + o * v.n * v.inner;
      DType* ys = y + o * v.n * v.inner;
      if (v.inner == 1) {
        SoftmaxRow(xs, ys, row.data(), v.n, inv_t, log, req);
        continue;
      }
      // Strided axis: each loop runs over the contiguous inner positions of one k, so loads are
      // contiguous and the loops vectorise (elementwise over i, no cross-lane reduction).
      std::fill(mx.begin(), mx.end(), -std::numeric_limits<DType>::infinity());
      std::fill(sum.begin(), sum.end(), DType(0));
      for (int64_t k = 0; k < v.n; ++k) {
        const DType* xk = xs + k * v.inner;
        for (int64_t i = 0; i < v.inner; ++i) mx[i] = xk[i] > mx[i] ? xk[i] : mx[i];
      }
      for (int64_t k = 0; k < v.n; ++k) {
        const DType* xk = xs + k * v.inner;
        DType* rk = row.data() + k * v.inner;
        for (int64_t i = 0; i < v.inner; ++i) rk[i] = cn_fast::Exp((xk[i] - mx[i]) * inv_t);
        for (int64_t i = 0; i < v.inner; ++i) sum[i] += rk[i];
      }
      for (int64_t i = 0; i < v.inner; ++i) sum[i] = log ? std::log(sum[i]) : 1 / sum[i];
      for (int64_t k = 0; k < v.n; ++k) {
        const DType* xk = xs + k * v.inner;
        const DType* rk = row.data() + k * v.inner;
        DType* yk = ys + k * v.inner;
        if (log) {
          for (int64_t i = 0; i < v.inner; ++i)
            cn::Store(&yk[i], req, (xk[i] - mx[i]) * inv_t - sum[i]);
        } else {
          for (int64_t i = 0; i < v.inner; ++i) cn::Store(&yk[i], req, rk[i] * sum[i]);
        }
      }
    }
  });
}

}  // namespace cn_ops

#endif  // COARSENET_KERNELS_SOFTMAX_KERNEL_H_
