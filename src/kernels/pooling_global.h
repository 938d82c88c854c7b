// Pooling whose one window covers the whole unpadded plane (global_pool, or a kernel equal to the
// input with no padding: Inception's and ResNet's global average pool). The general kernels
// treat it as one output lane of a 16-lane row over H*W taps: forward did 16x the work, and
// backward's gather visited every (window row, tap) pair for every input row, O((H*W)^2 / H)
// per plane (348 ms of a 1.1 s Inception-BN step at 224x224 maps). Here forward is one pass over
// the contiguous plane and backward one broadcast.
//
// Bits: backward gives exactly the general kernel's values (0 + dy * (1/h) * (1/w) for avg, the
// same for sum with factors 1, 0 + dy at the first maximum for max). Forward max and argmax are
// exact; the avg/sum forward adds in a fixed order (kLanes * kAcc running sums, then those in
// order), which differs from the general kernel's row-major order in the last bits but is the
// same for any thread count.
#ifndef COARSENET_KERNELS_POOLING_GLOBAL_H_
#define COARSENET_KERNELS_POOLING_GLOBAL_H_

#include <cstdint>
#include <limits>

#include "coarsenet/op.h"
#include "kernels/pooling_plane.h"

namespace cn_pooling {

inline bool IsWholePlane(const Geometry& g) {
  return g.oh == 1 && g.ow == 1 && g.ph == 0 && g.pw == 0 && g.kh == g.h && g.kw == g.w;
}

// Sum of x[0, n) in a fixed order: kAcc vectors of running sums, then their lanes in order.
template <typename DType>
DType PlaneSum(const DType* __restrict x, int64_t n) {
  using S = Simd<DType>;
  constexpr int kAcc = 4;  // independent sums hide the add latency
  constexpr int64_t kStep = kAcc * S::kLanes;
  typename S::V acc[kAcc];
  for (auto& a : acc) a = S::Splat(0);
  int64_t i = 0;
  for (; i + kStep <= n; i += kStep)
    for (int a = 0; a < kAcc; ++a) acc[a] += S::Load(x + i + a * S::kLanes);
  DType sum = 0;
  for (int a = 0; a < kAcc; ++a)
    for (int l = 0; l < S::kLanes; ++l) sum += acc[a][l];
  for (; i < n; ++i) sum += x[i];
  return sum;
}

// The max of x[0, n) from lowest() (a NaN never wins, as in the general kernel) and the first
// index holding it (-1 when none does: all NaN).
template <typename DType>
DType PlaneMax(const DType* __restrict x, int64_t n, int64_t* first) {
  using S = Simd<DType>;
  typename S::V best = S::Splat(std::numeric_limits<DType>::lowest());
  int64_t i = 0;
  for (; i + S::kLanes <= n; i += S::kLanes) {
    typename S::V v = S::Load(x + i);
    best = v > best ? v : best;
  }
  DType m = std::numeric_limits<DType>::lowest();
  for (int l = 0; l < S::kLanes; ++l) m = best[l] > m ? best[l] : m;
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  *first = -1;
  for (int64_t k = 0; k < n; ++k)
    if (x[k] == m) {
      *first = k;
      break;
    }
  return m;
}

// y[plane] (req write/add; null skips it) and, for max, arg[plane] = the tap index of the first
// maximum (the flat position in the plane, as the general kernel's kh * kw + kw).
template <typename DType>
void GlobalForward(const Geometry& g, bool is_max, bool is_avg, const DType* x, DType* y,
                   int32_t req, DType* arg) {
  const int64_t n = g.h * g.w;
  const DType inv_h = is_avg ? DType(1) / DType(g.h) : DType(1);
  const DType inv_w = is_avg ? DType(1) / DType(g.w) : DType(1);
  cn::ParallelFor(g.planes, 1, [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      const DType* xp = x + plane * n;
      DType v;
      if (is_max) {
        int64_t first;
        v = PlaneMax(xp, n, &first);
        if (arg) arg[plane] = DType(first);
      } else {
        v = PlaneSum(xp, n) * inv_h * inv_w;
      }
      if (req == CN_REQ_ADD) y[plane] += v;
      else if (req != CN_REQ_NULL) y[plane] = v;
    }
  });
}

// dx[plane] = or += the gradient of every position: dy / count (avg), dy (sum), or dy at the
// position whose tap index equals arg (max) and 0 elsewhere.
template <typename DType>
void GlobalBackward(const Geometry& g, bool is_max, bool is_avg, const DType* dy,
                    const DType* arg, DType* dx, int32_t req) {
  const int64_t n = g.h * g.w;
  const DType inv_h = is_avg ? DType(1) / DType(g.h) : DType(1);
  const DType inv_w = is_avg ? DType(1) / DType(g.w) : DType(1);
  const bool add = req == CN_REQ_ADD;
  cn::ParallelFor(g.planes, 1, [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      DType* __restrict d = dx + plane * n;
      const DType v = DType(0) + dy[plane] * inv_h * inv_w;
      if (is_max) {
        const DType at = arg[plane];
        for (int64_t k = 0; k < n; ++k) {
          const DType gk = DType(k) == at ? v : DType(0);
          d[k] = add ? d[k] + gk : gk;
        }
      } else if (add) {
        for (int64_t k = 0; k < n; ++k) d[k] += v;
      } else {
        for (int64_t k = 0; k < n; ++k) d[k] = v;
      }
    }
  });
}

}  // namespace cn_pooling

#endif  // COARSENET_KERNELS_POOLING_GLOBAL_H_
