// Stride-1 depthwise kernels on the "wide grid" (depthwise.h's PaddedPlane): a source plane sits
// in a zero-bordered buffer of row stride `cols`, and every output position (oy, ox) of the wide
// grid oy * cols + ox reads tap t at buffer offset oy * cols + ox + off[t]. Columns past the
// output width are computed and dropped, so a tap is one long contiguous loop even on 7x7 maps.
//
// Speed: MobileNet's last depthwise layer (7x7 x 1024) has 49 outputs per plane, so everything
// per plane that is not a multiply counts. The forward and data-gradient kernels keep one block
// of kBlock outputs in registers across all taps (a tap then costs kBlock / vector-width loads and
// FMAs, with no load/store of the accumulators between taps), and the data gradient is gathered
// (a stride-1 correlation of the zero-bordered dy with the flipped filter) instead of scattered
// into dx tap by tap. The weight gradient reads x and dy in memory order (blocks of channels).
// Every output is summed by one thread in a fixed order, so the bits do not depend on threads.
#ifndef COARSENET_OPS_CONV_DEPTHWISE_FLAT_H_
#define COARSENET_OPS_CONV_DEPTHWISE_FLAT_H_

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/simd_block.h"
#include "ops/conv/columns.h"

namespace cn::conv::flat {

constexpr int64_t kBlock = 64;  // outputs per register block (4 AVX-512 or 8 AVX2 float vectors)

inline int64_t RoundUp(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

// Copies one row. Rows of 7 and 14 values (MobileNet's last maps) are copied in fixed pieces
// of 8/4/2/1 without a library call: a memmove call per 7-value row cost about as much as all
// the multiplies of the weight gradient's plane.
template <typename DType>
inline void CopyRow(const DType* s, int64_t n, DType* d) {
  if (n >= 16) {
    std::copy_n(s, n, d);
    return;
  }
  int64_t i = 0;
  if (n & 8) {
    std::memcpy(d, s, 8 * sizeof(DType));
    i = 8;
  }
  if (n & 4) {
    std::memcpy(d + i, s + i, 4 * sizeof(DType));
    i += 4;
  }
  if (n & 2) {
    std::memcpy(d + i, s + i, 2 * sizeof(DType));
    i += 2;
  }
  if (n & 1) d[i] = s[i];
}

// A source plane (src_rows x src_cols) in a buffer with `top`/`left` zero borders; the output
// (out_rows x out_cols) is read off the wide grid out_rows x cols.
struct Plane {
  int64_t src_rows, src_cols, top, left, out_rows, out_cols, cols;
  std::vector<int64_t> offs;  // per tap, row-major over (ki, kj)
  int64_t len() const { return out_rows * cols; }
  int64_t padded() const { return RoundUp(len(), kBlock); }
  // Large enough that every block of every tap reads inside the buffer (zeros past the plane).
  int64_t size() const { return offs.back() + padded(); }

  Plane(const Geom& g, int64_t sr, int64_t sc, int64_t t, int64_t l, int64_t orow, int64_t ocol)
      : src_rows(sr), src_cols(sc), top(t), left(l), out_rows(orow), out_cols(ocol),
        cols(sc + 2 * l) {
    for (int64_t ki = 0; ki < g.kh; ++ki)
      for (int64_t kj = 0; kj < g.kw; ++kj) offs.push_back(ki * g.dh * cols + kj * g.dw);
  }
  // The forward: x (h x w) bordered by the pads, y (oh x ow).
  static Plane Forward(const Geom& g) { return Plane(g, g.h, g.w, g.ph, g.pw, g.oh, g.ow); }
  // The data gradient as a correlation: dy (oh x ow) bordered by (k - 1) d - p, dx (h x w).
  static Plane DataGrad(const Geom& g) {
    return Plane(g, g.oh, g.ow, (g.kh - 1) * g.dh - g.ph, (g.kw - 1) * g.dw - g.pw, g.h, g.w);
  }
  static bool GatherableDataGrad(const Geom& g) {
    return g.ph <= (g.kh - 1) * g.dh && g.pw <= (g.kw - 1) * g.dw;
  }
  // Copies a plane into the interior; borders are never written (zero from allocation).
  template <typename DType>
  void Fill(const DType* plane, DType* buf) const {
    for (int64_t y = 0; y < src_rows; ++y)
      CopyRow(plane + y * src_cols, src_cols, buf + (y + top) * cols + left);
  }
};

// wide[q] (q < padded) = init (or wide[q] when accumulate) + sum over taps of wt[t] src[q + off[t]].
template <typename DType>
void Taps(const DType* src, const DType* wt, const Plane& p, DType init, bool accumulate,
          DType* wide) {
  using B = simd::Block<DType>;
  constexpr int kVecs = kBlock / B::kWidth;
  const int64_t taps = static_cast<int64_t>(p.offs.size()), padded = p.padded();
  const int64_t* offs = p.offs.data();
  for (int64_t q0 = 0; q0 < padded; q0 += kBlock) {
    typename B::V a[kVecs];  // the block stays in registers across the taps
    for (int v = 0; v < kVecs; ++v)
      a[v] = accumulate ? B::Load(wide + q0 + v * B::kWidth) : B::Splat(init);
    for (int64_t t = 0; t < taps; ++t) {
      const DType wv = wt[t];
      const DType* s = src + offs[t] + q0;
      for (int v = 0; v < kVecs; ++v) a[v] += wv * B::Load(s + v * B::kWidth);
    }
    for (int v = 0; v < kVecs; ++v) B::Store(wide + q0 + v * B::kWidth, a[v]);
  }
}

// Writes the out_rows x out_cols outputs of the wide grid.
template <typename DType>
void StoreWide(const Plane& p, const DType* wide, DType* out, int32_t req) {
  for (int64_t r = 0; r < p.out_rows; ++r) {
    const DType* src = wide + r * p.cols;
    DType* dst = out + r * p.out_cols;
    if (req == CN_REQ_ADD)
      for (int64_t c = 0; c < p.out_cols; ++c) dst[c] += src[c];
    else
      CopyRow(src, p.out_cols, dst);
  }
}

// y = conv(x, w) + bias (may be null), stride 1.
template <typename DType>
void Forward(const Geom& g, const DType* x, const DType* w, const DType* bias, DType* y,
             int32_t req) {
  const Plane p = Plane::Forward(g);
  const int64_t fg = g.fg(), taps = g.kh * g.kw;
  ParallelFor(g.n * g.c, 1, [&](int64_t t0, int64_t t1) {
    std::vector<DType> buf(p.size()), wide(p.padded());
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i = t / g.c, ch = t % g.c;
      p.Fill(x + t * g.hw(), buf.data());
      for (int64_t o = ch * fg; o < (ch + 1) * fg; ++o) {
        Taps(buf.data(), w + o * taps, p, bias ? bias[o] : DType(0), false, wide.data());
        StoreWide(p, wide.data(), y + (i * g.f + o) * g.ohw(), req);
      }
    }
  });
}

// dx = conv^T(dy, w) + bias over dx's channels (may be null), stride 1, pads <= (k - 1) d: each
// of the channel's fg output-gradient planes is correlated with its flipped filter.
template <typename DType>
void DataGrad(const Geom& g, const DType* dy, const DType* w, const DType* bias, DType* dx,
              int32_t req) {
  const Plane p = Plane::DataGrad(g);
  const int64_t fg = g.fg(), taps = g.kh * g.kw;
  ParallelFor(g.n * g.c, 1, [&](int64_t t0, int64_t t1) {
    std::vector<DType> buf(p.size()), wide(p.padded()), flipped(taps);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i = t / g.c, ch = t % g.c;
      for (int64_t k = 0; k < fg; ++k) {
        const int64_t o = ch * fg + k;
        p.Fill(dy + (i * g.f + o) * g.ohw(), buf.data());
        std::reverse_copy(w + o * taps, w + (o + 1) * taps, flipped.begin());
        Taps(buf.data(), flipped.data(), p, bias ? bias[ch] : DType(0), k > 0, wide.data());
      }
      StoreWide(p, wide.data(), dx + t * g.hw(), req);
    }
  });
}

