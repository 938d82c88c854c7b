// Winograd convolution for 3x3 stride-1 convolutions (Lavin & Gray 2016). F(4x4, 3x3) costs
// 36 multiplies per 4x4 output block and (input, output) channel pair instead of 144 (4x
// fewer); F(2x2, 3x3) 16 instead of 36.
//   V = B^T d B  (input tile d),  U = G g G^T  (3x3 filter g),  Y = A^T [sum_c U .* V] A.
// The sum over channels is, for each of the alpha^2 tile positions xi, one GEMM
// M[xi] (F x T) = U[xi] (F x C) V[xi] (C x T) over a block of T tiles kept in L2.
// Convolution's forward and data gradient both use it: the data gradient of a 3x3 stride-1
// convolution with pad p is a 3x3 convolution of dy with the flipped, transposed filters and
// pad 2 - p.
// Tiles are numbered across the batch: every image has th rows of tw tiles, and a block is any
// run of consecutive global tile rows R = image * th + ty. Large maps give blocks inside one
// image; small maps (CIFAR's 8x8 and 4x4 stages) give blocks holding several images, so the
// GEMMs stay wide however few tiles one image has.
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

// A slot's block holds about this many values of V and M (alpha^2 (C + F) per tile), so the
// transforms and the GEMMs of a block work in cache.
constexpr int64_t kBlockElems = 512 * 1024;
// Blocks run in at most this many parallel slots, each with its own V and M; fixed so the
// workspace depends on shapes only.
constexpr int64_t kMaxSlots = 4;
// Filter pairs transformed at a time: the transforms run across pairs, so they vectorise.
constexpr int kLanes = 16;

// One direction of a 3x3 stride-1 convolution as Winograd sees it: n images of c planes
// (h, w), zero-padded by (ph, pw), give f planes (oh, ow) = (h + 2 ph - 2, w + 2 pw - 2),
// covered by th x tw tiles per image; rows() global tile rows in all.
struct Tiling {
  int64_t n, c, h, w, ph, pw, f, oh, ow, th, tw;
  int64_t rows() const { return n * th; }
  int64_t tiles() const { return n * th * tw; }
};
template <typename T>
inline Tiling MakeTiling(int64_t n, int64_t c, int64_t h, int64_t w, int64_t ph, int64_t pw,
                         int64_t f) {
  const int64_t oh = h + 2 * ph - 2, ow = w + 2 * pw - 2;
  return {n, c, h, w, ph, pw, f, oh, ow, (oh + T::kM - 1) / T::kM, (ow + T::kM - 1) / T::kM};
}

// How one direction runs; from shapes only, so the workspace is known before the call.
// Every block reads all of U (alpha^2 F C values), so a block much narrower than the channels
// spends its time streaming U. Large maps fill a slot's cache-sized block with enough tiles
// and run blocks in parallel slots. Small maps with many channels (CIFAR's 8x8 and 4x4
// stages) run "wide": one block at a time with the threads sharing its transforms and GEMMs.
// When V and M of every tile take no more room than U, that one block holds the whole batch
// and U (dU) is never whole: each thread makes the U of a slab of output channels, all 36
// positions, in cache, and runs that slab's GEMMs (folds that slab of dU into dW) at once.
constexpr int64_t kSlabElems = 512 * 1024;  // U values of one slab, at most
struct Plan {
  int64_t block;  // tiles per block (stream length)
  int64_t slots;  // blocks in flight: kMaxSlots, or 1 when wide
  int64_t slab;   // output channels per U slab (0: U made whole)
  bool wide() const { return slots == 1; }
};
template <typename T>
inline Plan MakePlan(const Tiling& t) {
  constexpr int64_t a2 = T::kAlpha * T::kAlpha;
  const int64_t per_row = kBlockElems / (a2 * (t.c + t.f)) / t.tw;
  const int64_t slot_block = std::max<int64_t>(1, per_row) * t.tw;
  if (2 * slot_block * (t.c + t.f) >= t.c * t.f) return {slot_block, kMaxSlots, 0};
  if ((t.c + t.f) * t.tiles() <= t.c * t.f)
    return {t.tiles(), 1, std::clamp<int64_t>(kSlabElems / (a2 * t.c), 1, t.f)};
  return {kMaxSlots * slot_block, 1, 0};
}
// U whole, or one slab per thread slot.
template <typename T>
inline int64_t UElems(const Plan& p, const Tiling& t) {
  constexpr int64_t a2 = T::kAlpha * T::kAlpha;
  return p.slab ? kMaxSlots * a2 * p.slab * t.c : a2 * t.c * t.f;
}
// Slabs of output channels for one run: within the capacity, whole rounds of the threads.
inline int64_t SlabSize(int64_t f, int64_t capacity, int64_t threads) {
  int64_t slabs = (f + capacity - 1) / capacity;
  slabs = std::min(f, (slabs + threads - 1) / threads * threads);
  return (f + slabs - 1) / slabs;
}
// Forward / data-gradient scratch: U and V, M of every slot's block.
template <typename T>
inline int64_t ConvElems(const Tiling& t) {
  const Plan p = MakePlan<T>(t);
  return UElems<T>(p, t) + p.slots * T::kAlpha * T::kAlpha * (t.c + t.f) * p.block;
}
// Weight-gradient scratch: dU and V, Z of one block (all slots' room).
template <typename T>
inline int64_t WeightGradElems(const Tiling& t) {
  const Plan p = MakePlan<T>(t);
  return UElems<T>(p, t) + T::kAlpha * T::kAlpha * (t.c + t.f) * p.slots * p.block;
}

