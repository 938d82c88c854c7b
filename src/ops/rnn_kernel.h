// The fused RNN op's geometry (MXNet's packed parameter layout, the reserve that forward keeps for
// backward) and its per-direction forward and backward kernels. Included only by rnn.cc.
//
// Packed parameters (MXNet's order): for every layer l, then direction d (left-to-right, then
// right-to-left): Wx (G*H, in_l), Wh (G*H, Hout), and with projection Wr (P, H); after all weights,
// for every (l, d): bx (G*H), bh (G*H). Gates: LSTM i, f, g, o; GRU r, z, n; vanilla one.
//   LSTM: c' = f*c + i*g (then clipped), h' = o*tanh(c'), with projection h' = Wr (o*tanh(c'))
//   GRU (MXNet's and PyTorch's definition: the reset gate multiplies W_hn h + b_hn, i.e. it is
//   applied after the recurrent matmul):  n = tanh(Wxn x + bxn + r*(Whn h + bhn)),
//   h' = (1-z)*n + z*h
// Forward does one GEMM for the input projection of all time steps, one (N, G*H) GEMM per step
// for the hidden state, and the gates in one pass. Backward keeps every step's pre-activation
// gradients so the weight gradients are one GEMM per (layer, direction) over all steps.
#ifndef COARSENET_OPS_RNN_KERNEL_H_
#define COARSENET_OPS_RNN_KERNEL_H_

#include <algorithm>
#include <cmath>
#include <cstring>

#include "coarsenet/op.h"

namespace rnn {

enum Mode { kRnnRelu, kRnnTanh, kLstm, kGru };

struct Geom {
  int mode = kLstm;
  int64_t T = 0, N = 0, I = 0, H = 0, HO = 0, L = 1, D = 1, G = 4;
  bool proj = false, clip = false, clip_nan = false;
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

  // Reserve: per layer, the next layer's input (after dropout) unless it is the last layer, then
  // per direction the gates, the hidden state before each step and (LSTM) the cell state before
  // and after each step, all indexed by time t.
  int64_t TN() const { return T * N; }
  int64_t DirSize() const { return TN() * (S() + HO + (lstm() ? 2 * H : 0)); }
  int64_t LayerSize(int64_t l) const { return (l + 1 < L ? TN() * D * HO : 0) + D * DirSize(); }
  int64_t Layer(int64_t l) const {
    int64_t off = 0;
    for (int64_t k = 0; k < l; ++k) off += LayerSize(k);
    return off;
  }
  int64_t LayerOut(int64_t l) const { return Layer(l); }
  int64_t Gates(int64_t l, int64_t d) const {
    return Layer(l) + (l + 1 < L ? TN() * D * HO : 0) + d * DirSize();
  }
  int64_t Hprev(int64_t l, int64_t d) const { return Gates(l, d) + TN() * S(); }
  int64_t Cprev(int64_t l, int64_t d) const { return Hprev(l, d) + TN() * HO; }
  int64_t Cell(int64_t l, int64_t d) const { return Cprev(l, d) + TN() * H; }
  int64_t ReserveSize() const { return Layer(L); }

