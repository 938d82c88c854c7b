// Winograd convolution for 3x3 stride-1 convolutions (Lavin & Gray 2016). F(4x4, 3x3) costs
// 36 multiplies per 4x4 output block and (input, output) channel pair instead of 144 (4x
// fewer); F(2x2, 3x3) 16 instead of 36.
//   V = B^T d B  (input tile d),  U = G g G^T  (3x3 filter g),  Y = A^T [sum_c U .* V] A.
// The sum over channels is, for each of the alpha^2 tile positions xi, one GEMM
// M[xi] (F x T) = U[xi] (F x C) V[xi] (C x T) over a block of T tiles kept in L2.
// Convolution's forward and data gradient both use it: the data gradient of a 3x3 stride-1
// convolution with pad p is a 3x3 convolution of dy with the flipped, transposed filters and
// pad 2 - p.
#ifndef COARSENET_OPS_WINOGRAD_H_
#define COARSENET_OPS_WINOGRAD_H_

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
  static constexpr int kM = 4, kAlpha = 6;
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

// A block is whole rows of tiles, about this many values of V and M (alpha^2 (C + F) per
// tile), so the transforms and the GEMMs of a block work in L2.
constexpr int64_t kBlockElems = 512 * 1024;

template <typename T>
inline int64_t BlockRows(int64_t c, int64_t f, int64_t tiles_w) {
  constexpr int64_t a2 = T::kAlpha * T::kAlpha;
  return std::max<int64_t>(1, kBlockElems / (a2 * (c + f)) / tiles_w);
}

// Scratch elements for one image slot (V and M of one block) for images up to `max_w` wide
// (input or output); an upper bound for either direction.
template <typename T>
inline int64_t SlotElems(int64_t c, int64_t f, int64_t max_w) {
  constexpr int64_t a2 = T::kAlpha * T::kAlpha;
  return a2 * (c + f) * std::max((max_w + T::kM - 1) / T::kM, kBlockElems / (a2 * (c + f)));
}
template <typename T>
inline int64_t FilterElems(int64_t c, int64_t f) {
  return T::kAlpha * T::kAlpha * c * f;
}

// Weight-gradient scratch: dU, V of every channel and one Z per channel slot.
constexpr int64_t kMaxSlots = 4;
template <typename T>
inline int64_t WeightGradElems(int64_t c, int64_t f, int64_t max_w) {
  constexpr int64_t a2 = T::kAlpha * T::kAlpha;
  int64_t block = SlotElems<T>(c, f, max_w) / (a2 * (c + f));
  return FilterElems<T>(c, f) + a2 * block * (c + std::min(c, kMaxSlots) * f);
}

// U[xi][o][i] = (G g G^T)[xi] for g = w[o][i] (forward) or, when `flip`, for the data
// gradient: g = w[i][o] rotated by 180 degrees, with o, i now running over C, F.
template <typename T, typename DType>
void TransformFilters(const DType* w, int64_t f, int64_t c, bool flip, DType* u) {
  constexpr int A = T::kAlpha;
  const int64_t rows = flip ? c : f, cols = flip ? f : c, s = rows * cols;
  for (int64_t o = 0; o < rows; ++o)
    for (int64_t i = 0; i < cols; ++i) {
      const DType* src = flip ? w + (i * c + o) * 9 : w + (o * c + i) * 9;
      double g[3][3], t[A][3];
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) g[a][b] = flip ? src[(2 - a) * 3 + (2 - b)] : src[a * 3 + b];
      for (int a = 0; a < A; ++a)  // t = G g
        for (int b = 0; b < 3; ++b)
          t[a][b] = T::kG[a][0] * g[0][b] + T::kG[a][1] * g[1][b] + T::kG[a][2] * g[2][b];
      for (int a = 0; a < A; ++a)  // U = t G^T
        for (int b = 0; b < A; ++b)
          u[(a * A + b) * s + o * cols + i] =
              DType(t[a][0] * T::kG[b][0] + t[a][1] * T::kG[b][1] + t[a][2] * T::kG[b][2]);
    }
}

