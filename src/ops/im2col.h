// The shared engine of Convolution and Deconvolution: im2col/col2im over column tiles + GEMM.
//
// A 2-D convolution maps an "image" x (N, C, H, W) to "columns" y (N, F, OH, OW) with a weight
// (F, C/G, KH, KW) in G groups. Per image and group, with col = im2col(x) of shape
// (C/G*KH*KW, OH*OW):   y = W col   (Forward),   dx = col2im(W^T dy)   (DataGrad),
// dW = sum_images dy col^T   (WeightGrad). Deconvolution is the same geometry with the roles
// swapped: its forward is DataGrad, its data gradient is Forward.
//
// Speed (2 cores): the column matrix of a whole image (576 x 3136 floats = 7 MB for a 3x3 64-ch
// conv) falls out of L2, so columns are built one tile of output positions at a time and fed to
// the GEMM while still in cache. Forward and DataGrad run images in parallel, one single-threaded
// GEMM per tile (col2im of one image must stay on one thread). WeightGrad splits the rows of dW
// (the (c, ki, kj) rows of the column matrix) across threads instead, so every thread owns a
// slice of dW, accumulates it over all images and no reduction or extra copy of dW is needed.
// A 1x1 stride-1 unpadded convolution needs no columns: x itself is the column matrix.
// 3x3 stride-1 convolutions with >= 16 channels each way skip columns altogether and use
// Winograd F(4x4, 3x3) for all three passes (winograd.h): 4x fewer multiplies.
#ifndef COARSENET_OPS_IM2COL_H_
#define COARSENET_OPS_IM2COL_H_

#include <algorithm>
#include <cstring>

#include "coarsenet/op.h"
#include "ops/winograd.h"

namespace cn::conv {

// Forward/DataGrad split the batch into at most this many slots, each with its own column tile;
// fixed so the workspace size depends on shapes only (more than the cores here, so all are busy).
constexpr int64_t kMaxSlots = 4;
// Elements of one column tile: about 256 KB of floats, so a tile, the weight and the output tile
// stay in a core's L2 while the GEMM runs.
constexpr int64_t kTileElems = 64 * 1024;

struct Geom {
  int64_t n, c, h, w;    // image side
  int64_t f, oh, ow;     // column side
  int64_t kh, kw, sh, sw, ph, pw, dh, dw, groups;

