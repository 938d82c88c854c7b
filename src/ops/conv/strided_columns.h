// 3x3 stride-2 convolutions (ResNet's downsampling layers) by batch columns: the column matrix
// (9C rows, one per (c, ki, kj), as im2col) of a chunk of m images side by side, K = m*OH*OW
// columns, then one large GEMM per chunk:
//   WeightGrad (every 3x3/2 with >= 16 input channels): dW (F x 9C) += dy_chunk (F x K) col^T,
//     written in dW's own layout (no repacking);
//   DataGrad (small maps only): dcol (9C x K) = W^T dy_chunk, then the adjoint of the build.
// The chunk (m images, about Geom::kStridedChunkElems column values) comes from the shape
// alone; the host's GEMM splits each call into column or row blocks across threads with the
// same sums per element, so the bits do not depend on the thread count. Chunks run in
// sequence (dW accumulates chunk after chunk); column builds are split across threads by
// (image, channel).
// Why (2 cores, AVX-512, ResNet-18 CIFAR b32, lead's 2-thread figures): the polyphase
// WeightGrad (per image and tap a 128x64x271 GEMM, 9 tap tasks over 2 threads, three barriers
// per image) ran 1.99x PyTorch's time on 64->128 32x32; the small-map WeightGrad (128->256
// 16x16: 1.17x) built its columns through per-segment calls on 8-wide rows and ran 15
// row-chunk GEMMs each repacking all of dy. Measured A/B in one process (loaded machine, CPU
// time ratio to PyTorch, 1 and 2 threads): weight gradient 64->128 32x32 1.10-1.18 -> 1.06-1.17,
// 128->256 16x16 1.09-1.28 -> 0.88-1.07, 256->512 8x8 0.79-1.11 -> 0.69-0.99, 128->128 8x56x56
// 1.10-1.15 -> 1.06-1.09; data gradient 128->256 1.21-1.22 -> 1.07-1.15, 256->512 1.26 ->
// 1.04-1.10. Kept elsewhere, measured here: the polyphase data gradient on larger maps (64->128
// 32x32: 0.98 -> 0.98-1.11 by columns; 8x56x56 0.87 -> 0.84-0.86, within noise); the stride-2
// Winograd forward (by columns: 1.03-1.35 against Winograd's 1.05-1.34, no consistent winner);
// the stride-2 Winograd weight gradient (winograd::WeightGrad<Stride2>, exact and ready to use:
// 1.28-1.57 against 0.81-1.20 by columns: 81 transformed values per tile of 16 outputs make
// its transforms cost more than its GEMMs save; blocks of 1, 1/4 or 1/16 of its planned rows
// changed nothing: 1.09-1.70 against 0.93-1.15 in one run, closest on 8x56x56); chunks of 256K
// or 4M values instead of 1M (within 3%); the transposed GEMM dW^T (9C x F) = col dy^T,
// transposed at the end (2-5% faster with F = 128, same with 256, 1.2-1.3x slower with 512:
// not worth a second layout). GEMMs here run at OpenBLAS's single-core peak (~80-90 GFLOP/s,
// as oneDNN's direct kernels), so a GEMM path only reaches parity with PyTorch; going below
// needs fewer multiplies (Winograd) with cheaper alpha-9 transforms.
#ifndef COARSENET_OPS_CONV_STRIDED_COLUMNS_H_
#define COARSENET_OPS_CONV_STRIDED_COLUMNS_H_

#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/conv/columns.h"
#include "ops/conv/small_maps.h"

