// Loss output layers: forward gives predictions, backward gives the loss gradient directly and
// ignores the head gradient (CN_FLAG_LOSS). Labels are float arrays (MXNet's convention).
//   SoftmaxOutput (alias Softmax): p = softmax(x) over rows of the (N, size/N) view (over the last
//     axis with preserve_shape, over axis 1 of (N, C, ...) with multi_output). Integer labels:
//     dx = grad_scale * (p - t) / norm, t = one-hot(label) (smoothed by smooth_alpha: 1-a on the
//     label, a/(C-1) elsewhere); rows with label == ignore_label are zero when use_ignore. norm:
//     null 1, batch = label rows (multi_output: N), valid = labels != ignore_label (>= 1); with
//     multi_output, null and batch also divide by the spatial size (MXNet's rule). A label with
//     the data's shape is a probability target: dx = grad_scale * (p - label). out_grad=True
//     multiplies dx by the head gradient.
//   LinearRegressionOutput y = x, dx = s (y - label); LogisticRegressionOutput y = sigmoid(x),
//     dx = s (y - label); MAERegressionOutput y = x, dx = s sign(y - label); s = grad_scale / m,
//     m = outputs per sample (label size / label rows).
// The label gradient is zero.
#include <cmath>

#include "kernels/softmax_kernel.h"

namespace {

enum { kData, kLabel };

// Zero gradient for the label (written only when asked for).
template <typename DType>
void ZeroLabelGrad(const cn::BackwardArgs& a) {
  if (a.req[kLabel] == CN_REQ_NULL || a.req[kLabel] == CN_REQ_ADD) return;
  DType* g = a.in_grad[kLabel].ptr<DType>();
  std::fill(g, g + a.in_grad[kLabel].size(), DType(0));
}

// ---------------------------------------------------------------- SoftmaxOutput

enum Normalization { kNull, kBatch, kValid };

struct SoftmaxOutputParam {
  float grad_scale, ignore_label, smooth_alpha;
  bool multi_output, use_ignore, preserve_shape, out_grad;
  int normalization;
  static void Declare(cn::ParamDecl<SoftmaxOutputParam>& d) {
    using P = SoftmaxOutputParam;
    d.field("grad_scale", &P::grad_scale, 1.0f, "Scales the gradient by a float factor.")
        .finite();
    d.field("ignore_label", &P::ignore_label, -1.0f,
            "The instances whose labels equal ignore_label get zero gradient (with use_ignore).")
        .range(-2147483648.0, 2147483647.0);
    d.field("multi_output", &P::multi_output, false,
            "Softmax over axis 1 of (N, C, ...) data with labels of shape (N, ...).");
    d.field("use_ignore", &P::use_ignore, false, "Whether to honour ignore_label.");
    d.field("preserve_shape", &P::preserve_shape, false, "Softmax over the last axis.");
    d.choice("normalization", &P::normalization, {"null", "batch", "valid"}, "null",
             "How the gradient is normalised: not, by batch size, or by valid labels.");
    d.field("out_grad", &P::out_grad, false, "Multiply the gradient by the head gradient.");
    d.field("smooth_alpha", &P::smooth_alpha, 0.0f,
            "Label smoothing: spread this much probability over the other classes.")
        .range(0, 1);
  }
};

bool ProbabilityLabel(const cn::Shape& data, const cn::Shape& label) { return data == label; }

void SoftmaxOutputShape(const SoftmaxOutputParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(kData), label = s.in(kLabel);
  if (!x.known()) return;
  if (x.ndim < 1 || x.size() == 0) throw cn::Error(cn::Msg("input 'data' has shape ", x));
  if (!ProbabilityLabel(x, label)) {
    if (p.multi_output) {
      if (x.ndim < 2) throw cn::Error(cn::Msg("multi_output needs (N, C, ...) data, found ", x));
      cn::Shape flat{x[0], x.prod(2, x.ndim)}, spatial, ones = x;
      ones[1] = 1;
      std::vector<int64_t> d = x.vec();
      d.erase(d.begin() + 1);
      spatial = cn::Shape(d);
      if (label.known() && label != flat && label != spatial && label != ones)
        throw cn::Error(cn::Msg("input 'label' expected shape ", flat, " or ", spatial,
                                ", found ", label));
      if (!label.known()) s.SetInput(kLabel, flat);
    } else if (p.preserve_shape) {
      std::vector<int64_t> d = x.vec();
      d.pop_back();
      s.SetInput(kLabel, cn::Shape(d));
    } else {
      s.SetInput(kLabel, cn::Shape{x[0]});
    }
  }
  s.SetOutput(0, x);
}

cn_ops::AxisView SoftmaxView(const SoftmaxOutputParam& p, const cn::Shape& x) {
  if (p.multi_output) return {x[0], x[1], x.prod(2, x.ndim)};
  if (p.preserve_shape) return {x.prod(0, x.ndim - 1), x[x.ndim - 1], 1};
  return {x[0], x.prod(1, x.ndim), 1};
}

void SoftmaxOutputForward(const SoftmaxOutputParam& p, const cn::ForwardArgs& a) {
  cn_ops::AxisView v = SoftmaxView(p, a.in[kData].shape());
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, {
    cn_ops::SoftmaxForward(a.in[kData].ptr<DType>(), a.out[0].ptr<DType>(), v, 1.0, false,
                           a.req[0]);
  });
}

