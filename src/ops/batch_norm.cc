// BatchNorm: y = gamma * (x - mean) * invstd + beta, per channel c along `axis`.
//   Training (is_train and not use_global_stats): mean, var are the batch statistics over every
//   axis but `axis` (biased variance, divided by m); invstd = 1 / sqrt(var + eps). The running
//   statistics move as moving = moving * momentum + batch * (1 - momentum), with the BIASED batch
//   variance as MXNet 1.x does, and not at all during a mirror recomputation (ctx.is_recompute).
//   Otherwise mean = moving_mean, invstd = 1 / sqrt(moving_var + eps).
//   fix_gamma: gamma is read as 1 and its gradient is 0.
// Hidden outputs (MXNet's layout; visible with output_mean_var): 1 = mean, 2 = invstd (the
// INVERSE standard deviation, as MXNet's CPU op stores it). Backward reads only these two.
// Backward with batch statistics (m items per channel, xhat = (x - mean) * invstd):
//   dbeta = sum(dy), dgamma = sum(dy * xhat),
//   dx = gamma * invstd * (dy - dbeta / m - xhat * dgamma / m).
// With fixed statistics: dx = gamma * invstd * dy, same dgamma and dbeta.
// Layout: data is viewed as (outer, C, inner); NCHW gives contiguous planes of inner = H*W.
// Each channel is handled by one thread, its planes stay in L2 between the passes.
#include <cmath>

#include "coarsenet/op.h"
#include "kernels/norm_moments.h"

