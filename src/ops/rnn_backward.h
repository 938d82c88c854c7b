// The fused RNN op's backward kernel for one layer and direction (see rnn_kernel.h for the
// geometry and the gate equations). Included only by rnn.cc.
//
// Segments are visited in reverse of the forward's order. With recompute, each segment's
// forward is first re-run from its checkpoint into scratch (ForwardSeg, the same code and the
// same GEMM shapes as the first forward, so the gates are bitwise the same). Every segment then
// runs its steps backward, keeping its steps' pre-activation gradients, and adds its share of
// the weight gradients with one GEMM per weight and its rows of dx with one GEMM.
#ifndef COARSENET_OPS_RNN_BACKWARD_H_
#define COARSENET_OPS_RNN_BACKWARD_H_

#include <vector>

#include "rnn_kernel.h"

namespace rnn {

// Where one direction's backward writes. Null pointers are gradients nobody asked for.
template <typename DType>
struct DirGrads {
  DType* dx = nullptr;  // (T*N, in): += this direction's part (beta_x 0 overwrites)
  DType beta_x = 0;
  DType *dh0 = nullptr, *dc0 = nullptr;
  int32_t req_state = CN_REQ_NULL, req_cell = CN_REQ_NULL;
  DType* dw = nullptr;  // the packed parameter gradient
  int32_t req_w = CN_REQ_NULL;
};

template <typename DType>
void StoreRow(DType* dst, const DType* src, int64_t n, int32_t req) {
  if (!dst || req == CN_REQ_NULL) return;
  for (int64_t i = 0; i < n; ++i) cn::Store(&dst[i], req, src[i]);
}

// The backward's gradients in flight and scratch, from DirBackwardWorkspace() elements.
template <typename DType>
struct BwdBufs {
  DType *dAx, *dAh, *dh, *dc, *dhpre, *tmp, *dt, *dHall, *rrall, *fwd;
  BwdBufs(const Geom& g, DType* ws) {
    const int64_t KN = g.KN(), GH = g.GH(), N = g.N;
    dAx = ws;
    dAh = g.gru() ? dAx + KN * GH : dAx;  // LSTM/vanilla: the same pre-activation gradient
    dh = ws + KN * GH * (g.gru() ? 2 : 1);
    dc = dh + N * g.HO, dhpre = dc + N * g.H, tmp = dhpre + N * g.H, dt = tmp + N * g.HO;
    dHall = dt + N * g.HO;                  // projection: each step's gradient of h (KN, HO)
    rrall = dHall + (g.proj ? KN * g.HO : 0);  // projection: o*tanh(c) of each step (KN, H)
    fwd = rrall + (g.proj ? KN * g.H : 0);   // recompute: the forward kernel's workspace
  }
};

// Steps of segment [tb, te) backward: dh / dc carry the state gradients between steps.
template <typename DType>
void BackwardSteps(const Geom& g, const DType* w, const int64_t* len, const DType* dY, int64_t l,
                   int64_t d, int64_t tb, int64_t te, const SegRes<DType>& r,
                   const BwdBufs<DType>& b) {
  const int64_t N = g.N, H = g.H, HO = g.HO, GH = g.GH(), S = g.S(), ystride = g.D * HO;
  const DType *wh = w + g.Wh(l, d), *wr = w + g.Wr(l, d);
  const DType lo_ = static_cast<DType>(g.cmin), hi_ = static_cast<DType>(g.cmax);
  DType *dh = b.dh, *dc = b.dc;
  // dh[:, u0:u1] += (dAh of step tp) Wh[:, u0:u1] for the rows running at tp.
  auto fold = [&](int64_t tp, int64_t u0, int64_t u1, bool split) {
    const DType* dah = b.dAh + (tp - tb) * N * GH;
    if (split)
      ParGemm(false, false, N, u1 - u0, GH, DType(1), dah, GH, wh + u0, HO, DType(0), b.tmp + u0,
              HO);
    else
      cn::Gemm(false, false, N, u1 - u0, GH, DType(1), dah, GH, wh + u0, HO, DType(0),
               b.tmp + u0, HO);
    for (int64_t n = 0; n < N; ++n) {
      if (len && tp >= len[n]) continue;
      for (int64_t j = u0; j < u1; ++j) dh[n * HO + j] += b.tmp[n * HO + j];
    }
  };
  const int64_t steps = te - tb;
  auto time_of = [&](int64_t p) { return d ? tb + p : te - 1 - p; };  // the p-th step backward
  // Step p for hidden units [u0, u1) (LSTMP: all units, in three regions).
  auto step = [&](int64_t p, int64_t u0, int64_t u1) {
    const int64_t t = time_of(p), lt = t - tb, prev = p > 0 ? time_of(p - 1) : -1;
    DType* dt = g.proj ? b.dHall + lt * N * HO : b.dt;  // gradient of h after step t
    // dt = dh + dY for output columns [o0, o1) of the running rows.
    auto gather = [&](int64_t o0, int64_t o1) {
      for (int64_t n = 0; n < N; ++n) {
        const bool valid = !len || t < len[n];
        const DType* dyr = dY + (t * N + n) * ystride + d * HO;
        for (int64_t j = o0; j < o1; ++j)
          dt[n * HO + j] = valid ? dh[n * HO + j] + dyr[j] : DType(0);
      }
    };
    const DType* dhpre = g.proj ? b.dhpre : dt;  // gradient of o*tanh(c)
    // The gates of hidden units [u0, u1) of batch row n.
    auto units = [&](int64_t n, int64_t u0, int64_t u1) {
      const int64_t row = lt * N + n;
      DType *dax = b.dAx + row * GH, *dah = b.dAh + row * GH;
      if (len && t >= len[n]) {  // frozen: gradients pass through untouched
        for (int64_t q = 0; q < g.G; ++q) {
          std::fill(dax + q * H + u0, dax + q * H + u1, DType(0));
          if (g.gru()) std::fill(dah + q * H + u0, dah + q * H + u1, DType(0));
        }
        return;
      }
      const DType* gr = r.gates + row * S;
      DType* dhb = dh + n * HO;
      const int64_t H = g.H;  // locals, not captured references, so the loops vectorise
      const DType lo = lo_, hi = hi_;
      if (g.proj) std::fill(dhb, dhb + HO, DType(0));
      else std::fill(dhb + u0, dhb + u1, DType(0));
      if (g.lstm()) {
        const DType *cl = r.cell + row * H, *cp = r.cprev + row * H, *dhp = dhpre + n * H;
        DType* dcb = dc + n * H;
        const bool clip = g.clip;
#pragma omp simd
        for (int64_t j = u0; j < u1; ++j) {
          DType i = gr[j], f = gr[H + j], gg = gr[2 * H + j], o = gr[3 * H + j];
          DType cv = cl[j], tc = Tanh(cv);
          DType dcc = dcb[j] + dhp[j] * o * (DType(1) - tc * tc);
          if (clip && !(cv > lo && cv < hi)) dcc = 0;  // clipped: no gradient through c
          dax[j] = dcc * gg * i * (DType(1) - i);
          dax[H + j] = dcc * cp[j] * f * (DType(1) - f);
          dax[2 * H + j] = dcc * i * (DType(1) - gg * gg);
          dax[3 * H + j] = dhp[j] * tc * o * (DType(1) - o);
          dcb[j] = dcc * f;
        }
      } else if (g.gru()) {
        const DType *dtn = dt + n * HO, *hpn = r.hprev + row * HO;
#pragma omp simd
        for (int64_t j = u0; j < u1; ++j) {
          DType rg = gr[j], z = gr[H + j], nn = gr[2 * H + j], hn = gr[3 * H + j];
          DType dht = dtn[j], hp = hpn[j];
          DType dan = dht * (DType(1) - z) * (DType(1) - nn * nn);
          DType dar = dan * hn * rg * (DType(1) - rg);
          DType daz = dht * (hp - nn) * z * (DType(1) - z);
          dax[j] = dar, dah[j] = dar;
          dax[H + j] = daz, dah[H + j] = daz;
          dax[2 * H + j] = dan;
          dah[2 * H + j] = dan * rg;
          dhb[j] = dht * z;
        }
      } else {
        const DType* dtn = dt + n * HO;
        const bool relu = g.mode == kRnnRelu;
#pragma omp simd
        for (int64_t j = u0; j < u1; ++j) {
          DType hv = gr[j], dht = dtn[j];
          dax[j] = relu ? (hv > 0 ? dht : DType(0)) : dht * (DType(1) - hv * hv);
        }
      }
    };
    if (!g.proj) {
      if (prev >= 0) fold(prev, u0, u1, false);
      gather(u0, u1);
      for (int64_t n = 0; n < N; ++n) units(n, u0, u1);
    } else {  // LSTMP: dh (HO columns) and the gates (H units) do not split alike
      if (prev >= 0) fold(prev, 0, HO, true);
      gather(0, HO);
      ParGemm(false, false, N, H, HO, DType(1), dt, HO, wr, H, DType(0), b.dhpre, H);
      cn::ParallelFor(N, 1, [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) units(n, 0, H);
      });
    }
  };
  if (steps <= 0) return;
  const int64_t last = time_of(steps - 1);
  if (g.proj) {
    for (int64_t p = 0; p < steps; ++p) step(p, 0, H);
    fold(last, 0, HO, true);
    return;
  }
  // Without projection one region runs all steps (see StepTeam) over fixed unit blocks: each
  // block first folds the previous step's recurrent gradient into its units of dh (its columns
  // of dAh_prev Wh), then runs its units' gates; the last step's product is folded in at the end.
  const int64_t blocks = UnitBlocks(g);
  auto edge = [&](int64_t k) { return UnitEdge(g, k, 0); };
  const double work = static_cast<double>(N) * static_cast<double>(GH) * HO;
  StepTeam(steps, blocks, work, [&](int64_t p, int64_t k) { step(p, edge(k), edge(k + 1)); });
  SoloBlocks(blocks, work, [&](int64_t k) { fold(last, edge(k), edge(k + 1), false); });
}

