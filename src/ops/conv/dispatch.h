// The convolution dispatcher, shared by Convolution and Deconvolution: picks the path for one
// convolution (Winograd, depthwise, small maps, im2col/col2im column tiles + GEMM) and runs it.
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
// Depthwise convolutions (one input channel per group) run direct (depthwise.h).
// Strided dense convolutions with >= 16 input channels on maps that are not small (3x3 stride
// 2, 1x1 stride-2 shortcuts) run as one GEMM per tap on the input's phase planes, without
// columns (polyphase.h).
// 3x3 stride-2 convolutions with >= 16 channels each way run the forward as stride-2 Winograd
// (winograd_transforms.h, Stride2) when its tiles are mostly full; every 3x3 stride-2 weight
// gradient (>= 16 input channels), and the data gradient on small maps, run by batch columns:
// one large GEMM per shape-sized chunk of images (strided_columns.h, which has the figures of
// what was measured and kept or rejected); the data gradient on larger maps stays polyphase.
// 3x3 stride-1 convolutions with >= 16 channels each way skip columns altogether and use
// Winograd F(4x4, 3x3) for all three passes (winograd.h): 4x fewer multiplies; its blocks of
// tiles span images, so small maps (CIFAR's 8x8 and 4x4 stages) qualify too.
// Other small maps (under 16x16 outputs) give one image too few columns for an efficient GEMM,
// so there several images share one column matrix (images side by side), one GEMM per image
// group; groups run in parallel slots like images, and WeightGrad splits column rows as above.
// Files (src/ops/conv/): columns.h (geometry, path choice, workspace, im2col/col2im, slots),
// small_maps.h (the small-map kernels), depthwise.h, winograd.h, polyphase.h,
// strided_columns.h, and here the per-image kernels and the dispatch.
#ifndef COARSENET_OPS_CONV_DISPATCH_H_
#define COARSENET_OPS_CONV_DISPATCH_H_

#include <algorithm>
#include <cstring>

#include "coarsenet/op.h"
#include "ops/conv/columns.h"
#include "ops/conv/depthwise.h"
#include "ops/conv/image_parts.h"
#include "ops/conv/polyphase.h"
#include "ops/conv/small_maps.h"
#include "ops/conv/strided_columns.h"
#include "ops/conv/winograd.h"

