// Pooling's 2x2 stride-2 max kernels (see pooling.cc, IsMax2x2): the two input rows of each
// output row read directly in vector blocks, even/odd lanes split by permutes, row ends by
// masked (AVX-512) or bounced loads and stores. Used only by pooling.cc.
#ifndef COARSENET_KERNELS_POOLING_MAX2X2_H_
#define COARSENET_KERNELS_POOLING_MAX2X2_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "kernels/pooling_plane.h"

namespace cn_pooling {

// Lane permutes of the 2x2 kernels: even / odd elements of the 2L values lo:hi, and their
// inverse (interleave a and b, the low or high L lanes of the result).
template <typename DType>
struct Pairs {
  using S = Simd<DType>;
  using V = typename S::V;
  static constexpr int64_t L = S::kLanes;
#if defined(__GNUC__) && !defined(__clang__)
  using I = std::conditional_t<sizeof(DType) == 4, int32_t, int64_t>;
  typedef I M __attribute__((vector_size(64)));
  static M Make(int which) {  // 0 even, 1 odd, 2 interleave low, 3 interleave high
    M m;
    for (int64_t k = 0; k < L; ++k)
      m[k] = which < 2 ? I(2 * k + which) : I((k / 2) + (k % 2) * L + (which == 3) * L / 2);
    return m;
  }
  static V Even(V lo, V hi) { static const M m = Make(0); return __builtin_shuffle(lo, hi, m); }
  static V Odd(V lo, V hi) { static const M m = Make(1); return __builtin_shuffle(lo, hi, m); }
  static V Low(V a, V b) { static const M m = Make(2); return __builtin_shuffle(a, b, m); }
  static V High(V a, V b) { static const M m = Make(3); return __builtin_shuffle(a, b, m); }
#else
  static V Pick(V lo, V hi, int which) {
    V r;
    for (int64_t k = 0; k < L; ++k) {
      const int64_t at = which < 2 ? 2 * k + which : k / 2 + (k % 2) * L + (which == 3) * L / 2;
      r[k] = at < L ? lo[at] : hi[at - L];
    }
    return r;
  }
  static V Even(V lo, V hi) { return Pick(lo, hi, 0); }
  static V Odd(V lo, V hi) { return Pick(lo, hi, 1); }
  static V Low(V a, V b) { return Pick(a, b, 2); }
  static V High(V a, V b) { return Pick(a, b, 3); }
#endif
};

// The first n (<= L) lanes of a vector from / to memory, nothing past them touched: AVX-512's
// masked moves where the build has them, a bounce through scratch otherwise.
template <typename DType>
typename Simd<DType>::V LoadN(const DType* p, int64_t n) {
  using S = Simd<DType>;
  if (n >= S::kLanes) return S::Load(p);
  if (n <= 0) return S::Splat(0);
#ifdef __AVX512F__
  if constexpr (sizeof(DType) == 4) {
    __m512 v = _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1), p);
    typename S::V r;
    std::memcpy(&r, &v, sizeof(r));
    return r;
  } else {
    __m512d v = _mm512_maskz_loadu_pd(__mmask8((1u << n) - 1), p);
    typename S::V r;
    std::memcpy(&r, &v, sizeof(r));
    return r;
  }
#else
  alignas(64) DType tmp[S::kLanes] = {};
  std::memcpy(tmp, p, n * sizeof(DType));
  return S::Load(tmp);
#endif
}

template <typename DType>
void StoreN(DType* p, typename Simd<DType>::V v, int64_t n) {
  using S = Simd<DType>;
  if (n >= S::kLanes) return S::Store(p, v);
  if (n <= 0) return;
#ifdef __AVX512F__
  if constexpr (sizeof(DType) == 4) {
    __m512 r;
    std::memcpy(&r, &v, sizeof(r));
    _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1), r);
  } else {
    __m512d r;
    std::memcpy(&r, &v, sizeof(r));
    _mm512_mask_storeu_pd(p, __mmask8((1u << n) - 1), r);
  }
#else
  alignas(64) DType tmp[S::kLanes];
  S::Store(tmp, v);
  std::memcpy(p, tmp, n * sizeof(DType));
#endif
}

