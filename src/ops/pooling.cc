// Pooling (2-D, NCHW): max, avg or sum over kernel windows of each (n, c) plane.
//   out size = floor((H + 2p - k) / s) + 1 ("valid") or ceil(...) + 1 ("full", Caffe's ceil mode);
//   global_pool resets kernel to (H, W), pad to 0 and stride to 1.
//   avg divides by the window size clipped to the padded input (count_include_pad, the default)
//   or to the input itself; windows that run past the padded input ("full") are clipped as well.
// Backward: avg/sum spread dy / divisor over the window; max sends dy to the first maximum of the
// window in row-major order. Max pooling saves that maximum's tap index (kh * kernel_w + kw, as
// a float) in a hidden output 'argmax' of the output's shape, so backward needs only dy and
// argmax, never the input.
// Kernel: each plane is copied into a padded buffer (lowest() or 0 border, sized so every window of
// every output is in bounds), which removes all bounds tests from the inner loops. The buffer
// splits each row into `stride` phases (see Geometry), so the loops over a row of outputs read
// and write unit-stride runs and vectorise fully; one plane's buffers stay in L1/L2.
#include <algorithm>
#include <limits>

#include "coarsenet/op.h"
// 64-byte vectors (Simd) stay inside this file; GCC's note that passing them changes the ABI on
// builds without AVX-512 does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
#include "kernels/pooling_global.h"
#include "kernels/pooling_max2x2.h"
#include "kernels/pooling_plane.h"
#include "ops/pooling3d.h"  // 5-D data (NCDHW): direct loops
#include "ops/pooling_geometry.h"

