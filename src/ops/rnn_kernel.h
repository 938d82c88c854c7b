// The fused RNN op's geometry (MXNet's packed parameter layout, the reserve that forward keeps for
// backward) and its per-direction forward kernel (backward: rnn_backward.h). Included by rnn.cc.
//
// Packed parameters (MXNet's order): for every layer l, then direction d (left-to-right, then
// right-to-left): Wx (G*H, in_l), Wh (G*H, Hout), and with projection Wr (P, H); after all weights,
// for every (l, d): bx (G*H), bh (G*H). Gates: LSTM i, f, g, o; GRU r, z, n; vanilla one.
//   LSTM: c' = f*c + i*g (then clipped), h' = o*tanh(c'), with projection h' = Wr (o*tanh(c'))
//   GRU (MXNet's and PyTorch's definition: the reset gate multiplies W_hn h + b_hn, i.e. it is
//   applied after the recurrent matmul):  n = tanh(Wxn x + bxn + r*(Whn h + bhn)),
//   h' = (1-z)*n + z*h
// Forward does one GEMM for the input projection of a segment's steps (about sqrt(T) of them),
// per step one GEMM per fixed block of 64 hidden units for the hidden state (all G gates of the
// block in one product, see PackWh), the block's gates in one pass right after it, and all the
// steps of a segment on one thread team (StepTeam). Backward keeps a
// segment's pre-activation gradients so the weight gradients are one GEMM per segment.
// With `recompute` (set by the mirror pass) the reserve holds only each segment's initial state.
#ifndef COARSENET_OPS_RNN_KERNEL_H_
#define COARSENET_OPS_RNN_KERNEL_H_

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "coarsenet/op.h"
#include "kernels/fast_math.h"
#include "rnn_team.h"

namespace rnn {

enum Mode { kRnnRelu, kRnnTanh, kLstm, kGru };

struct Geom {
  int mode = kLstm;
  int64_t T = 0, N = 0, I = 0, H = 0, HO = 0, L = 1, D = 1, G = 4;
  bool proj = false, clip = false, clip_nan = false;
  bool recompute = false;  // keep only segment-start states; backward recomputes the gates
  double cmin = 0, cmax = 0;

  bool lstm() const { return mode == kLstm; }
  bool gru() const { return mode == kGru; }
  int64_t GH() const { return G * H; }
  int64_t In(int64_t l) const { return l == 0 ? I : D * HO; }
  // Reserve values per (t, n) row: LSTM i,f,g,o; GRU r,z,n and Whn h + bhn; vanilla h'.
  int64_t S() const { return lstm() || gru() ? 4 * H : H; }
  int64_t WeightSize(int64_t l) const { return GH() * In(l) + GH() * HO + (proj ? HO * H : 0); }
  int64_t Wx(int64_t l, int64_t d) const {
    int64_t off = 0;
    for (int64_t k = 0; k < l; ++k) off += D * WeightSize(k);
    return off + d * WeightSize(l);
  }
  int64_t Wh(int64_t l, int64_t d) const { return Wx(l, d) + GH() * In(l); }
  int64_t Wr(int64_t l, int64_t d) const { return Wh(l, d) + GH() * HO; }
  int64_t Bx(int64_t l, int64_t d) const { return Wx(L, 0) + (l * D + d) * 2 * GH(); }
  int64_t Bh(int64_t l, int64_t d) const { return Bx(l, d) + GH(); }
  int64_t NumParams() const { return Bx(L, 0); }