// U[xi][o - o0][i] = (G g G^T)[xi] for the rows o in [o0, o1) (a slab, or all of them), where
// g = w[o][i] (forward) or, when `flip`, for the data gradient g = w[i][o] rotated by 180
// degrees, with o, i running over C, F. kLanes filter pairs at a time are gathered tap-major,
// so the arithmetic vectorises across pairs. Runs on the calling thread.
template <typename T, typename DType>
void TransformFilters(const DType* w, int64_t f, int64_t c, bool flip, int64_t o0, int64_t o1,
                      DType* u) {
  constexpr int A = T::kAlpha;
  const int64_t cols = flip ? f : c, s = (o1 - o0) * cols;
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
          DType* dst = u + (a * A + b) * s + (o - o0) * cols + i0;
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
    std::vector<DType> part(T::kAlpha * T::kAlpha * (o1 - o0) * cols);
    TransformFilters<T>(w, f, c, flip, o0, o1, part.data());
    for (int xi = 0; xi < T::kAlpha * T::kAlpha; ++xi)
      std::copy_n(part.data() + xi * (o1 - o0) * cols, (o1 - o0) * cols, u + xi * s + o0 * cols);
  });
}

// dW[o][i] (req) = G^T dU G for the rows o in [o0, o1), dU laid out as TransformFilters' U
// (position stride (o1 - o0) C). Runs on the calling thread.
template <typename T, typename DType>
void InverseFilters(const DType* du, int64_t c, int64_t o0, int64_t o1, DType* dw, int32_t req) {
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
          const DType* src = du + (i * A + j) * s + p0;
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

// V = B^T d B for global tile rows [r0, r0 + nr) of one input channel, whose plane in image i
// starts at xc + i * t.c * t.h * t.w, to the alpha^2 tile streams out + xi * stride (nr * tw
// tiles each). B^T is applied down the rows, each result is de-interleaved into one stream per
// tile column, then B^T is applied across those over the whole block: every arithmetic loop
// is unit-stride and as long as the block.
template <typename T>
constexpr int64_t InputScratch(int64_t tw, int64_t nr) {
  return 2 * T::kAlpha * (T::kM * tw + T::kAlpha) + T::kAlpha * T::kAlpha * nr * tw;
}
template <typename T, typename DType>
void InputBlock(const Tiling& t, const DType* xc, int64_t r0, int64_t nr, DType* scratch,
                DType* out, int64_t stride) {
  constexpr int A = T::kAlpha, M = T::kM;
  const int64_t tw = t.tw, row_len = M * tw + A - M, nt = nr * tw;
  DType *d[A], *comb[A];
  for (int k = 0; k < A; ++k) {
    d[k] = scratch + k * row_len;
    comb[k] = scratch + (A + k) * row_len;
  }
  DType* e = scratch + 2 * A * row_len;  // e[a][k] (nt values) = column phase k of comb[a]
  for (int64_t r = 0; r < nr; ++r) {
    const int64_t image = (r0 + r) / t.th, y0 = M * ((r0 + r) % t.th) - t.ph;
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
        for (int64_t j = 0; j < tw; ++j) dst[j] = comb[ka][M * j + k];
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

// Runs body(lo, hi, scratch) over [0, n): split across threads, each with its own scratch of
// `elems` values, when `parallel`; else inline with `scratch`.
template <typename DType, typename Body>
void Split(bool parallel, int64_t n, int64_t elems, DType* scratch, Body&& body) {
  if (!parallel) return body(0, n, scratch);
  ParallelFor(n, 1, [&](int64_t lo, int64_t hi) {
    std::vector<DType> own(elems);
    body(lo, hi, own.data());
  });
}

// The three stages of one block of y = conv3x3(x, U) + bias: global tile rows [r0, r0 + nr),
// streams of `block` tiles, V [A2][c][block] and M [A2][f][block]. With `parallel` the block
// is the whole machine's: channels, tile positions and filters are split across threads;
// otherwise `scratch` (ScratchElems) serves the transforms.
template <typename T>
constexpr int64_t ScratchElems(int64_t tw, int64_t nr, int64_t block) {
  return std::max(InputScratch<T>(tw, nr), (T::kM * T::kAlpha + T::kM) * block);
}
template <typename T, typename DType>
void InputStage(const Tiling& t, const DType* x, int64_t r0, int64_t nr, int64_t block, DType* v,
                bool parallel, DType* scratch) {
  Split(parallel, t.c, ScratchElems<T>(t.tw, nr, block), scratch,
        [&](int64_t c0, int64_t c1, DType* sc) {
          for (int64_t ch = c0; ch < c1; ++ch)
            InputBlock<T>(t, x + ch * t.h * t.w, r0, nr, sc, v + ch * block, t.c * block);
        });
}
// M[xi] = U[xi - x0] V[xi] for positions xi in [x0, x1).
template <typename T, typename DType>
void GemmStage(const Tiling& t, const DType* u, int64_t x0, int64_t x1, int64_t nt,
               int64_t block, const DType* v, DType* m, bool parallel) {
  auto run = [&](int64_t lo, int64_t hi) {
    for (int64_t xi = lo; xi < hi; ++xi)
      Gemm(false, false, t.f, nt, t.c, DType(1), u + (xi - x0) * t.f * t.c, t.c,
           v + xi * t.c * block, block, DType(0), m + xi * t.f * block, block);
  };
  if (parallel) ParallelFor(x1 - x0, 1, [&](int64_t lo, int64_t hi) { run(x0 + lo, x0 + hi); });
  else run(x0, x1);
}
template <typename T, typename DType>
void OutputStage(const Tiling& t, const DType* m, const DType* bias, DType* y, int32_t req,
                 int64_t r0, int64_t nr, int64_t block, bool parallel, DType* scratch) {
  constexpr int A = T::kAlpha, M = T::kM;
  const int64_t f = t.f, tw = t.tw, nt = nr * tw;
  Split(parallel, f, ScratchElems<T>(tw, nr, block), scratch,
        [&](int64_t o0, int64_t o1, DType* sc) {
    DType* sums = sc;                   // A^T applied down the tile rows: [M][A][block]
    DType* one = sums + M * A * block;  // one output column phase: [M][block]
    for (int64_t o = o0; o < o1; ++o) {  // Y = A^T M A over the whole block
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
          const int64_t image = (r0 + r) / t.th, yy = M * ((r0 + r) % t.th) + i;
          if (yy >= t.oh) continue;
          DType* dst = y + ((image * f + o) * t.oh + yy) * t.ow;
          const DType* src = one + r * tw;
          for (int64_t j = 0; j < t.ow; ++j) {
            const DType val = src[(j % M) * block + j / M] + b0;
            if (req == CN_REQ_ADD) dst[j] += val; else dst[j] = val;
          }
        }
      });
    }
  });
}