// V = B^T d B for `nr` rows of tiles of one channel image xc (h, w), the first tile row
// reading input rows from y0 (zero-padded; column j of a row is image column j - pw), to the
// alpha^2 tile streams out + xi * stride (nr * tw tiles each). B^T is applied down the rows,
// each result is de-interleaved into one stream per tile column, then B^T is applied across
// those over the whole block: every arithmetic loop is unit-stride and long.
template <typename T>
constexpr int64_t InputScratch(int64_t tw, int64_t nr) {
  return 2 * T::kAlpha * (T::kM * tw + T::kAlpha) + T::kAlpha * T::kAlpha * nr * tw;
}
template <typename T, typename DType>
void InputBlock(const DType* xc, int64_t h, int64_t w, int64_t y0, int64_t pw, int64_t tw,
                int64_t nr, DType* scratch, DType* out, int64_t stride) {
  constexpr int A = T::kAlpha, M = T::kM;
  const int64_t row_len = M * tw + A - M, nt = nr * tw;
  DType *d[A], *comb[A];
  for (int k = 0; k < A; ++k) {
    d[k] = scratch + k * row_len;
    comb[k] = scratch + (A + k) * row_len;
  }
  DType* e = scratch + 2 * A * row_len;  // e[a][k] (nt values) = column phase k of comb[a]
  for (int64_t r = 0; r < nr; ++r) {
    for (int k = 0; k < A; ++k) {
      const int64_t yy = y0 + M * r + k;
      std::fill(d[k], d[k] + row_len, DType(0));
      if (yy < 0 || yy >= h) continue;
      const DType* src = xc + yy * w - pw;
      for (int64_t j = std::max<int64_t>(0, pw); j < std::min(row_len, w + pw); ++j)
        d[k][j] = src[j];
    }
    Unroll<A>([&](auto a) {
      constexpr int ka = decltype(a)::value;
      Combine<T, kB, ka>(comb[ka], d, row_len);
      for (int k = 0; k < A; ++k) {
        DType* dst = e + (ka * A + k) * nt + r * tw;
        for (int64_t t = 0; t < tw; ++t) dst[t] = comb[ka][M * t + k];
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

// y (f, oh, ow) = conv3x3(x (c, h, w), U) with padding (ph, pw), oh = h + 2 ph - 2, + bias.
// One image; `ws` holds SlotElems values.
template <typename T, typename DType>
void ConvImage(const DType* x, int64_t c, int64_t h, int64_t w, const DType* u, int64_t f,
               int64_t ph, int64_t pw, const DType* bias, DType* y, int32_t req, DType* ws) {
  constexpr int A = T::kAlpha, M = T::kM, A2 = A * A;
  const int64_t oh = h + 2 * ph - 2, ow = w + 2 * pw - 2;
  const int64_t th = (oh + M - 1) / M, tw = (ow + M - 1) / M;
  const int64_t rows = BlockRows<T>(c, f, tw), block = rows * tw;
  DType* v = ws;                  // [A2][c][block]
  DType* m = ws + A2 * c * block;  // [A2][f][block]
  std::vector<DType> scratch(std::max(InputScratch<T>(tw, rows), (M * A + M + M) * block));
  DType* sums = scratch.data();        // A^T applied down the tile rows: [M][A][block]
  DType* one = sums + M * A * block;   // one output column phase: [M][block]
  for (int64_t ty0 = 0; ty0 < th; ty0 += rows) {
    const int64_t nr = std::min(rows, th - ty0), nt = nr * tw;
    for (int64_t ch = 0; ch < c; ++ch)
      InputBlock<T>(x + ch * h * w, h, w, M * ty0 - ph, pw, tw, nr, scratch.data(),
                    v + ch * block, c * block);
    for (int xi = 0; xi < A2; ++xi)
      Gemm(false, false, f, nt, c, DType(1), u + xi * f * c, c, v + xi * c * block, block,
           DType(0), m + xi * f * block, block);
    for (int64_t o = 0; o < f; ++o) {  // Y = A^T M A over the whole block
      const DType b0 = bias ? bias[o] : DType(0);
      const DType* q = m + o * block;  // stream xi at q + xi * f * block
      Unroll<A>([&](auto b) {
        const DType* col[A];
        for (int a = 0; a < A; ++a) col[a] = q + (a * A + b) * f * block;
        Unroll<M>([&](auto i) {
          Combine<T, kA, decltype(i)::value>(sums + (i * A + b) * block, col, nt);
        });
      });
      Unroll<M>([&](auto i) {
        const DType* row[A];
        for (int b = 0; b < A; ++b) row[b] = sums + (i * A + b) * block;
        Unroll<M>([&](auto jj) {
          Combine<T, kA, decltype(jj)::value>(one + jj * block, row, nt);
        });
        for (int64_t r = 0; r < nr; ++r) {
          const int64_t yy = M * (ty0 + r) + i;
          if (yy >= oh) break;
          DType* dst = y + (o * oh + yy) * ow;
          for (int64_t j = 0; j < ow; ++j) {
            const DType val = one[(j % M) * block + r * tw + j / M] + b0;
            if (req == CN_REQ_ADD) dst[j] += val; else dst[j] = val;
          }
        }
      });
    }
  }
}

// Z = A dY A^T for `nr` rows of tiles of one channel's output gradient gc (oh, ow), the first
// tile row starting at output row y0 (zero beyond the output), to the alpha^2 tile streams
// out + xi * stride; laid out like InputBlock.
template <typename T>
constexpr int64_t GradScratch(int64_t tw, int64_t nr) {
  return (T::kM + 1) * T::kM * tw + T::kAlpha * T::kM * nr * tw;
}
template <typename T, typename DType>
void GradBlock(const DType* gc, int64_t oh, int64_t ow, int64_t y0, int64_t tw, int64_t nr,
               DType* scratch, DType* out, int64_t stride) {
  constexpr int A = T::kAlpha, M = T::kM;
  const int64_t len = M * tw, nt = nr * tw;
  DType* g[M];
  for (int i = 0; i < M; ++i) g[i] = scratch + i * len;
  DType* comb = scratch + M * len;
  DType* e = comb + len;  // e[a][k] (nt values) = column phase k of comb[a]
  for (int64_t r = 0; r < nr; ++r) {
    for (int i = 0; i < M; ++i) {
      std::fill(g[i], g[i] + len, DType(0));
      if (y0 + M * r + i < oh) std::copy_n(gc + (y0 + M * r + i) * ow, ow, g[i]);
    }
    Unroll<A>([&](auto a) {
      constexpr int ka = decltype(a)::value;
      Combine<T, kACol, ka>(comb, g, len);
      for (int k = 0; k < M; ++k) {
        DType* dst = e + (ka * M + k) * nt + r * tw;
        for (int64_t t = 0; t < tw; ++t) dst[t] = comb[M * t + k];
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

// dW (f, c, 3, 3) = G^T dU G with dU[xi] = sum over images and tiles of Z[xi] V[xi]^T, where
// V = B^T d B (as in the forward) and Z = A dY A^T transforms the tile's output gradient:
// the forward is linear in U, so this is its exact adjoint. Threads split the input channels
// (at most kMaxSlots slots, so the workspace is known from shapes): each transforms its own
// channels of x, all of dy, and owns its columns of dU outright, so no reduction is needed.
// `ws` holds WeightGradElems values.
template <typename T, typename DType>
void WeightGrad(const DType* x, const DType* dy, int64_t n, int64_t c, int64_t h, int64_t w,
                int64_t f, int64_t ph, int64_t pw, DType* dw, int32_t req, DType* ws) {
  constexpr int A = T::kAlpha, M = T::kM, A2 = A * A;
  const int64_t oh = h + 2 * ph - 2, ow = w + 2 * pw - 2;
  const int64_t th = (oh + M - 1) / M, tw = (ow + M - 1) / M;
  const int64_t rows = BlockRows<T>(c, f, tw), block = rows * tw, slots = std::min(c, kMaxSlots);
  DType* du = ws;                          // [A2][f][c]
  DType* v_all = du + A2 * f * c;          // [c][A2][block]: each slot's channels side by side
  DType* z_all = v_all + A2 * c * block;   // [slot][A2][f][block]
  ParallelFor(slots, 1, [&](int64_t s0, int64_t s1) {
    const int64_t c0 = c * s0 / slots, nc = c * s1 / slots - c0;
    DType* v = v_all + A2 * c0 * block;  // [A2][nc][block]
    DType* z = z_all + s0 * A2 * f * block;
    std::vector<DType> scratch(std::max(InputScratch<T>(tw, rows), GradScratch<T>(tw, rows)));
    bool first = true;  // dU starts afresh; req applies to dW below
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ty0 = 0; ty0 < th; ty0 += rows) {
        const int64_t nr = std::min(rows, th - ty0), nt = nr * tw;
        for (int64_t ch = 0; ch < nc; ++ch)
          InputBlock<T>(x + (i * c + c0 + ch) * h * w, h, w, M * ty0 - ph, pw, tw, nr,
                        scratch.data(), v + ch * block, nc * block);
        for (int64_t o = 0; o < f; ++o)
          GradBlock<T>(dy + (i * f + o) * oh * ow, oh, ow, M * ty0, tw, nr, scratch.data(),
                       z + o * block, f * block);
        for (int xi = 0; xi < A2; ++xi)
          Gemm(false, true, f, nc, nt, DType(1), z + xi * f * block, block,
               v + xi * nc * block, block, DType(first ? 0 : 1), du + xi * f * c + c0, c);
        first = false;
      }
  });
  ParallelFor(f * c, 64, [&](int64_t k0, int64_t k1) {  // dW = G^T dU G per filter pair
    const int64_t s = f * c;
    for (int64_t k = k0; k < k1; ++k) {
      double t[3][A];
      for (int a = 0; a < 3; ++a)
        for (int j = 0; j < A; ++j) {
          t[a][j] = 0;
          for (int i = 0; i < A; ++i) t[a][j] += T::kG[i][a] * du[(i * A + j) * s + k];
        }
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) {
          double acc = 0;
          for (int j = 0; j < A; ++j) acc += t[a][j] * T::kG[j][b];
          Store(&dw[k * 9 + a * 3 + b], req, DType(acc));
        }
    }
  });
}

}  // namespace cn::winograd

#endif  // COARSENET_OPS_WINOGRAD_H_