  // Time is cut into segments of K = ceil(sqrt(T)) steps. Both modes
  // run the input projection, the weight-gradient GEMMs and dx per segment, so recomputing a
  // segment repeats exactly the operations of the first forward: gradients are bitwise equal.
  int64_t TN() const { return T * N; }
  int64_t K() const {
    if (T <= 0) return 1;
    int64_t k = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(T))));
    return std::min(k, T);
  }
  int64_t NSeg() const { return T <= 0 ? 0 : (T + K() - 1) / K(); }
  int64_t KN() const { return std::min(K(), T) * N; }
  // Per row of one direction: the gates, the hidden state before the step and (LSTM) the cell
  // state before and after it. A checkpoint: the hidden and (LSTM) cell state of the batch.
  int64_t RowRes() const { return S() + HO + (lstm() ? 2 * H : 0); }
  int64_t StateW() const { return HO + (lstm() ? H : 0); }

  // Reserve: per layer, the next layer's input (after dropout) unless it is the last layer, then
  // per direction either every step's RowRes values (gates | hprev | cprev | cell, each indexed
  // by time) or, with recompute, the state at the start of each segment.
  int64_t DirSize() const { return recompute ? NSeg() * N * StateW() : TN() * RowRes(); }
  int64_t LayerSize(int64_t l) const { return (l + 1 < L ? TN() * D * HO : 0) + D * DirSize(); }
  int64_t Layer(int64_t l) const {
    int64_t off = 0;
    for (int64_t k = 0; k < l; ++k) off += LayerSize(k);
    return off;
  }
  int64_t LayerOut(int64_t l) const { return Layer(l); }
  int64_t Dir(int64_t l, int64_t d) const {
    return Layer(l) + (l + 1 < L ? TN() * D * HO : 0) + d * DirSize();
  }
  int64_t ReserveSize() const { return Layer(L); }

  // Forward: the segment's input projection, the recurrent product, the state (h, c), the
  // projection's o*tanh(c) and result; with recompute, one segment's reserve as scratch.
  // Plus the per-step recurrent products in both orientations and Wh packed by unit blocks.
  int64_t ForwardWorkspace() const {
    return KN() * GH() + 2 * N * GH() + GH() * HO + 2 * N * HO + 2 * N * H +
           (recompute ? KN() * RowRes() : 0);
  }
  int64_t DirBackwardWorkspace() const {
    return KN() * GH() * (gru() ? 2 : 1) + 3 * N * HO + 2 * N * H + (proj ? KN() * (HO + H) : 0) +
           (recompute ? ForwardWorkspace() : 0);
  }
  // The gradient of the layer below's output, ping-ponged between at most two buffers.
  int64_t InterLayerBuffers() const { return std::min<int64_t>(L - 1, 2); }
  int64_t BackwardWorkspace() const {
    return InterLayerBuffers() * TN() * D * HO + DirBackwardWorkspace();
  }
};

// One segment's reserve rows: row r of the segment is (local step) * N + batch.
template <typename DType>
struct SegRes {
  DType *gates, *hprev, *cprev, *cell;
};
// The rows from row0 on of a reserve block laid out for `rows` rows.
template <typename DType>
SegRes<DType> ResAt(const Geom& g, DType* base, int64_t rows, int64_t row0) {
  const int64_t S = g.S(), HO = g.HO, H = g.H;
  return {base + row0 * S, base + rows * S + row0 * HO, base + rows * (S + HO) + row0 * H,
          base + rows * (S + HO + H) + row0 * H};
}

// float: polynomial exp / tanh that GCC vectorises (libm's are scalar calls, and the gates'
// transcendentals cost more than the per-step GEMM); float64 keeps libm.
using cn_fast::Sigmoid;
using cn_fast::Tanh;

// C = alpha op(A) op(B) + beta C with C's columns cut into at most 4 blocks, each one
// single-threaded BLAS call, run across the host's threads. OpenBLAS's own threaded level-3
// synchronises its threads with spin-and-yield loops; on a loaded 2-core machine that made the
// per-step (32 x 512) x (512 x 2048) product ~6x slower on 2 threads than on 1. The blocks depend
// only on the shape, never on the thread count, so the bits of C never depend on how many
// threads ran it (a split per thread made the op's results differ between thread counts).
template <typename DType>
void ParGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, DType alpha, const DType* a,
             int64_t lda, const DType* b, int64_t ldb, DType beta, DType* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const int64_t blocks = work < double(1 << 20) ? 1 : std::clamp<int64_t>(n / 256, 1, 4);
  const int64_t width = ((n + blocks - 1) / blocks + 15) & ~int64_t(15);
  SoloBlocks(blocks, work, [&](int64_t i) {
    const int64_t c0 = std::min(n, i * width), c1 = std::min(n, c0 + width);
    if (c1 > c0)
      cn::Gemm(ta, tb, m, c1 - c0, k, alpha, a, lda, tb ? b + c0 * ldb : b + c0, ldb, beta,
               c + c0, ldc);
  });
}