namespace {

using cn_pooling::Geometry;
using cn_pooling::GlobalBackward;
using cn_pooling::GlobalForward;
using cn_pooling::IsWholePlane;
using cn_pooling::kArgMax;
using cn_pooling::kAvg;
using cn_pooling::kFull;
using cn_pooling::kMax;
using cn_pooling::kOut;
using cn_pooling::kSum;
using cn_pooling::Max2x2Backward;
using cn_pooling::Max2x2Forward;
using cn_pooling::PadPlane;
using cn_pooling::PoolingParam;
using cn_pooling::Resolve3;
using cn_pooling::Resolve;
using cn_pooling::Simd;
using cn_pooling::UnpadPlane;

void InferShape(const PoolingParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  if (x.ndim == 5) {
    cn_pool3d::Geom3 g = Resolve3(p, x);
    cn::Shape y{x[0], x[1], g.out[0], g.out[1], g.out[2]};
    s.SetOutput(0, y);
    if (p.pool_type == kMax) s.SetOutput(kArgMax, y);
    return;
  }
  Geometry g = Resolve(p, x);
  s.SetOutput(0, cn::Shape{x[0], x[1], g.oh, g.ow});
  if (p.pool_type == kMax) s.SetOutput(kArgMax, cn::Shape{x[0], x[1], g.oh, g.ow});
}

// 1 / window size per output row and column (avg), or all ones (max, sum).
template <typename DType>
void InverseCounts(const PoolingParam& p, const Geometry& g, std::vector<DType>& rows,
                   std::vector<DType>& cols) {
  rows.assign(g.oh, DType(1));
  cols.assign(g.owp, DType(1));
  if (p.pool_type != kAvg) return;
  for (int64_t i = 0; i < g.oh; ++i)
    rows[i] = DType(1) / std::max<int64_t>(g.Count(i, g.h, g.kh, g.sh, g.ph), 1);
  for (int64_t j = 0; j < g.ow; ++j)
    cols[j] = DType(1) / std::max<int64_t>(g.Count(j, g.w, g.kw, g.sw, g.pw), 1);
}

// Offsets of the kernel taps from the top-left of a window in the phase-split buffer.
std::vector<int64_t> TapOffsets(const Geometry& g) {
  std::vector<int64_t> taps;
  for (int64_t kh = 0; kh < g.kh; ++kh)
    for (int64_t kw = 0; kw < g.kw; ++kw) taps.push_back(kh * g.rs + g.Tap(kw));
  return taps;
}

// out[j] = max or sum over taps t of top[taps[t] + j], for j < owp.
template <bool kIsMax, typename DType>
void ReduceRow(const DType* __restrict top, const std::vector<int64_t>& taps, int64_t owp,
               DType* __restrict out) {
  using S = Simd<DType>;
  for (int64_t jb = 0; jb < owp; jb += S::kLanes) {
    typename S::V acc = S::Splat(kIsMax ? std::numeric_limits<DType>::lowest() : DType(0));
    for (int64_t t : taps) {
      typename S::V v = S::Load(top + t + jb);
      if (kIsMax)
        acc = v > acc ? v : acc;
      else
        acc += v;
    }
    S::Store(out + jb, acc);
  }
}

// Max and first tap index (in window order) holding it, for one vector of outputs.
template <typename DType>
void ArgMaxBlock(const DType* __restrict top, const std::vector<int64_t>& taps,
                 DType* __restrict max_out, DType* __restrict arg_out) {
  using S = Simd<DType>;
  typename S::V best = S::Splat(std::numeric_limits<DType>::lowest());
  for (int64_t t : taps) {
    typename S::V v = S::Load(top + t);
    best = v > best ? v : best;
  }
  typename S::V found = S::Splat(-1);
  for (int64_t t = static_cast<int64_t>(taps.size()) - 1; t >= 0; --t)  // earliest hit wins
    found = S::Load(top + taps[t]) == best ? S::Splat(DType(t)) : found;
  S::Store(max_out, best);
  S::Store(arg_out, found);
}

// 2x2 stride-2 unpadded max pooling whose windows all lie inside the input (LeNet's and VGG's
// pools) skips the padded phase-split buffer: on small planes (LeNet's 28x28 and 14x14) that
// copy and the 16-lane row blocks over 7- or 14-wide rows cost more than the pooling itself.
// Its kernels (kernels/pooling_max2x2.h) read the two input rows of each output row directly in
// vector blocks and give the same bits as the general kernels: the same running max from
// lowest(), the same first-maximum tap, gradient 0 + dy at that tap.
bool IsMax2x2(const PoolingParam& p, const Geometry& g) {
  return p.pool_type == kMax && g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 &&
         g.pw == 0 && 2 * g.oh <= g.h && 2 * g.ow <= g.w;
}

template <typename DType>
void Forward3D(const PoolingParam& p, const cn::ForwardArgs& a) {
  const cn_pool3d::Geom3 g = Resolve3(p, a.in[0].shape());
  const bool is_max = p.pool_type == kMax;
  if (is_max && a.req[kArgMax] == CN_REQ_ADD)
    throw cn::Error("output 'argmax' cannot be accumulated (req=add)");
  DType* arg = is_max && a.req[kArgMax] != CN_REQ_NULL ? a.out[kArgMax].ptr<DType>() : nullptr;
  cn_pool3d::Forward(g, is_max, p.pool_type == kAvg, a.in[0].ptr<DType>(), a.out[0].ptr<DType>(),
                     a.req[0], arg);
}

template <typename DType>
void ForwardImpl(const PoolingParam& p, const cn::ForwardArgs& a) {
  if (a.in[0].shape().ndim == 5) return Forward3D<DType>(p, a);
  const Geometry g = Resolve(p, a.in[0].shape());
  const int32_t req = a.req[0];
  const bool is_max = p.pool_type == kMax;
  // The hidden argmax output (max only) is skipped when nobody reads it (inference).
  DType* arg_out = is_max && a.req[kArgMax] != CN_REQ_NULL ? a.out[kArgMax].ptr<DType>() : nullptr;
  if (is_max && a.req[kArgMax] == CN_REQ_ADD)
    throw cn::Error("output 'argmax' cannot be accumulated (req=add)");
  if (req == CN_REQ_NULL && !arg_out) return;
  const DType* x = a.in[0].ptr<DType>();
  DType* y = a.out[0].ptr<DType>();
  if (IsMax2x2(p, g)) return Max2x2Forward(g, x, y, req, arg_out);
  if (IsWholePlane(g))  // global pooling: kernels/pooling_global.h
    return GlobalForward(g, is_max, p.pool_type == kAvg, x, y, req, arg_out);
  // MXNet's max starts from the lowest finite value: a window wholly in the padding (or of -inf
  // inputs only) gives lowest(), never -inf that turns into NaN downstream.
  const DType fill = is_max ? std::numeric_limits<DType>::lowest() : DType(0);
  const std::vector<int64_t> taps = TapOffsets(g);
  std::vector<DType> inv_rows, inv_cols;
  InverseCounts(p, g, inv_rows, inv_cols);
  cn::ParallelFor(g.planes, 1, [&](int64_t b, int64_t e) {
    const int64_t ow = g.ow, oh = g.oh;
    std::vector<DType> buf(g.size), acc(g.owp), arg(g.owp);
    const DType* __restrict row = acc.data();
    const DType* __restrict cols = inv_cols.data();
    for (int64_t plane = b; plane < e; ++plane) {
      PadPlane(g, x + plane * g.h * g.w, buf.data(), fill);
      for (int64_t i = 0; i < oh; ++i) {
        const DType* top = buf.data() + i * g.sh * g.rs;
        if (arg_out) {
          for (int64_t jb = 0; jb < g.owp; jb += Simd<DType>::kLanes)
            ArgMaxBlock(top + jb, taps, acc.data() + jb, arg.data() + jb);
          std::copy(arg.begin(), arg.begin() + ow, arg_out + (plane * oh + i) * ow);
        } else if (is_max) {
          ReduceRow<true>(top, taps, g.owp, acc.data());
        } else {
          ReduceRow<false>(top, taps, g.owp, acc.data());
        }
        if (req == CN_REQ_NULL) continue;
        DType* __restrict o = y + (plane * oh + i) * ow;
        const DType scale = inv_rows[i];
        if (req == CN_REQ_ADD) {
          for (int64_t j = 0; j < ow; ++j) o[j] += row[j] * scale * cols[j];
        } else {
          for (int64_t j = 0; j < ow; ++j) o[j] = row[j] * scale * cols[j];
        }
      }
    }
  });
}

void Forward(const PoolingParam& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, { ForwardImpl<DType>(p, a); });
}