// dY: (T*N, D*HO) gradient of this layer's output; dhy/dcy: final-state gradients or nullptr.
template <typename DType>
void BackwardDir(const Geom& g, const DType* w, const DType* x, const int64_t* len,
                 const DType* dY, const DType* res, int64_t l, int64_t d, const DType* dhy,
                 const DType* dcy, DType* ws, const DirGrads<DType>& out) {
  const int64_t N = g.N, H = g.H, HO = g.HO, GH = g.GH(), in = g.In(l), S = g.S();
  const int64_t K = g.K(), nseg = g.NSeg();
  const BwdBufs<DType> b(g, ws);
  const FwdBufs<DType> f(g, b.fwd);
  if (g.recompute && !g.proj) PackWh(g, w + g.Wh(l, d), f.whb);
  const DType* dir = res + g.Dir(l, d);
  if (dhy) std::copy(dhy, dhy + N * HO, b.dh); else std::fill(b.dh, b.dh + N * HO, DType(0));
  if (g.lstm()) {
    if (dcy) std::copy(dcy, dcy + N * H, b.dc); else std::fill(b.dc, b.dc + N * H, DType(0));
  }
  const bool wgrad = out.dw && out.req_w != CN_REQ_NULL;
  DType* dw = out.dw;
  for (int64_t q = 0; q < nseg; ++q) {
    const int64_t j = d ? q : nseg - 1 - q, tb = j * K, te = std::min(g.T, tb + K);
    const int64_t rows = (te - tb) * N;
    SegRes<DType> r;
    if (g.recompute) {  // re-run the segment's forward from its checkpoint
      const DType* ck = dir + j * N * g.StateW();
      std::copy(ck, ck + N * HO, f.h);
      if (g.lstm()) std::copy(ck + N * HO, ck + N * HO + N * H, f.c);
      r = ResAt(g, f.scratch, g.KN(), 0);
      Project(g, w, l, d, x + tb * N * in, rows, f.xw);
      ForwardSeg<DType>(g, w, len, l, d, tb, te, f, r, nullptr);
    } else {
      r = ResAt(g, const_cast<DType*>(dir), g.TN(), tb * N);
    }
    BackwardSteps(g, w, len, dY, l, d, tb, te, r, b);
    if (wgrad) {  // this segment's share of the weight gradients: one GEMM each
      const DType beta = (q == 0 && out.req_w == CN_REQ_WRITE) ? DType(0) : DType(1);
      ParGemm(true, false, GH, in, rows, DType(1), b.dAx, GH, x + tb * N * in, in, beta,
              dw + g.Wx(l, d), in);
      ParGemm(true, false, GH, HO, rows, DType(1), b.dAh, GH, r.hprev, HO, beta, dw + g.Wh(l, d),
              HO);
      if (g.proj) {
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t k = 0; k < H; ++k)
            b.rrall[i * H + k] = r.gates[i * S + 3 * H + k] * std::tanh(r.cell[i * H + k]);
        ParGemm(true, false, HO, H, rows, DType(1), b.dHall, HO, b.rrall, H, beta,
                dw + g.Wr(l, d), H);
      }
      // Bias gradients: column sums, accumulated row by row (contiguous, vectorised) in the
      // same order per column as a column-wise loop would.
      cn::ParallelFor(GH, 16, [&](int64_t j0, int64_t j1) {
        const int64_t cols = j1 - j0;
        std::vector<DType> acc(2 * cols, DType(0));
        DType *ax = acc.data(), *ah = ax + cols;
        for (int64_t i = 0; i < rows; ++i) {
          const DType *rx = b.dAx + i * GH + j0, *rh = b.dAh + i * GH + j0;
#pragma omp simd
          for (int64_t k = 0; k < cols; ++k) ax[k] += rx[k], ah[k] += rh[k];
        }
        for (int64_t k = j0; k < j1; ++k) {
          const DType sx = ax[k - j0], sh = ah[k - j0];
          DType* bx = &dw[g.Bx(l, d) + k];
          DType* bh = &dw[g.Bh(l, d) + k];
          *bx = beta == DType(0) ? sx : *bx + sx;
          *bh = beta == DType(0) ? sh : *bh + sh;
        }
      });
    }
    if (out.dx)
      ParGemm(false, false, rows, in, GH, DType(1), b.dAx, GH, w + g.Wx(l, d), in, out.beta_x,
              out.dx + tb * N * in, in);
  }
  StoreRow(out.dh0, b.dh, N * HO, out.req_state);
  if (g.lstm()) StoreRow(out.dc0, b.dc, N * H, out.req_cell);
  if (wgrad && nseg == 0 && out.req_w == CN_REQ_WRITE) {  // T = 0: nothing flowed
    std::fill(dw + g.Wx(l, d), dw + g.Wx(l, d) + g.WeightSize(l), DType(0));
    std::fill(dw + g.Bx(l, d), dw + g.Bx(l, d) + 2 * GH, DType(0));
  }
}

}  // namespace rnn

#endif  // COARSENET_OPS_RNN_BACKWARD_H_
