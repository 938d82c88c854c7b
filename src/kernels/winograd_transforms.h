// Winograd F(m x m, 3 x 3) transforms (Lavin & Gray 2016) for the drivers in ops/conv/winograd.h: the
// tables, the tiling of a batch, and the transforms of filters (U = G g G^T and its adjoint
// dW = G^T dU G), input tiles (V = B^T d B) and output-gradient tiles (Z = A dY A^T). Every
// transform runs across many filter pairs or tiles at once, so its loops are unit-stride and
// vectorise; constant table entries are unrolled at compile time, zeros cost nothing.
#ifndef COARSENET_KERNELS_WINOGRAD_TRANSFORMS_H_
#define COARSENET_KERNELS_WINOGRAD_TRANSFORMS_H_

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "coarsenet/op.h"

namespace cn::winograd {

// F(M x M, 3 x 3): tiles of alpha = M + 2 inputs give M x M outputs; V = B^T d B, U = G g G^T,
// Y = A^T (U .* V) A. F(4x4, 3x3) with points 0, +-1, +-2 (float32 error ~1e-6 relative);
// the code takes any table, e.g. F(2x2, 3x3) if accuracy ever matters more than speed.
template <int M>
struct Tables;
template <>
struct Tables<4> {
  static constexpr int kM = 4, kAlpha = 6, kStride = 1, kStep = 4;
  static constexpr double kBT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0},
                                       {0, 4, -4, -1, 1, 0}, {0, -2, -1, 2, 1, 0},
                                       {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr double kG[6][3] = {{1. / 4, 0, 0},          {-1. / 6, -1. / 6, -1. / 6},
                                      {-1. / 6, 1. / 6, -1. / 6}, {1. / 24, 1. / 12, 1. / 6},
                                      {1. / 24, -1. / 12, 1. / 6}, {0, 0, 1}};
  static constexpr double kAT[4][6] = {
      {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
};
using Fwd = Tables<4>;

// Stride 2: a 3x3 stride-2 correlation in 1-D is y[j] = (w0 e[j] + w2 e[j+1]) + w1 o[j] on the
// even samples e and odd samples o of the input, i.e. a 2-tap stride-1 correlation of e, run
// as Winograd F(4, 2) (points 0, 1, -1, 1/2, infinity: 5 multiplies for 4 outputs), plus 4
// direct multiplies of o. A tile of alpha = 9 inputs (step kStep = 8) gives 4 outputs with 9
// multiplies instead of 12; in 2-D the tensor product, 81 instead of 144 per 4x4 outputs
// (1.78x fewer). Rows 0-4 of B^T, G, columns 0-4 of A^T are F(4, 2)'s on the even samples
// (taps 0 and 2); rows 5-8 pass the odd samples (tap 1) through. Generated and checked exactly
// with fractions (Toom-Cook: G evaluates the filter at the points, B^T is the transposed
// inverse of the product's evaluation matrix, A^T the transposed evaluation of the outputs).
struct Stride2 {
  static constexpr int kM = 4, kAlpha = 9, kStride = 2, kStep = 8;
  static constexpr double kBT[9][9] = {
      {1, 0, -2, 0, -1, 0, 2, 0, 0},   {0, 0, -1. / 2, 0, 1. / 2, 0, 1, 0, 0},
      {0, 0, -1. / 6, 0, 1. / 2, 0, -1. / 3, 0, 0}, {0, 0, 8. / 3, 0, 0, 0, -8. / 3, 0, 0},
      {0, 0, 1. / 2, 0, -1, 0, -1. / 2, 0, 1},     {0, 1, 0, 0, 0, 0, 0, 0, 0},
      {0, 0, 0, 1, 0, 0, 0, 0, 0},     {0, 0, 0, 0, 0, 1, 0, 0, 0},
      {0, 0, 0, 0, 0, 0, 0, 1, 0}};
  static constexpr double kG[9][3] = {{1, 0, 0}, {1, 0, 1}, {1, 0, -1}, {1, 0, 1. / 2}, {0, 0, 1},
                                      {0, 1, 0}, {0, 1, 0}, {0, 1, 0},  {0, 1, 0}};
  static constexpr double kAT[4][9] = {{1, 1, 1, 1, 0, 1, 0, 0, 0},
                                       {0, 1, -1, 1. / 2, 0, 0, 1, 0, 0},
                                       {0, 1, 1, 1. / 4, 0, 0, 0, 1, 0},
                                       {0, 1, -1, 1. / 8, 1, 0, 0, 0, 1}};
};

// Calls f(std::integral_constant<int, i>) for i < N, so table entries are compile-time
// constants and zero coefficients cost nothing.
template <typename F, int... I>
inline void UnrollImpl(F&& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
template <int N, typename F>
inline void Unroll(F&& f) {
  UnrollImpl(f, std::make_integer_sequence<int, N>{});
}

// dst[j] = sum_k coef_k src[k][j] over the nonzero coefficients of row kRow of B^T or A^T
// (kB, kA: k < alpha) or of column kRow of A^T, i.e. row kRow of A (kACol: k < M).
enum Which { kB, kA, kACol };
template <typename T, Which kWhich, int kRow, typename DType>
inline void Combine(DType* dst, const DType* const* src, int64_t len) {
  constexpr int kN = kWhich == kACol ? T::kM : T::kAlpha;
  for (int64_t j = 0; j < len; ++j) {
    DType acc = 0;
    Unroll<kN>([&](auto k) {
      constexpr int kk = decltype(k)::value;
      constexpr double c = kWhich == kB   ? T::kBT[kRow][kk]
                           : kWhich == kA ? T::kAT[kRow][kk]
                                          : T::kAT[kk][kRow];
      if constexpr (c != 0) acc += DType(c) * src[kk][j];
    });
    dst[j] = acc;
  }
}

// Filter pairs transformed at a time: the transforms run across pairs, so they vectorise.
constexpr int kLanes = 16;

// One direction of a 3x3 convolution (stride T::kStride) as Winograd sees it: n images of c
// planes (h, w), zero-padded by (ph, pw), give f planes (oh, ow) = ((h + 2 ph - 3) / stride + 1,
// ...), covered by th x tw tiles of kM x kM outputs per image; rows() global tile rows in all.
struct Tiling {
  int64_t n, c, h, w, ph, pw, f, oh, ow, th, tw;
  int64_t rows() const { return n * th; }
  int64_t tiles() const { return n * th * tw; }
};
template <typename T>
inline Tiling MakeTiling(int64_t n, int64_t c, int64_t h, int64_t w, int64_t ph, int64_t pw,
                         int64_t f) {
  const int64_t oh = (h + 2 * ph - 3) / T::kStride + 1, ow = (w + 2 * pw - 3) / T::kStride + 1;
  return {n, c, h, w, ph, pw, f, oh, ow, (oh + T::kM - 1) / T::kM, (ow + T::kM - 1) / T::kM};
}

// u[xi * stride + (o - o0) cols + i] = (G g G^T)[xi] for the rows o in [o0, o1), where
// g = w[o][i] (forward) or, when `flip`, for the data gradient g = w[i][o] rotated by 180
// degrees, with o, i running over C, F (cols = C, or F when flipped). `stride` is the size of
// one position's U: a slab's own, or all rows' with u at row o0. kLanes filter pairs at a
// time are gathered tap-major, so the arithmetic vectorises across pairs. Runs on the calling
// thread.
template <typename T, typename DType>
void TransformFilters(const DType* w, int64_t f, int64_t c, bool flip, int64_t o0, int64_t o1,
                      DType* u, int64_t stride) {
  constexpr int A = T::kAlpha;
  const int64_t cols = flip ? f : c;
  DType g[9][kLanes], t[A][3][kLanes];
  for (int64_t o = o0; o < o1; ++o)
    for (int64_t i0 = 0; i0 < cols; i0 += kLanes) {
      const int64_t nl = std::min<int64_t>(kLanes, cols - i0);
      for (int64_t l = 0; l < kLanes; ++l) {  // lanes past the end repeat the last pair
        const int64_t i = i0 + std::min(l, nl - 1);
        const DType* src = flip ? w + (i * c + o) * 9 : w + (o * c + i) * 9;
        for (int k = 0; k < 9; ++k) g[k][l] = src[flip ? 8 - k : k];
      }
      for (int a = 0; a < A; ++a)  // t = G g
        for (int b = 0; b < 3; ++b) {
          const DType k0 = DType(T::kG[a][0]), k1 = DType(T::kG[a][1]), k2 = DType(T::kG[a][2]);
          for (int l = 0; l < kLanes; ++l)
            t[a][b][l] = k0 * g[b][l] + k1 * g[3 + b][l] + k2 * g[6 + b][l];
        }
      for (int a = 0; a < A; ++a)  // U = t G^T
        for (int b = 0; b < A; ++b) {
          const DType k0 = DType(T::kG[b][0]), k1 = DType(T::kG[b][1]), k2 = DType(T::kG[b][2]);
          DType* dst = u + (a * A + b) * stride + (o - o0) * cols + i0;
          for (int64_t l = 0; l < nl; ++l)
            dst[l] = t[a][0][l] * k0 + t[a][1][l] * k1 + t[a][2][l] * k2;
        }
    }
}
// All rows, split across threads.
template <typename T, typename DType>
void TransformAllFilters(const DType* w, int64_t f, int64_t c, bool flip, DType* u) {
  const int64_t rows = flip ? c : f, cols = flip ? f : c, s = rows * cols;
  ParallelFor(rows, 4, [&](int64_t o0, int64_t o1) {
    TransformFilters<T>(w, f, c, flip, o0, o1, u + o0 * cols, s);
  });
}

// dW[o][i] (req) = G^T dU G for the rows o in [o0, o1), dU laid out as TransformFilters' U
// (du at row o0, positions `stride` apart). Runs on the calling thread.
template <typename T, typename DType>
void InverseFilters(const DType* du, int64_t stride, int64_t c, int64_t o0, int64_t o1,
                    DType* dw, int32_t req) {
  constexpr int A = T::kAlpha;
  const int64_t s = (o1 - o0) * c;
  DType tmp[3][A][kLanes];
  for (int64_t p0 = 0; p0 < s; p0 += kLanes) {
    const int64_t nl = std::min<int64_t>(kLanes, s - p0);
    for (int a = 0; a < 3; ++a)
      for (int j = 0; j < A; ++j) {
        for (int l = 0; l < kLanes; ++l) tmp[a][j][l] = 0;
        for (int i = 0; i < A; ++i) {
          const DType k = DType(T::kG[i][a]);
          const DType* src = du + (i * A + j) * stride + p0;
          if (k != 0)
            for (int64_t l = 0; l < nl; ++l) tmp[a][j][l] += k * src[l];
        }
      }
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b)
        for (int64_t l = 0; l < nl; ++l) {
          DType acc = 0;
          for (int j = 0; j < A; ++j) acc += tmp[a][j][l] * DType(T::kG[j][b]);
          Store(&dw[(o0 * c + p0 + l) * 9 + a * 3 + b], req, acc);
        }
  }
}

// V = B^T d B for global tile rows [r0, r0 + nr) of one input channel (tiles kStep apart), whose plane in image i
// starts at xc + i * t.c * t.h * t.w, to the alpha^2 tile streams out + xi * stride (nr * tw
// tiles each). B^T is applied down the rows, each result is de-interleaved into one stream per
// tile column, then B^T is applied across those over the whole block: every arithmetic loop
// is unit-stride and as long as the block.
template <typename T>
constexpr int64_t InputScratch(int64_t tw, int64_t nr) {
  return 2 * T::kAlpha * (T::kStep * tw + T::kAlpha) + T::kAlpha * T::kAlpha * nr * tw;
}
template <typename T, typename DType>
void InputBlock(const Tiling& t, const DType* xc, int64_t r0, int64_t nr, DType* scratch,
                DType* out, int64_t stride) {
  constexpr int A = T::kAlpha, S = T::kStep;
  const int64_t tw = t.tw, row_len = S * tw + A - S, nt = nr * tw;
  DType *d[A], *comb[A];
  for (int k = 0; k < A; ++k) {
    d[k] = scratch + k * row_len;
    comb[k] = scratch + (A + k) * row_len;
  }
  DType* e = scratch + 2 * A * row_len;  // e[a][k] (nt values) = column phase k of comb[a]
  for (int64_t r = 0; r < nr; ++r) {
    const int64_t image = (r0 + r) / t.th, y0 = S * ((r0 + r) % t.th) - t.ph;
    const DType* plane = xc + image * t.c * t.h * t.w;
    for (int k = 0; k < A; ++k) {
      const int64_t yy = y0 + k;
      std::fill(d[k], d[k] + row_len, DType(0));
      if (yy < 0 || yy >= t.h) continue;
      const DType* src = plane + yy * t.w - t.pw;
      for (int64_t j = std::max<int64_t>(0, t.pw); j < std::min(row_len, t.w + t.pw); ++j)
        d[k][j] = src[j];
    }
    Unroll<A>([&](auto a) {
      constexpr int ka = decltype(a)::value;
      Combine<T, kB, ka>(comb[ka], d, row_len);
      for (int k = 0; k < A; ++k) {
        DType* dst = e + (ka * A + k) * nt + r * tw;
        for (int64_t j = 0; j < tw; ++j) dst[j] = comb[ka][S * j + k];
      }
    });
  }
  Unroll<A>([&](auto a) {
    const DType* phases[A];
    for (int k = 0; k < A; ++k) phases[k] = e + (decltype(a)::value * A + k) * nt;
    Unroll<A>([&](auto b) {
      Combine<T, kB, decltype(b)::value>(out + (decltype(a)::value * A + b) * stride, phases, nt);
    });
  });
}

// Z = A dY A^T for global tile rows [r0, r0 + nr) of one output-gradient channel, whose plane
// in image i starts at gc + i * t.f * t.oh * t.ow (zero beyond the plane), to the alpha^2
// tile streams out + xi * stride; laid out like InputBlock.
template <typename T>
constexpr int64_t GradScratch(int64_t tw, int64_t nr) {
  return (T::kM + 1) * T::kM * tw + T::kAlpha * T::kM * nr * tw;
}
template <typename T, typename DType>
void GradBlock(const Tiling& t, const DType* gc, int64_t r0, int64_t nr, DType* scratch,
               DType* out, int64_t stride) {
  constexpr int A = T::kAlpha, M = T::kM;
  const int64_t tw = t.tw, len = M * tw, nt = nr * tw;
  DType* g[M];
  for (int i = 0; i < M; ++i) g[i] = scratch + i * len;
  DType* comb = scratch + M * len;
  DType* e = comb + len;  // e[a][k] (nt values) = column phase k of comb[a]
  for (int64_t r = 0; r < nr; ++r) {
    const int64_t image = (r0 + r) / t.th, y0 = M * ((r0 + r) % t.th);
    const DType* plane = gc + image * t.f * t.oh * t.ow;
    for (int i = 0; i < M; ++i) {
      std::fill(g[i], g[i] + len, DType(0));
      if (y0 + i < t.oh) std::copy_n(plane + (y0 + i) * t.ow, t.ow, g[i]);
    }
    Unroll<A>([&](auto a) {
      constexpr int ka = decltype(a)::value;
      Combine<T, kACol, ka>(comb, g, len);
      for (int k = 0; k < M; ++k) {
        DType* dst = e + (ka * M + k) * nt + r * tw;
        for (int64_t j = 0; j < tw; ++j) dst[j] = comb[M * j + k];
      }
    });
  }
  Unroll<A>([&](auto a) {
    const DType* phases[M];
    for (int k = 0; k < M; ++k) phases[k] = e + (decltype(a)::value * M + k) * nt;
    Unroll<A>([&](auto b) {
      Combine<T, kACol, decltype(b)::value>(out + (decltype(a)::value * A + b) * stride, phases,
                                            nt);
    });
  });
}

}  // namespace cn::winograd

#endif  // COARSENET_KERNELS_WINOGRAD_TRANSFORMS_H_