namespace cn::conv::strided {

// Chunks of images (Geom::strided_chunk_images); the workspace holds one chunk's column matrix
// and its gathered dy (or y): Geom::strided_columns_elems.
struct Chunks {
  int64_t per, cols;  // images per chunk, columns of the widest chunk
  explicit Chunks(const Geom& g) : per(g.strided_chunk_images()), cols(per * g.ohw()) {}
};

// Rows of channels [c0, c1) of one image's column matrix (3x3, stride 2): col row
// (c - c0)*9 + ki*3 + kj, position oy*ow + ox at col[row * ld + oy*ow + ox] =
// xp[c][2 oy + ki][2 ox + kj] with xp the zero-padded input. Each padded input row r is split
// once into its even and odd columns (e[q] = xp[r][2q], o[q] = xp[r][2q + 1]); every output row
// (oy, ki) with 2 oy + ki = r then copies ow contiguous values from e, o and e + 1 (kj = 0, 1,
// 2); rows ki = 2 are rows ki = 0 one output row down, one copy per (c, kj). A gather per
// (c, ki, kj, oy) with its own padding bounds cost 3.5-4 ms of a 16 ms weight gradient
// (64 -> 128, 32x16x16 outputs, 1 thread); this costs 2-2.5 ms.
template <typename DType>
void Im2ColRows(const Geom& g, const DType* x, int64_t c0, int64_t c1, DType* col, int64_t ld,
                DType* row) {
  const int64_t ow = g.ow, half = ow + 1, span = 2 * half;  // padded row: span values
  DType* e = row + span;
  DType* o = e + half;
  const size_t bytes = ow * sizeof(DType);
  for (int64_t c = c0; c < c1; ++c) {
    DType* out = col + (c - c0) * 9 * ld;
    for (int64_t r = 0; r <= 2 * (g.oh - 1) + 2; ++r) {
      const int64_t ih = r - g.ph;
      if (ih < 0 || ih >= g.h) {
        std::fill(e, e + 2 * half, DType(0));
      } else {
        const int64_t lo = std::min(g.pw, span), hi = std::min(span, g.w + g.pw);
        const DType* src = x + (c * g.h + ih) * g.w - g.pw;
        std::fill(row, row + lo, DType(0));
        std::copy(src + lo, src + hi, row + lo);
        std::fill(row + hi, row + span, DType(0));
        for (int64_t q = 0; q < half; ++q) {
          e[q] = row[2 * q];
          o[q] = row[2 * q + 1];
        }
      }
      for (int64_t ki = r & 1; ki < 3; ki += 2) {  // output rows oy = (r - ki) / 2
        const int64_t oy = (r - ki) / 2;
        // ki = 2 rows before the last equal ki = 0 rows one output row down (copied below)
        if (r < ki || oy >= g.oh || (ki == 2 && oy + 1 < g.oh)) continue;
        DType* dst = out + ki * 3 * ld + oy * ow;
        std::memcpy(dst, e, bytes);
        std::memcpy(dst + ld, o, bytes);
        std::memcpy(dst + 2 * ld, e + 1, bytes);
      }
    }
    for (int64_t kj = 0; kj < 3; ++kj)
      std::memcpy(out + (6 + kj) * ld, out + kj * ld + ow, (g.oh - 1) * bytes);
  }
}

// The column matrix of a 1x1 stride-2 convolution (pad 0): row c - c0 holds channel c's
// even rows' even columns.
template <typename DType>
void SubsampleRows(const Geom& g, const DType* x, int64_t c0, int64_t c1, DType* col,
                   int64_t ld) {
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      const DType* src = x + (c * g.h + 2 * oy) * g.w;
      DType* dst = col + (c - c0) * ld + oy * g.ow;
      for (int64_t ox = 0; ox < g.ow; ++ox) dst[ox] = src[2 * ox];
    }
}

// The column matrix (kg x m*ohw) of images [i0, i0 + m), split across threads by channel.
template <typename DType>
void BuildColumns(const Geom& g, const DType* x, int64_t i0, int64_t m, DType* col) {
  const int64_t cols = m * g.ohw(), taps = g.kh * g.kw;
  ParallelFor(m * g.c, 8, [&](int64_t q0, int64_t q1) {
    std::vector<DType> row(4 * (g.ow + 1));
    for (int64_t q = q0; q < q1;) {
      const int64_t j = q / g.c, c0 = q % g.c, c1 = std::min(g.c, c0 + (q1 - q));
      const DType* image = x + (i0 + j) * g.c * g.hw();
      DType* dst = col + c0 * taps * cols + j * g.ohw();
      if (taps == 1) SubsampleRows(g, image, c0, c1, dst, cols);
      else Im2ColRows(g, image, c0, c1, dst, cols, row.data());
      q += c1 - c0;
    }
  });
}