// xw (rows, GH) = the biases + x (rows, in) Wx^T: the input projection of a segment's steps in
// one GEMM. GRU keeps bhn apart: the reset gate multiplies it.
template <typename DType>
void Project(const Geom& g, const DType* w, int64_t l, int64_t d, const DType* x, int64_t rows,
             DType* xw) {
  const int64_t GH = g.GH(), H = g.H, in = g.In(l);
  const DType *bx = w + g.Bx(l, d), *bh = w + g.Bh(l, d);
  cn::ParallelFor(rows, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < GH; ++j)
        xw[r * GH + j] = bx[j] + (g.gru() && j >= 2 * H ? DType(0) : bh[j]);
  });
  ParGemm(false, true, rows, GH, in, DType(1), x, in, w + g.Wx(l, d), in, DType(1), xw, GH);
}

// The forward kernel's state and scratch, carved from a workspace of ForwardWorkspace() elements.
// hg: a step's recurrent products as each unit block's GEMM writes them, (G*w, N) per block;
// hgt: the same transposed to (N, G*w) per block; whb: Wh with each block's rows together.
template <typename DType>
struct FwdBufs {
  DType *xw, *hg, *hgt, *whb, *h, *c, *rr, *tmp, *scratch;
  FwdBufs(const Geom& g, DType* ws) {
    xw = ws, hg = xw + g.KN() * g.GH(), hgt = hg + g.N * g.GH(), whb = hgt + g.N * g.GH();
    h = whb + g.GH() * g.HO, c = h + g.N * g.HO;
    rr = c + g.N * g.H, tmp = rr + g.N * g.H, scratch = tmp + g.N * g.HO;
  }
};

// The per-step work is cut into blocks of kUnitBlock hidden units whose boundaries depend only on
// H, never on the thread count: each block is the same single-threaded GEMM whatever thread runs
// it, so results have the same bits for any thread count. 64 units (256 rows of Wh for LSTM) keep
// OpenBLAS near its best per call while giving 2-8 threads enough blocks at H = 256-512.
constexpr int64_t kUnitBlock = 64;
inline int64_t UnitBlocks(const Geom& g) { return (g.H + kUnitBlock - 1) / kUnitBlock; }
inline int64_t UnitEdge(const Geom& g, int64_t i, int64_t) {
  return std::min(g.H, i * kUnitBlock);
}

// Wh (G*H, HO) reordered so unit block k's rows are contiguous, gate-major inside the block:
// row G*u0 + q*w + j holds Wh row q*H + u0 + j. One copy per call; then each block's recurrent
// product is ONE GEMM (G*w, N) = Whb_k h^T, whose shape OpenBLAS runs ~1.3x faster than
// h Wh_k^T: the small h is the operand it streams, the block of Wh the one it packs.
template <typename DType>
void PackWh(const Geom& g, const DType* wh, DType* whb) {
  const int64_t H = g.H, HO = g.HO, G = g.G;
  cn::ParallelFor(UnitBlocks(g), 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t u0 = UnitEdge(g, k, 0), w = UnitEdge(g, k + 1, 0) - u0;
      for (int64_t q = 0; q < G; ++q)
        std::copy(wh + (q * H + u0) * HO, wh + (q * H + u0 + w) * HO,
                  whb + (G * u0 + q * w) * HO);
    }
  });
}

