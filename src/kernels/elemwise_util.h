// Shared pieces of the elementwise op families (elemwise.cc, broadcast.cc, scalar.cc, ...):
// a size-gated parallel loop, a "store with req" map, and the binary functors (add, sub, mul,
// div, maximum, minimum, power) with their gradients, so each family writes its loop once and
// every op is one functor.
#ifndef COARSENET_KERNELS_ELEMWISE_UTIL_H_
#define COARSENET_KERNELS_ELEMWISE_UTIL_H_

#include <algorithm>
#include <cmath>
#include <mutex>
#include <vector>

#include "coarsenet/op.h"

namespace cn_elem {

// Below this many elements a loop runs on the calling thread: waking the thread pool costs more
// than the work, and small calls (scalars, biases) must stay cheap.
constexpr int64_t kParallelGrain = 1 << 16;

// body(begin, end) over [0, n): serially when small, else split across the host's threads.
template <typename Body>
inline void Chunked(int64_t n, Body&& body) {
  if (n < 2 * kParallelGrain)
    body(int64_t(0), n);
  else
    cn::ParallelFor(n, kParallelGrain, body);
}

// body(row_begin, row_end) over `rows` rows of `row_len` elements, gated on the element count.
template <typename Body>
inline void ChunkedRows(int64_t rows, int64_t row_len, Body&& body) {
  if (rows * row_len < 2 * kParallelGrain)
    body(int64_t(0), rows);
  else
    cn::ParallelFor(rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, row_len)),
                    body);
}

// y[i] = f(i) (write / in-place) or y[i] += f(i) (add); nothing for null. The two loops are kept
// separate and branch-free so the compiler vectorises them.
template <typename DType, typename F>
inline void MapStore(DType* y, int64_t n, int32_t req, F f) {
  if (req == CN_REQ_NULL) return;
  Chunked(n, [&](int64_t b, int64_t e) {
    if (req == CN_REQ_ADD) {
      for (int64_t i = b; i < e; ++i) y[i] += f(i);
    } else {
      for (int64_t i = b; i < e; ++i) y[i] = f(i);
    }
  });
}

// Sum of value(i) over [b, e). 64 independent partial sums (4 AVX-512 or 8 AVX2 registers of
// floats) hide the add latency, vectorise without -ffast-math and give the same result on every
// machine. `value` is taken by copy: through a reference GCC cannot keep its captured pointers in
// registers and falls back to gather instructions (measured 10x slower).
template <typename DType, typename Value>
inline DType SumRange(int64_t b, int64_t e, Value value) {
  constexpr int kLanes = 64;
  DType part[kLanes] = {};
  int64_t i = b;
  for (; i + kLanes <= e; i += kLanes)
    for (int j = 0; j < kLanes; ++j) part[j] += value(i + j);
  DType s = 0;
  for (; i < e; ++i) s += value(i);
  for (int j = 0; j < kLanes; ++j) s += part[j];
  return s;
}

// The reduction behind sum/mean and the gradients of broadcast operands: `rows` rows of `inner`
// values; row_fn(row) returns {offset into acc, value(i) for i in [0, inner)}. With
// inner_reduced, acc[offset] += sum_i value(i); otherwise acc[offset + i] += value(i).
// Rows may share offsets, so the parallel split never hands one acc element to two threads:
// per-row partial sums (many rows), split rows (few long rows), or split columns.
template <typename DType, typename RowFn>
void AccumulateRows(int64_t rows, int64_t inner, bool inner_reduced, DType* acc, RowFn row_fn) {
  int threads = cn::NumThreads();
  bool parallel = rows * inner >= 2 * kParallelGrain && threads > 1;
  if (inner_reduced) {
    if (!parallel) {
      for (int64_t row = 0; row < rows; ++row) {
        auto [offset, value] = row_fn(row);
        acc[offset] += SumRange<DType>(0, inner, value);
      }
    } else if (rows >= 4 * threads) {
      std::vector<DType> sums(rows);
      ChunkedRows(rows, inner, [&](int64_t r0, int64_t r1) {
        for (int64_t row = r0; row < r1; ++row) sums[row] = SumRange<DType>(0, inner, row_fn(row).second);
      });
      for (int64_t row = 0; row < rows; ++row) acc[row_fn(row).first] += sums[row];
    } else {
      for (int64_t row = 0; row < rows; ++row) {
        auto [offset, value] = row_fn(row);
        std::mutex lock;
        DType total = 0;
        cn::ParallelFor(inner, kParallelGrain, [&](int64_t b, int64_t e) {
          DType part = SumRange<DType>(b, e, value);
          std::lock_guard<std::mutex> hold(lock);
          total += part;
        });
        acc[offset] += total;
      }
    }
    return;
  }
  auto columns = [&](int64_t b, int64_t e) {
    for (int64_t row = 0; row < rows; ++row) {
      auto [offset, value] = row_fn(row);
      DType* a = acc + offset;
#pragma omp simd
      for (int64_t i = b; i < e; ++i) a[i] += value(i);
    }
  };
  if (parallel && inner >= 64 * threads)
    cn::ParallelFor(inner, 64, columns);
  else
    columns(0, inner);
}