  int64_t cg() const { return c / groups; }
  int64_t fg() const { return f / groups; }
  int64_t kg() const { return cg() * kh * kw; }  // rows of one group's column matrix
  int64_t hw() const { return h * w; }
  int64_t ohw() const { return oh * ow; }
  bool direct() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  int64_t tile() const {
    int64_t t = std::max<int64_t>(64, (kTileElems / kg() + 15) / 16 * 16);
    return std::min(t, ohw());
  }
  int64_t slots() const { return std::min(n, kMaxSlots); }
  // 3x3 stride-1 dense convolutions with enough channels for the GEMMs run all three passes
  // as Winograd F(4x4, 3x3) (winograd.h). Pad <= 2 keeps the data gradient's pad 2 - p valid;
  // the size check excludes Deconvolution's adj.
  bool winograd() const {
    return kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 && groups == 1 &&
           ph <= 2 && pw <= 2 && oh == h + 2 * ph - 2 && ow == w + 2 * pw - 2 && c >= 16 &&
           f >= 16;
  }
  // Scratch elements (sized as double so either dtype fits): column tiles for Forward/DataGrad
  // (one per slot) or Winograd's filter transform and one block per slot; WeightGrad needs one
  // tile of every column row, sliced across threads.
  int64_t WorkspaceElems(bool backward) const {
    if (winograd()) {
      int64_t max_w = std::max(w, ow);
      int64_t fwd = winograd::FilterElems<winograd::Fwd>(c, f) +
                    slots() * winograd::SlotElems<winograd::Fwd>(c, f, max_w);
      int64_t wgrad = winograd::WeightGradElems<winograd::Fwd>(c, f, max_w);
      return backward ? std::max(fwd, wgrad) : fwd;
    }
    if (direct()) return 0;
    int64_t per_slot = slots() * kg() * tile(), all_rows = groups * kg() * tile();
    return backward ? std::max(per_slot, all_rows) : per_slot;
  }
};

// Output positions ow in [lo, hi) read an input column iw = ow * s + off inside [0, in).
inline void ValidRange(int64_t off, int64_t s, int64_t in, int64_t out, int64_t* lo, int64_t* hi) {
  *lo = off >= 0 ? 0 : std::min(out, (-off + s - 1) / s);
  *hi = in - 1 - off < 0 ? *lo : std::max(*lo, std::min(out, (in - 1 - off) / s + 1));
}

// Visits column rows [r0, r1) of one group's column matrix for output positions [p0, p1): for
// every output-row segment, calls seg(col_segment, image_row or nullptr when padding, lo, hi,
// ow0, ow1, off) where image_row[ow * sw + off] is the input of column position ow.
template <typename DType, typename Seg>
void VisitColumns(const Geom& g, DType* img, DType* col, int64_t r0, int64_t r1, int64_t p0,
                  int64_t p1, Seg&& seg) {
  const int64_t len = p1 - p0;
  for (int64_t r = r0; r < r1; ++r) {
    int64_t c = r / (g.kh * g.kw), ki = r / g.kw % g.kh, kj = r % g.kw;
    DType* row = col + (r - r0) * len - p0;  // row[p] is position p
    int64_t off = kj * g.dw - g.pw, lo, hi;
    ValidRange(off, g.sw, g.w, g.ow, &lo, &hi);
    for (int64_t p = p0; p < p1;) {
      int64_t oh = p / g.ow, ow0 = p % g.ow, ow1 = std::min(g.ow, ow0 + (p1 - p));
      int64_t ih = oh * g.sh - g.ph + ki * g.dh;
      DType* img_row = ih >= 0 && ih < g.h ? img + (c * g.h + ih) * g.w : nullptr;
      seg(row + p - ow0, img_row, std::clamp(lo, ow0, ow1), std::clamp(hi, ow0, ow1), ow0, ow1,
          off);
      p += ow1 - ow0;
    }
  }
}

// col[r - r0][p - p0] = x at (row r, position p), zero in the padding.
template <typename DType>
void Im2Col(const Geom& g, const DType* x, int64_t r0, int64_t r1, int64_t p0, int64_t p1,
            DType* col) {
  const int64_t sw = g.sw;
  VisitColumns(g, const_cast<DType*>(x), col, r0, r1, p0, p1,
               [sw](DType* out, const DType* in, int64_t lo, int64_t hi, int64_t ow0,
                    int64_t ow1, int64_t off) {
                 if (!in) lo = hi = ow1;
                 for (int64_t o = ow0; o < lo; ++o) out[o] = 0;
                 if (sw == 1 && hi > lo) {
                   std::memcpy(out + lo, in + lo + off, (hi - lo) * sizeof(DType));
                 } else {
                   for (int64_t o = lo; o < hi; ++o) out[o] = in[o * sw + off];
                 }
                 for (int64_t o = hi; o < ow1; ++o) out[o] = 0;
               });
}

// x += col2im(col): the transpose of Im2Col, padding entries dropped.
template <typename DType>
void Col2Im(const Geom& g, const DType* col, int64_t p0, int64_t p1, DType* x) {
  const int64_t sw = g.sw;
  VisitColumns(g, x, const_cast<DType*>(col), 0, g.kg(), p0, p1,
               [sw](const DType* src, DType* img, int64_t lo, int64_t hi, int64_t, int64_t,
                    int64_t off) {
                 if (!img) return;
                 for (int64_t o = lo; o < hi; ++o) img[o * sw + off] += src[o];
               });
}

// Runs fn(slot, n) for every image: slots in parallel when there are enough images for every
// thread (then each GEMM inside is single-threaded), else in sequence with multi-threaded GEMMs.
template <typename Fn>
void ForEachImage(const Geom& g, Fn&& fn) {
  const int64_t slots = g.slots();
  auto run = [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s)
      for (int64_t i = g.n * s / slots; i < g.n * (s + 1) / slots; ++i) fn(s0, i);
  };
  if (g.n >= NumThreads())
    ParallelFor(slots, 1, [&](int64_t s0, int64_t s1) { run(s0, s1); });  // rvalue body
  else
    run(0, slots);
}

