// Geometry and column building shared by Convolution and Deconvolution (see ops/conv/dispatch.h): the
// shape of one convolution (Geom), which path it takes and how much workspace it needs, im2col /
// col2im over any rows and positions of one image, and the slots that run images in parallel.
#ifndef COARSENET_OPS_CONV_COLUMNS_H_
#define COARSENET_OPS_CONV_COLUMNS_H_

#include <algorithm>
#include <cstring>

#include "coarsenet/op.h"
#include "ops/conv/winograd.h"

namespace cn::conv {

// Forward/DataGrad run images in parallel slots, one per planned thread (Geom::threads), each
// with its own column tile: the workspace grows with the thread count, which the op declares
// (workspace_elems_threads). What fixes a GEMM's shape comes from shapes alone, never from the
// thread count: OpenBLAS gives different bits for a column when a GEMM is split differently.
// Small maps put at least this many image groups (GEMMs) side by side when the batch allows.
constexpr int64_t kMinImageGroups = 4;
// WeightGrad's tasks: rows of the column matrix (columns of dW) in chunks of a multiple of 16
// rows, about 1/16 of them and at least 64 (see RowChunk).
constexpr int64_t kRowParts = 16, kMinRowChunk = 64;
// Elements of one column tile: about 256 KB of floats, so a tile, the weight and the output tile
// stay in a core's L2 while the GEMM runs.
constexpr int64_t kTileElems = 64 * 1024;
// Maps with fewer output positions than this are "small": one image gives too few GEMM columns,
// so several images share one column matrix (unless Winograd takes the convolution).
constexpr int64_t kSmallMap = 16 * 16;
// A multi-image column matrix (all groups) holds about this many values, with at least
// kMinBatchCols columns: wide enough for an efficient GEMM, small enough to stay in L2/L3.
constexpr int64_t kBatchElems = 1024 * 1024;
constexpr int64_t kMinBatchCols = 256;

struct Geom {
  int64_t n, c, h, w;    // image side
  int64_t f, oh, ow;     // column side
  int64_t kh, kw, sh, sw, ph, pw, dh, dw, groups;
  int64_t threads = 1;  // what the kernels plan for (OpContext::threads); sizes the workspace

