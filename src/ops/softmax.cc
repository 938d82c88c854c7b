// softmax and log_softmax along one axis, with an optional temperature T:
//   softmax:     y = exp(x/T - max) / sum(exp(x/T - max))
//   log_softmax: y = x/T - max - log(sum(exp(x/T - max)))
// Backward reads only the output y:
//   softmax:     dx = y * (dy - sum(dy * y)) / T
//   log_softmax: dx = (dy - exp(y) * sum(dy)) / T
#include <optional>
#include <string>

#include "kernels/softmax_kernel.h"

namespace {

struct SoftmaxParam {
  int axis;
  std::optional<double> temperature;
  std::string dtype;
  bool use_length;
  static void Declare(cn::ParamDecl<SoftmaxParam>& d) {
    d.field("axis", &SoftmaxParam::axis, -1, "The axis along which to compute softmax.");
    d.field("temperature", &SoftmaxParam::temperature, "Temperature parameter in softmax.")
        .finite();
    d.field("dtype", &SoftmaxParam::dtype, std::string("None"),
            "Output dtype; only None (same as the input) is supported.");
    d.field("use_length", &SoftmaxParam::use_length, false,
            "Whether to use a length input; only False is supported.");
  }
  double T() const {
    double t = temperature.value_or(1.0);
    if (!(t > 0)) throw cn::Error(cn::Msg("temperature must be positive, found ", t));
    return t;
  }
};

void InferShape(const SoftmaxParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  cn_ops::ViewAround(x, p.axis);  // validates the axis
  p.T();
  if (p.dtype != "None" && p.dtype != "'None'")
    throw cn::Error(
        cn::Msg("dtype='", p.dtype, "' is not supported; the output keeps the input dtype"));
  if (p.use_length) throw cn::Error("use_length=True is not supported");
  s.SetOutput(0, x);
}

template <bool kLog>
void Forward(const SoftmaxParam& p, const cn::ForwardArgs& a) {
  cn_ops::AxisView v = cn_ops::ViewAround(a.in[0].shape(), p.axis);
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    cn_ops::SoftmaxForward(a.in[0].ptr<DType>(), a.out[0].ptr<DType>(), v, p.T(), kLog, a.req[0]);
  });
}

// Gradient of one contiguous row (inner == 1); dx may alias dy (the reduction runs first).
template <bool kLog, typename DType>
void BackwardRow(const DType* y, const DType* dy, DType* dx, int64_t n, DType inv_t, int32_t req) {
  DType dot = 0;
#pragma omp simd reduction(+ : dot)
  for (int64_t k = 0; k < n; ++k) dot += kLog ? dy[k] : dy[k] * y[k];
  for (int64_t k = 0; k < n; ++k) {
    DType g = kLog ? dy[k] - cn_fast::Exp(y[k]) * dot : y[k] * (dy[k] - dot);
    cn::Store(&dx[k], req, g * inv_t);
  }
}

// dx may alias dy: each inner column's reduction is done before any of it is overwritten.
template <bool kLog, typename DType>
void BackwardImpl(const SoftmaxParam& p, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  cn_ops::AxisView v = cn_ops::ViewAround(a.out[0].shape(), p.axis);
  const DType* y = a.out[0].ptr<DType>();
  const DType* dy = a.out_grad[0].ptr<DType>();
  DType* dx = a.in_grad[0].ptr<DType>();
  const DType inv_t = static_cast<DType>(1.0 / p.T());
  cn::ParallelFor(v.outer, std::max<int64_t>(1, 4096 / std::max<int64_t>(v.n * v.inner, 1)),
                  [&](int64_t o0, int64_t o1) {
    std::vector<DType> dot(v.inner);
    for (int64_t o = o0; o < o1; ++o) {
      int64_t base = o * v.n * v.inner;
      if (v.inner == 1) {
        BackwardRow<kLog>(y + base, dy + base, dx + base, v.n, inv_t, req);
        continue;
      }
      std::fill(dot.begin(), dot.end(), DType(0));
      for (int64_t k = 0; k < v.n; ++k)
        for (int64_t i = 0; i < v.inner; ++i) {
          int64_t at = base + k * v.inner + i;
          dot[i] += kLog ? dy[at] : dy[at] * y[at];
        }
      for (int64_t k = 0; k < v.n; ++k)
        for (int64_t i = 0; i < v.inner; ++i) {
          int64_t at = base + k * v.inner + i;
          DType g = kLog ? dy[at] - cn_fast::Exp(y[at]) * dot[i] : y[at] * (dy[at] - dot[i]);
          cn::Store(&dx[at], req, g * inv_t);
        }
    }
  });
}

template <bool kLog>
void Backward(const SoftmaxParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out[0].dtype, DType, { BackwardImpl<kLog, DType>(p, a); });
}

void Needs(const SoftmaxParam&, cn::BackwardNeeds& n) { n.output(0).out_grad(0); }

}  // namespace

CN_REGISTER_OP(softmax, SoftmaxParam)
    .describe("Applies the softmax function along `axis`: exp(x/T) / sum(exp(x/T)).")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(InferShape)
    .forward(Forward<false>)
    .backward(Backward<false>)
    .backward_needs(Needs)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});

CN_REGISTER_OP(log_softmax, SoftmaxParam)
    .describe("Computes the log of softmax along `axis`: x/T - log(sum(exp(x/T))).")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(InferShape)
    .forward(Forward<true>)
    .backward(Backward<true>)
    .backward_needs(Needs)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});