// Rows per block for one run: within the capacity, and enough blocks that the threads get
// equal shares.
inline int64_t RunRows(int64_t total, int64_t capacity, int64_t threads) {
  int64_t blocks = std::max((total + capacity - 1) / capacity, std::min(threads, total));
  if (blocks < 4 * threads) blocks = std::min(total, (blocks + threads - 1) / threads * threads);
  return (total + blocks - 1) / blocks;
}

// y (n, f, oh, ow) = conv3x3(x (n, c, h, w), w) + bias (may be null), with the filters w
// (f, c, 3, 3), or for `flip` (the data gradient) w (c, f, 3, 3) flipped and transposed.
// `ws` holds ConvElems values; the plan (MakePlan) picks how blocks run.
template <typename T, typename DType>
void Conv(const Tiling& t, const DType* x, const DType* w, bool flip, const DType* bias,
          DType* y, int32_t req, DType* ws) {
  constexpr int A = T::kAlpha, A2 = A * A;
  const Plan p = MakePlan<T>(t);
  DType* const kOwnScratch = nullptr;  // parallel stages bring their own
  const int64_t wf = flip ? t.c : t.f, wc = flip ? t.f : t.c;  // w's own (F, C)
  DType* u = ws;
  DType* blocks_ws = ws + UElems<T>(p, t);
  const int64_t rows = RunRows(t.rows(), std::max<int64_t>(1, p.block / t.tw),
                               p.wide() ? 1 : NumThreads());
  const int64_t blocks = (t.rows() + rows - 1) / rows;
  const int64_t scratch_elems = ScratchElems<T>(t.tw, rows, p.block);
  DType* v = blocks_ws;                    // [A2][c][block] per slot, then
  DType* m = v + A2 * t.c * p.block;       // [A2][f][block]
  if (p.slab) {  // one wide block of every tile; U made and used a slab at a time
    InputStage<T>(t, x, 0, t.rows(), p.block, v, true, kOwnScratch);
    const int64_t slab = SlabSize(t.f, p.slab, NumThreads());
    const int64_t slabs = (t.f + slab - 1) / slab, nslots = std::min(slabs, kMaxSlots);
    ParallelFor(nslots, 1, [&](int64_t s0, int64_t s1) {
      DType* us = u + s0 * A2 * p.slab * t.c;
      for (int64_t k = slabs * s0 / nslots; k < slabs * s1 / nslots; ++k) {
        const int64_t o0 = k * slab, o1 = std::min(t.f, o0 + slab);
        TransformFilters<T>(w, wf, wc, flip, o0, o1, us);
        for (int xi = 0; xi < A2; ++xi)
          Gemm(false, false, o1 - o0, t.tiles(), t.c, DType(1), us + xi * (o1 - o0) * t.c, t.c,
               v + xi * t.c * p.block, p.block, DType(0), m + (xi * t.f + o0) * p.block,
               p.block);
      }
    });
    return OutputStage<T>(t, m, bias, y, req, 0, t.rows(), p.block, true, kOwnScratch);
  }
  TransformAllFilters<T>(w, wf, wc, flip, u);
  if (p.wide()) {
    for (int64_t r0 = 0; r0 < t.rows(); r0 += rows) {
      const int64_t nr = std::min(rows, t.rows() - r0), nt = nr * t.tw;
      InputStage<T>(t, x, r0, nr, p.block, v, true, kOwnScratch);
      GemmStage<T>(t, u, 0, A2, nt, p.block, v, m, true);
      OutputStage<T>(t, m, bias, y, req, r0, nr, p.block, true, kOwnScratch);
    }
    return;
  }
  const int64_t slots = std::min(blocks, p.slots), slot_elems = A2 * (t.c + t.f) * p.block;
  ParallelFor(slots, 1, [&](int64_t s0, int64_t s1) {
    std::vector<DType> scratch(scratch_elems);
    DType* sv = v + s0 * slot_elems;
    DType* sm = sv + A2 * t.c * p.block;
    for (int64_t k = blocks * s0 / slots; k < blocks * s1 / slots; ++k) {
      const int64_t r0 = k * rows, nr = std::min(rows, t.rows() - r0), nt = nr * t.tw;
      InputStage<T>(t, x, r0, nr, p.block, sv, false, scratch.data());
      GemmStage<T>(t, u, 0, A2, nt, p.block, sv, sm, false);
      OutputStage<T>(t, sm, bias, y, req, r0, nr, p.block, false, scratch.data());
    }
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

// dW (f, c, 3, 3) = G^T dU G with dU[xi] = sum over images and tiles of Z[xi] V[xi]^T, where
// V = B^T d B (as in the forward) and Z = A dY A^T transforms the tile's output gradient:
// the forward is linear in U, so this is its exact adjoint. Per block the threads split the
// channels of both transforms, then the tile positions of the GEMMs (each owns its dU[xi]
// outright, so no reduction is needed). When one block holds every tile (MakePlan), threads
// take slabs of output channels instead: a slab's dU is made and folded into dW at once.
// `ws` holds WeightGradElems values.
template <typename T, typename DType>
void WeightGrad(const Tiling& t, const DType* x, const DType* dy, DType* dw, int32_t req,
                DType* ws) {
  constexpr int A = T::kAlpha, A2 = A * A;
  const Plan p = MakePlan<T>(t);
  const int64_t c = t.c, f = t.f, block = p.slots * p.block;
  const int64_t rows = std::max<int64_t>(1, block / t.tw);
  DType* du = ws;                          // [A2][f][c], or a slab per slot
  DType* v = du + UElems<T>(p, t);         // [A2][c][block]
  DType* z = v + A2 * c * block;           // [A2][f][block]
  const int64_t scratch = std::max(InputScratch<T>(t.tw, rows), GradScratch<T>(t.tw, rows));
  DType* const kOwnScratch = nullptr;  // each thread's own
  for (int64_t r0 = 0; r0 < t.rows(); r0 += rows) {
    const int64_t nr = std::min(rows, t.rows() - r0), nt = nr * t.tw;
    Split(true, c, scratch, kOwnScratch, [&](int64_t c0, int64_t c1, DType* sc) {
      for (int64_t ch = c0; ch < c1; ++ch)
        InputBlock<T>(t, x + ch * t.h * t.w, r0, nr, sc, v + ch * block, c * block);
    });
    Split(true, f, scratch, kOwnScratch, [&](int64_t o0, int64_t o1, DType* sc) {
      for (int64_t o = o0; o < o1; ++o)
        GradBlock<T>(t, dy + o * t.oh * t.ow, r0, nr, sc, z + o * block, f * block);
    });
    if (p.slab) {  // the only block (MakePlan): slabs of dU straight into dW
      const int64_t slab = SlabSize(f, p.slab, NumThreads());
      const int64_t slabs = (f + slab - 1) / slab, nslots = std::min(slabs, kMaxSlots);
      ParallelFor(nslots, 1, [&](int64_t s0, int64_t s1) {
        DType* us = du + s0 * A2 * p.slab * c;
        for (int64_t k = slabs * s0 / nslots; k < slabs * s1 / nslots; ++k) {
          const int64_t o0 = k * slab, o1 = std::min(f, o0 + slab);
          for (int xi = 0; xi < A2; ++xi)
            Gemm(false, true, o1 - o0, c, nt, DType(1), z + (xi * f + o0) * block, block,
                 v + xi * c * block, block, DType(0), us + xi * (o1 - o0) * c, c);
          InverseFilters<T>(us, c, o0, o1, dw, req);
        }
      });
      return;
    }
    ParallelFor(A2, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t xi = lo; xi < hi; ++xi)
        Gemm(false, true, f, c, nt, DType(1), z + xi * f * block, block, v + xi * c * block,
             block, DType(r0 == 0 ? 0 : 1), du + xi * f * c, c);
    });
  }
  ParallelFor(f, 4, [&](int64_t o0, int64_t o1) {  // InverseFilters wants one slab's layout
    std::vector<DType> part(A2 * (o1 - o0) * c);
    for (int xi = 0; xi < A2; ++xi)
      std::copy_n(du + (xi * f + o0) * c, (o1 - o0) * c, part.data() + xi * (o1 - o0) * c);
    InverseFilters<T>(part.data(), c, o0, o1, dw, req);
  });
}

}  // namespace cn::winograd

#endif  // COARSENET_OPS_WINOGRAD_H_