// Forward (flip = false: x -> y) or DataGrad (flip = true: dy -> dx, a 3x3 convolution with
// the flipped, transposed filters and pad 2 - p) of a Winograd-eligible geometry, image by image.
template <typename DType>
void WinogradImages(const Geom& g, const DType* src, const DType* w, bool flip,
                    const DType* bias, DType* dst, int32_t req, DType* ws) {
  using T = winograd::Fwd;
  DType* u = ws;
  winograd::TransformFilters<T>(w, g.f, g.c, flip, u);
  DType* blocks = u + winograd::FilterElems<T>(g.c, g.f);
  const int64_t slot_elems = winograd::SlotElems<T>(g.c, g.f, std::max(g.w, g.ow));
  ForEachImage(g, [&](int64_t slot, int64_t i) {
    if (flip)
      winograd::ConvImage<T>(src + i * g.f * g.ohw(), g.f, g.oh, g.ow, u, g.c, 2 - g.ph,
                             2 - g.pw, bias, dst + i * g.c * g.hw(), req,
                             blocks + slot * slot_elems);
    else
      winograd::ConvImage<T>(src + i * g.c * g.hw(), g.c, g.h, g.w, u, g.f, g.ph, g.pw, bias,
                             dst + i * g.f * g.ohw(), req, blocks + slot * slot_elems);
  });
}

// y = conv(x, w) + bias (bias may be null).
template <typename DType>
void Forward(const Geom& g, const DType* x, const DType* w, const DType* bias, DType* y,
             int32_t req, DType* ws) {
  if (req == CN_REQ_NULL) return;
  const int64_t tile = g.tile(), kg = g.kg(), fg = g.fg(), hw = g.hw(), ohw = g.ohw();
  if (g.winograd()) return WinogradImages(g, x, w, false, bias, y, req, ws);
  ForEachImage(g, [&](int64_t slot, int64_t i) {
    DType* col = ws + slot * kg * tile;
    for (int64_t p0 = 0; p0 < ohw; p0 += tile) {
      const int64_t p1 = std::min(ohw, p0 + tile), len = p1 - p0;
      DType* yt = y + i * g.f * ohw + p0;
      DType beta = req == CN_REQ_ADD ? 1 : 0;
      if (bias) {  // start from the bias (or add it) so the GEMM accumulates onto it
        for (int64_t f = 0; f < g.f; ++f)
          for (int64_t p = 0; p < len; ++p) Store(&yt[f * ohw + p], req, bias[f]);
        beta = 1;
      }
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const DType* xg = x + (i * g.c + grp * g.cg()) * hw;
        const DType* b = xg + p0;
        int64_t ldb = hw;
        if (!g.direct()) {
          Im2Col(g, xg, 0, kg, p0, p1, col);
          b = col;
          ldb = len;
        }
        Gemm(false, false, fg, len, kg, DType(1), w + grp * fg * kg, kg, b, ldb, beta,
             yt + grp * fg * ohw, ohw);
      }
    }
  });
}

// dx = conv^T(dy, w) + bias over dx's channels (bias may be null; Deconvolution's forward).
template <typename DType>
void DataGrad(const Geom& g, const DType* dy, const DType* w, const DType* bias, DType* dx,
              int32_t req, DType* ws) {
  if (req == CN_REQ_NULL) return;
  const int64_t tile = g.tile(), kg = g.kg(), fg = g.fg(), hw = g.hw(), ohw = g.ohw();
  const DType beta = req == CN_REQ_ADD ? 1 : 0;
  if (g.winograd()) return WinogradImages(g, dy, w, true, bias, dx, req, ws);
  ForEachImage(g, [&](int64_t slot, int64_t i) {
    DType* col = ws + slot * kg * tile;
    DType* dxi = dx + i * g.c * hw;
    if (!g.direct() && req != CN_REQ_ADD) std::fill(dxi, dxi + g.c * hw, DType(0));
    for (int64_t p0 = 0; p0 < ohw; p0 += tile) {
      const int64_t p1 = std::min(ohw, p0 + tile), len = p1 - p0;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const DType* dyt = dy + (i * g.f + grp * fg) * ohw + p0;
        DType* dxg = dxi + grp * g.cg() * hw;
        if (g.direct()) {  // columns are dx itself: each element is written once
          Gemm(true, false, kg, len, fg, DType(1), w + grp * fg * kg, kg, dyt, ohw, beta,
               dxg + p0, hw);
        } else {
          Gemm(true, false, kg, len, fg, DType(1), w + grp * fg * kg, kg, dyt, ohw, DType(0),
               col, len);
          Col2Im(g, col, p0, p1, dxg);
        }
      }
    }
    if (bias)
      for (int64_t c = 0; c < g.c; ++c)
        for (int64_t p = 0; p < hw; ++p) dxi[c * hw + p] += bias[c];
  });
}

