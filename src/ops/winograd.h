// Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (Lavin & Gray 2016): each 2x2 output block
// costs 16 multiplies per (input, output) channel pair instead of 36, i.e. 2.25x fewer.
//   V = B^T d B  (4x4 input tile d),  U = G g G^T  (3x3 filter g),  Y = A^T [sum_c U .* V] A.
// The sum over channels is, for each of the 16 tile positions xi, one GEMM
// M[xi] (F x T) = U[xi] (F x C) V[xi] (C x T) over a block of T tiles kept in L2.
// Convolution's forward and data gradient both use it: the data gradient of a 3x3 stride-1
// convolution with pad p is a 3x3 convolution of dy with the flipped, transposed filters and
// pad 2 - p.
#ifndef COARSENET_OPS_WINOGRAD_H_
#define COARSENET_OPS_WINOGRAD_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "coarsenet/op.h"

namespace cn::winograd {

// A block is whole rows of tiles, about this many values of V and M (16 (C + F) per tile), so
// the transforms and the 16 GEMMs of a block work in L2.
constexpr int64_t kBlockElems = 128 * 1024;

inline int64_t BlockRows(int64_t c, int64_t f, int64_t tiles_w) {
  return std::max<int64_t>(1, kBlockElems / (16 * (c + f)) / tiles_w);
}

// Scratch elements for one image slot (V and M of one block) for images up to `max_w` wide
// (input or output); an upper bound for either direction.
inline int64_t SlotElems(int64_t c, int64_t f, int64_t max_w) {
  return 16 * (c + f) * std::max((max_w + 1) / 2, kBlockElems / (16 * (c + f)));
}
inline int64_t FilterElems(int64_t c, int64_t f) { return 16 * c * f; }

// U[xi][o][i] = (G g G^T)[xi] for g = w[o][i] (forward) or, when `flip`, for the data
// gradient: g = w[i][o] rotated by 180 degrees, with o, i now running over C, F.
template <typename DType>
void TransformFilters(const DType* w, int64_t f, int64_t c, bool flip, DType* u) {
  const int64_t rows = flip ? c : f, cols = flip ? f : c;
  for (int64_t o = 0; o < rows; ++o)
    for (int64_t i = 0; i < cols; ++i) {
      const DType* src = flip ? w + (i * c + o) * 9 : w + (o * c + i) * 9;
      DType g[3][3], t[4][3];
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) g[a][b] = flip ? src[(2 - a) * 3 + (2 - b)] : src[a * 3 + b];
      for (int b = 0; b < 3; ++b) {  // t = G g
        t[0][b] = g[0][b];
        t[1][b] = (g[0][b] + g[1][b] + g[2][b]) / 2;
        t[2][b] = (g[0][b] - g[1][b] + g[2][b]) / 2;
        t[3][b] = g[2][b];
      }
      for (int a = 0; a < 4; ++a) {  // U = t G^T
        DType* out = u + (a * 4) * rows * cols + o * cols + i;
        const int64_t s = rows * cols;
        out[0] = t[a][0];
        out[s] = (t[a][0] + t[a][1] + t[a][2]) / 2;
        out[2 * s] = (t[a][0] - t[a][1] + t[a][2]) / 2;
        out[3 * s] = t[a][2];
      }
    }
}

