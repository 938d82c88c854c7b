// Strided convolutions (3x3 stride 2, ResNet's 1x1 stride-2 shortcuts) by polyphase
// decomposition: no column matrix, one GEMM per tap.
//
// With stride (sh, sw) the zero-padded input xp splits into sh*sw phase planes
// P[a*sw + b][r][q] = xp[r*sh + a][q*sw + b] of PR x PC values. Tap (ki, kj) of output (oy, ox)
// reads xp[oy*sh + ki][ox*sw + kj] = P[(ki%sh)*sw + kj%sw][oy + ki/sh][ox + kj/sw]: a stride-1
// shift of one phase plane. Outputs are computed on the phase grid's rows (position
// q = oy*PC + ox, PC >= OW; the columns past OW are dropped), so for every tap the input of all
// positions is one contiguous run of its phase plane, offset by (ki/sh)*PC + kj/sw, and the
// channels' runs are equally spaced. Each tap is then one GEMM on the planes themselves:
//   Forward:    yw (F x N)      += W_tap (F x C) . P_tap (C x N)
//   DataGrad:   dP_tap (C x N)  += W_tap^T . dyw         (dx = the interior of dP, re-interleaved)
//   WeightGrad: dW_tap (F x C)  += dyw . P_tap^T         (summed over images)
// with N = (OH - 1)*PC + OW positions, so no run leaves its plane. Building the planes reads
// the input once (im2col writes it kh*kw times, through strided gathers); K = C per GEMM is
// plenty for OpenBLAS (95 GFLOP/s single-threaded on 128x812x128). The extra work is the
// dropped columns: (PC - OW) / PC (3.5% for a 3x3/2 on 56x56).
// Dispatch (Geom::polyphase): dense (groups 1), stride > 1, no dilation, >= 16 input channels
// (K of each GEMM; the 3-channel stem conv keeps im2col's K = C kh kw) and maps that are not
// small (small maps batch images into one wide GEMM instead, small_maps.h).
// 3x3 stride-2 convolutions take their weight gradient (all maps) and, on small maps, their
// data gradient by batch columns instead (strided_columns.h, with figures), and so do the
// weight gradients of 1x1/2 shortcuts with pad 0 (Geom::strided_pointwise); WeightGrad here
// serves the other strided shapes (padded 1x1/2, stride 3, 5x5/2, ...).
// Images run in parallel slots (one plane set per slot) for Forward/DataGrad; WeightGrad builds
// the planes of a chunk of images (one per slot) at a time and splits (tap, channel block)
// GEMMs across threads, each block of dW_tap owned by one task that adds the images in order,
// so no reduction and the same bits for any thread count. Measured and rejected for the 1x1/2
// shortcut 64->128 on 32x32x32: 32-channel blocks (two tasks instead of one) made its 2-thread
// weight gradient 1.2x slower (4.9 against 3.9-4.0 ms).
// Measured and rejected (1 thread, A/B in one process, ResNet-18 3x3/2 64->128 on 32x64x32x32):
// folding m = 8 images into each gradient GEMM (planes of the m images side by side, K or
// N = (m - 1)*plane + n_pos) left DataGrad unchanged (1.00-1.02x) and made WeightGrad 1.065-1.077x
// slower: the GEMMs already run near OpenBLAS's peak at K = n_pos, packing costs (M + N) K
// whatever K is, and the columns between images add 6% of work. Splitting WeightGrad's tasks
// over F as well (18 instead of 9 for 2-thread balance) costs 1.05x at 1 thread (dy is packed
// twice as often). The small-map im2col WeightGrad is 1.20x slower here, and this DataGrad is
// 1.16-1.21x slower than the small-map one on 16x16 maps (a plane of 9x9 for 8x8 outputs).
#ifndef COARSENET_OPS_CONV_POLYPHASE_H_
#define COARSENET_OPS_CONV_POLYPHASE_H_

#include <algorithm>
#include <cstring>

#include "ops/conv/columns.h"