// dx rows of channels [c0, c1) of one image (req, + bias[c] when bias) from its column-matrix
// rows (the adjoint of Im2ColRows): every padded row r sums its output rows' three taps into
// its even and odd columns e and o, then interleaves them into dx. Rows and columns of dx that
// no tap reads get zero (+ bias).
template <typename DType>
void Col2ImRows(const Geom& g, DType* col, int64_t ld, int64_t c0, int64_t c1,
                const DType* bias, DType* dx, int32_t req, DType* row) {
  const int64_t ow = g.ow, half = ow + 1, span = 2 * half, last = 2 * (g.oh - 1) + 2;
  DType* e = row + span;
  DType* o = e + half;
  for (int64_t c = c0; c < c1; ++c) {
    DType* in = col + (c - c0) * 9 * ld;
    // Rows ki = 2 before the last fall on the same padded rows as rows ki = 0 one output row
    // down: fold them in with one long add per kj (col is scratch).
    for (int64_t kj = 0; kj < 3; ++kj) {
      DType* __restrict dst = in + kj * ld + ow;
      const DType* __restrict src = in + (6 + kj) * ld;
      for (int64_t p = 0; p < (g.oh - 1) * ow; ++p) dst[p] += src[p];
    }
    const DType b = bias ? bias[c] : DType(0);
    for (int64_t ih = 0; ih < g.h; ++ih) {
      const int64_t r = ih + g.ph;
      std::fill(e, e + 2 * half, DType(0));
      for (int64_t ki = r & 1; ki < 3 && r <= last; ki += 2) {
        const int64_t oy = (r - ki) / 2;
        if (r < ki || oy >= g.oh || (ki == 2 && oy + 1 < g.oh)) continue;
        const DType* __restrict s0 = in + ki * 3 * ld + oy * ow;
        const DType* __restrict s1 = s0 + ld;
        const DType* __restrict s2 = s1 + ld;
        for (int64_t q = 0; q < ow; ++q) {
          e[q] += s0[q];
          o[q] += s1[q];
        }
        for (int64_t q = 0; q < ow; ++q) e[q + 1] += s2[q];
      }
      for (int64_t q = 0; q < half; ++q) {
        row[2 * q] = e[q] + b;
        row[2 * q + 1] = o[q] + b;
      }
      const DType* __restrict src = row + g.pw;
      DType* __restrict dst = dx + (c * g.h + ih) * g.w;
      if (req == CN_REQ_ADD)
        for (int64_t j = 0; j < g.w; ++j) dst[j] += src[j];
      else
        for (int64_t j = 0; j < g.w; ++j) dst[j] = src[j];
    }
  }
}

// dx = conv^T(dy, w) + bias over dx's channels (bias may be null; Deconvolution's forward):
// per chunk, dcol (9C x K) = W^T dy_chunk, then Col2ImRows per image and channel in parallel.
template <typename DType>
void DataGrad(const Geom& g, const DType* dy, const DType* w, const DType* bias, DType* dx,
              int32_t req, DType* ws) {
  const Chunks k(g);
  const int64_t kg = g.kg(), ohw = g.ohw();
  for (int64_t i0 = 0; i0 < g.n; i0 += k.per) {
    const int64_t m = std::min(k.per, g.n - i0), cols = m * ohw;
    DType* col = ws;
    const DType* dyb = dy + i0 * g.f * ohw;
    if (m > 1) {
      DType* gathered = ws + kg * k.cols;
      GatherImages(dy, g.f, ohw, i0, m, gathered);
      dyb = gathered;
    }
    Gemm(true, false, kg, cols, g.f, DType(1), w, kg, dyb, m > 1 ? cols : ohw, DType(0), col,
         cols);
    ParallelFor(m * g.c, 8, [&](int64_t q0, int64_t q1) {
      std::vector<DType> row(4 * (g.ow + 1));
      for (int64_t q = q0; q < q1;) {
        const int64_t j = q / g.c, c0 = q % g.c, c1 = std::min(g.c, c0 + (q1 - q));
        Col2ImRows(g, col + c0 * 9 * cols + j * ohw, cols, c0, c1, bias,
                   dx + (i0 + j) * g.c * g.hw(), req, row.data());
        q += c1 - c0;
      }
    });
  }
}

// dw (F, C, kh, kw) (req) = sum over images of dy col^T (3x3/2, and 1x1/2 shortcuts).
template <typename DType>
void WeightGrad(const Geom& g, const DType* x, const DType* dy, DType* dw, int32_t req,
                DType* ws) {
  const Chunks k(g);
  const int64_t kg = g.kg();
  for (int64_t i0 = 0; i0 < g.n; i0 += k.per) {
    const int64_t m = std::min(k.per, g.n - i0), cols = m * g.ohw();
    DType* col = ws;
    const DType* dyb = dy + i0 * g.f * g.ohw();
    if (m > 1) {  // images side by side
      DType* gathered = ws + kg * k.cols;
      GatherImages(dy, g.f, g.ohw(), i0, m, gathered);
      dyb = gathered;
    }
    BuildColumns(g, x, i0, m, col);
    Gemm(false, true, g.f, kg, cols, DType(1), dyb, m > 1 ? cols : g.ohw(), col, cols,
         DType(i0 == 0 && req != CN_REQ_ADD ? 0 : 1), dw, kg);
  }
}

}  // namespace cn::conv::strided

#endif  // COARSENET_OPS_CONV_STRIDED_COLUMNS_H_
