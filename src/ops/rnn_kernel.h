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
// one (N, G*H) GEMM per step for the hidden state, and the gates in one pass. Backward keeps a
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
  int64_t ForwardWorkspace() const {
    return KN() * GH() + N * GH() + 2 * N * HO + 2 * N * H + (recompute ? KN() * RowRes() : 0);
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

// C = alpha op(A) op(B) + beta C with C's columns split across the host's threads, each block one
// single-threaded BLAS call. OpenBLAS's own threaded level-3 synchronises its threads with
// spin-and-yield loops; on a loaded 2-core machine that made the per-step (32 x 512) x (512 x 2048)
// product ~6x slower on 2 threads than on 1 (see benchmarks/bench_rnn.py).
template <typename DType>
void ParGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, DType alpha, const DType* a,
             int64_t lda, const DType* b, int64_t ldb, DType beta, DType* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const int64_t blocks = work < double(1 << 20) ? 1 : std::min<int64_t>(cn::NumThreads(), n / 32);
  if (blocks <= 1) {
    cn::Gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  auto edge = [&](int64_t i) { return i >= blocks ? n : (n * i / blocks) / 16 * 16; };
  cn::ParallelFor(blocks, 1, [&](int64_t i0, int64_t i1) {
    const int64_t c0 = edge(i0), c1 = edge(i1);
    cn::Gemm(ta, tb, m, c1 - c0, k, alpha, a, lda, tb ? b + c0 * ldb : b + c0, ldb, beta, c + c0,
             ldc);
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
template <typename DType>
struct FwdBufs {
  DType *xw, *hg, *h, *c, *rr, *tmp, *scratch;
  FwdBufs(const Geom& g, DType* ws) {
    xw = ws, hg = xw + g.KN() * g.GH(), h = hg + g.N * g.GH(), c = h + g.N * g.HO;
    rr = c + g.N * g.H, tmp = rr + g.N * g.H, scratch = tmp + g.N * g.HO;
  }
};

// How many blocks of hidden units the per-step work is split into (one per thread), and block
// i's first unit (multiples of 16 so each thread's columns stay aligned).
inline int64_t UnitBlocks(const Geom& g) {
  const double work = static_cast<double>(g.N) * static_cast<double>(g.GH()) *
                      static_cast<double>(g.HO);
  return work < double(1 << 20) ? 1 : std::max<int64_t>(1, std::min<int64_t>(cn::NumThreads(),
                                                                             g.H / 16));
}
inline int64_t UnitEdge(const Geom& g, int64_t i, int64_t blocks) {
  return i >= blocks ? g.H : (g.H * i / blocks) / 16 * 16;
}

// Steps [tb, te) of one direction from the state in f.h / f.c (updated in place), the segment's
// input projection already in f.xw. Writes the segment's reserve rows `r` and, when y is not
// null, the layer output (rows of D*HO values, this direction's columns [d*HO, (d+1)*HO)).
// Without projection a step is ONE parallel region: each thread multiplies the previous state
// (read from the reserve copy) by its own hidden units' rows of Wh, then runs those units' gates;
// each region start wakes the sleeping pool threads, which costs milliseconds on a loaded machine.
template <typename DType>
void ForwardSeg(const Geom& g, const DType* w, const int64_t* len, int64_t l, int64_t d,
                int64_t tb, int64_t te, const FwdBufs<DType>& f, const SegRes<DType>& r, DType* y) {
  const int64_t N = g.N, H = g.H, HO = g.HO, GH = g.GH(), S = g.S(), ystride = g.D * HO;
  const DType *wh = w + g.Wh(l, d), *wr = w + g.Wr(l, d), *bh_ = w + g.Bh(l, d);
  const DType lo_ = static_cast<DType>(g.cmin), hi_ = static_cast<DType>(g.cmax);
  DType *h = f.h, *c = f.c, *rr = f.rr;
  const int64_t blocks = UnitBlocks(g);
  for (int64_t s = 0; s < te - tb; ++s) {
    const int64_t t = d ? te - 1 - s : tb + s, lt = t - tb;
    const DType* hp = r.hprev + lt * N * HO;
    std::copy(h, h + N * HO, r.hprev + lt * N * HO);
    if (g.lstm()) std::copy(c, c + N * H, r.cprev + lt * N * H);
    // Hidden units [u0, u1) of batch row b.
    auto units = [&](int64_t b, int64_t u0, int64_t u1) {
      const int64_t row = lt * N + b;
      DType* yr = y && !g.proj ? y + (t * N + b) * ystride + d * HO : nullptr;
      DType* gr = r.gates + row * S;
      if (len && t >= len[b]) {  // past this sequence's end: state frozen, output zero
        if (yr) std::fill(yr + u0, yr + u1, DType(0));
        for (int64_t q = 0; q < S / H; ++q) std::fill(gr + q * H + u0, gr + q * H + u1, DType(0));
        if (g.lstm()) std::copy(c + b * H + u0, c + b * H + u1, r.cell + row * H + u0);
        return;
      }
      const DType *ax = f.xw + row * GH, *ah = f.hg + b * GH;
      DType* hb = h + b * HO;
      // Locals, not the lambda's captured references: a store through a DType* could alias
      // those, which keeps the loops below from vectorising.
      const int64_t H = g.H;
      const DType lo = lo_, hi = hi_;
      const DType* bh = bh_;
      if (g.lstm()) {
        DType *cb = c + b * H, *cl = r.cell + row * H, *ho = g.proj ? rr + b * H : hb;
        const bool clip_nan = g.clip_nan;
        // Two instances: the clipping selects keep GCC from vectorising the common loop.
        // flatten: the exp / tanh polynomials must be inlined for the loop to vectorise.
        auto run = [&](auto clip_tag) __attribute__((flatten)) {
          constexpr bool kClip = decltype(clip_tag)::value;
#pragma omp simd
          for (int64_t j = u0; j < u1; ++j) {
            DType i = Sigmoid(ax[j] + ah[j]), fg = Sigmoid(ax[H + j] + ah[H + j]);
            DType gg = Tanh(ax[2 * H + j] + ah[2 * H + j]);
            DType o = Sigmoid(ax[3 * H + j] + ah[3 * H + j]);
            DType cn = fg * cb[j] + i * gg;
            if constexpr (kClip) {  // NaN passes through unless clip_nan
              DType cc = cn < lo ? lo : (cn > hi ? hi : cn);
              cn = (clip_nan && cn != cn) ? lo : cc;
            }
            cb[j] = cn;
            cl[j] = cn;
            gr[j] = i, gr[H + j] = fg, gr[2 * H + j] = gg, gr[3 * H + j] = o;
            ho[j] = o * Tanh(cn);
          }
        };
        if (g.clip) run(std::true_type{}); else run(std::false_type{});
      } else if (g.gru()) {
        const DType* hpb = hp + b * HO;
#pragma omp simd
        for (int64_t j = u0; j < u1; ++j) {
          DType rg = Sigmoid(ax[j] + ah[j]), z = Sigmoid(ax[H + j] + ah[H + j]);
          DType hn = ah[2 * H + j] + bh[2 * H + j];
          DType n = Tanh(ax[2 * H + j] + rg * hn);
          hb[j] = (DType(1) - z) * n + z * hpb[j];
          gr[j] = rg, gr[H + j] = z, gr[2 * H + j] = n, gr[3 * H + j] = hn;
        }
      } else {
        const bool relu = g.mode == kRnnRelu;
#pragma omp simd
        for (int64_t j = u0; j < u1; ++j) {
          DType a = ax[j] + ah[j];
          DType hv = relu ? (a > 0 ? a : DType(0)) : Tanh(a);
          gr[j] = hv;
          hb[j] = hv;
        }
      }
      if (yr) std::copy(hb + u0, hb + u1, yr + u0);
    };
    if (!g.proj) {
      cn::ParallelFor(blocks, 1, [&](int64_t i0, int64_t i1) {
        const int64_t u0 = UnitEdge(g, i0, blocks), u1 = UnitEdge(g, i1, blocks);
        for (int64_t q = 0; q < g.G; ++q)  // gate q's rows u0..u1 of Wh
          cn::Gemm(false, true, N, u1 - u0, HO, DType(1), hp, HO, wh + (q * H + u0) * HO, HO,
                   DType(0), f.hg + q * H + u0, GH);
        for (int64_t b = 0; b < N; ++b) units(b, u0, u1);
      });
      continue;
    }
    // Projection (LSTMP): h' = Wr (o * tanh(c')) needs every unit, so three regions.
    ParGemm(false, true, N, GH, HO, DType(1), hp, HO, wh, HO, DType(0), f.hg, GH);
    cn::ParallelFor(N, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) units(b, 0, H);
    });
    ParGemm(false, true, N, HO, H, DType(1), rr, H, wr, H, DType(0), f.tmp, HO);
    for (int64_t b = 0; b < N; ++b) {
      DType* yr = y ? y + (t * N + b) * ystride + d * HO : nullptr;
      if (len && t >= len[b]) {
        if (yr) std::fill(yr, yr + HO, DType(0));
        continue;
      }
      std::copy(f.tmp + b * HO, f.tmp + (b + 1) * HO, h + b * HO);
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