// Weight gradient lanes: for every tap, kLanes partial sums over the wide grid, kept across
// kImages images before they are added into a double total.
constexpr int kLanes = 16;
constexpr int64_t kImages = 8;

// lanes[t][l] += sum over blocks q of dy[q + l] src[q + l + off[t]] for every tap.
template <typename DType>
void WeightTaps(const DType* dyw, const DType* src, const Plane& p, DType* lanes) {
  using B = simd::Block<DType>;
  constexpr int kVecs = kLanes / B::kWidth;
  const int64_t taps = static_cast<int64_t>(p.offs.size()), padded = p.padded();
  for (int64_t t = 0; t < taps; ++t) {
    typename B::V a[kVecs];
    for (int v = 0; v < kVecs; ++v) a[v] = B::Load(lanes + t * kLanes + v * B::kWidth);
    const DType* s = src + p.offs[t];
    for (int64_t q = 0; q < padded; q += kLanes)
      for (int v = 0; v < kVecs; ++v)
        a[v] += B::Load(dyw + q + v * B::kWidth) * B::Load(s + q + v * B::kWidth);
    for (int v = 0; v < kVecs; ++v) B::Store(lanes + t * kLanes + v * B::kWidth, a[v]);
  }
}

// dw[o][ki][kj] = sum over images and positions of dy[o] times the input under tap (ki, kj).
// Threads own whole channels; within a thread, kChannels channels at a time run image by
// image, so x and dy are read in memory order (one channel's planes over all images are a
// strided walk that the prefetcher does not follow on 7x7 maps).
constexpr int64_t kChannels = 16;