  int64_t ForwardWorkspace() const { return TN() * GH() + N * GH() + 2 * N * HO + 2 * N * H; }
  int64_t DirBackwardWorkspace() const {
    return TN() * GH() * (gru() ? 2 : 1) + 3 * N * HO + 2 * N * H +
           (proj ? TN() * (HO + H) : 0);
  }
  int64_t BackwardWorkspace() const { return 2 * TN() * D * HO + DirBackwardWorkspace(); }
};

template <typename DType>
inline DType Sigmoid(DType x) { return DType(1) / (DType(1) + std::exp(-x)); }

// One layer, one direction. x: (T*N, in); y: rows of D*HO values, this direction writes columns
// [d*HO, (d+1)*HO). len: valid steps per batch row or nullptr. hy/cy may be nullptr.
template <typename DType>
void ForwardDir(const Geom& g, const DType* w, const DType* x, const int64_t* len, const DType* h0,
                const DType* c0, DType* y, DType* res, int64_t l, int64_t d, DType* ws, DType* hy,
                DType* cy) {
  const int64_t T = g.T, N = g.N, H = g.H, HO = g.HO, GH = g.GH(), in = g.In(l), S = g.S();
  const int64_t ystride = g.D * HO;
  DType *xw = ws, *hg = xw + g.TN() * GH, *h = hg + N * GH, *c = h + N * HO, *rr = c + N * H,
        *tmp = rr + N * H;
  const DType *wx = w + g.Wx(l, d), *wh = w + g.Wh(l, d), *wr = w + g.Wr(l, d);
  const DType *bx = w + g.Bx(l, d), *bh = w + g.Bh(l, d);
  DType *gates = res + g.Gates(l, d), *hprev = res + g.Hprev(l, d);
  DType *cprev = res + g.Cprev(l, d), *cell = res + g.Cell(l, d);
  std::copy(h0, h0 + N * HO, h);
  if (g.lstm()) std::copy(c0, c0 + N * H, c);
  if (g.TN() > 0) {
    // All time steps' input projections in one GEMM, onto the biases. GRU keeps bhn apart: the
    // reset gate multiplies it.
    cn::ParallelFor(g.TN(), 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t j = 0; j < GH; ++j)
          xw[r * GH + j] = bx[j] + (g.gru() && j >= 2 * H ? DType(0) : bh[j]);
    });
    cn::Gemm(false, true, g.TN(), GH, in, DType(1), x, in, wx, in, DType(1), xw, GH);
  }
  const DType lo = static_cast<DType>(g.cmin), hi = static_cast<DType>(g.cmax);
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = d ? T - 1 - s : s;
    std::copy(h, h + N * HO, hprev + t * N * HO);
    if (g.lstm()) std::copy(c, c + N * H, cprev + t * N * H);
    cn::Gemm(false, true, N, GH, HO, DType(1), h, HO, wh, HO, DType(0), hg, GH);
    cn::ParallelFor(N, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t row = t * N + b;
        DType* yr = y + row * ystride + d * HO;
        DType* gr = gates + row * S;
        if (len && t >= len[b]) {  // past this sequence's end: state frozen, output zero
          std::fill(yr, yr + HO, DType(0));
          std::fill(gr, gr + S, DType(0));
          if (g.lstm()) std::copy(c + b * H, c + (b + 1) * H, cell + row * H);
          continue;
        }
        const DType *ax = xw + row * GH, *ah = hg + b * GH;
        DType* hb = h + b * HO;
        for (int64_t j = 0; j < H; ++j) {
          if (g.lstm()) {
            DType i = Sigmoid(ax[j] + ah[j]), f = Sigmoid(ax[H + j] + ah[H + j]);
            DType gg = std::tanh(ax[2 * H + j] + ah[2 * H + j]);
            DType o = Sigmoid(ax[3 * H + j] + ah[3 * H + j]);
            DType cn = f * c[b * H + j] + i * gg;
            if (g.clip) {
              if (std::isnan(cn) && g.clip_nan) cn = lo;
              cn = cn < lo ? lo : (cn > hi ? hi : cn);  // NaN passes through unless clip_nan
            }
            c[b * H + j] = cn;
            cell[row * H + j] = cn;
            gr[j] = i, gr[H + j] = f, gr[2 * H + j] = gg, gr[3 * H + j] = o;
            DType hv = o * std::tanh(cn);
            if (g.proj) {
              rr[b * H + j] = hv;
            } else {
              hb[j] = hv;
              yr[j] = hv;
            }
          } else if (g.gru()) {
            DType r = Sigmoid(ax[j] + ah[j]), z = Sigmoid(ax[H + j] + ah[H + j]);
            DType hn = ah[2 * H + j] + bh[2 * H + j];
            DType n = std::tanh(ax[2 * H + j] + r * hn);
            DType hv = (DType(1) - z) * n + z * hb[j];
            gr[j] = r, gr[H + j] = z, gr[2 * H + j] = n, gr[3 * H + j] = hn;
            hb[j] = hv;
            yr[j] = hv;
          } else {
            DType a = ax[j] + ah[j];
            DType hv = g.mode == kRnnRelu ? (a > 0 ? a : DType(0)) : std::tanh(a);
            gr[j] = hv;
            hb[j] = hv;
            yr[j] = hv;
          }
        }
      }
    });
    if (g.proj) {  // h' = Wr (o * tanh(c')) for the rows still running
      cn::Gemm(false, true, N, HO, H, DType(1), rr, H, wr, H, DType(0), tmp, HO);
      for (int64_t b = 0; b < N; ++b) {
        if (len && t >= len[b]) continue;
        std::copy(tmp + b * HO, tmp + (b + 1) * HO, h + b * HO);
        std::copy(tmp + b * HO, tmp + (b + 1) * HO, y + (t * N + b) * ystride + d * HO);
      }
    }
  }
  if (hy) std::copy(h, h + N * HO, hy);
  if (cy && g.lstm()) std::copy(c, c + N * H, cy);
}

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

