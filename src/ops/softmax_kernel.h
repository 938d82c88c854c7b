// Row-wise softmax over the middle axis of an (outer, n, inner) view, shared by softmax,
// log_softmax and SoftmaxOutput. Inner positions are processed together so every memory access
// is contiguous whatever the axis.
#ifndef COARSENET_OPS_SOFTMAX_KERNEL_H_
#define COARSENET_OPS_SOFTMAX_KERNEL_H_

#include <algorithm>
#include <cmath>
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

// y = softmax(x / temperature) (or its log) along the middle axis; y may alias x. The result is
// stored per req (write or add); an add needs a scratch row so it cannot alias.
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
      std::fill(mx.begin(), mx.end(), -std::numeric_limits<DType>::infinity());
      std::fill(sum.begin(), sum.end(), DType(0));
      for (int64_t k = 0; k < v.n; ++k)
        for (int64_t i = 0; i < v.inner; ++i) mx[i] = std::max(mx[i], xs[k * v.inner + i]);
      for (int64_t k = 0; k < v.n; ++k)
        for (int64_t i = 0; i < v.inner; ++i) {
          DType z = (xs[k * v.inner + i] - mx[i]) * inv_t;
          DType e = std::exp(z);
          row[k * v.inner + i] = log ? z : e;  // what the last loop needs
          sum[i] += e;
        }
      for (int64_t i = 0; i < v.inner; ++i) sum[i] = log ? std::log(sum[i]) : 1 / sum[i];
      for (int64_t k = 0; k < v.n; ++k)
        for (int64_t i = 0; i < v.inner; ++i) {
          DType z = row[k * v.inner + i];
          DType r = log ? z - sum[i] : z * sum[i];
          cn::Store(&ys[k * v.inner + i], req, r);
        }
    }
  });
}

}  // namespace cn_ops

#endif  // COARSENET_OPS_SOFTMAX_KERNEL_H_
