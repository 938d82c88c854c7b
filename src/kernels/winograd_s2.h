// Faster input transform V = B^T d B for the stride-2 Winograd tables (Stride2: alpha 9, input
// tiles 8 apart, 4x4 outputs), which ResNet's 3x3/2 forwards run through the generic drivers.
//
// InputBlock (winograd_transforms.h) applies B^T down a tile row's 9 input rows, splits each
// of the 9 results into 9 column phases one element at a time (81 scalar moves per tile and
// channel), then applies B^T across in a second pass over 81 scratch streams. Stride-2 maps
// are narrow (ResNet's 56x56 -> 28x28 has 7 tiles a row, CIFAR's 32x32 4, 16x16 2, 8x8 1),
// so lanes = tiles of one tile row (winograd_f4.h's InputBlockF4) would leave most lanes idle.
// Here the lanes are L consecutive tiles of the block (one 64-byte vector: 16 float or 8
// double), whatever tile rows and images they come from, so every vector store is full:
//   - each tile row's 9 input rows are copied once, zero-padded, into a small ring of rows;
//   - for each input row k, the lanes' 8 columns 8j..8j+7 are transposed with three rounds
//     of two-vector shuffles into 8 column-phase vectors (phase m: lane l = column 8 j_l + m),
//     and phase 8 (column 8 j + 8) is gathered;
//   - B^T down (rows 0-4 combine the even input rows, rows 5-8 are the odd ones) and B^T across
//     (the same on the phases) run on those vectors, and each of the 81 results is stored once,
//     straight to its stream.
// Same arithmetic per value as InputBlock up to the order of the additions (float rounding may
// differ in the last bit). The results do not depend on the thread count (one channel, one
// block at a time, whatever thread runs it).
// Measured (perf, 1 thread, loaded machine): on 128->128 8x56x56 the input stage went from
// 15.5% of the forward's samples (InputBlock) to 7.4% plus 4.6% in the row copies' memcpy
// (reading x, which InputBlock did inside its own loop); forward 0.87-0.91 -> 0.83-0.91x
// PyTorch, 64->128 32x32x32 0.88-0.91 -> 0.82-0.85x. Rejected: an output transform built the
// same way (81 streams loaded once per chunk of 16 tiles, A^T both sides in registers, rows of
// 4 interleaved by shuffles): 8.9-11.4% of the forward against the generic OutputStage's
// 7.6-10.5%; its time went to waiting on the 81 scattered stream loads (M is L3-resident),
// which a software prefetch two chunks ahead did not change. The generic OutputStage reads
// each stream in long runs, which the hardware prefetcher follows. Also re-measured with this
// input transform and rejected again: the stride-2 Winograd weight gradient
// (winograd::WeightGrad<Stride2> in place of strided_columns.h, 1 thread, ratio to PyTorch):
// 8x56x56 1.08 against 1.08, 32x32 1.21 against 1.13, 16x16 1.28 against 1.04, 8x8 1.32
// against 0.91 (its output-gradient transform and 81-position GEMMs still cost more).
#ifndef COARSENET_KERNELS_WINOGRAD_S2_H_
#define COARSENET_KERNELS_WINOGRAD_S2_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/winograd_f4.h"
#include "kernels/winograd_transforms.h"

namespace cn::winograd {

// Tiles per vector of InputBlockS2 (one 64-byte vector).
template <typename DType>
constexpr int kLanesS2 = int(64 / sizeof(DType));

// Ring of zero-padded input rows: the tile rows one chunk of lanes can span (at most
// (L - 1) / tw + 2), 9 rows each, 8 tw + 8 columns (tile j reads columns 8j .. 8j + 8).
template <typename DType>
constexpr int64_t InputScratchS2(int64_t tw) {
  return ((kLanesS2<DType> - 1) / tw + 2) * Stride2::kAlpha * (8 * tw + 8);
}

// x[m] (lane l) = column 8 j_l + m of row `off` of lane l's tile, for m < 8: the 8 values of
// each lane loaded as one vector, then three rounds of "even lanes of the pair, then odd lanes"
// move the column bits above the lane bits (an 8 x L transpose).
template <typename V, typename DType, int L>
inline void TransposeRow(const DType* const* base, int64_t off, V* x) {
  typedef DType H __attribute__((vector_size(8 * sizeof(DType))));
  for (int i = 0; i < 8; ++i) {
    if constexpr (L == 16) {
      H lo, hi;
      std::memcpy(&lo, base[2 * i] + off, sizeof(H));
      std::memcpy(&hi, base[2 * i + 1] + off, sizeof(H));
      x[i] = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                                     15);
    } else {
      static_assert(L == 8);
      std::memcpy(&x[i], base[i] + off, sizeof(V));
    }
  }
  for (int round = 0; round < 3; ++round) {
    V y[8];
    for (int i = 0; i < 4; ++i) {
      if constexpr (L == 16) {
        y[i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                       20, 22, 24, 26, 28, 30);
        y[4 + i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 1, 3, 5, 7, 9, 11, 13, 15, 17,
                                           19, 21, 23, 25, 27, 29, 31);
      } else {
        y[i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 0, 2, 4, 6, 8, 10, 12, 14);
        y[4 + i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 1, 3, 5, 7, 9, 11, 13, 15);
      }
    }
    for (int i = 0; i < 8; ++i) x[i] = y[i];
  }
}