  int64_t cg() const { return c / groups; }
  int64_t fg() const { return f / groups; }
  int64_t kg() const { return cg() * kh * kw; }  // rows of one group's column matrix
  int64_t hw() const { return h * w; }
  int64_t ohw() const { return oh * ow; }
  // One input channel per group (MobileNet's depthwise layers): direct kernels, no scratch.
  bool depthwise() const { return groups > 1 && cg() == 1; }
  bool direct() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  int64_t tile() const {
    int64_t t = std::max<int64_t>(64, (kTileElems / kg() + 15) / 16 * 16);
    return std::min(t, ohw());
  }
  int64_t slots() const { return std::min(n, threads); }
  bool batched() const { return ohw() < kSmallMap; }
  // Images per multi-image GEMM (small maps only), balanced so that the image groups are
  // about equal and at least one per slot.
  int64_t images() const {
    int64_t cols = std::max(kMinBatchCols, kBatchElems / (c * kh * kw));
    int64_t groups = std::max((n * ohw() + cols - 1) / cols, std::min(n, kMinImageGroups));
    return (n + groups - 1) / groups;
  }
  int64_t image_groups() const { return (n + images() - 1) / images(); }
  int64_t batch_slots() const { return std::min(image_groups(), threads); }
  // Images per pass of the small-map WeightGrad: one column matrix as wide as kMinImageGroups
  // groups (shapes only, so the GEMMs' inner dimension does not depend on the thread count).
  int64_t weight_grad_images() const {
    return images() * std::min(image_groups(), kMinImageGroups);
  }
  // 3x3 stride-1 dense convolutions with enough channels for the GEMMs run all three passes
  // as Winograd F(4x4, 3x3) (winograd.h). Pad <= 2 keeps the data gradient's pad 2 - p valid;
  // the size check excludes Deconvolution's adj. Tiles may hang over the map's edge (a 5x5 map
  // needs 2x2 tiles of 4x4): Winograd must do at most half the direct multiplies (36 per tile
  // against 9 per output), so 3x3, 4x4, 6x6, 7x7, 8x8 and up qualify, 2x2 and 5x5 do not.
  int64_t winograd_tiles() const { return ((oh + 3) / 4) * ((ow + 3) / 4); }
  // The forward's tiling (x -> y) or, for `flip`, the data gradient's (dy -> dx: a 3x3
  // convolution of dy with pad 2 - p).
  winograd::Tiling winograd_tiling(bool flip) const {
    using T = winograd::Fwd;
    return flip ? winograd::MakeTiling<T>(n, f, oh, ow, 2 - ph, 2 - pw, c)
                : winograd::MakeTiling<T>(n, c, h, w, ph, pw, f);
  }
  bool winograd() const {
    return kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 && groups == 1 &&
           ph <= 2 && pw <= 2 && oh == h + 2 * ph - 2 && ow == w + 2 * pw - 2 && c >= 16 &&
           f >= 16 && 8 * winograd_tiles() <= ohw();
  }
  // 3x3 stride-2 dense convolutions run the forward as stride-2 Winograd (winograd::Stride2:
  // 81 multiplies per 4x4 outputs against 144) when tiles are mostly full (at least 12 of a
  // tile's 16 outputs on average); the gradients take strided_columns() or the polyphase path
  // (the weight gradient measured 5-150% slower as Winograd, and again 1.28-1.57x PyTorch's
  // time against 0.81-1.20 by columns: alpha^2 = 81 transformed values per tile). The size
  // check excludes geometries the formula does not give.
  int64_t winograd_s2_tiles() const { return ((oh + 3) / 4) * ((ow + 3) / 4); }
  winograd::Tiling winograd_s2_tiling() const {
    return winograd::MakeTiling<winograd::Stride2>(n, c, h, w, ph, pw, f);
  }
  bool winograd_s2() const {
    return kh == 3 && kw == 3 && sh == 2 && sw == 2 && dh == 1 && dw == 1 && groups == 1 &&
           oh == (h + 2 * ph - 3) / 2 + 1 && ow == (w + 2 * pw - 3) / 2 + 1 && c >= 16 &&
           f >= 16 && 12 * winograd_s2_tiles() <= ohw();
  }
  // 3x3 stride-2 dense convolutions with >= 16 input channels: the weight gradient, and the
  // data gradient on small maps, by batch columns and one large GEMM per chunk of images
  // (strided_columns.h). Chunks of about kStridedChunkElems column values, from shapes alone.
  bool strided_columns() const {
    return kh == 3 && kw == 3 && sh == 2 && sw == 2 && dh == 1 && dw == 1 && groups == 1 &&
           oh == (h + 2 * ph - 3) / 2 + 1 && ow == (w + 2 * pw - 3) / 2 + 1 && c >= 16;
  }
  // 1x1 stride-2 shortcuts (pad 0) with >= 16 input channels on maps that are not small take
  // their weight gradient by batch columns too: the column matrix is the subsampled input.
  // Per image (polyphase) the 64->128 shortcut on 32x32x32 ran one ~50 us GEMM per image, a
  // single task that left the second thread idle (4.8 ms at 2 threads against PyTorch's 2.8).
  // Small maps already run one wide multi-image GEMM (batched()).
  bool strided_pointwise() const {
    return kh == 1 && kw == 1 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && dh == 1 &&
           dw == 1 && groups == 1 && oh == (h - 1) / 2 + 1 && ow == (w - 1) / 2 + 1 &&
           c >= 16 && !batched();
  }
  bool strided_weight_columns() const { return strided_columns() || strided_pointwise(); }
  static constexpr int64_t kStridedChunkElems = 1024 * 1024;
  int64_t strided_chunk_images() const {
    const int64_t want = std::max<int64_t>(1, kStridedChunkElems / (kg() * ohw()));
    const int64_t count = (n + want - 1) / want;
    return (n + count - 1) / count;
  }
  int64_t strided_columns_elems() const {  // one chunk's columns and gathered dy (or y)
    return (kg() + f) * strided_chunk_images() * ohw();
  }
  // Strided dense convolutions (3x3 stride 2, 1x1 stride-2 shortcuts) on maps that are not
  // small run as one GEMM per tap on phase planes (polyphase.h): K = C per GEMM, so at least
  // 16 input channels (the 3-channel stem keeps im2col's K = C kh kw).
  bool polyphase() const {
    return (sh > 1 || sw > 1) && dh == 1 && dw == 1 && groups == 1 && c >= 16 && !batched();
  }
  // WeightGrad with a single row chunk (RowChunk) whose per-image GEMMs are below the size the
  // host's GEMM splits across threads (kSmallGemm in host_services.cc) runs over fixed parts of
  // the batch instead (image_parts.h): at most kImageParts, sized from the shape alone.
  bool image_parts() const {
    return !depthwise() && !winograd() && !polyphase() && !batched() && n >= 2 &&
           groups * kg() <= kMinRowChunk && f * kg() * ohw() < (int64_t(1) << 22);
  }
  static constexpr int64_t kImageParts = 16;
  int64_t images_per_part() const {
    const int64_t parts = std::min(n, kImageParts);
    return (n + parts - 1) / parts;
  }
  int64_t part_slots() const {
    return std::min((n + images_per_part() - 1) / images_per_part(), threads);
  }
  int64_t image_parts_elems() const {
    const int64_t parts = (n + images_per_part() - 1) / images_per_part();
    return part_slots() * groups * kg() * tile() + parts * f * kg();
  }
  // Scratch elements (of the call's dtype): Winograd's plan (winograd.h); on small maps one
  // multi-image column matrix (every group) and the gathered y/dy of its images; else column
  // tiles for Forward/DataGrad (one per slot); WeightGrad needs one tile of every column row,
  // sliced across threads.
  int64_t WorkspaceElems(bool backward) const {
    int64_t elems = PathElems(backward);
    if (strided_columns() || (backward && strided_pointwise()))
      elems = std::max(elems, strided_columns_elems());
    if (winograd_s2())  // the gradients (and Deconvolution's forward) take other paths
      elems = std::max(elems,
                       winograd::ConvElems<winograd::Stride2>(winograd_s2_tiling(), threads));
    return elems;
  }
  int64_t PathElems(bool backward) const {
    if (depthwise()) return 0;
    if (winograd()) {
      using T = winograd::Fwd;
      int64_t fwd = winograd::ConvElems<T>(winograd_tiling(false), threads);
      if (!backward) return fwd;
      return std::max({fwd, winograd::ConvElems<T>(winograd_tiling(true), threads),
                       winograd::WeightGradElems<T>(winograd_tiling(false), threads)});
    }
    if (polyphase()) {  // tap-major weight + planes and wide output of each slot
      const int64_t pr = (h + 2 * ph + sh - 1) / sh, pc = (w + 2 * pw + sw - 1) / sw;
      const int64_t slot = c * sh * sw * pr * pc + f * ((oh - 1) * pc + ow);
      return kh * kw * f * c + std::min(n, threads) * slot;  // = polyphase::WorkspaceElems
    }
    if (batched()) {  // cols + gathered y of every slot; WeightGrad's one wide pass
      const int64_t fwd = batch_slots() * (c * kh * kw + f) * images() * ohw();
      return backward ? std::max(fwd, (c * kh * kw + f) * weight_grad_images() * ohw()) : fwd;
    }
    int64_t per_slot = slots() * kg() * tile(), all_rows = groups * kg() * tile();
    if (backward && image_parts()) return std::max(per_slot, image_parts_elems());
    if (direct()) return 0;
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
// ow0, ow1, off) where image_row[ow * sw + off] is the input of column position ow. Rows of
// col are ld elements apart.
template <typename DType, typename Seg>
void VisitColumns(const Geom& g, DType* img, DType* col, int64_t ld, int64_t r0, int64_t r1,
                  int64_t p0, int64_t p1, Seg&& seg) {
  for (int64_t r = r0; r < r1; ++r) {
    int64_t c = r / (g.kh * g.kw), ki = r / g.kw % g.kh, kj = r % g.kw;
    DType* row = col + (r - r0) * ld - p0;  // row[p] is position p
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

// Stride 1 with outputs as wide as the input ("same" padding: LeNet's 5x5 pad 2): column row
// (c, ki, kj) is the input plane c shifted by one constant, position p reading x[p + shift],
// except where the column iw = p % w + kj * dw - pw falls outside [0, w). One long masked loop
// per column row then replaces VisitColumns' per-output-row segments, whose bookkeeping cost
// more than the copying on small maps (14-wide rows). The masks (one per kj, over positions
// [p0, p1)) live on the stack; larger tiles take the general path.
constexpr int64_t kShiftMaskElems = 4096;

template <typename DType>
struct ShiftRows {
  alignas(64) DType mask[kShiftMaskElems];
  bool ok = false;
  ShiftRows(const Geom& g, int64_t p0, int64_t p1) {
    if (g.sh != 1 || g.sw != 1 || g.ow != g.w || g.kw * (p1 - p0) > kShiftMaskElems) return;
    ok = true;
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      const int64_t lo = g.pw - kj * g.dw, hi = g.w + g.pw - kj * g.dw;
      DType* mk = mask + kj * (p1 - p0) - p0;
      for (int64_t p = p0, ow = p0 % g.w; p < p1; ++p, ow = ow + 1 == g.w ? 0 : ow + 1)
        mk[p] = ow >= lo && ow < hi ? DType(1) : DType(0);
    }
  }
  // For column row r: the input offset of position p (p + shift inside plane c) and the
  // positions [a, b) within [p0, p1) that may read the plane; all others are zero.
  void Row(const Geom& g, int64_t r, int64_t p0, int64_t p1, int64_t* plane, int64_t* shift,
           int64_t* a, int64_t* b, const DType** m) const {
    const int64_t c = r / (g.kh * g.kw), ki = r / g.kw % g.kh, kj = r % g.kw;
    *plane = c * g.hw();
    *shift = (ki * g.dh - g.ph) * g.w + kj * g.dw - g.pw;
    // Valid input rows: 0 <= p / w + ki * dh - ph < h; valid offsets: 0 <= p + shift < hw.
    const int64_t row_lo = std::max<int64_t>(0, g.ph - ki * g.dh) * g.w;
    const int64_t row_hi = std::min<int64_t>(g.oh, g.h + g.ph - ki * g.dh) * g.w;
    *a = std::max({p0, row_lo, -*shift});
    *b = std::max(*a, std::min({p1, row_hi, g.hw() - *shift}));
    *m = mask + kj * (p1 - p0) - p0;
  }
};

template <typename DType>
void Im2ColShift(const Geom& g, const ShiftRows<DType>& s, const DType* x, int64_t r0,
                 int64_t r1, int64_t p0, int64_t p1, DType* col, int64_t ld) {
  for (int64_t r = r0; r < r1; ++r) {
    int64_t plane, shift, a, b;
    const DType* m;
    s.Row(g, r, p0, p1, &plane, &shift, &a, &b, &m);
    DType* __restrict out = col + (r - r0) * ld - p0;
    const DType* __restrict in = x + plane + shift;
    for (int64_t p = p0; p < a; ++p) out[p] = 0;
    for (int64_t p = a; p < b; ++p) out[p] = m[p] != DType(0) ? in[p] : DType(0);
    for (int64_t p = b; p < p1; ++p) out[p] = 0;
  }
}

template <typename DType>
void Col2ImShift(const Geom& g, const ShiftRows<DType>& s, const DType* col, int64_t ld,
                 int64_t p0, int64_t p1, DType* x) {
  for (int64_t r = 0; r < g.kg(); ++r) {
    int64_t plane, shift, a, b;
    const DType* m;
    s.Row(g, r, p0, p1, &plane, &shift, &a, &b, &m);
    const DType* __restrict src = col + r * ld - p0;
    DType* __restrict img = x + plane + shift;
    for (int64_t p = a; p < b; ++p) img[p] += m[p] != DType(0) ? src[p] : DType(0);
  }
}

// col[(r - r0) * ld + p - p0] = x at (row r, position p), zero in the padding.
template <typename DType>
void Im2Col(const Geom& g, const DType* x, int64_t r0, int64_t r1, int64_t p0, int64_t p1,
            DType* col, int64_t ld) {
  if (const ShiftRows<DType> s(g, p0, p1); s.ok) return Im2ColShift(g, s, x, r0, r1, p0, p1, col, ld);
  const int64_t sw = g.sw;
  VisitColumns(g, const_cast<DType*>(x), col, ld, r0, r1, p0, p1,
               [sw](DType* out, const DType* in, int64_t lo, int64_t hi, int64_t ow0,
                    int64_t ow1, int64_t off) {
                 if (!in) lo = hi = ow1;
                 for (int64_t o = ow0; o < lo; ++o) out[o] = 0;
                 if (sw == 1 && hi > lo) {
                   std::memcpy(out + lo, in + lo + off, (hi - lo) * sizeof(DType));
                 } else if (sw == 2) {  // a constant stride vectorises (even/odd shuffles)
                   for (int64_t o = lo; o < hi; ++o) out[o] = in[o * 2 + off];
                 } else {
                   for (int64_t o = lo; o < hi; ++o) out[o] = in[o * sw + off];
                 }
                 for (int64_t o = hi; o < ow1; ++o) out[o] = 0;
               });
}

// The GEMM operand holding column rows [r0, r1) for output positions [p0, p1) of one image
// group: the input itself when the convolution reads it directly (1x1, stride 1, no pad),
// else those rows built into `col`. *ld receives the operand's leading dimension.
template <typename DType>
const DType* ColumnsOrInput(const Geom& g, const DType* xg, int64_t r0, int64_t r1, int64_t p0,
                            int64_t p1, DType* col, int64_t* ld) {
  if (g.direct()) {
    *ld = g.hw();
    return xg + r0 * *ld + p0;
  }
  Im2Col(g, xg, r0, r1, p0, p1, col, p1 - p0);
  *ld = p1 - p0;
  return col;
}

// x += col2im(col): the transpose of Im2Col, padding entries dropped.
template <typename DType>
void Col2Im(const Geom& g, const DType* col, int64_t ld, int64_t p0, int64_t p1, DType* x) {
  if (const ShiftRows<DType> s(g, p0, p1); s.ok) return Col2ImShift(g, s, col, ld, p0, p1, x);
  const int64_t sw = g.sw;
  VisitColumns(g, x, const_cast<DType*>(col), ld, 0, g.kg(), p0, p1,
               [sw](const DType* src, DType* img, int64_t lo, int64_t hi, int64_t, int64_t,
                    int64_t off) {
                 if (!img) return;
                 if (sw == 2)  // constant stride: see Im2Col
                   for (int64_t o = lo; o < hi; ++o) img[o * 2 + off] += src[o];
                 else
                   for (int64_t o = lo; o < hi; ++o) img[o * sw + off] += src[o];
               });
}

// Runs fn(slot, i0, m) for every group of `per` images [i0, i0 + m): slots in parallel when
// there are enough groups for every thread (then each GEMM inside is single-threaded), else in
// sequence with multi-threaded GEMMs.
template <typename Fn>
void ForEachImageGroup(const Geom& g, int64_t per, Fn&& fn) {
  const int64_t groups = (g.n + per - 1) / per, slots = std::min(groups, g.threads);
  auto run = [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s)
      for (int64_t k = groups * s / slots; k < groups * (s + 1) / slots; ++k)
        fn(s0, k * per, std::min(per, g.n - k * per));
  };
  if (groups >= g.threads)
    ParallelFor(slots, 1, [&](int64_t s0, int64_t s1) { run(s0, s1); });  // rvalue body
  else
    run(0, slots);
}

// Rows per WeightGrad task (see kRowParts): fixed by the row count alone.
inline int64_t RowChunk(int64_t rows) {
  return std::max(kMinRowChunk, (rows / kRowParts + 15) / 16 * 16);
}

// body(r0, r1) over [0, rows) in RowChunk pieces, the pieces split across threads.
template <typename Body>
void ForEachRowChunk(int64_t rows, Body&& body) {
  const int64_t chunk = RowChunk(rows), chunks = (rows + chunk - 1) / chunk;
  ParallelFor(chunks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) body(k * chunk, std::min(rows, (k + 1) * chunk));
  });
}

}  // namespace cn::conv

#endif  // COARSENET_OPS_CONV_COLUMNS_H_