namespace cn::conv::polyphase {

// Input channels per WeightGrad task (a shape constant: GEMM shapes never depend on threads).
constexpr int64_t kChannelBlock = 64;

struct Layout {
  int64_t phases, pr, pc, plane, n_pos, taps;
  explicit Layout(const Geom& g)
      : phases(g.sh * g.sw),
        pr((g.h + 2 * g.ph + g.sh - 1) / g.sh),
        pc((g.w + 2 * g.pw + g.sw - 1) / g.sw),
        plane(pr * pc),
        n_pos((g.oh - 1) * pc + g.ow),
        taps(g.kh * g.kw) {}
  int64_t planes_elems(const Geom& g) const { return g.c * phases * plane; }
  int64_t wide_elems(const Geom& g) const { return g.f * n_pos; }
  int64_t weight_elems(const Geom& g) const { return taps * g.f * g.c; }
  // One slot: the planes and the wide output (gradient) of one image.
  int64_t slot_elems(const Geom& g) const { return planes_elems(g) + wide_elems(g); }
  int64_t phase(const Geom& g, int64_t ki, int64_t kj) const {
    return (ki % g.sh) * g.sw + kj % g.sw;
  }
  int64_t offset(const Geom& g, int64_t ki, int64_t kj) const {
    return (ki / g.sh) * pc + kj / g.sw;
  }
  // Whether some tap reads phase ab (a 1x1 stride-2 conv reads only phase 0).
  bool used(const Geom& g, int64_t ab) const {
    const int64_t a = ab / g.sw, b = ab % g.sw;
    return a < g.kh && b < g.kw;
  }
};

// Scratch (Geom::WorkspaceElems): the tap-major weight (or weight gradient), then one slot per
// parallel image.

// The phase planes of channels [c0, c1) of one image (every used phase; zero in the padding).
template <typename DType>
void BuildPlanes(const Geom& g, const Layout& l, const DType* x, int64_t c0, int64_t c1,
                 DType* planes) {
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t ab = 0; ab < l.phases; ++ab) {
      if (!l.used(g, ab)) continue;
      const int64_t a = ab / g.sw, b = ab % g.sw;
      int64_t lo, hi;  // phase columns q with an input column q*sw + b - pw inside [0, w)
      ValidRange(b - g.pw, g.sw, g.w, l.pc, &lo, &hi);
      DType* dst = planes + (c * l.phases + ab) * l.plane;
      for (int64_t r = 0; r < l.pr; ++r, dst += l.pc) {
        const int64_t ih = r * g.sh + a - g.ph;
        if (ih < 0 || ih >= g.h) {
          std::fill(dst, dst + l.pc, DType(0));
          continue;
        }
        const DType* src = x + (c * g.h + ih) * g.w + b - g.pw;
        std::fill(dst, dst + lo, DType(0));
        if (g.sw == 2)  // a constant stride vectorises
          for (int64_t q = lo; q < hi; ++q) dst[q] = src[q * 2];
        else
          for (int64_t q = lo; q < hi; ++q) dst[q] = src[q * g.sw];
        std::fill(dst + hi, dst + l.pc, DType(0));
      }
    }
}

// wide[f][oy*pc + ox] = dy[f][oy][ox] for rows [f0, f1); zero past OW.
template <typename DType>
void Widen(const Geom& g, const Layout& l, const DType* dy, int64_t f0, int64_t f1,
           DType* wide) {
  for (int64_t f = f0; f < f1; ++f)
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      DType* dst = wide + f * l.n_pos + oy * l.pc;
      std::copy_n(dy + (f * g.oh + oy) * g.ow, g.ow, dst);
      if (oy + 1 < g.oh) std::fill(dst + g.ow, dst + l.pc, DType(0));
    }
}

// wt[tap][f][c] = w[f][c][ki][kj] (each tap's GEMM operand is then one dense matrix).
template <typename DType>
void PackWeight(const Geom& g, const Layout& l, const DType* w, DType* wt) {
  for (int64_t f = 0; f < g.f; ++f)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t t = 0; t < l.taps; ++t) wt[(t * g.f + f) * g.c + c] = w[(f * g.c + c) * l.taps + t];
}

// y = conv(x, w) + bias (bias may be null).
template <typename DType>
void Forward(const Geom& g, const DType* x, const DType* w, const DType* bias, DType* y,
             int32_t req, DType* ws) {
  const Layout l(g);
  DType* wt = ws;
  PackWeight(g, l, w, wt);
  ForEachImageGroup(g, 1, [&](int64_t slot, int64_t i, int64_t) {
    DType* planes = ws + l.weight_elems(g) + slot * l.slot_elems(g);
    DType* yw = planes + l.planes_elems(g);
    BuildPlanes(g, l, x + i * g.c * g.hw(), 0, g.c, planes);
    for (int64_t ki = 0; ki < g.kh; ++ki)
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const int64_t t = ki * g.kw + kj;
        Gemm(false, false, g.f, l.n_pos, g.c, DType(1), wt + t * g.f * g.c, g.c,
             planes + l.phase(g, ki, kj) * l.plane + l.offset(g, ki, kj), l.phases * l.plane,
             DType(t == 0 ? 0 : 1), yw, l.n_pos);
      }
    DType* yi = y + i * g.f * g.ohw();
    for (int64_t f = 0; f < g.f; ++f) {
      const DType b = bias ? bias[f] : DType(0);
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        const DType* src = yw + f * l.n_pos + oy * l.pc;
        DType* dst = yi + (f * g.oh + oy) * g.ow;
        if (req == CN_REQ_ADD)
          for (int64_t ox = 0; ox < g.ow; ++ox) dst[ox] += src[ox] + b;
        else
          for (int64_t ox = 0; ox < g.ow; ++ox) dst[ox] = src[ox] + b;
      }
    }
  });
}