namespace {

struct BatchNormParam {
  double eps;
  float momentum;
  bool fix_gamma, use_global_stats, output_mean_var, cudnn_off;
  int axis;
  std::optional<double> min_calib_range, max_calib_range;
  static void Declare(cn::ParamDecl<BatchNormParam>& d) {
    d.field("eps", &BatchNormParam::eps, 1e-3,
            "Epsilon added to the variance to avoid dividing by zero.")
        .above(0);
    d.field("momentum", &BatchNormParam::momentum, 0.9f, "Momentum for the moving average.")
        .range(0, 1);
    d.field("fix_gamma", &BatchNormParam::fix_gamma, true, "Fix gamma to 1 while training.");
    d.field("use_global_stats", &BatchNormParam::use_global_stats, false,
            "Use the moving statistics instead of batch statistics, also when training.");
    d.field("output_mean_var", &BatchNormParam::output_mean_var, false,
            "Also output the mean and the inverse standard deviation.");
    d.field("axis", &BatchNormParam::axis, 1, "The channel axis (negative counts from the end).");
    d.field("cudnn_off", &BatchNormParam::cudnn_off, false, "Accepted for MXNet compatibility.");
    d.field("min_calib_range", &BatchNormParam::min_calib_range,
            "Accepted for MXNet compatibility (quantisation only).");
    d.field("max_calib_range", &BatchNormParam::max_calib_range,
            "Accepted for MXNet compatibility (quantisation only).");
  }
};

enum { kData, kGamma, kBeta };
enum { kOut, kMean, kInvStd };
enum { kMovingMean, kMovingVar };

// (outer, channels, inner) view of data around the channel axis.
struct Layout {
  int64_t outer, channels, inner;
};

int ChannelAxis(const BatchNormParam& p, const cn::Shape& x) {
  int axis = p.axis < 0 ? p.axis + x.ndim : p.axis;
  if (axis < 0 || axis >= x.ndim)
    throw cn::Error(cn::Msg("axis ", p.axis, " is out of range for input 'data' of shape ", x));
  return axis;
}

Layout View(const BatchNormParam& p, const cn::Shape& x) {
  int axis = ChannelAxis(p, x);
  return {x.prod(0, axis), x[axis], x.prod(axis + 1, x.ndim)};
}

void InferShape(const BatchNormParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(kData);
  if (!x.known()) return;
  if (x.ndim < 1) throw cn::Error("input 'data' must have at least 1 dim, found a scalar");
  if (p.eps < 0) throw cn::Error(cn::Msg("eps must be non-negative, found ", p.eps));
  cn::Shape c{x[ChannelAxis(p, x)]};
  s.SetInput(kGamma, c);
  s.SetInput(kBeta, c);
  s.SetAux(kMovingMean, c);
  s.SetAux(kMovingVar, c);
  s.SetOutput(kOut, x);
  s.SetOutput(kMean, c);
  s.SetOutput(kInvStd, c);
}

template <typename DType>
void ForwardImpl(const BatchNormParam& p, const cn::ForwardArgs& a) {
  const Layout v = View(p, a.in[kData].shape());
  const int64_t m = v.outer * v.inner;
  const DType* x = a.in[kData].ptr<DType>();
  const DType* gamma = a.in[kGamma].ptr<DType>();
  const DType* beta = a.in[kBeta].ptr<DType>();
  DType* y = a.out[kOut].ptr<DType>();
  DType* moving_mean = a.aux[kMovingMean].ptr<DType>();
  DType* moving_var = a.aux[kMovingVar].ptr<DType>();
  const bool batch_stats = a.ctx.is_train && !p.use_global_stats;
  // An empty batch (m == 0) has no statistics: never let its 0/0 into the moving state, which
  // goes into checkpoints.
  const bool update = batch_stats && !a.ctx.is_recompute && m > 0;
  const int32_t req = a.req[kOut];
  cn::ParallelFor(v.channels, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double mean, var;
      if (batch_stats) {
        double sum = 0;  // two passes (mean, then centred squares): no cancellation
        for (int64_t o = 0; o < v.outer; ++o) {
          const DType* xs = x + (o * v.channels + c) * v.inner;
          DType part = 0;
#pragma omp simd reduction(+ : part)
          for (int64_t i = 0; i < v.inner; ++i) part += xs[i];
          sum += part;
        }
        mean = m > 0 ? sum / m : 0.0;
        double sq = 0;
        const DType mu = static_cast<DType>(mean);
        for (int64_t o = 0; o < v.outer; ++o) {
          const DType* xs = x + (o * v.channels + c) * v.inner;
          DType part = 0;
#pragma omp simd reduction(+ : part)
          for (int64_t i = 0; i < v.inner; ++i) part += (xs[i] - mu) * (xs[i] - mu);
          sq += part;
        }
        var = m > 0 ? sq / m : 0.0;
        if (update) {
          moving_mean[c] = static_cast<DType>(moving_mean[c] * p.momentum + mean * (1 - p.momentum));
          moving_var[c] = static_cast<DType>(moving_var[c] * p.momentum + var * (1 - p.momentum));
        }
      } else {
        mean = moving_mean[c];
        var = moving_var[c];
      }
      const double invstd = 1.0 / std::sqrt(var + p.eps);
      if (a.req[kMean] != CN_REQ_NULL) cn::Store(a.out[kMean].ptr<DType>() + c, a.req[kMean], DType(mean));
      if (a.req[kInvStd] != CN_REQ_NULL)
        cn::Store(a.out[kInvStd].ptr<DType>() + c, a.req[kInvStd], DType(invstd));
      if (req == CN_REQ_NULL) continue;
      const double g = p.fix_gamma ? 1.0 : gamma[c];
      const DType scale = static_cast<DType>(g * invstd);
      const DType shift = static_cast<DType>(beta[c] - mean * g * invstd);
      for (int64_t o = 0; o < v.outer; ++o) {
        const int64_t off = (o * v.channels + c) * v.inner;
        const DType* xs = x + off;  // may alias ys (in-place): each element is read, then written
        DType* ys = y + off;
        if (req == CN_REQ_ADD) {
#pragma omp simd
          for (int64_t i = 0; i < v.inner; ++i) ys[i] += xs[i] * scale + shift;
        } else {
#pragma omp simd
          for (int64_t i = 0; i < v.inner; ++i) ys[i] = xs[i] * scale + shift;
        }
      }
    }
  });
}

void Forward(const BatchNormParam& p, const cn::ForwardArgs& a) {
  const cn::Tensor& x = a.in[kData];
  cn_ops::CheckScaleShiftDtypes(a, kData, kGamma, kBeta);
  for (int i : {kMovingMean, kMovingVar})
    if (a.aux[i].dtype != x.dtype)
      throw cn::Error(cn::Msg("auxiliary state '", i == kMovingMean ? "moving_mean" : "moving_var",
                              "' must have dtype ", cn::DTypeName(x.dtype), " like data, found ",
                              cn::DTypeName(a.aux[i].dtype)));
  CN_FLOAT_SWITCH(x.dtype, DType, { ForwardImpl<DType>(p, a); });
}