// V of the n (<= L) consecutive tiles whose 9 padded input rows start at base[l] + k width,
// to out + xi * stride.
template <int L, typename DType>
inline void InputChunkS2(const DType* const* base, int64_t width, int64_t n, DType* out,
                         int64_t stride) {
  using T = Stride2;
  constexpr int A = T::kAlpha;
  typedef DType V __attribute__((vector_size(L * sizeof(DType))));
  V p[A][A];  // p[k][m]: input row k, column phase m of the L tiles
  for (int k = 0; k < A; ++k) {
    TransposeRow<V, DType, L>(base, k * width, p[k]);
    DType last[L];
    for (int l = 0; l < L; ++l) last[l] = base[l][k * width + 8];
    std::memcpy(&p[k][8], last, sizeof(V));
  }
  Unroll<A>([&](auto a) {
    constexpr int ka = decltype(a)::value;
    V e[A];  // e[m] = (B^T d)[ka][m]
    for (int m = 0; m < A; ++m) {
      V acc{};
      Unroll<A>([&](auto k) {
        constexpr double c = T::kBT[ka][decltype(k)::value];
        if constexpr (c == 1) acc += p[decltype(k)::value][m];
        else if constexpr (c != 0) acc += DType(c) * p[decltype(k)::value][m];
      });
      e[m] = acc;
    }
    Unroll<A>([&](auto b) {
      constexpr int kb = decltype(b)::value;
      V acc{};
      Unroll<A>([&](auto m) {
        constexpr double c = T::kBT[kb][decltype(m)::value];
        if constexpr (c == 1) acc += e[decltype(m)::value];
        else if constexpr (c != 0) acc += DType(c) * e[decltype(m)::value];
      });
      StoreLanes(out + (ka * A + kb) * stride, acc, n);
    });
  });
}

// Chunks of L tiles; a last chunk of at most 8 float tiles runs on 8-wide vectors (a block of
// 49 tiles, 8x56x56's, would otherwise spend a quarter of its work on idle lanes).
template <typename DType>
void InputBlockS2(const Tiling& t, const DType* xc, int64_t r0, int64_t nr, DType* scratch,
                  DType* out, int64_t stride) {
  constexpr int A = Stride2::kAlpha, S = Stride2::kStep, L = kLanesS2<DType>;
  const int64_t tw = t.tw, width = S * tw + 8, slots = (L - 1) / tw + 2, nt = nr * tw;
  const int64_t j0 = std::max<int64_t>(0, t.pw), j1 = std::min(width, t.w + t.pw);
  int64_t filled = 0;  // tile rows [0, filled) of the block have been copied into the ring
  auto fill = [&](int64_t r) {
    DType* dst = scratch + (r % slots) * A * width;
    const int64_t image = (r0 + r) / t.th, y0 = S * ((r0 + r) % t.th) - t.ph;
    const DType* plane = xc + image * t.c * t.h * t.w;
    for (int k = 0; k < A; ++k, dst += width) {
      const int64_t yy = y0 + k;
      if (yy < 0 || yy >= t.h || j1 <= j0) {
        std::fill(dst, dst + width, DType(0));
        continue;
      }
      std::fill(dst, dst + j0, DType(0));
      std::memcpy(dst + j0, plane + yy * t.w - t.pw + j0, (j1 - j0) * sizeof(DType));
      std::fill(dst + j1, dst + width, DType(0));
    }
  };
  for (int64_t q = 0; q < nt; q += L) {
    const int64_t n = std::min<int64_t>(L, nt - q);
    while (filled <= (q + n - 1) / tw) fill(filled++);
    const DType* base[L];  // lane l's tile: its 9 rows start at base[l] + k * width
    for (int l = 0; l < L; ++l) {
      const int64_t tile = q + std::min<int64_t>(l, n - 1);  // idle lanes repeat the last
      base[l] = scratch + (tile / tw) % slots * A * width + S * (tile % tw);
    }
    if constexpr (L == 16) {
      if (n <= 8) {
        InputChunkS2<8>(base, width, n, out + q, stride);
        continue;
      }
    }
    InputChunkS2<L>(base, width, n, out + q, stride);
  }
}

// The input transform the drivers call: InputBlockF4 where it applies (Fwd), InputBlockS2 for
// Stride2, else InputBlock.
template <typename T>
constexpr int64_t InputTilesScratch(int64_t tw, int64_t nr) {
  return std::max({InputScratch<T>(tw, nr), InputScratchF4(tw), InputScratchS2<float>(tw),
                   InputScratchS2<double>(tw)});
}
template <typename T, typename DType>
void InputTiles(const Tiling& t, const DType* xc, int64_t r0, int64_t nr, DType* scratch,
                DType* out, int64_t stride) {
  if constexpr (std::is_same_v<T, Fwd>) {
    if (t.tw >= 8) return InputBlockF4<8>(t, xc, r0, nr, scratch, out, stride);
    if (t.tw >= 4) return InputBlockF4<4>(t, xc, r0, nr, scratch, out, stride);
    return InputBlockF4Gather(t, xc, r0, nr, out, stride);
  } else if constexpr (std::is_same_v<T, Stride2>) {
    InputBlockS2(t, xc, r0, nr, scratch, out, stride);
  } else {
    InputBlock<T>(t, xc, r0, nr, scratch, out, stride);
  }
}

}  // namespace cn::winograd

#endif  // COARSENET_KERNELS_WINOGRAD_S2_H_