// dY: (T*N, D*HO) gradient of this layer's output; dhy/dcy: final-state gradients or nullptr.
template <typename DType>
void BackwardDir(const Geom& g, const DType* w, const DType* x, const int64_t* len,
                 const DType* dY, const DType* res, int64_t l, int64_t d, const DType* dhy,
                 const DType* dcy, DType* ws, const DirGrads<DType>& out) {
  const int64_t T = g.T, N = g.N, H = g.H, HO = g.HO, GH = g.GH(), in = g.In(l), S = g.S();
  const int64_t TN = g.TN(), ystride = g.D * HO;
  DType* dAx = ws;
  DType* dAh = g.gru() ? dAx + TN * GH : dAx;  // LSTM/vanilla: the same pre-activation gradient
  DType* dh = ws + TN * GH * (g.gru() ? 2 : 1);
  DType *dc = dh + N * HO, *dhpre_buf = dc + N * H, *tmp = dhpre_buf + N * H, *dt_buf = tmp + N * HO;
  DType* dHall = dt_buf + N * HO;  // projection only: every step's gradient of h (T*N, HO)
  DType* rrall = dHall + TN * HO;  // projection only: o*tanh(c) at every step (T*N, H)
  const DType *wx = w + g.Wx(l, d), *wh = w + g.Wh(l, d), *wr = w + g.Wr(l, d);
  const DType *gates = res + g.Gates(l, d), *hprev = res + g.Hprev(l, d);
  const DType *cprev = res + g.Cprev(l, d), *cell = res + g.Cell(l, d);
  const DType lo = static_cast<DType>(g.cmin), hi = static_cast<DType>(g.cmax);
  if (dhy) std::copy(dhy, dhy + N * HO, dh); else std::fill(dh, dh + N * HO, DType(0));
  if (g.lstm()) {
    if (dcy) std::copy(dcy, dcy + N * H, dc); else std::fill(dc, dc + N * H, DType(0));
  }
  for (int64_t s = T - 1; s >= 0; --s) {
    const int64_t t = d ? T - 1 - s : s;
    DType* dt = g.proj ? dHall + t * N * HO : dt_buf;  // gradient of h after step t
    for (int64_t b = 0; b < N; ++b) {
      const bool valid = !len || t < len[b];
      const DType* dyr = dY + (t * N + b) * ystride + d * HO;
      for (int64_t j = 0; j < HO; ++j) dt[b * HO + j] = valid ? dh[b * HO + j] + dyr[j] : DType(0);
    }
    const DType* dhpre = dt;  // gradient of o*tanh(c)
    if (g.proj) {
      cn::Gemm(false, false, N, H, HO, DType(1), dt, HO, wr, H, DType(0), dhpre_buf, H);
      dhpre = dhpre_buf;
    }
    cn::ParallelFor(N, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t row = t * N + b;
        DType *dax = dAx + row * GH, *dah = dAh + row * GH;
        if (len && t >= len[b]) {  // frozen: gradients pass through untouched
          std::fill(dax, dax + GH, DType(0));
          if (g.gru()) std::fill(dah, dah + GH, DType(0));
          continue;
        }
        const DType* gr = gates + row * S;
        DType* dhb = dh + b * HO;
        for (int64_t j = 0; j < HO; ++j) dhb[j] = 0;
        for (int64_t j = 0; j < H; ++j) {
          if (g.lstm()) {
            DType i = gr[j], f = gr[H + j], gg = gr[2 * H + j], o = gr[3 * H + j];
            DType cv = cell[row * H + j], tc = std::tanh(cv), dhp = dhpre[b * H + j];
            DType dcc = dc[b * H + j] + dhp * o * (DType(1) - tc * tc);
            if (g.clip && !(cv > lo && cv < hi)) dcc = 0;  // clipped: no gradient through c
            dax[j] = dcc * gg * i * (DType(1) - i);
            dax[H + j] = dcc * cprev[row * H + j] * f * (DType(1) - f);
            dax[2 * H + j] = dcc * i * (DType(1) - gg * gg);
            dax[3 * H + j] = dhp * tc * o * (DType(1) - o);
            dc[b * H + j] = dcc * f;
          } else if (g.gru()) {
            DType r = gr[j], z = gr[H + j], n = gr[2 * H + j], hn = gr[3 * H + j];
            DType dht = dt[b * HO + j], hp = hprev[row * HO + j];
            DType dan = dht * (DType(1) - z) * (DType(1) - n * n);
            DType dar = dan * hn * r * (DType(1) - r);
            DType daz = dht * (hp - n) * z * (DType(1) - z);
            dax[j] = dah[j] = dar;
            dax[H + j] = dah[H + j] = daz;
            dax[2 * H + j] = dan;
            dah[2 * H + j] = dan * r;
            dhb[j] = dht * z;
          } else {
            DType hv = gr[j], dht = dt[b * HO + j];
            dax[j] = g.mode == kRnnRelu ? (hv > 0 ? dht : DType(0)) : dht * (DType(1) - hv * hv);
          }
        }
      }
    });
    cn::Gemm(false, false, N, HO, GH, DType(1), dAh + t * N * GH, GH, wh, HO, DType(0), tmp, HO);
    for (int64_t b = 0; b < N; ++b) {
      if (len && t >= len[b]) continue;
      for (int64_t j = 0; j < HO; ++j) dh[b * HO + j] += tmp[b * HO + j];
    }
  }
  StoreRow(out.dh0, dh, N * HO, out.req_state);
  if (g.lstm()) StoreRow(out.dc0, dc, N * H, out.req_cell);
  if (out.dw && out.req_w != CN_REQ_NULL) {  // weight gradients: one GEMM each over all steps
    const DType beta = out.req_w == CN_REQ_ADD ? 1 : 0;
    DType* dw = out.dw;
    if (TN > 0) {
      cn::Gemm(true, false, GH, in, TN, DType(1), dAx, GH, x, in, beta, dw + g.Wx(l, d), in);
      cn::Gemm(true, false, GH, HO, TN, DType(1), dAh, GH, hprev, HO, beta, dw + g.Wh(l, d), HO);
    } else if (beta == 0) {
      std::fill(dw + g.Wx(l, d), dw + g.Wr(l, d), DType(0));
    }
    if (g.proj) {
      for (int64_t r = 0; r < TN; ++r)
        for (int64_t j = 0; j < H; ++j)
          rrall[r * H + j] = gates[r * S + 3 * H + j] * std::tanh(cell[r * H + j]);
      if (TN > 0)
        cn::Gemm(true, false, HO, H, TN, DType(1), dHall, HO, rrall, H, beta, dw + g.Wr(l, d), H);
      else if (beta == 0)
        std::fill(dw + g.Wr(l, d), dw + g.Wr(l, d) + HO * H, DType(0));
    }
    cn::ParallelFor(GH, 16, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        DType sx = 0, sh = 0;
        for (int64_t r = 0; r < TN; ++r) sx += dAx[r * GH + j], sh += dAh[r * GH + j];
        cn::Store(&dw[g.Bx(l, d) + j], out.req_w, sx);
        cn::Store(&dw[g.Bh(l, d) + j], out.req_w, sh);
      }
    });
  }
  if (out.dx && TN > 0)
    cn::Gemm(false, false, TN, in, GH, DType(1), dAx, GH, wx, in, out.beta_x, out.dx, in);
}

}  // namespace rnn

#endif  // COARSENET_OPS_RNN_KERNEL_H_
