// SoftmaxActivation (legacy MXNet op, superseded by softmax): softmax over
//   instance mode: every axis but the batch axis, i.e. each sample's flattened values;
//   channel mode:  the channel axis 1 at every (sample, position) of (N, C, spatial...) data.
// Both are softmax over the middle axis of an (outer, n, inner) view: instance (N, rest, 1),
// channel (N, C, spatial). Backward reads only the output: dx = y * (dy - sum(dy * y)).
#include <algorithm>
#include <vector>

#include "kernels/softmax_kernel.h"

namespace {

enum Mode { kChannel, kInstance };  // in the order of the choices below

struct SoftmaxActivationParam {
  int mode;
  static void Declare(cn::ParamDecl<SoftmaxActivationParam>& d) {
    d.choice("mode", &SoftmaxActivationParam::mode, {"channel", "instance"}, "instance",
             "instance: softmax over each sample's values; channel: over the channels at each "
             "position of each sample.");
  }
};

cn_ops::AxisView View(const SoftmaxActivationParam& p, const cn::Shape& x) {
  if (p.mode == kChannel) return {x[0], x[1], x.prod(2, x.ndim)};
  return {x[0], x.prod(1, x.ndim), 1};
}

void InferShape(const SoftmaxActivationParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  const int need = p.mode == kChannel ? 3 : 1;
  if (x.ndim < need)
    throw cn::Error(cn::Msg("input 'data' must have at least ", need, " dims in ",
                            p.mode == kChannel ? "channel" : "instance", " mode, found ", x));
  s.SetOutput(0, x);
}

void Forward(const SoftmaxActivationParam& p, const cn::ForwardArgs& a) {
  cn_ops::AxisView v = View(p, a.in[0].shape());
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    cn_ops::SoftmaxForward(a.in[0].ptr<DType>(), a.out[0].ptr<DType>(), v, 1.0, false, a.req[0]);
  });
}

// dx may alias dy: every (outer, inner) column's sum is taken before any of it is written.
template <typename DType>
void BackwardImpl(const SoftmaxActivationParam& p, const cn::BackwardArgs& a) {
  const int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  const cn_ops::AxisView v = View(p, a.out[0].shape());
  const DType* y = a.out[0].ptr<DType>();
  const DType* dy = a.out_grad[0].ptr<DType>();
  DType* dx = a.in_grad[0].ptr<DType>();
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, v.n * v.inner));
  cn::ParallelFor(v.outer, grain, [&](int64_t o0, int64_t o1) {
    std::vector<DType> dot(v.inner);
    for (int64_t o = o0; o < o1; ++o) {
      const int64_t base = o * v.n * v.inner;
      std::fill(dot.begin(), dot.end(), DType(0));
      if (v.inner == 1) {
        DType s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t k = 0; k < v.n; ++k) s += dy[base + k] * y[base + k];
        dot[0] = s;
      } else {
        for (int64_t k = 0; k < v.n; ++k)
          for (int64_t i = 0; i < v.inner; ++i)
            dot[i] += dy[base + k * v.inner + i] * y[base + k * v.inner + i];
      }
      for (int64_t k = 0; k < v.n; ++k)
        for (int64_t i = 0; i < v.inner; ++i) {
          const int64_t at = base + k * v.inner + i;
          cn::Store(&dx[at], req, y[at] * (dy[at] - dot[i]));
        }
    }
  });
}

void Backward(const SoftmaxActivationParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out[0].dtype, DType, { BackwardImpl<DType>(p, a); });
}

void Needs(const SoftmaxActivationParam&, cn::BackwardNeeds& n) { n.output(0).out_grad(0); }

}  // namespace

CN_REGISTER_OP(SoftmaxActivation, SoftmaxActivationParam)
    .describe("Applies softmax to each instance (default) or across channels at each position "
              "(mode='channel'). Deprecated in MXNet in favour of softmax.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});