// dw = sum over images of dy col(x)^T. Threads own disjoint rows of the column matrix (columns
// of dw) and accumulate them over every image and tile.
template <typename DType>
void WeightGrad(const Geom& g, const DType* x, const DType* dy, DType* dw, int32_t req,
                DType* ws) {
  if (req == CN_REQ_NULL) return;
  const int64_t tile = g.tile(), kg = g.kg(), fg = g.fg(), hw = g.hw(), ohw = g.ohw();
  if (g.winograd())
    return winograd::WeightGrad<winograd::Fwd>(x, dy, g.n, g.c, g.h, g.w, g.f, g.ph, g.pw, dw,
                                               req, ws);
  ParallelFor(g.groups * kg, 16, [&](int64_t q0, int64_t q1) {
    for (int64_t grp = q0 / kg; grp * kg < q1; ++grp) {
      const int64_t r0 = std::max(q0, grp * kg) - grp * kg;
      const int64_t r1 = std::min(q1, (grp + 1) * kg) - grp * kg;
      DType* col = ws + (grp * kg + r0) * tile;
      DType* dwg = dw + grp * fg * kg + r0;
      bool first = req != CN_REQ_ADD;
      for (int64_t i = 0; i < g.n; ++i) {
        const DType* xg = x + (i * g.c + grp * g.cg()) * hw;
        for (int64_t p0 = 0; p0 < ohw; p0 += tile) {
          const int64_t p1 = std::min(ohw, p0 + tile), len = p1 - p0;
          const DType* b = xg + r0 * hw + p0;
          int64_t ldb = hw;
          if (!g.direct()) {
            Im2Col(g, xg, r0, r1, p0, p1, col);
            b = col;
            ldb = len;
          }
          Gemm(false, true, fg, r1 - r0, len, DType(1), dy + (i * g.f + grp * fg) * ohw + p0,
               ohw, b, ldb, DType(first ? 0 : 1), dwg, kg);
          first = false;
        }
      }
    }
  });
}

// db[c] = sum over images and positions of dy[:, c] (the bias gradient of either op).
template <typename DType>
void ChannelSum(const DType* dy, int64_t n, int64_t c, int64_t hw, DType* db, int32_t req) {
  if (req == CN_REQ_NULL) return;
  ParallelFor(c, 4, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      DType acc = 0;
      for (int64_t i = 0; i < n; ++i) {
        const DType* p = dy + (i * c + ch) * hw;
        for (int64_t k = 0; k < hw; ++k) acc += p[k];
      }
      Store(&db[ch], req, acc);
    }
  });
}

// MXNet's tuple params: () means `fallback` on both axes; otherwise exactly two entries >= `min`.
inline std::pair<int64_t, int64_t> Pair(const Shape& s, int64_t fallback, int64_t min,
                                        const char* name) {
  if (!s.known() || s.ndim == 0) return {fallback, fallback};
  if (s.ndim != 2)
    throw Error(Msg(name, " must have 2 entries (only 2-D is supported), found ", s));
  if (s[0] < min || s[1] < min)
    throw Error(Msg(name, " entries must be >= ", min, ", found ", s));
  return {s[0], s[1]};
}

}  // namespace cn::conv

#endif  // COARSENET_OPS_IM2COL_H_
