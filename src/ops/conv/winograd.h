// Winograd convolution for 3x3 stride-1 convolutions (Lavin & Gray 2016). F(4x4, 3x3) costs
// 36 multiplies per 4x4 output block and (input, output) channel pair instead of 144 (4x
// fewer); F(2x2, 3x3) 16 instead of 36.
//   V = B^T d B  (input tile d),  U = G g G^T  (3x3 filter g),  Y = A^T [sum_c U .* V] A.
// The sum over channels is, for each of the alpha^2 tile positions xi, one GEMM
// M[xi] (F x T) = U[xi] (F x C) V[xi] (C x T) over a block of T tiles (see Plan for sizes).
// Convolution's forward and data gradient both use it: the data gradient of a 3x3 stride-1
// convolution with pad p is a 3x3 convolution of dy with the flipped, transposed filters and
// pad 2 - p.
// Tiles are numbered across the batch: every image has th rows of tw tiles, and a block is any
// run of consecutive global tile rows R = image * th + ty. Large maps give blocks inside one
// image; small maps (CIFAR's 8x8 and 4x4 stages) give blocks holding several images, so the
// GEMMs stay wide however few tiles one image has. The transforms are in kernels/winograd_transforms.h;
// F(4x4, 3x3)'s vectorised ones (input, output-gradient, filter transforms, output rows) in
// kernels/winograd_f4.h; here: how blocks are planned and run (Conv, WeightGrad). The same drivers run 3x3 stride-2
// forwards with the Stride2 tables (alpha 9, input tiles 8 apart, 4x4 outputs per tile);
// their vectorised input transform is in kernels/winograd_s2.h.
#ifndef COARSENET_OPS_CONV_WINOGRAD_H_
#define COARSENET_OPS_CONV_WINOGRAD_H_

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "coarsenet/op.h"
#include "kernels/winograd_f4.h"
#include "kernels/winograd_s2.h"
#include "kernels/winograd_transforms.h"