template <typename DType>
void SoftmaxOutputBackwardImpl(const SoftmaxOutputParam& p, const cn::BackwardArgs& a) {
  ZeroLabelGrad<DType>(a);
  int32_t req = a.req[kData];
  if (req == CN_REQ_NULL) return;
  const cn::Tensor& out = a.out[0];
  const DType* y = out.ptr<DType>();
  const DType* label = a.in[kLabel].ptr<DType>();
  const DType* head = p.out_grad ? a.out_grad[0].ptr<DType>() : nullptr;
  DType* dx = a.in_grad[kData].ptr<DType>();
  if (ProbabilityLabel(out.shape(), a.in[kLabel].shape())) {
    for (int64_t i = 0; i < out.size(); ++i)
      cn::Store(&dx[i], req, DType(p.grad_scale * (y[i] - label[i]) * (head ? head[i] : 1)));
    return;
  }
  cn_ops::AxisView v = SoftmaxView(p, out.shape());
  int64_t rows = v.outer * v.inner;
  // Labels compare as int like MXNet's, but through a guard: casting a label >= 2^31, inf or NaN
  // to int is undefined behaviour (ignore_label itself is declared within int32).
  const int ignore = static_cast<int>(p.ignore_label);
  auto as_int = [](double l) -> int64_t {
    return l > -2147483649.0 && l < 2147483648.0 ? static_cast<int>(l) : INT64_MIN;
  };
  double norm = 1;
  if (p.normalization == kBatch) norm = p.multi_output ? v.outer : rows;
  if (p.normalization == kValid) {
    int64_t valid = 0;
    for (int64_t r = 0; r < rows; ++r) valid += as_int(label[r]) != ignore;
    norm = std::max<int64_t>(valid, 1);
  }
  if (p.multi_output && p.normalization != kValid) norm *= v.inner;
  const DType scale = static_cast<DType>(p.grad_scale / norm);
  const DType on = static_cast<DType>(1 - p.smooth_alpha);
  const DType off = v.n > 1 ? static_cast<DType>(p.smooth_alpha / (v.n - 1)) : DType(0);
  // Every class gets (p - off) * scale; the label's class then gets the extra -(on - off) * scale.
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, v.n * v.inner));
  cn::ParallelFor(v.outer, grain, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t i = 0; i < v.inner; ++i) {
        DType l = label[o * v.inner + i];
        bool skip = p.use_ignore && as_int(l) == ignore;
        if (!skip && !(l >= 0 && l < v.n && l == std::floor(l)))
          throw cn::Error(cn::Msg("label ", l, " at position ", o * v.inner + i,
                                  " is not a class index in [0, ", v.n, ")"));
        DType* d = dx + o * v.n * v.inner + i;
        const DType* ys = y + o * v.n * v.inner + i;
        const DType* hs = head ? head + o * v.n * v.inner + i : nullptr;
        for (int64_t k = 0; k < v.n * v.inner; k += v.inner) {
          DType g = skip ? DType(0) : (ys[k] - off) * scale;
          cn::Store(&d[k], req, hs ? g * hs[k] : g);
        }
        if (skip) continue;
        int64_t at = static_cast<int64_t>(l) * v.inner;
        d[at] -= (on - off) * scale * (hs ? hs[at] : DType(1));
      }
  });
}

void SoftmaxOutputBackward(const SoftmaxOutputParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out[0].dtype, DType, { SoftmaxOutputBackwardImpl<DType>(p, a); });
}

