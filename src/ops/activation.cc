// Activation: y = f(x) elementwise, f in relu | sigmoid | tanh | softrelu | softsign.
//   relu' = [y > 0], sigmoid' = y (1 - y), tanh' = 1 - y^2 are read from the OUTPUT, so the input
//   can be freed (or overwritten in place) after forward; softrelu' = sigmoid(x) and
//   softsign' = 1 / (1 + |x|)^2 read the INPUT.
// The parametrised variants (leaky, prelu, elu, selu, gelu) are LeakyReLU, in leaky_relu.cc.
#include <cmath>

#include "kernels/elemwise_util.h"
#include "kernels/fast_math.h"

namespace {

using cn_elem::MapStore;

enum ActType { kRelu, kSigmoid, kSoftrelu, kSoftsign, kTanh };

struct ActivationParam {
  int act_type;
  static void Declare(cn::ParamDecl<ActivationParam>& d) {
    d.choice("act_type", &ActivationParam::act_type,
             {"relu", "sigmoid", "softrelu", "softsign", "tanh"}, "relu",
             "Activation function to be applied.")
        .required();
  }
};

// Grad(dy, v): v is the output when kFromOutput, else the input.
struct Relu {
  static constexpr bool kFromOutput = true;
  template <typename T> static T Fwd(T x) { return x > T(0) ? x : T(0); }
  template <typename T> static T Grad(T dy, T y) { return y > T(0) ? dy : T(0); }
};
struct Sigmoid {
  static constexpr bool kFromOutput = true;
  template <typename T> static T Fwd(T x) { return cn_fast::Sigmoid(x); }
  template <typename T> static T Grad(T dy, T y) { return dy * y * (T(1) - y); }
};
struct Tanh {
  static constexpr bool kFromOutput = true;
  template <typename T> static T Fwd(T x) { return cn_fast::Tanh(x); }
  template <typename T> static T Grad(T dy, T y) { return dy * (T(1) - y * y); }
};
struct Softrelu {  // log(1 + e^x), written so that large |x| neither overflows nor loses digits
  static constexpr bool kFromOutput = false;
  template <typename T> static T Fwd(T x) {
    return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  }
  template <typename T> static T Grad(T dy, T x) { return dy / (T(1) + std::exp(-x)); }
};
struct Softsign {
  static constexpr bool kFromOutput = false;
  template <typename T> static T Fwd(T x) { return x / (T(1) + std::abs(x)); }
  template <typename T> static T Grad(T dy, T x) {
    T d = T(1) + std::abs(x);
    return dy / (d * d);
  }
};

// Calls fn(Functor{}) for the chosen act_type: one switch, then fully inlined loops.
template <typename Fn>
void WithActivation(int act_type, Fn&& fn) {
  switch (act_type) {
    case kRelu: return fn(Relu{});
    case kSigmoid: return fn(Sigmoid{});
    case kSoftrelu: return fn(Softrelu{});
    case kSoftsign: return fn(Softsign{});
    default: return fn(Tanh{});
  }
}

void ActivationForward(const ActivationParam& p, const cn::ForwardArgs& a) {
  WithActivation(p.act_type, [&](auto f) {
    using F = decltype(f);
    CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
      const DType* x = a.in[0].ptr<DType>();
      MapStore(a.out[0].ptr<DType>(), a.out[0].size(), a.req[0],
               [=](int64_t i) { return F::Fwd(x[i]); });
    });
  });
}

void ActivationBackward(const ActivationParam& p, const cn::BackwardArgs& a) {
  WithActivation(p.act_type, [&](auto f) {
    using F = decltype(f);
    CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
      const DType* dy = a.out_grad[0].ptr<DType>();
      const DType* v = (F::kFromOutput ? a.out[0] : a.in[0]).template ptr<DType>();
      MapStore(a.in_grad[0].ptr<DType>(), a.out_grad[0].size(), a.req[0],
               [=](int64_t i) { return F::Grad(dy[i], v[i]); });
    });
  });
}

void ActivationNeeds(const ActivationParam& p, cn::BackwardNeeds& n) {
  n.out_grad(0);
  if (p.act_type == kRelu || p.act_type == kSigmoid || p.act_type == kTanh)
    n.output(0);
  else
    n.input(0);
}

}  // namespace

CN_REGISTER_OP(Activation, ActivationParam)
    .describe("Applies an activation function element-wise: relu, sigmoid, tanh, softrelu "
              "(log(1 + exp(x))) or softsign (x / (1 + |x|)).")
    .inputs({"data"})
    .outputs({"output"})
    .forward(ActivationForward)
    .backward(ActivationBackward)
    .backward_needs(ActivationNeeds)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}})
    .batch_separable(CN_BATCH_INFERENCE | CN_BATCH_TRAIN);
