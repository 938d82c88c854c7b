// Pooling's plane layout: the geometry of one 2-D pooling, the padded and phase-split copy of a
// plane that its row kernels read, and a 64-byte vector type for those kernels. Used only by
// pooling.cc; kept apart so the op file reads as params, shapes, kernels, registration.
#ifndef COARSENET_KERNELS_POOLING_PLANE_H_
#define COARSENET_KERNELS_POOLING_PLANE_H_

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "coarsenet/op.h"
#include "kernels/simd_block.h"

namespace cn_pooling {

// Everything the kernels need, resolved from params and the input shape.
struct Geometry {
  int64_t planes, h, w, oh, ow, kh, kw, sh, sw, ph, pw;
  // Padded plane buffer of bh rows, each row split into sw phases of pl elements (row stride
  // rs = sw * pl): column c lives at (c % sw) * pl + c / sw, so the taps j * sw + kw of a
  // row of outputs j are the unit-stride run starting at Tap(kw). Every window fits inside.
  int64_t bh, bw, pl, rs;
  // Row loops run over owp = ow rounded up to 16 lanes (<= pl), so they have no scalar
  // remainder; the extra lanes read slack past the buffer end and are dropped. `size` includes
  // that slack.
  int64_t owp, size;
  int64_t Tap(int64_t kw) const { return (kw % sw) * pl + kw / sw; }
  bool include_pad;
  // Window size that avg divides by for output (i, j); separable in rows and columns.
  int64_t Count(int64_t i, int64_t size, int64_t k, int64_t s, int64_t p) const {
    int64_t start = i * s - p, end = std::min(start + k, size + p);
    if (include_pad) return end - start;
    return std::min(end, size) - std::max(start, int64_t(0));
  }
};

// dst[t] = src[t * S] and its inverse with op `Add`; a compile-time stride lets the compiler
// turn the strided side into vector permutes instead of element-wise inserts.
template <int S, typename DType>
void Gather(const DType* __restrict src, DType* __restrict dst, int64_t n, int64_t stride) {
  const int64_t s = S > 0 ? S : stride;
  for (int64_t t = 0; t < n; ++t) dst[t] = src[t * s];
}
template <int S, typename DType>
void Scatter(const DType* __restrict src, DType* __restrict dst, int64_t n, int64_t stride, bool add) {
  const int64_t s = S > 0 ? S : stride;
  if (add) {
    for (int64_t t = 0; t < n; ++t) dst[t * s] += src[t];
  } else {
    for (int64_t t = 0; t < n; ++t) dst[t * s] = src[t];
  }
}

// Calls body(q, c0, m0, n) for each phase q: input columns c0, c0 + sw, ... (n of them) land at
// phase positions m0, m0 + 1, ... of the padded row.
template <typename Body>
void ForEachPhase(const Geometry& g, Body&& body) {
  for (int64_t q = 0; q < g.sw; ++q) {
    const int64_t c0 = ((q - g.pw) % g.sw + g.sw) % g.sw;
    const int64_t n = c0 < g.w ? (g.w - c0 + g.sw - 1) / g.sw : 0;
    body(q, c0, (c0 + g.pw) / g.sw, n);
  }
}

// Copies plane x (h, w) into the phase-split buffer at offset (ph, pw), border = `fill`.
template <typename DType>
void PadPlane(const Geometry& g, const DType* x, DType* buf, DType fill) {
  std::fill(buf, buf + g.bh * g.rs, fill);
  for (int64_t r = 0; r < g.h; ++r) {
    const DType* src = x + r * g.w;
    DType* dst = buf + (r + g.ph) * g.rs;
    ForEachPhase(g, [&](int64_t q, int64_t c0, int64_t m0, int64_t n) {
      DType* d = dst + q * g.pl + m0;
      if (g.sw == 1) Gather<1>(src + c0, d, n, 1);
      else if (g.sw == 2) Gather<2>(src + c0, d, n, 2);
      else Gather<0>(src + c0, d, n, g.sw);
    });
  }
}

// The inverse of PadPlane for gradients: dx (h, w) = or += the interior of buf.
template <typename DType>
void UnpadPlane(const Geometry& g, const DType* buf, DType* dx, int32_t req) {
  const bool add = req == CN_REQ_ADD;
  for (int64_t r = 0; r < g.h; ++r) {
    const DType* src = buf + (r + g.ph) * g.rs;
    DType* dst = dx + r * g.w;
    ForEachPhase(g, [&](int64_t q, int64_t c0, int64_t m0, int64_t n) {
      const DType* s = src + q * g.pl + m0;
      if (g.sw == 1) Scatter<1>(s, dst + c0, n, 1, add);
      else if (g.sw == 2) Scatter<2>(s, dst + c0, n, 2, add);
      else Scatter<0>(s, dst + c0, n, g.sw, add);
    });
  }
}

// Row kernels work on one 64-byte vector of outputs at a time (kernels/simd_block.h: 16 floats
// or 8 doubles; an AVX-512 register here, split by the compiler on narrower machines). The
// vector extension keeps the block's running max/sum and selects in registers across all taps
// of the window; plain loops get unrolled-and-jammed into scalar branches by GCC at -O3.
template <typename DType>
struct Simd : cn::simd::Block<DType> {
  static constexpr int64_t kLanes = cn::simd::Block<DType>::kWidth;  // values per vector
};

}  // namespace cn_pooling

#endif  // COARSENET_KERNELS_POOLING_PLANE_H_