// Backward gathers instead of scattering: every padded input position pulls the gradient of
// each output window that covers it (taps (kh, kw) with r = i * sh + kh and kw in its phase),
// summed in registers and stored once. Overlapping windows therefore never make a vector store
// feed a misaligned load of the next tap (a store-forwarding stall), and the buffer needs no
// zero fill. For max pooling a window passes its gradient only to its first maximum in
// row-major order, whose tap index forward saved in the hidden output 'argmax'.
//
// Per-output rows used by the pull, `pitch` wide with `margin` zero entries in front so that
// output j - shift is a plain (unaligned) load for every shift a tap can have.
template <typename DType>
struct RowGrads {
  int64_t margin, pitch;
  std::vector<DType> gy, arg;  // (oh, pitch); gy is zero outside the outputs
  RowGrads(const Geometry& g, bool is_max)
      : margin(((g.kw - 1) / g.sw + 16) / 16 * 16),
        pitch(margin + g.pl),
        gy(g.oh * pitch),
        arg(is_max ? g.oh * pitch : 0) {}
};

// grad row r (all phases) = sum over covering windows of their (selected) gradient.
template <bool kIsMax, typename DType>
void PullRow(const Geometry& g, int64_t r, const RowGrads<DType>& rg, DType* __restrict grad_row) {
  using S = Simd<DType>;
  // Output rows i cover input row r by window row kh = r - i * sh: kh up means i down.
  const int64_t kh0 = r % g.sh, i0 = (r - kh0) / g.sh;
  for (int64_t q = 0; q < g.sw; ++q) {
    for (int64_t mb = 0; mb < g.pl; mb += S::kLanes) {
      typename S::V acc = S::Splat(0);
      for (int64_t kh = kh0, i = i0; kh < g.kh && i >= 0; kh += g.sh, --i) {
        if (i >= g.oh) continue;
        // Taps kw = q, q + sw, ... of this window row land on phase q, shifted by kw / sw.
        for (int64_t kw = q, shift = 0; kw < g.kw; kw += g.sw, ++shift) {
          const int64_t at = i * rg.pitch + rg.margin + mb - shift;
          typename S::V gy = S::Load(rg.gy.data() + at);
          if (kIsMax)
            acc += S::Load(rg.arg.data() + at) == S::Splat(DType(kh * g.kw + kw)) ? gy
                                                                                   : S::Splat(0);
          else
            acc += gy;
        }
      }
      S::Store(grad_row + q * g.pl + mb, acc);
    }
  }
}