// dx = conv^T(dy, w) + bias over dx's channels (bias may be null; Deconvolution's forward).
template <typename DType>
void DataGrad(const Geom& g, const DType* dy, const DType* w, const DType* bias, DType* dx,
              int32_t req, DType* ws) {
  const Layout l(g);
  DType* wt = ws;
  PackWeight(g, l, w, wt);
  ForEachImageGroup(g, 1, [&](int64_t slot, int64_t i, int64_t) {
    DType* dp = ws + l.weight_elems(g) + slot * l.slot_elems(g);
    DType* dyw = dp + l.planes_elems(g);
    Widen(g, l, dy + i * g.f * g.ohw(), 0, g.f, dyw);
    std::fill(dp, dp + l.planes_elems(g), DType(0));
    // Taps of one phase overlap at different offsets: each GEMM accumulates in turn.
    for (int64_t ki = 0; ki < g.kh; ++ki)
      for (int64_t kj = 0; kj < g.kw; ++kj)
        Gemm(true, false, g.c, l.n_pos, g.f, DType(1), wt + (ki * g.kw + kj) * g.f * g.c, g.c,
             dyw, l.n_pos, DType(1),
             dp + l.phase(g, ki, kj) * l.plane + l.offset(g, ki, kj), l.phases * l.plane);
    DType* dxi = dx + i * g.c * g.hw();
    for (int64_t c = 0; c < g.c; ++c) {  // re-interleave the phases, dropping the padding
      const DType bc = bias ? bias[c] : DType(0);
      for (int64_t y0 = 0; y0 < g.h; ++y0) {
        const int64_t hp = y0 + g.ph;
        DType* dst = dxi + (c * g.h + y0) * g.w;
        for (int64_t b = 0; b < g.sw; ++b) {  // dx columns q*sw + b - pw from phase (a, b)
          const DType* src = dp + (c * l.phases + (hp % g.sh) * g.sw + b) * l.plane +
                             (hp / g.sh) * l.pc;
          int64_t lo, hi;
          ValidRange(b - g.pw, g.sw, g.w, l.pc, &lo, &hi);
          DType* out = dst + b - g.pw;
          if (req == CN_REQ_ADD)
            for (int64_t q = lo; q < hi; ++q) out[q * g.sw] += src[q] + bc;
          else
            for (int64_t q = lo; q < hi; ++q) out[q * g.sw] = src[q] + bc;
        }
      }
    }
  });
}

// dw = sum over images of dy col(x)^T, one (tap, channel block) GEMM per task and image.
// The workspace's slots (one per thread) hold the planes and wide dy of that many images at
// once, so each of the three parallel loops covers a chunk of images: on small layers (a 1x1
// stride-2 shortcut on 32x32 maps, ~50 us of GEMM per image) three thread wake-ups per image
// cost as much as the work. Every task still adds the images into its own block of dW in
// image order with the same GEMM shapes, so the bits do not depend on the chunk (nor on the
// thread count).
template <typename DType>
void WeightGrad(const Geom& g, const DType* x, const DType* dy, DType* dw, int32_t req,
                DType* ws) {
  const Layout l(g);
  DType* dwt = ws;
  const int64_t blocks = (g.c + kChannelBlock - 1) / kChannelBlock;
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(g.n, g.threads));
  auto planes = [&](int64_t j) { return ws + l.weight_elems(g) + j * l.slot_elems(g); };
  auto wide = [&](int64_t j) { return planes(j) + l.planes_elems(g); };
  for (int64_t i0 = 0; i0 < g.n; i0 += chunk) {
    const int64_t m = std::min(chunk, g.n - i0);
    ParallelFor(m * g.c, 8, [&](int64_t b, int64_t e) {
      for (int64_t j = b / g.c; j * g.c < e; ++j)
        BuildPlanes(g, l, x + (i0 + j) * g.c * g.hw(), std::max(b - j * g.c, int64_t(0)),
                    std::min(e - j * g.c, g.c), planes(j));
    });
    ParallelFor(m * g.f, 8, [&](int64_t b, int64_t e) {
      for (int64_t j = b / g.f; j * g.f < e; ++j)
        Widen(g, l, dy + (i0 + j) * g.f * g.ohw(), std::max(b - j * g.f, int64_t(0)),
              std::min(e - j * g.f, g.f), wide(j));
    });
    ParallelFor(l.taps * blocks, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        const int64_t t = k / blocks, c0 = k % blocks * kChannelBlock;
        const int64_t cb = std::min(kChannelBlock, g.c - c0);
        const int64_t ki = t / g.kw, kj = t % g.kw;
        for (int64_t j = 0; j < m; ++j)
          Gemm(false, true, g.f, cb, l.n_pos, DType(1), wide(j), l.n_pos,
               planes(j) + (c0 * l.phases + l.phase(g, ki, kj)) * l.plane + l.offset(g, ki, kj),
               l.phases * l.plane, DType(i0 + j == 0 ? 0 : 1), dwt + t * g.f * g.c + c0, g.c);
      }
    });
  }
  ParallelFor(g.f, 8, [&](int64_t f0, int64_t f1) {
    for (int64_t f = f0; f < f1; ++f)
      for (int64_t c = 0; c < g.c; ++c)
        for (int64_t t = 0; t < l.taps; ++t)
          Store(&dw[(f * g.c + c) * l.taps + t], req, dwt[(t * g.f + f) * g.c + c]);
  });
}

}  // namespace cn::conv::polyphase

#endif  // COARSENET_OPS_CONV_POLYPHASE_H_
