// Faster input transform V = B^T d B for Winograd F(4x4, 3x3) (the stride-1 table, Fwd) on
// maps at least 4 tiles wide (16x16 and up: ResNet-18 CIFAR's 32x32 and 16x16 stages).
//
// InputBlock (winograd_transforms.h) applies B^T down the rows of a tile row, then splits each
// result into its 6 column phases one element at a time (36 scalar moves per tile) and applies
// B^T across the phases in a second pass over a scratch of 36 streams. Profiled at 1 thread on
// 32x64x32x32 it took as long as the GEMMs (23% of the forward, 25% of the data gradient).
// Here the column phases are cut out of the row results with vector shuffles (lanes = the
// tiles of a tile row, 4 or 8 at a time) and B^T across them is applied in registers, so each
// of the 36 results is stored once, straight to its stream. Same arithmetic per value as
// InputBlock up to the order of the additions (float rounding may differ in the last bit).
#ifndef COARSENET_KERNELS_WINOGRAD_F4_H_
#define COARSENET_KERNELS_WINOGRAD_F4_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/winograd_transforms.h"

namespace cn::winograd {

// Stores a vector's first n lanes; all of them (n == lanes) is one vector store. sizeof(V), not
// sizeof of the value: GCC 12 miscompiled the latter inside nested generic lambdas (only lane 0
// was copied).
template <typename V, typename DType>
inline void StoreLanes(DType* dst, const V& acc, int64_t n) {
  if (n == int64_t(sizeof(V) / sizeof(DType))) {
    std::memcpy(dst, &acc, sizeof(V));
  } else {
    for (int64_t l = 0; l < n; ++l) dst[l] = acc[l];
  }
}

// Scratch of InputBlockF4: 6 input rows and 6 row results, each with room past its end for the
// last shuffle's full-width loads.
constexpr int64_t InputScratchF4(int64_t tw) { return 2 * Fwd::kAlpha * (4 * tw + 40); }

// kLanes4 tiles (4 or 8) of one tile row per vector; tw >= kLanes4 or the last chunk is short.
template <int kLanes4, typename DType>
void InputBlockF4(const Tiling& t, const DType* xc, int64_t r0, int64_t nr, DType* scratch,
                  DType* out, int64_t stride) {
  using T = Fwd;
  constexpr int A = T::kAlpha, S = T::kStep;
  typedef DType V __attribute__((vector_size(kLanes4 * sizeof(DType))));
  typedef DType W __attribute__((vector_size(16 * sizeof(DType))));
  const int64_t tw = t.tw, row_len = S * tw + A - S, padded = S * tw + 40;
  DType *d[A], *comb[A];
  for (int k = 0; k < A; ++k) {
    d[k] = scratch + k * padded;
    comb[k] = scratch + (A + k) * padded;
    // the tails are read by the last chunk's loads into lanes that are never stored
    std::fill(comb[k] + row_len, comb[k] + padded, DType(0));
  }
  for (int64_t r = 0; r < nr; ++r) {
    const int64_t image = (r0 + r) / t.th, y0 = S * ((r0 + r) % t.th) - t.ph;
    const DType* plane = xc + image * t.c * t.h * t.w;
    const int64_t j0 = std::max<int64_t>(0, t.pw), j1 = std::min(row_len, t.w + t.pw);
    for (int k = 0; k < A; ++k) {
      const int64_t yy = y0 + k;
      if (yy < 0 || yy >= t.h) {
        std::fill(d[k], d[k] + row_len, DType(0));
        continue;
      }
      std::fill(d[k], d[k] + j0, DType(0));
      std::memcpy(d[k] + j0, plane + yy * t.w - t.pw + j0, (j1 - j0) * sizeof(DType));
      std::fill(d[k] + j1, d[k] + row_len, DType(0));
    }
    Unroll<A>([&](auto a) {
      constexpr int ka = decltype(a)::value;
      Combine<T, kB, ka>(comb[ka], d, row_len);
    });
    DType* const dst0 = out + r * tw;
    for (int64_t q = 0; q < tw; q += kLanes4) {
      const int64_t n = std::min<int64_t>(kLanes4, tw - q);
      Unroll<A>([&](auto a) {
        constexpr int ka = decltype(a)::value;
        const DType* base = comb[ka] + S * q;
        V p[A];  // p[k][l] = comb[ka][S (q + l) + k]: column phase k of kLanes4 tiles
        for (int k = 0; k < A; ++k) {
          W lo;
          std::memcpy(&lo, base + k, sizeof lo);
          if constexpr (kLanes4 == 8) {
            W hi;
            std::memcpy(&hi, base + k + 16, sizeof hi);
            p[k] = __builtin_shufflevector(lo, hi, 0, 4, 8, 12, 16, 20, 24, 28);
          } else {
            p[k] = __builtin_shufflevector(lo, lo, 0, 4, 8, 12);
          }
        }
        Unroll<A>([&](auto b) {
          constexpr int kb = decltype(b)::value;
          V acc{};
          Unroll<A>([&](auto k) {
            constexpr double c = T::kBT[kb][decltype(k)::value];
            if constexpr (c != 0) acc += DType(c) * p[decltype(k)::value];
          });
          DType* dst = dst0 + (ka * A + kb) * stride + q;
          StoreLanes(dst, acc, n);
        });
      });
    }
  }
}

// Maps one or two tiles wide (ResNet-18 CIFAR's 8x8 and 4x4 stages): a tile row has too few
// tiles for InputBlock's row-long loops or for InputBlockF4's lanes, so here the lanes are
// kLanes consecutive tiles of the block, whatever rows and images they come from: each tile's
// 6x6 inputs are gathered (zeros outside the plane) and B^T d B runs on whole vectors, whose
// results are kLanes consecutive values of each stream.
template <typename DType>
void InputBlockF4Gather(const Tiling& t, const DType* xc, int64_t r0, int64_t nr, DType* out,
                        int64_t stride) {
  using T = Fwd;
  constexpr int A = T::kAlpha, S = T::kStep;
  typedef DType V __attribute__((vector_size(kLanes * sizeof(DType))));
  const int64_t nt = nr * t.tw;
  DType d[A * A][kLanes];  // d[k * A + m][lane]: input row k, column m of the lane's tile
  for (int64_t q = 0; q < nt; q += kLanes) {
    const int64_t n = std::min<int64_t>(kLanes, nt - q);
    std::memset(d, 0, sizeof d);
    for (int64_t l = 0; l < n; ++l) {
      const int64_t row = r0 + (q + l) / t.tw, j = (q + l) % t.tw;
      const int64_t y0 = S * (row % t.th) - t.ph, x0 = S * j - t.pw;
      const DType* plane = xc + (row / t.th) * t.c * t.h * t.w;
      const int64_t m0 = std::max<int64_t>(0, -x0), m1 = std::min<int64_t>(A, t.w - x0);
      for (int k = std::max<int64_t>(0, -y0); k < std::min<int64_t>(A, t.h - y0); ++k) {
        const DType* src = plane + (y0 + k) * t.w + x0;
        for (int64_t m = m0; m < m1; ++m) d[k * A + m][l] = src[m];
      }
    }
    V dv[A * A];
    static_assert(sizeof dv == sizeof d);
    std::memcpy(dv, d, sizeof dv);
    Unroll<A>([&](auto a) {
      constexpr int ka = decltype(a)::value;
      V e[A];  // e[m] = (B^T d)[ka][m]
      for (int m = 0; m < A; ++m) {
        V acc{};
        Unroll<A>([&](auto k) {
          constexpr double coef = T::kBT[ka][decltype(k)::value];
          if constexpr (coef != 0) acc += DType(coef) * dv[decltype(k)::value * A + m];
        });
        e[m] = acc;
      }
      Unroll<A>([&](auto b) {
        V acc{};
        Unroll<A>([&](auto m) {
          constexpr double coef = T::kBT[decltype(b)::value][decltype(m)::value];
          if constexpr (coef != 0) acc += DType(coef) * e[decltype(m)::value];
        });
        DType* dst = out + (ka * A + decltype(b)::value) * stride + q;
        StoreLanes(dst, acc, n);
      });
    });
  }
}

// The weight gradient's output-gradient transform Z = A dY A^T (GradBlock's job, 11% of the
// 64-channel 32x32 layer's weight gradient) the same way: 16 consecutive tiles of the block
// gathered into vector lanes (4x4 values each, zeros past the plane), A applied on whole
// vectors, 16 consecutive values of each stream stored at once.
template <typename DType>
void GradBlockF4Gather(const Tiling& t, const DType* gc, int64_t r0, int64_t nr, DType* out,
                       int64_t stride) {
  using T = Fwd;
  constexpr int A = T::kAlpha, M = T::kM;
  typedef DType V __attribute__((vector_size(kLanes * sizeof(DType))));
  const int64_t nt = nr * t.tw;
  DType g[M * M][kLanes];  // g[i * M + j][lane]: output-gradient row i, column j of the tile
  V gv[M * M];
  static_assert(sizeof gv == sizeof g);
  for (int64_t q = 0; q < nt; q += kLanes) {
    const int64_t n = std::min<int64_t>(kLanes, nt - q);
    std::memset(g, 0, sizeof g);
    for (int64_t l = 0; l < n; ++l) {
      const int64_t row = r0 + (q + l) / t.tw, j = (q + l) % t.tw;
      const int64_t y0 = M * (row % t.th), x0 = M * j;
      const DType* plane = gc + (row / t.th) * t.f * t.oh * t.ow;
      const int64_t m1 = std::min<int64_t>(M, t.ow - x0);
      for (int i = 0; i < std::min<int64_t>(M, t.oh - y0); ++i) {
        const DType* src = plane + (y0 + i) * t.ow + x0;
        for (int64_t m = 0; m < m1; ++m) g[i * M + m][l] = src[m];
      }
    }
    std::memcpy(gv, g, sizeof gv);
    Unroll<A>([&](auto a) {
      constexpr int ka = decltype(a)::value;
      V e[M];  // e[m] = (A g)[ka][m]
      for (int m = 0; m < M; ++m) {
        V acc{};
        Unroll<M>([&](auto i) {
          constexpr double coef = T::kAT[decltype(i)::value][ka];
          if constexpr (coef != 0) acc += DType(coef) * gv[decltype(i)::value * M + m];
        });
        e[m] = acc;
      }
      Unroll<A>([&](auto b) {
        V acc{};
        Unroll<M>([&](auto m) {
          constexpr double coef = T::kAT[decltype(m)::value][decltype(b)::value];
          if constexpr (coef != 0) acc += DType(coef) * e[decltype(m)::value];
        });
        DType* dst = out + (ka * A + decltype(b)::value) * stride + q;
        StoreLanes(dst, acc, n);
      });
    });
  }
}
// The output-gradient transform the weight gradient calls.
template <typename T, typename DType>
void GradTiles(const Tiling& t, const DType* gc, int64_t r0, int64_t nr, DType* scratch,
               DType* out, int64_t stride) {
  if constexpr (std::is_same_v<T, Fwd>)
    GradBlockF4Gather(t, gc, r0, nr, out, stride);
  else
    GradBlock<T>(t, gc, r0, nr, scratch, out, stride);
}

// One output row of M = 4 column phases: dst[4 j + k] (=, or += with `add`) = one[k * block + j]
// + b0 for j < ow. OutputStage's scalar loop (an index division per value) took a third of its
// time on 32x32 maps; here 8 or 4 tiles at a time are interleaved with vector shuffles. The
// values and the order of the two additions are the same, so are the bits.
template <int kLanes4, typename DType>
inline int64_t InterleaveRowVec(const DType* one, int64_t block, int64_t tw, int64_t ow, DType b0,
                                DType* dst, bool add) {
  typedef DType V __attribute__((vector_size(kLanes4 * sizeof(DType))));
  typedef DType V2 __attribute__((vector_size(2 * kLanes4 * sizeof(DType))));
  typedef DType V4 __attribute__((vector_size(4 * kLanes4 * sizeof(DType))));
  int64_t q = 0;
  for (; q + kLanes4 <= tw && 4 * (q + kLanes4) <= ow; q += kLanes4) {
    V p[4];
    for (int k = 0; k < 4; ++k) std::memcpy(&p[k], one + k * block + q, sizeof(V));
    V4 out;
    if constexpr (kLanes4 == 8) {
      const V2 a = __builtin_shufflevector(p[0], p[1], 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6,
                                           14, 7, 15);
      const V2 b = __builtin_shufflevector(p[2], p[3], 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6,
                                           14, 7, 15);
      out = __builtin_shufflevector(a, b, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23,
                                    8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    } else {
      const V2 a = __builtin_shufflevector(p[0], p[1], 0, 4, 1, 5, 2, 6, 3, 7);
      const V2 b = __builtin_shufflevector(p[2], p[3], 0, 4, 1, 5, 2, 6, 3, 7);
      out = __builtin_shufflevector(a, b, 0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15);
    }
    out += b0;
    DType* d = dst + 4 * q;
    if (add) {
      V4 old;
      std::memcpy(&old, d, sizeof old);
      out = old + out;
    }
    std::memcpy(d, &out, sizeof out);
  }
  return 4 * q;  // values written
}
template <typename DType>
inline void InterleaveRow(const DType* one, int64_t block, int64_t tw, int64_t ow, DType b0,
                          DType* dst, bool add) {
  int64_t j = 0;
  if (tw >= 8) j = InterleaveRowVec<8>(one, block, tw, ow, b0, dst, add);
  else if (tw >= 4) j = InterleaveRowVec<4>(one, block, tw, ow, b0, dst, add);
  for (; j < ow; ++j) {
    const DType val = one[(j % 4) * block + j / 4] + b0;
    if (add) dst[j] += val; else dst[j] = val;
  }
}

// Filter transforms of F(4x4, 3x3), profiled at 10-12% each of the 512-channel 4x4 layer's
// passes (U for the forward and data gradient, dW = G^T dU G for the weight gradient): the
// generic TransformFilters / InverseFilters keep their kLanes filter pairs in stack arrays,
// with runtime lane counts and table entries in the loops. Here the pairs are vector registers,
// the table's zeros are skipped at compile time, and a forward's kLanes consecutive pairs
// (144 contiguous weights) are transposed in one fixed-size loop. The stride-2 tables
// (Stride2, alpha 9) use it too: their generic transform took 2-6% of the stride-2 forward.
template <typename T, typename DType>
void TransformFiltersF4(const DType* w, int64_t f, int64_t c, bool flip, int64_t o0,
                        int64_t o1, DType* u, int64_t stride) {
  constexpr int A = T::kAlpha;
  typedef DType V __attribute__((vector_size(kLanes * sizeof(DType))));
  const int64_t cols = flip ? f : c;
  DType g[9][kLanes];
  // Rows o in runs of kRowRun for each run of pairs: a data gradient's lanes lie 9 c values
  // apart (another page each), and the run's rows then reuse their cache lines and pages.
  constexpr int64_t kRowRun = 8;
  for (int64_t ob = o0; ob < o1; ob += kRowRun)
    for (int64_t i0 = 0; i0 < cols; i0 += kLanes)
      for (int64_t o = ob; o < std::min(o1, ob + kRowRun); ++o) {
        const int64_t nl = std::min<int64_t>(kLanes, cols - i0);
        if (!flip && nl == kLanes) {
          const DType* src = w + (o * c + i0) * 9;
          for (int l = 0; l < kLanes; ++l)
            for (int k = 0; k < 9; ++k) g[k][l] = src[l * 9 + k];
        } else {
          for (int64_t l = 0; l < kLanes; ++l) {  // lanes past the end repeat the last pair
            const int64_t i = i0 + std::min(l, nl - 1);
            const DType* src = flip ? w + (i * c + o) * 9 : w + (o * c + i) * 9;
            for (int k = 0; k < 9; ++k) g[k][l] = src[flip ? 8 - k : k];
          }
        }
        V gv[9], t[A][3];
        for (int k = 0; k < 9; ++k) std::memcpy(&gv[k], g[k], sizeof(V));
        Unroll<A>([&](auto a) {  // t = G g
          for (int b = 0; b < 3; ++b) {
            V acc{};
            Unroll<3>([&](auto k) {
              constexpr double coef = T::kG[decltype(a)::value][decltype(k)::value];
              if constexpr (coef != 0) acc += DType(coef) * gv[3 * decltype(k)::value + b];
            });
            t[decltype(a)::value][b] = acc;
          }
        });
        Unroll<A>([&](auto b) {  // U = t G^T
          for (int a = 0; a < A; ++a) {
            V acc{};
            Unroll<3>([&](auto k) {
              constexpr double coef = T::kG[decltype(b)::value][decltype(k)::value];
              if constexpr (coef != 0) acc += DType(coef) * t[a][decltype(k)::value];
            });
            DType* dst = u + (a * A + decltype(b)::value) * stride + (o - o0) * cols + i0;
            StoreLanes(dst, acc, nl);
          }
        });
      }
}
template <typename DType>
void InverseFiltersF4(const DType* du, int64_t stride, int64_t c, int64_t o0, int64_t o1,
                      DType* dw, int32_t req) {
  using T = Fwd;
  constexpr int A = T::kAlpha;
  typedef DType V __attribute__((vector_size(kLanes * sizeof(DType))));
  const int64_t s = (o1 - o0) * c;
  DType res[9][kLanes];
  for (int64_t p0 = 0; p0 < s; p0 += kLanes) {
    const int64_t nl = std::min<int64_t>(kLanes, s - p0);
    V tmp[3][A];  // tmp[a][j] = sum_i G[i][a] dU[i][j]
    for (int j = 0; j < A; ++j) {
      V d[A];
      for (int i = 0; i < A; ++i) {
        d[i] = V{};
        std::memcpy(&d[i], du + (i * A + j) * stride + p0, nl * sizeof(DType));
      }
      Unroll<3>([&](auto a) {
        V acc{};
        Unroll<A>([&](auto i) {
          constexpr double coef = T::kG[decltype(i)::value][decltype(a)::value];
          if constexpr (coef != 0) acc += DType(coef) * d[decltype(i)::value];
        });
        tmp[decltype(a)::value][j] = acc;
      });
    }
    for (int a = 0; a < 3; ++a)  // dW[a][b] = sum_j tmp[a][j] G[j][b]
      Unroll<3>([&](auto b) {
        V acc{};
        Unroll<A>([&](auto j) {
          constexpr double coef = T::kG[decltype(j)::value][decltype(b)::value];
          if constexpr (coef != 0) acc += tmp[a][decltype(j)::value] * DType(coef);
        });
        std::memcpy(res[a * 3 + decltype(b)::value], &acc, sizeof acc);
      });
    DType* dst = dw + (o0 * c + p0) * 9;
    for (int64_t l = 0; l < nl; ++l)
      for (int k = 0; k < 9; ++k) Store(&dst[l * 9 + k], req, res[k][l]);
  }
}
// The filter transforms the drivers call: the F4 versions for Fwd (U also for Stride2), else
// the generic ones.
template <typename T, typename DType>
void FilterTiles(const DType* w, int64_t f, int64_t c, bool flip, int64_t o0, int64_t o1,
                 DType* u, int64_t stride) {
  if constexpr (std::is_same_v<T, Fwd> || std::is_same_v<T, Stride2>)
    TransformFiltersF4<T>(w, f, c, flip, o0, o1, u, stride);
  else
    TransformFilters<T>(w, f, c, flip, o0, o1, u, stride);
}
template <typename T, typename DType>
void InverseFilterTiles(const DType* du, int64_t stride, int64_t c, int64_t o0, int64_t o1,
                        DType* dw, int32_t req) {
  if constexpr (std::is_same_v<T, Fwd>)
    InverseFiltersF4(du, stride, c, o0, o1, dw, req);
  else
    InverseFilters<T>(du, stride, c, o0, o1, dw, req);
}

}  // namespace cn::winograd

#endif  // COARSENET_KERNELS_WINOGRAD_F4_H_