// Steps [tb, te) of one direction from the state in f.h / f.c (updated in place), the segment's
// input projection already in f.xw. Writes the segment's reserve rows `r` and, when y is not
// null, the layer output (rows of D*HO values, this direction's columns [d*HO, (d+1)*HO)).
// Each step reads the state before it from the reserve's hprev rows, and each unit block writes
// its part of the new state into the next step's hprev rows, so no block reads what another
// block of the same step writes.
template <typename DType>
void ForwardSeg(const Geom& g, const DType* w, const int64_t* len, int64_t l, int64_t d,
                int64_t tb, int64_t te, const FwdBufs<DType>& f, const SegRes<DType>& r, DType* y) {
  const int64_t N = g.N, HO = g.HO, GH = g.GH(), S = g.S(), G = g.G, ystride = g.D * HO;
  const int64_t steps = te - tb;
  const DType *wr = w + g.Wr(l, d), *bh_ = w + g.Bh(l, d);
  const DType lo_ = static_cast<DType>(g.cmin), hi_ = static_cast<DType>(g.cmax);
  auto local = [&](int64_t s) { return d ? steps - 1 - s : s; };  // the s-th step's row block
  // The gates of units [u0, u0 + w) of batch row b at local step lt; gate q of unit u0 + k has
  // its recurrent product at ah[q * aw + k].
  auto units = [&](int64_t lt, int64_t b, int64_t u0, int64_t w, const DType* ah, int64_t aw) {
    const int64_t t = tb + lt, row = lt * N + b;
    const int64_t H = g.H;  // locals, not captured references: they keep the loops vectorised
    DType* yr = y && !g.proj ? y + (t * N + b) * ystride + d * HO + u0 : nullptr;
    DType* gr = r.gates + row * S + u0;
    DType *cb = f.c + b * H + u0, *cl = r.cell + row * H + u0, *cp = r.cprev + row * H + u0;
    if (len && t >= len[b]) {  // past this sequence's end: state frozen, output zero
      if (yr) std::fill(yr, yr + w, DType(0));
      for (int64_t q = 0; q < S / H; ++q) std::fill(gr + q * H, gr + q * H + w, DType(0));
      if (g.lstm()) std::copy(cb, cb + w, cp), std::copy(cb, cb + w, cl);
      return;
    }
    const DType* ax = f.xw + row * GH + u0;
    DType* hb = f.h + b * HO + u0;
    const DType lo = lo_, hi = hi_;
    const DType* bh = bh_ + u0;
    if (g.lstm()) {
      DType* ho = g.proj ? f.rr + b * H + u0 : hb;
      const bool clip_nan = g.clip_nan;
      // Two instances: the clipping selects keep GCC from vectorising the common loop.
      // flatten: the exp / tanh polynomials must be inlined for the loop to vectorise.
      auto run = [&](auto clip_tag) __attribute__((flatten)) {
        constexpr bool kClip = decltype(clip_tag)::value;
#pragma omp simd
        for (int64_t k = 0; k < w; ++k) {
          DType i = Sigmoid(ax[k] + ah[k]), fg = Sigmoid(ax[H + k] + ah[aw + k]);
          DType gg = Tanh(ax[2 * H + k] + ah[2 * aw + k]);
          DType o = Sigmoid(ax[3 * H + k] + ah[3 * aw + k]);
          DType cold = cb[k];
          DType cn = fg * cold + i * gg;
          if constexpr (kClip) {  // NaN passes through unless clip_nan
            DType cc = cn < lo ? lo : (cn > hi ? hi : cn);
            cn = (clip_nan && cn != cn) ? lo : cc;
          }
          cp[k] = cold;
          cb[k] = cn;
          cl[k] = cn;
          gr[k] = i, gr[H + k] = fg, gr[2 * H + k] = gg, gr[3 * H + k] = o;
          ho[k] = o * Tanh(cn);
        }
      };
      if (g.clip) run(std::true_type{}); else run(std::false_type{});
    } else if (g.gru()) {
      const DType* hpb = r.hprev + row * HO + u0;
#pragma omp simd
      for (int64_t k = 0; k < w; ++k) {
        DType rg = Sigmoid(ax[k] + ah[k]), z = Sigmoid(ax[H + k] + ah[aw + k]);
        DType hn = ah[2 * aw + k] + bh[2 * H + k];
        DType n = Tanh(ax[2 * H + k] + rg * hn);
        hb[k] = (DType(1) - z) * n + z * hpb[k];
        gr[k] = rg, gr[H + k] = z, gr[2 * H + k] = n, gr[3 * H + k] = hn;
      }
    } else {
      const bool relu = g.mode == kRnnRelu;
#pragma omp simd
      for (int64_t k = 0; k < w; ++k) {
        DType a = ax[k] + ah[k];
        DType hv = relu ? (a > 0 ? a : DType(0)) : Tanh(a);
        gr[k] = hv;
        hb[k] = hv;
      }
    }
    if (yr) std::copy(hb, hb + w, yr);
  };
  if (steps <= 0) return;
  std::copy(f.h, f.h + N * HO, r.hprev + local(0) * N * HO);
  if (!g.proj) {
    const double work = static_cast<double>(N) * static_cast<double>(GH) * HO;
    StepTeam(steps, UnitBlocks(g), work, [&](int64_t s, int64_t k) {
      const int64_t lt = local(s), u0 = UnitEdge(g, k, 0), w = UnitEdge(g, k + 1, 0) - u0;
      const int64_t rows = G * w;
      DType *pg = f.hg + G * u0 * N, *pt = f.hgt + G * u0 * N;
      cn::Gemm(false, true, rows, N, HO, DType(1), f.whb + G * u0 * HO, HO,
               r.hprev + lt * N * HO, HO, DType(0), pg, N);
      for (int64_t q = 0; q < rows; ++q)  // (rows, N) -> (N, rows): gates read along units
        for (int64_t b = 0; b < N; ++b) pt[b * rows + q] = pg[q * N + b];
      for (int64_t b = 0; b < N; ++b) units(lt, b, u0, w, pt + b * rows, w);
      if (s + 1 < steps) {  // this block's units of the state before the next step
        DType* hn = r.hprev + local(s + 1) * N * HO;
        for (int64_t b = 0; b < N; ++b)
          std::copy(f.h + b * HO + u0, f.h + b * HO + u0 + w, hn + b * HO + u0);
      }
    });
    return;
  }
  // Projection (LSTMP): h' = Wr (o * tanh(c')) needs every unit, so three regions per step.
  const DType* wh = w + g.Wh(l, d);
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t lt = local(s), t = tb + lt;
    const DType* hp = r.hprev + lt * N * HO;
    if (s > 0) std::copy(f.h, f.h + N * HO, r.hprev + lt * N * HO);
    ParGemm(false, true, N, GH, HO, DType(1), hp, HO, wh, HO, DType(0), f.hg, GH);
    cn::ParallelFor(N, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) units(lt, b, 0, g.H, f.hg + b * GH, g.H);
    });
    ParGemm(false, true, N, HO, g.H, DType(1), f.rr, g.H, wr, g.H, DType(0), f.tmp, HO);
    for (int64_t b = 0; b < N; ++b) {
      DType* yr = y ? y + (t * N + b) * ystride + d * HO : nullptr;
      if (len && t >= len[b]) {
        if (yr) std::fill(yr, yr + HO, DType(0));
        continue;
      }
      std::copy(f.tmp + b * HO, f.tmp + (b + 1) * HO, f.h + b * HO);
      if (yr) std::copy(f.tmp + b * HO, f.tmp + (b + 1) * HO, yr);
    }
  }
}