// Binary arithmetic: y = Fwd(a, b); dL/da = GradA(dy, a, b); dL/db = GradB(dy, a, b).
// The k*Needs* flags say which operands each gradient reads, so ops declare minimal
// backward_needs and never read a tensor the memory planner may already have freed.
struct Add {
  static constexpr bool kGradANeedsA = false, kGradANeedsB = false;
  static constexpr bool kGradBNeedsA = false, kGradBNeedsB = false;
  template <typename T> static T Fwd(T a, T b) { return a + b; }
  template <typename T> static T GradA(T dy, T, T) { return dy; }
  template <typename T> static T GradB(T dy, T, T) { return dy; }
};
struct Sub {
  static constexpr bool kGradANeedsA = false, kGradANeedsB = false;
  static constexpr bool kGradBNeedsA = false, kGradBNeedsB = false;
  template <typename T> static T Fwd(T a, T b) { return a - b; }
  template <typename T> static T GradA(T dy, T, T) { return dy; }
  template <typename T> static T GradB(T dy, T, T) { return -dy; }
};
struct Mul {
  static constexpr bool kGradANeedsA = false, kGradANeedsB = true;
  static constexpr bool kGradBNeedsA = true, kGradBNeedsB = false;
  template <typename T> static T Fwd(T a, T b) { return a * b; }
  template <typename T> static T GradA(T dy, T, T b) { return dy * b; }
  template <typename T> static T GradB(T dy, T a, T) { return dy * a; }
};
struct Div {
  static constexpr bool kGradANeedsA = false, kGradANeedsB = true;
  static constexpr bool kGradBNeedsA = true, kGradBNeedsB = true;
  template <typename T> static T Fwd(T a, T b) { return a / b; }
  template <typename T> static T GradA(T dy, T, T b) { return dy / b; }
  template <typename T> static T GradB(T dy, T a, T b) { return -dy * a / (b * b); }
};

// maximum/minimum send the gradient to the operand that was chosen; on a tie lhs gets it
// (MXNet's convention: lhs >= rhs for maximum, lhs <= rhs for minimum).
struct Maximum {
  static constexpr bool kGradANeedsA = true, kGradANeedsB = true;
  static constexpr bool kGradBNeedsA = true, kGradBNeedsB = true;
  template <typename T> static T Fwd(T a, T b) { return a > b ? a : b; }
  template <typename T> static T GradA(T dy, T a, T b) { return a >= b ? dy : T(0); }
  template <typename T> static T GradB(T dy, T a, T b) { return a < b ? dy : T(0); }
};
struct Minimum {
  static constexpr bool kGradANeedsA = true, kGradANeedsB = true;
  static constexpr bool kGradBNeedsA = true, kGradBNeedsB = true;
  template <typename T> static T Fwd(T a, T b) { return a < b ? a : b; }
  template <typename T> static T GradA(T dy, T a, T b) { return a <= b ? dy : T(0); }
  template <typename T> static T GradB(T dy, T a, T b) { return a > b ? dy : T(0); }
};
// a^b: d/da = b a^(b-1), d/db = a^b ln a (NaN for a < 0, as in MXNet and NumPy).
struct Power {
  static constexpr bool kGradANeedsA = true, kGradANeedsB = true;
  static constexpr bool kGradBNeedsA = true, kGradBNeedsB = true;
  template <typename T> static T Fwd(T a, T b) { return std::pow(a, b); }
  template <typename T> static T GradA(T dy, T a, T b) { return dy * b * std::pow(a, b - T(1)); }
  template <typename T> static T GradB(T dy, T a, T b) {
    return a == T(0) ? T(0) : dy * std::pow(a, b) * std::log(a);
  }
};

template <typename F>
constexpr bool kNeedsA = F::kGradANeedsA || F::kGradBNeedsA;
template <typename F>
constexpr bool kNeedsB = F::kGradANeedsB || F::kGradBNeedsB;

}  // namespace cn_elem

#endif  // COARSENET_KERNELS_ELEMWISE_UTIL_H_