template <typename DType>
void BackwardImpl(const PoolingParam& p, const cn::BackwardArgs& a) {
  const int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  if (a.in_grad[0].shape().ndim == 5) {
    const bool is_max = p.pool_type == kMax;
    cn_pool3d::Backward(Resolve3(p, a.in_grad[0].shape()), is_max, p.pool_type == kAvg,
                        a.out_grad[0].ptr<DType>(),
                        is_max ? a.out[kArgMax].ptr<DType>() : nullptr,
                        a.in_grad[0].ptr<DType>(), req);
    return;
  }
  const Geometry g = Resolve(p, a.in_grad[0].shape());
  const DType* dy = a.out_grad[0].ptr<DType>();
  DType* dx = a.in_grad[0].ptr<DType>();
  const bool is_max = p.pool_type == kMax;
  const DType* arg = is_max ? a.out[kArgMax].ptr<DType>() : nullptr;
  if (IsMax2x2(p, g)) return Max2x2Backward(g, dy, arg, dx, req);
  if (IsWholePlane(g))  // global pooling: kernels/pooling_global.h
    return GlobalBackward(g, is_max, p.pool_type == kAvg, dy, arg, dx, req);
  std::vector<DType> inv_rows, inv_cols;
  InverseCounts(p, g, inv_rows, inv_cols);
  cn::ParallelFor(g.planes, 1, [&](int64_t b, int64_t e) {
    const int64_t ow = g.ow, oh = g.oh;
    std::vector<DType> grad(g.size);
    RowGrads<DType> rg(g, is_max);
    for (int64_t plane = b; plane < e; ++plane) {
      for (int64_t i = 0; i < oh; ++i) {
        const DType* __restrict gy = dy + (plane * oh + i) * ow;
        DType* __restrict row = rg.gy.data() + i * rg.pitch + rg.margin;
        const DType scale = inv_rows[i];
        for (int64_t j = 0; j < ow; ++j) row[j] = gy[j] * scale * inv_cols[j];
        if (is_max) {
          const DType* src = arg + (plane * oh + i) * ow;
          std::copy(src, src + ow, rg.arg.data() + i * rg.pitch + rg.margin);
        }
      }
      for (int64_t r = g.ph; r < g.ph + g.h; ++r) {
        if (is_max)
          PullRow<true>(g, r, rg, grad.data() + r * g.rs);
        else
          PullRow<false>(g, r, rg, grad.data() + r * g.rs);
      }
      UnpadPlane(g, grad.data(), dx + plane * g.h * g.w, req);
    }
  });
}

void Backward(const PoolingParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, { BackwardImpl<DType>(p, a); });
}

// Max pooling reads its saved argmax (a quarter of the input for 2x2 strides); avg and sum need
// only the shape, which the input-gradient buffer carries. Neither keeps the input alive.
void Needs(const PoolingParam& p, cn::BackwardNeeds& n) {
  n.out_grad(0);
  if (p.pool_type == kMax) n.output(kArgMax);
}

std::vector<std::string> OutputNames(const PoolingParam& p) {
  if (p.pool_type == kMax) return {"output", "argmax"};
  return {"output"};
}

}  // namespace

CN_REGISTER_OP(Pooling, PoolingParam)
    .describe("Performs 2-D (NCHW) or 3-D (NCDHW) max, average or sum pooling.")
    .inputs({"data"})
    .outputs(OutputNames)
    .visible_outputs(1)
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .batch_separable(CN_BATCH_INFERENCE | CN_BATCH_TRAIN);