// One layer, one direction. x: (T*N, in); len: valid steps per batch row or nullptr; hy/cy may
// be nullptr. Segments run in this direction's time order; with recompute, the state at the
// start of each segment goes to the reserve and the gates to scratch.
template <typename DType>
void ForwardDir(const Geom& g, const DType* w, const DType* x, const int64_t* len, const DType* h0,
                const DType* c0, DType* y, DType* res, int64_t l, int64_t d, DType* ws, DType* hy,
                DType* cy) {
  const int64_t N = g.N, H = g.H, HO = g.HO, K = g.K(), nseg = g.NSeg(), in = g.In(l);
  const FwdBufs<DType> f(g, ws);
  DType* dir = res + g.Dir(l, d);
  if (!g.proj) PackWh(g, w + g.Wh(l, d), f.whb);
  std::copy(h0, h0 + N * HO, f.h);
  if (g.lstm()) std::copy(c0, c0 + N * H, f.c);
  for (int64_t q = 0; q < nseg; ++q) {
    const int64_t j = d ? nseg - 1 - q : q, tb = j * K, te = std::min(g.T, tb + K);
    if (g.recompute) {
      DType* ck = dir + j * N * g.StateW();
      std::copy(f.h, f.h + N * HO, ck);
      if (g.lstm()) std::copy(f.c, f.c + N * H, ck + N * HO);
    }
    const SegRes<DType> r = g.recompute ? ResAt(g, f.scratch, g.KN(), 0)
                                        : ResAt(g, dir, g.TN(), tb * N);
    Project(g, w, l, d, x + tb * N * in, (te - tb) * N, f.xw);
    ForwardSeg(g, w, len, l, d, tb, te, f, r, y);
  }
  if (hy) std::copy(f.h, f.h + N * HO, hy);
  if (cy && g.lstm()) std::copy(f.c, f.c + N * H, cy);
}

}  // namespace rnn

#endif  // COARSENET_OPS_RNN_KERNEL_H_