void SoftmaxOutputNeeds(const SoftmaxOutputParam& p, cn::BackwardNeeds& n) {
  n.input(kLabel).output(0);
  if (p.out_grad) n.out_grad(0);
}

// ---------------------------------------------------------------- regression outputs

struct RegressionParam {
  float grad_scale;
  static void Declare(cn::ParamDecl<RegressionParam>& d) {
    d.field("grad_scale", &RegressionParam::grad_scale, 1.0f,
            "Scale the gradient by a float factor.")
        .finite();
  }
};

enum RegressionKind { kLinear, kLogistic, kMAE };

void RegressionShape(const RegressionParam&, cn::ShapeContext& s) {
  cn::Shape x = s.in(kData), label = s.in(kLabel);
  if (!x.known()) return;
  if (x.ndim < 1) throw cn::Error("input 'data' must have at least 1 dim, found a scalar");
  if (!label.known()) {
    // A (N,) label for (N, 1) data, as MXNet allows.
    s.SetInput(kLabel, x.ndim == 2 && x[1] == 1 ? cn::Shape{x[0]} : x);
  } else if (label.ndim < 1 || label[0] != x[0] || label.size() != x.size()) {
    throw cn::Error(cn::Msg("input 'label' expected shape ", x, " (or the same size with ", x[0],
                            " rows), found ", label));
  }
  s.SetOutput(0, x);
}

template <int kKind>
void RegressionForward(const RegressionParam&, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, {
    const DType* x = a.in[kData].ptr<DType>();
    DType* y = a.out[0].ptr<DType>();
    cn::ParallelFor(a.in[kData].size(), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        cn::Store(&y[i], req, kKind == kLogistic ? DType(1) / (1 + std::exp(-x[i])) : x[i]);
    });
  });
}

template <int kKind, typename DType>
void RegressionBackwardImpl(const RegressionParam& p, const cn::BackwardArgs& a) {
  ZeroLabelGrad<DType>(a);
  int32_t req = a.req[kData];
  if (req == CN_REQ_NULL) return;
  const cn::Tensor& label_t = a.in[kLabel];
  const DType* y = a.out[0].ptr<DType>();
  const DType* label = label_t.ptr<DType>();
  DType* dx = a.in_grad[kData].ptr<DType>();
  const DType scale = static_cast<DType>(p.grad_scale * label_t.dim(0) / label_t.size());
  cn::ParallelFor(label_t.size(), 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      DType d = y[i] - label[i];
      if (kKind == kMAE) d = DType((d > 0) - (d < 0));
      cn::Store(&dx[i], req, d * scale);
    }
  });
}

template <int kKind>
void RegressionBackward(const RegressionParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out[0].dtype, DType, { RegressionBackwardImpl<kKind, DType>(p, a); });
}

void RegressionNeeds(const RegressionParam&, cn::BackwardNeeds& n) { n.input(kLabel).output(0); }

}  // namespace

CN_REGISTER_OP(SoftmaxOutput, SoftmaxOutputParam)
    .describe("Softmax in forward; the cross-entropy gradient (p - one_hot(label)) in backward.")
    .alias("Softmax")
    .inputs({"data", "label"})
    .outputs({"output"})
    .infer_shape(SoftmaxOutputShape)
    .forward(SoftmaxOutputForward)
    .backward(SoftmaxOutputBackward)
    .backward_needs(SoftmaxOutputNeeds)
    .inplace({{kData, 0}})
    .flags(CN_FLAG_LOSS);

#define CN_REGRESSION_OP(Name, Kind, Doc)        \
  CN_REGISTER_OP(Name, RegressionParam)          \
      .describe(Doc)                             \
      .inputs({"data", "label"})                 \
      .outputs({"output"})                       \
      .infer_shape(RegressionShape)              \
      .forward(RegressionForward<Kind>)          \
      .backward(RegressionBackward<Kind>)        \
      .backward_needs(RegressionNeeds)           \
      .inplace({{kData, 0}})                     \
      .flags(CN_FLAG_LOSS)

CN_REGRESSION_OP(LinearRegressionOutput, kLinear,
                 "Identity in forward; the squared-loss gradient (out - label) in backward.");
CN_REGRESSION_OP(LogisticRegressionOutput, kLogistic,
                 "Sigmoid in forward; the logistic-loss gradient (out - label) in backward.");
CN_REGRESSION_OP(MAERegressionOutput, kMAE,
                 "Identity in forward; the absolute-loss gradient sign(out - label) in backward.");