template <typename DType>
void WeightGrad(const Geom& g, const DType* x, const DType* dy, DType* dw, int32_t req) {
  const Plane p = Plane::Forward(g);
  const int64_t fg = g.fg(), taps = g.kh * g.kw, per = fg * taps * kLanes;
  ParallelFor(g.c, 1, [&](int64_t c0, int64_t c1) {
    std::vector<DType> buf(p.size()), wide(p.padded());  // wide: dy on the wide grid, 0 past ow
    std::vector<DType> lanes(kChannels * per);
    std::vector<double> total(kChannels * fg * taps);
    for (int64_t b0 = c0; b0 < c1; b0 += kChannels) {
      const int64_t b1 = std::min(c1, b0 + kChannels);
      std::fill(total.begin(), total.end(), 0.0);
      for (int64_t i0 = 0; i0 < g.n; i0 += kImages) {
        std::fill(lanes.begin(), lanes.end(), DType(0));
        for (int64_t i = i0; i < std::min(g.n, i0 + kImages); ++i)
          for (int64_t ch = b0; ch < b1; ++ch) {
            p.Fill(x + (i * g.c + ch) * g.hw(), buf.data());
            for (int64_t k = 0; k < fg; ++k) {
              const DType* go = dy + (i * g.f + ch * fg + k) * g.ohw();
              for (int64_t oy = 0; oy < g.oh; ++oy)
                CopyRow(go + oy * g.ow, g.ow, wide.data() + oy * p.cols);
              WeightTaps(wide.data(), buf.data(), p, &lanes[(ch - b0) * per + k * taps * kLanes]);
            }
          }
        for (int64_t q = 0; q < (b1 - b0) * fg * taps; ++q) {
          DType sum = 0;
          for (int l = 0; l < kLanes; ++l) sum += lanes[q * kLanes + l];
          total[q] += sum;
        }
      }
      for (int64_t q = 0; q < (b1 - b0) * fg * taps; ++q)
        Store(&dw[b0 * fg * taps + q], req, DType(total[q]));
    }
  });
}

}  // namespace cn::conv::flat

#endif  // COARSENET_OPS_CONV_DEPTHWISE_FLAT_H_