namespace cn::winograd {

// A slot's block holds about this many values of V and M (alpha^2 (C + F) per tile), so the
// transforms and the GEMMs of a block work in cache.
constexpr int64_t kBlockElems = 512 * 1024;
// Stride-2 tiles (alpha 9) hold 81 values per 16 outputs against F(4x4, 3x3)'s 36: their
// blocks get proportionally more room, so the GEMMs keep as many tiles (columns).
template <typename T>
constexpr int64_t BlockElems() {
  return kBlockElems * T::kAlpha * T::kAlpha / 36;
}
// A wide block (below) is this many slot blocks.
constexpr int64_t kWideBlocks = 4;

// How one direction runs. Everything that fixes a GEMM's shape (blocks of tiles, slabs of
// output channels) comes from the shapes alone: OpenBLAS gives different bits for the same
// column when the GEMM is split differently, so the results must not depend on the thread
// count. The threads only decide how many blocks (slabs) are in flight at once, each with its
// own scratch, which is why the workspace depends on the thread count (the op declares it
// through workspace_elems_threads and plans for OpContext::threads).
// Every block reads all of U (alpha^2 F C values), so a block much narrower than the channels
// spends its time streaming U. Large maps fill a slot's cache-sized block with enough tiles
// and run blocks in parallel slots. Small maps with many channels (CIFAR's 8x8 and 4x4
// stages) run "wide": one block at a time with the threads sharing its transforms and GEMMs.
// When V and M of every tile take no more room than U, that one block holds the whole batch
// and U (dU) is never whole: each thread makes the U of a slab of output channels, all 36
// positions, in cache, and runs that slab's GEMMs (folds that slab of dU into dW) at once.
constexpr int64_t kSlabElems = 512 * 1024;  // U values of one slab, at most
// Slab and slot-block counts are rounded up to whole multiples of these (when there is room),
// so that common thread counts get equal shares.
constexpr int64_t kSlabRound = 8, kBlockRound = 4;
struct Plan {
  int64_t block;  // tiles per block (stream length) of the forward / data gradient
  int64_t rows;   // global tile rows per block
  int64_t blocks;
  bool slotted;   // blocks run in parallel slots; else one wide block at a time
  int64_t wg_block, wg_rows;  // the weight gradient's blocks (always one at a time)
  int64_t slab;   // output channels per U slab (0: U made whole)
  int64_t slabs;
  // Blocks (slabs) in flight at once with `threads` threads: each needs its own scratch.
  int64_t slots(int64_t threads) const { return slotted ? std::min(blocks, threads) : 1; }
  int64_t slab_slots(int64_t threads) const { return std::min(slabs, threads); }
};
// Rows per block: within the capacity; slot plans get at least kBlockRound blocks and whole
// multiples of kBlockRound while they are few.
inline int64_t RunRows(int64_t total, int64_t capacity, bool slotted) {
  int64_t blocks = (total + capacity - 1) / capacity;
  if (slotted && blocks < 4 * kBlockRound)
    blocks = std::min(total, (std::max<int64_t>(blocks, 1) + kBlockRound - 1) / kBlockRound *
                                 kBlockRound);
  return (total + blocks - 1) / blocks;
}
template <typename T>
inline Plan MakePlan(const Tiling& t) {
  constexpr int64_t a2 = T::kAlpha * T::kAlpha;
  const int64_t per_row = std::max<int64_t>(1, BlockElems<T>() / (a2 * (t.c + t.f)) / t.tw);
  const int64_t slot_block = per_row * t.tw;
  Plan p{};
  p.wg_rows = std::min(t.rows(), kWideBlocks * per_row);
  p.wg_block = p.wg_rows * t.tw;
  // Stride-2 forwards (Stride2) take slabs while V and M of every tile are up to twice U's
  // size: measured 5-11% faster on ResNet-18 CIFAR's 16x16 -> 8x8 stage, same elsewhere.
  constexpr bool kStrided = T::kStride > 1;
  if ((t.c + t.f) * t.tiles() <= (kStrided ? 2 : 1) * t.c * t.f &&
      (kStrided || 2 * slot_block * (t.c + t.f) < t.c * t.f)) {
    // One block of every tile; U in slabs of output channels, at most kSlabElems each.
    const int64_t capacity = std::clamp<int64_t>(kSlabElems / (a2 * t.c), 1, t.f);
    int64_t slabs = (t.f + capacity - 1) / capacity;
    slabs = std::min(t.f, (slabs + kSlabRound - 1) / kSlabRound * kSlabRound);
    p.slab = (t.f + slabs - 1) / slabs;
    p.slabs = (t.f + p.slab - 1) / p.slab;
    p.rows = p.wg_rows = t.rows();
    p.block = p.wg_block = t.tiles();
    p.blocks = 1;
    return p;
  }
  p.slotted = 2 * slot_block * (t.c + t.f) >= t.c * t.f;
  const int64_t capacity = p.slotted ? per_row : kWideBlocks * per_row;
  p.rows = RunRows(t.rows(), capacity, p.slotted);
  p.block = p.rows * t.tw;
  p.blocks = (t.rows() + p.rows - 1) / p.rows;
  return p;
}
// U whole, or one slab per slab slot.
template <typename T>
inline int64_t UElems(const Plan& p, const Tiling& t, int64_t threads) {
  constexpr int64_t a2 = T::kAlpha * T::kAlpha;
  return p.slab ? p.slab_slots(threads) * a2 * p.slab * t.c : a2 * t.c * t.f;
}
// Forward / data-gradient scratch: U and V, M of every slot's block.
template <typename T>
inline int64_t ConvElems(const Tiling& t, int64_t threads) {
  const Plan p = MakePlan<T>(t);
  return UElems<T>(p, t, threads) + p.slots(threads) * T::kAlpha * T::kAlpha * (t.c + t.f) * p.block;
}
// Weight-gradient scratch: dU and V, Z of one block.
template <typename T>
inline int64_t WeightGradElems(const Tiling& t, int64_t threads) {
  const Plan p = MakePlan<T>(t);
  return UElems<T>(p, t, threads) + T::kAlpha * T::kAlpha * (t.c + t.f) * p.wg_block;
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
  return std::max(InputTilesScratch<T>(tw, nr), (T::kM * T::kAlpha + T::kM) * block);
}
template <typename T, typename DType>
void InputStage(const Tiling& t, const DType* x, int64_t r0, int64_t nr, int64_t block, DType* v,
                bool parallel, DType* scratch) {
  Split(parallel, t.c, ScratchElems<T>(t.tw, nr, block), scratch,
        [&](int64_t c0, int64_t c1, DType* sc) {
          for (int64_t ch = c0; ch < c1; ++ch)
            InputTiles<T>(t, x + ch * t.h * t.w, r0, nr, sc, v + ch * block, t.c * block);
        });
}
// M[xi] = U[xi] V[xi] for every tile position xi (the threads split the positions).
template <typename T, typename DType>
void GemmStage(const Tiling& t, const DType* u, int64_t nt, int64_t block, const DType* v,
               DType* m, bool parallel) {
  auto run = [&](int64_t lo, int64_t hi) {
    for (int64_t xi = lo; xi < hi; ++xi)
      Gemm(false, false, t.f, nt, t.c, DType(1), u + xi * t.f * t.c, t.c,
           v + xi * t.c * block, block, DType(0), m + xi * t.f * block, block);
  };
  constexpr int64_t kPositions = T::kAlpha * T::kAlpha;
  if (parallel) ParallelFor(kPositions, 1, run); else run(0, kPositions);
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
          if constexpr (M == 4) {
            InterleaveRow(src, block, tw, t.ow, b0, dst, req == CN_REQ_ADD);
            continue;
          }
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
// `ws` holds ConvElems(t, threads) values; the plan (MakePlan) picks how blocks run.
template <typename T, typename DType>
void Conv(const Tiling& t, const DType* x, const DType* w, bool flip, const DType* bias,
          DType* y, int32_t req, DType* ws, int64_t threads) {
  constexpr int A = T::kAlpha, A2 = A * A;
  const Plan p = MakePlan<T>(t);
  DType* const kOwnScratch = nullptr;  // parallel stages bring their own
  const int64_t wf = flip ? t.c : t.f, wc = flip ? t.f : t.c;  // w's own (F, C)
  DType* u = ws;
  DType* v = ws + UElems<T>(p, t, threads);  // [A2][c][block] per slot, then
  DType* m = v + A2 * t.c * p.block;         // [A2][f][block]
  if (p.slab) {  // one wide block of every tile; U made and used a slab at a time
    InputStage<T>(t, x, 0, t.rows(), p.block, v, true, kOwnScratch);
    const int64_t nslots = p.slab_slots(threads);
    ParallelFor(nslots, 1, [&](int64_t s0, int64_t s1) {
      DType* us = u + s0 * A2 * p.slab * t.c;
      for (int64_t k = p.slabs * s0 / nslots; k < p.slabs * s1 / nslots; ++k) {
        const int64_t o0 = k * p.slab, o1 = std::min(t.f, o0 + p.slab);
        FilterTiles<T>(w, wf, wc, flip, o0, o1, us, (o1 - o0) * t.c);
        for (int xi = 0; xi < A2; ++xi)
          Gemm(false, false, o1 - o0, t.tiles(), t.c, DType(1), us + xi * (o1 - o0) * t.c, t.c,
               v + xi * t.c * p.block, p.block, DType(0), m + (xi * t.f + o0) * p.block,
               p.block);
      }
    });
    return OutputStage<T>(t, m, bias, y, req, 0, t.rows(), p.block, true, kOwnScratch);
  }
  ParallelFor(t.f, 4, [&](int64_t o0, int64_t o1) {  // all of U (TransformAllFilters)
    FilterTiles<T>(w, wf, wc, flip, o0, o1, u + o0 * t.c, t.f * t.c);
  });
  const int64_t rows = p.rows, blocks = p.blocks;
  if (!p.slotted) {
    for (int64_t r0 = 0; r0 < t.rows(); r0 += rows) {
      const int64_t nr = std::min(rows, t.rows() - r0), nt = nr * t.tw;
      InputStage<T>(t, x, r0, nr, p.block, v, true, kOwnScratch);
      GemmStage<T>(t, u, nt, p.block, v, m, true);
      OutputStage<T>(t, m, bias, y, req, r0, nr, p.block, true, kOwnScratch);
    }
    return;
  }
  const int64_t slots = p.slots(threads), slot_elems = A2 * (t.c + t.f) * p.block;
  ParallelFor(slots, 1, [&](int64_t s0, int64_t s1) {
    std::vector<DType> scratch(ScratchElems<T>(t.tw, rows, p.block));
    DType* sv = v + s0 * slot_elems;
    DType* sm = sv + A2 * t.c * p.block;
    for (int64_t k = blocks * s0 / slots; k < blocks * s1 / slots; ++k) {
      const int64_t r0 = k * rows, nr = std::min(rows, t.rows() - r0), nt = nr * t.tw;
      InputStage<T>(t, x, r0, nr, p.block, sv, false, scratch.data());
      GemmStage<T>(t, u, nt, p.block, sv, sm, false);
      OutputStage<T>(t, sm, bias, y, req, r0, nr, p.block, false, scratch.data());
    }
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
                DType* ws, int64_t threads) {
  constexpr int A = T::kAlpha, A2 = A * A;
  const Plan p = MakePlan<T>(t);
  const int64_t c = t.c, f = t.f, block = p.wg_block, rows = p.wg_rows;
  DType* du = ws;                               // [A2][f][c], or a slab per slot
  DType* v = du + UElems<T>(p, t, threads);     // [A2][c][block]
  DType* z = v + A2 * c * block;           // [A2][f][block]
  const int64_t scratch = std::max(InputTilesScratch<T>(t.tw, rows), GradScratch<T>(t.tw, rows));
  DType* const kOwnScratch = nullptr;  // each thread's own
  for (int64_t r0 = 0; r0 < t.rows(); r0 += rows) {
    const int64_t nr = std::min(rows, t.rows() - r0), nt = nr * t.tw;
    Split(true, c, scratch, kOwnScratch, [&](int64_t c0, int64_t c1, DType* sc) {
      for (int64_t ch = c0; ch < c1; ++ch)
        InputTiles<T>(t, x + ch * t.h * t.w, r0, nr, sc, v + ch * block, c * block);
    });
    Split(true, f, scratch, kOwnScratch, [&](int64_t o0, int64_t o1, DType* sc) {
      for (int64_t o = o0; o < o1; ++o)
        GradTiles<T>(t, dy + o * t.oh * t.ow, r0, nr, sc, z + o * block, f * block);
    });
    if (p.slab) {  // the only block (MakePlan): slabs of dU straight into dW
      const int64_t nslots = p.slab_slots(threads);
      ParallelFor(nslots, 1, [&](int64_t s0, int64_t s1) {
        DType* us = du + s0 * A2 * p.slab * c;
        for (int64_t k = p.slabs * s0 / nslots; k < p.slabs * s1 / nslots; ++k) {
          const int64_t o0 = k * p.slab, o1 = std::min(f, o0 + p.slab);
          for (int xi = 0; xi < A2; ++xi)
            Gemm(false, true, o1 - o0, c, nt, DType(1), z + (xi * f + o0) * block, block,
                 v + xi * c * block, block, DType(0), us + xi * (o1 - o0) * c, c);
          InverseFilterTiles<T>(us, (o1 - o0) * c, c, o0, o1, dw, req);
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
  ParallelFor(f, 4, [&](int64_t o0, int64_t o1) {
    InverseFilterTiles<T>(du + o0 * c, f * c, c, o0, o1, dw, req);
  });
}

}  // namespace cn::winograd

#endif  // COARSENET_OPS_CONV_WINOGRAD_H_