// y (f, oh, ow) = conv3x3(x (c, h, w), U) with padding (ph, pw), oh = h + 2 ph - 2, + bias.
// One image; `ws` holds SlotElems values. The transforms run along rows of tiles so the
// compiler vectorises them: 4 padded input rows in, 16 contiguous tile streams out.
template <typename DType>
void ConvImage(const DType* x, int64_t c, int64_t h, int64_t w, const DType* u, int64_t f,
               int64_t ph, int64_t pw, const DType* bias, DType* y, int32_t req, DType* ws) {
  const int64_t oh = h + 2 * ph - 2, ow = w + 2 * pw - 2;
  const int64_t th = (oh + 1) / 2, tw = (ow + 1) / 2, row_len = 2 * tw + 2;
  const int64_t rows = BlockRows(c, f, tw), block = rows * tw;
  DType* v = ws;                   // [16][c][block]
  DType* m = ws + 16 * c * block;  // [16][f][block]
  std::vector<DType> scratch(8 * row_len);
  DType* in_rows = scratch.data();            // 4 zero-padded input rows
  DType* comb = in_rows + 4 * row_len;        // B^T applied down the rows
  for (int64_t ty0 = 0; ty0 < th; ty0 += rows) {
    const int64_t nr = std::min(rows, th - ty0), nt = nr * tw;
    for (int64_t ch = 0; ch < c; ++ch) {  // V = B^T d B, one row of tiles at a time
      for (int64_t r = 0; r < nr; ++r) {
        for (int a = 0; a < 4; ++a) {
          DType* dst = in_rows + a * row_len;
          const int64_t iy = 2 * (ty0 + r) - ph + a;
          std::fill(dst, dst + row_len, DType(0));
          if (iy < 0 || iy >= h) continue;
          const DType* src = x + (ch * h + iy) * w;
          const int64_t lo = std::max<int64_t>(0, pw), hi = std::min(row_len, w + pw);
          for (int64_t j = lo; j < hi; ++j) dst[j] = src[j - pw];
        }
        const DType *d0 = in_rows, *d1 = d0 + row_len, *d2 = d1 + row_len, *d3 = d2 + row_len;
        DType *c0 = comb, *c1 = c0 + row_len, *c2 = c1 + row_len, *c3 = c2 + row_len;
        for (int64_t j = 0; j < row_len; ++j) {
          c0[j] = d0[j] - d2[j];
          c1[j] = d1[j] + d2[j];
          c2[j] = d2[j] - d1[j];
          c3[j] = d1[j] - d3[j];
        }
        for (int a = 0; a < 4; ++a) {
          const DType* q = comb + a * row_len;
          DType* o0 = v + ((a * 4) * c + ch) * block + r * tw;
          DType *o1 = o0 + c * block, *o2 = o1 + c * block, *o3 = o2 + c * block;
          for (int64_t t = 0; t < tw; ++t) {
            o0[t] = q[2 * t] - q[2 * t + 2];
            o1[t] = q[2 * t + 1] + q[2 * t + 2];
            o2[t] = q[2 * t + 2] - q[2 * t + 1];
            o3[t] = q[2 * t + 1] - q[2 * t + 3];
          }
        }
      }
    }
    for (int xi = 0; xi < 16; ++xi)
      Gemm(false, false, f, nt, c, DType(1), u + xi * f * c, c, v + xi * c * block, block,
           DType(0), m + xi * f * block, block);
    for (int64_t o = 0; o < f; ++o) {  // Y = A^T M A, one row of tiles at a time
      const DType b0 = bias ? bias[o] : DType(0);
      for (int64_t r = 0; r < nr; ++r) {
        const DType* q[16];
        for (int xi = 0; xi < 16; ++xi) q[xi] = m + (xi * f + o) * block + r * tw;
        DType *top = comb, *bottom = comb + row_len;
        for (int64_t t = 0; t < tw; ++t) {
          DType s[4][2];
          for (int a = 0; a < 4; ++a) {
            s[a][0] = q[a * 4][t] + q[a * 4 + 1][t] + q[a * 4 + 2][t];
            s[a][1] = q[a * 4 + 1][t] - q[a * 4 + 2][t] - q[a * 4 + 3][t];
          }
          top[2 * t] = s[0][0] + s[1][0] + s[2][0] + b0;
          top[2 * t + 1] = s[0][1] + s[1][1] + s[2][1] + b0;
          bottom[2 * t] = s[1][0] - s[2][0] - s[3][0] + b0;
          bottom[2 * t + 1] = s[1][1] - s[2][1] - s[3][1] + b0;
        }
        for (int a = 0; a < 2 && 2 * (ty0 + r) + a < oh; ++a) {
          DType* dst = y + (o * oh + 2 * (ty0 + r) + a) * ow;
          const DType* src = a ? bottom : top;
          if (req == CN_REQ_ADD) {
            for (int64_t j = 0; j < ow; ++j) dst[j] += src[j];
          } else {
            std::copy(src, src + ow, dst);
          }
        }
      }
    }
  }
}

}  // namespace cn::winograd

#endif  // COARSENET_OPS_WINOGRAD_H_