template <typename DType>
void BackwardImpl(const BatchNormParam& p, const cn::BackwardArgs& a) {
  const Layout v = View(p, a.in[kData].shape());
  const double m = static_cast<double>(v.outer * v.inner);
  const DType* x = a.in[kData].ptr<DType>();
  const DType* gamma = a.in[kGamma].ptr<DType>();
  const DType* dy = a.out_grad[kOut].ptr<DType>();
  const DType* saved_mean = a.out[kMean].ptr<DType>();
  const DType* saved_invstd = a.out[kInvStd].ptr<DType>();
  const bool batch_stats = a.ctx.is_train && !p.use_global_stats;
  const int32_t req_x = a.req[kData], req_g = a.req[kGamma], req_b = a.req[kBeta];
  DType* dx = req_x == CN_REQ_NULL ? nullptr : a.in_grad[kData].ptr<DType>();
  cn::ParallelFor(v.channels, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const DType mu = saved_mean[c];
      const double invstd = saved_invstd[c];
      double sum_dy = 0, dot = 0;  // dot = sum(dy * (x - mean))
      for (int64_t o = 0; o < v.outer; ++o) {
        const int64_t off = (o * v.channels + c) * v.inner;
        const DType *xs = x + off, *gs = dy + off;
        DType s = 0, d = 0;
#pragma omp simd reduction(+ : s, d)
        for (int64_t i = 0; i < v.inner; ++i) {
          s += gs[i];
          d += gs[i] * (xs[i] - mu);
        }
        sum_dy += s;
        dot += d;
      }
      if (req_b != CN_REQ_NULL) cn::Store(a.in_grad[kBeta].ptr<DType>() + c, req_b, DType(sum_dy));
      if (req_g != CN_REQ_NULL)
        cn::Store(a.in_grad[kGamma].ptr<DType>() + c, req_g,
                  DType(p.fix_gamma ? 0.0 : dot * invstd));
      if (!dx) continue;
      const double g = p.fix_gamma ? 1.0 : gamma[c];
      // dx = a_dy * dy + a_x * (x - mean) + a_0
      const DType a_dy = static_cast<DType>(g * invstd);
      const DType a_x = batch_stats ? static_cast<DType>(-g * invstd * invstd * invstd * dot / m) : 0;
      const DType a_0 = batch_stats ? static_cast<DType>(-g * invstd * sum_dy / m) : 0;
      for (int64_t o = 0; o < v.outer; ++o) {
        const int64_t off = (o * v.channels + c) * v.inner;
        const DType *xs = x + off, *gs = dy + off;  // gs may alias ds (in-place backward)
        DType* ds = dx + off;
        if (req_x == CN_REQ_ADD) {
#pragma omp simd
          for (int64_t i = 0; i < v.inner; ++i) ds[i] += a_dy * gs[i] + a_x * (xs[i] - mu) + a_0;
        } else {
#pragma omp simd
          for (int64_t i = 0; i < v.inner; ++i) ds[i] = a_dy * gs[i] + a_x * (xs[i] - mu) + a_0;
        }
      }
    }
  });
}

void Backward(const BatchNormParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[kOut].dtype, DType, { BackwardImpl<DType>(p, a); });
}

// The saved mean and invstd (tiny) replace the moving statistics and beta in backward.
void Needs(const BatchNormParam& p, cn::BackwardNeeds& n) {
  n.input(kData).input(kGamma).output(kMean).output(kInvStd).out_grad(kOut);
}

int VisibleOutputs(const BatchNormParam& p) { return p.output_mean_var ? 3 : 1; }

// Batch statistics (training without use_global_stats) couple the whole batch, so only the
// moving-statistics modes split; never along the channel axis (axis 0; a negative axis is
// only known with the data's rank).
uint32_t BatchModes(const BatchNormParam& p) {
  if (p.axis < 1) return 0;
  return CN_BATCH_INFERENCE | (p.use_global_stats ? CN_BATCH_TRAIN : 0);
}

}  // namespace

CN_REGISTER_OP(BatchNorm, BatchNormParam)
    .describe("Batch normalization: normalizes data per channel with batch statistics while "
              "training and moving statistics otherwise, then scales by gamma and shifts by beta.")
    .inputs({"data", "gamma", "beta"})
    .outputs({"output", "mean", "var"})
    .aux({"moving_mean", "moving_var"})
    .visible_outputs(VisibleOutputs)
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .inplace({{kData, kOut}})
    .backward_inplace({{kOut, kData}})
    .batch_separable(BatchModes, {kGamma, kBeta}, {kMean, kInvStd})
    .flags(CN_FLAG_UPDATES_AUX);
