// Row-wise softmax over the middle axis of an (outer, n, inner) view, shared by softmax,
// log_softmax and SoftmaxOutput. Inner positions are processed together so every memory access
// is contiguous whatever the axis.
#ifndef COARSENET_OPS_SOFTMAX_KERNEL_H_
#define COARSENET_OPS_SOFTMAX_KERNEL_H_

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "coarsenet/op.h"

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

// exp for float that the compiler vectorises (std::exp is a scalar libm call): Cephes' expf
// range reduction x = n ln2 + r and degree-6 polynomial, about 1 ulp on [-87, 88]; 0 below.
// n is rounded with the 1.5 * 2^23 trick instead of floor + float->int conversion, because GCC
// refuses to vectorise a possibly trapping conversion under the default -ftrapping-math.
inline float FastExp(float x) {
  const float lo = -87.33654f, hi = 88.72283f;
  float c = x < lo ? lo : (x > hi ? hi : x);
  float t = c * 1.44269504089f + 12582912.0f;  // round(c / ln2) lands in t's low mantissa bits
  float n = t - 12582912.0f;
  float r = c - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  int32_t bits = (__builtin_bit_cast(int32_t, t) - 0x4B400000 + 127) << 23;  // 2^n
  float scale = __builtin_bit_cast(float, bits);
  return x < lo ? 0.0f : y * scale;
}
// float64 is the exact-check path: keep libm.
inline double FastExp(double x) { return std::exp(x); }

// One contiguous row (inner == 1), the common case: three vectorised passes over a row that
// stays in cache. `tmp` holds the result so req=add and y aliasing x both work.
template <typename DType>
void SoftmaxRow(const DType* x, DType* y, DType* tmp, int64_t n, DType inv_t, bool log,
                int32_t req) {
  DType mx = -std::numeric_limits<DType>::infinity();
#pragma omp simd reduction(max : mx)
  for (int64_t k = 0; k < n; ++k) mx = x[k] > mx ? x[k] : mx;
  // Pure maps and a separate reduction: the shapes GCC vectorises reliably.
  for (int64_t k = 0; k < n; ++k) tmp[k] = FastExp((x[k] - mx) * inv_t);
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
        for (int64_t i = 0; i < v.inner; ++i) rk[i] = FastExp((xk[i] - mx[i]) * inv_t);
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

#endif  // COARSENET_OPS_SOFTMAX_KERNEL_H_