// One block of n <= L outputs of an output row: input rows top and bot (2n values each) in,
// max and first tap out.
template <typename DType>
void Max2x2Block(const DType* top, const DType* bot, int64_t n, DType* y, int32_t req,
                 DType* arg) {
  using P = Pairs<DType>;
  using S = Simd<DType>;
  using V = typename S::V;
  constexpr int64_t L = P::L;
  const V t0 = LoadN(top, 2 * n), t1 = LoadN(top + L, 2 * n - L);
  const V b0 = LoadN(bot, 2 * n), b1 = LoadN(bot + L, 2 * n - L);
  const V v0 = P::Even(t0, t1), v1 = P::Odd(t0, t1), v2 = P::Even(b0, b1), v3 = P::Odd(b0, b1);
  // The general kernel's running max from lowest() (NaNs never win) and its first tap.
  V m = S::Splat(std::numeric_limits<DType>::lowest());
  m = v0 > m ? v0 : m;
  m = v1 > m ? v1 : m;
  m = v2 > m ? v2 : m;
  m = v3 > m ? v3 : m;
  V t = v3 == m ? S::Splat(3) : S::Splat(-1);
  t = v2 == m ? S::Splat(2) : t;
  t = v1 == m ? S::Splat(1) : t;
  t = v0 == m ? S::Splat(0) : t;
  if (req == CN_REQ_ADD)
    StoreN(y, LoadN(y, n) + m, n);
  else if (req != CN_REQ_NULL)
    StoreN(y, m, n);
  if (arg) StoreN(arg, t, n);
}

template <typename DType>
void Max2x2Forward(const Geometry& g, const DType* x, DType* y, int32_t req, DType* arg_out) {
  constexpr int64_t L = Simd<DType>::kLanes;
  cn::ParallelFor(g.planes * g.oh, 8, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {  // row = plane * oh + i
      const int64_t plane = row / g.oh, i = row % g.oh;
      const DType* top = x + (plane * g.h + 2 * i) * g.w;
      for (int64_t j = 0; j < g.ow; j += L)
        Max2x2Block(top + 2 * j, top + g.w + 2 * j, std::min(L, g.ow - j), y + row * g.ow + j,
                    req, arg_out ? arg_out + row * g.ow + j : nullptr);
    }
  });
}

// Gradient of one block: dy goes to the saved tap (0 + dy, as the general kernel's sum), 0 to
// the other three inputs of the window.
template <typename DType>
void Max2x2GradBlock(const DType* gy, const DType* arg, int64_t n, DType* top, DType* bot,
                     bool add) {
  using P = Pairs<DType>;
  using S = Simd<DType>;
  using V = typename S::V;
  constexpr int64_t L = P::L;
  const V d = LoadN(gy, n), t = LoadN(arg, n), zero = S::Splat(0);
  const V g0 = zero + (t == S::Splat(0) ? d : zero), g1 = zero + (t == S::Splat(1) ? d : zero);
  const V g2 = zero + (t == S::Splat(2) ? d : zero), g3 = zero + (t == S::Splat(3) ? d : zero);
  const V r[4] = {P::Low(g0, g1), P::High(g0, g1), P::Low(g2, g3), P::High(g2, g3)};
  DType* dst[2] = {top, bot};
  for (int u = 0; u < 2; ++u) {
    V lo = r[2 * u], hi = r[2 * u + 1];
    if (add) lo += LoadN(dst[u], 2 * n), hi += LoadN(dst[u] + L, 2 * n - L);
    StoreN(dst[u], lo, 2 * n);
    StoreN(dst[u] + L, hi, 2 * n - L);
  }
}

template <typename DType>
void Max2x2Backward(const Geometry& g, const DType* dy, const DType* arg, DType* dx,
                    int32_t req) {
  constexpr int64_t L = Simd<DType>::kLanes;
  const bool add = req == CN_REQ_ADD;
  cn::ParallelFor(g.planes, 1, [&](int64_t b, int64_t e) {
    const int64_t w = g.w, h = g.h, oh = g.oh, ow = g.ow;
    for (int64_t plane = b; plane < e; ++plane) {
      DType* dxp = dx + plane * h * w;
      for (int64_t i = 0; i < oh; ++i) {
        const int64_t row = plane * oh + i;
        DType* top = dxp + 2 * i * w;
        for (int64_t j = 0; j < ow; j += L)
          Max2x2GradBlock(dy + row * ow + j, arg + row * ow + j, std::min(L, ow - j),
                          top + 2 * j, top + w + 2 * j, add);
        if (!add && w > 2 * ow) top[w - 1] = top[2 * w - 1] = DType(0);  // odd width
      }
      if (!add) std::fill(dxp + 2 * oh * w, dxp + h * w, DType(0));  // odd height: last row
    }
  });
}

}  // namespace cn_pooling

#endif  // COARSENET_KERNELS_POOLING_MAX2X2_H_