namespace cn::conv {

// Forward (flip = false: x -> y) or DataGrad (flip = true: dy -> dx, a 3x3 convolution with
// the flipped, transposed filters and pad 2 - p) of a Winograd-eligible geometry.
template <typename DType>
void WinogradConv(const Geom& g, const DType* src, const DType* w, bool flip, const DType* bias,
                  DType* dst, int32_t req, DType* ws) {
  winograd::Conv<winograd::Fwd>(g.winograd_tiling(flip), src, w, flip, bias, dst, req, ws,
                                g.threads);
}

// y = conv(x, w) + bias (bias may be null).
template <typename DType>
void Forward(const Geom& g, const DType* x, const DType* w, const DType* bias, DType* y,
             int32_t req, DType* ws) {
  if (req == CN_REQ_NULL) return;
  const int64_t tile = g.tile(), kg = g.kg(), fg = g.fg(), hw = g.hw(), ohw = g.ohw();
  if (g.depthwise()) return DepthwiseForward(g, x, w, bias, y, req);
  if (g.winograd()) return WinogradConv(g, x, w, false, bias, y, req, ws);
  if (g.winograd_s2())
    return winograd::Conv<winograd::Stride2>(g.winograd_s2_tiling(), x, w, false, bias, y, req,
                                             ws, g.threads);
  if (g.polyphase()) return polyphase::Forward(g, x, w, bias, y, req, ws);
  if (g.batched()) return ForwardBatched(g, x, w, bias, y, req, ws);
  ForEachImageGroup(g, 1, [&](int64_t slot, int64_t i, int64_t) {
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
        int64_t ldb;
        const DType* b = ColumnsOrInput(g, xg, 0, kg, p0, p1, col, &ldb);
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
  if (g.depthwise()) return DepthwiseDataGrad(g, dy, w, bias, dx, req);
  if (g.strided_columns() && g.batched())
    return strided::DataGrad(g, dy, w, bias, dx, req, ws);
  if (g.winograd()) return WinogradConv(g, dy, w, true, bias, dx, req, ws);
  if (g.polyphase()) return polyphase::DataGrad(g, dy, w, bias, dx, req, ws);
  if (g.batched()) return DataGradBatched(g, dy, w, bias, dx, req, ws);
  ForEachImageGroup(g, 1, [&](int64_t slot, int64_t i, int64_t) {
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
          Col2Im(g, col, len, p0, p1, dxg);
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
  if (g.depthwise()) return DepthwiseWeightGrad(g, x, dy, dw, req);
  if (g.strided_weight_columns()) return strided::WeightGrad(g, x, dy, dw, req, ws);
  if (g.winograd())
    return winograd::WeightGrad<winograd::Fwd>(g.winograd_tiling(false), x, dy, dw, req, ws,
                                               g.threads);
  if (g.polyphase()) return polyphase::WeightGrad(g, x, dy, dw, req, ws);
  if (g.batched()) return WeightGradBatched(g, x, dy, dw, req, ws);
  if (g.image_parts()) return WeightGradImageParts(g, x, dy, dw, req, ws);
  ForEachRowChunk(g.groups * kg, [&](int64_t q0, int64_t q1) {
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
          int64_t ldb;
          const DType* b = ColumnsOrInput(g, xg, r0, r1, p0, p1, col, &ldb);
          Gemm(false, true, fg, r1 - r0, len, DType(1), dy + (i * g.f + grp * fg) * ohw + p0,
               ohw, b, ldb, DType(first ? 0 : 1), dwg, kg);
          first = false;
        }
      }
    }
  });
}

// db[c] = sum over images and positions of dy[:, c] (the bias gradient of either op). The sum
// runs in kSumLanes independent lanes (one serial sum left a float add's latency per element:
// 1.4 ms on MobileNet's 32x1024x7x7, as long as the depthwise weight gradient itself); one
// thread per channel and a fixed order, so the bits do not depend on the thread count.
constexpr int kSumLanes = 16;

template <typename DType>
void ChannelSum(const DType* dy, int64_t n, int64_t c, int64_t hw, DType* db, int32_t req) {
  if (req == CN_REQ_NULL) return;
  ParallelFor(c, 4, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      DType lane[kSumLanes] = {};
      for (int64_t i = 0; i < n; ++i) {
        const DType* p = dy + (i * c + ch) * hw;
        int64_t k = 0;
        for (; k + kSumLanes <= hw; k += kSumLanes)
          for (int l = 0; l < kSumLanes; ++l) lane[l] += p[k + l];
        for (int l = 0; k + l < hw; ++l) lane[l] += p[k + l];
      }
      DType acc = 0;
      for (int l = 0; l < kSumLanes; ++l) acc += lane[l];
      Store(&db[ch], req, acc);
    }
  });
}

// An empty batch runs no kernel: the weight and bias gradients (either op's) are sums over no
// images, zero when written.
template <typename DType>
void ZeroParamGradsOfEmptyBatch(const BackwardArgs& a, int weight, int bias, bool no_bias) {
  for (int i : {weight, bias}) {
    if (i == bias && no_bias) continue;
    if (a.req[i] == CN_REQ_WRITE || a.req[i] == CN_REQ_INPLACE)
      std::fill(a.in_grad[i].ptr<DType>(), a.in_grad[i].ptr<DType>() + a.in_grad[i].size(),
                DType(0));
  }
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

#endif  // COARSENET_OPS_CONV_DISPATCH_H_
