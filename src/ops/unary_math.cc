// Elementwise math without parameters: y = f(x), dx = dy * f'(x).
// Each op is one table row: its forward, its gradient written from whatever is cheapest to keep
// (the input x, the output y, or neither), and that choice, which becomes backward_needs so the
// memory planner can free the rest. Gradients from the output: exp' = y, sqrt' = 1 / (2y),
// rsqrt' = -y^3 / 2, reciprocal' = -y^2, sigmoid' = y (1 - y), tanh' = 1 - y^2, relu' = [y > 0].
// sign, zeros_like and ones_like have a zero gradient (written for req write, nothing added).
// float32 exp/tanh/sigmoid use the vectorised polynomials of fast_math.h.
#include <cmath>
#include <initializer_list>

#include "kernels/elemwise_util.h"
#include "kernels/fast_math.h"

namespace {

using cn_elem::MapStore;

enum Reads { kNothing, kInput, kOutput, kZeroGrad };

// One row of the table: Name, what the gradient reads, y = FWD(x), dx = GRAD(dy, x, y).
#define CN_UNARY(Name, reads, fwd, grad)                            \
  struct Name {                                                     \
    static constexpr Reads kReads = reads;                          \
    template <typename T> static T Fwd(T x) { return fwd; }         \
    template <typename T> static T Grad(T dy, T x, T y) { return grad; } \
  };

CN_UNARY(Exp, kOutput, cn_fast::Exp(x), dy * y)
CN_UNARY(Log, kInput, std::log(x), dy / x)
CN_UNARY(Sqrt, kOutput, std::sqrt(x), dy / (T(2) * y))
CN_UNARY(Rsqrt, kOutput, T(1) / std::sqrt(x), T(-0.5) * dy * y * y * y)
CN_UNARY(Square, kInput, x * x, T(2) * x * dy)
CN_UNARY(Abs, kInput, std::abs(x), x > T(0) ? dy : (x < T(0) ? -dy : T(0)))
CN_UNARY(Negative, kNothing, -x, -dy)
CN_UNARY(Reciprocal, kOutput, T(1) / x, -dy * y * y)
CN_UNARY(Sigmoid, kOutput, cn_fast::Sigmoid(x), dy * y * (T(1) - y))
CN_UNARY(Tanh, kOutput, cn_fast::Tanh(x), dy * (T(1) - y * y))
CN_UNARY(Relu, kOutput, x > T(0) ? x : T(0), y > T(0) ? dy : T(0))
CN_UNARY(Sin, kInput, std::sin(x), dy * std::cos(x))
CN_UNARY(Cos, kInput, std::cos(x), -dy * std::sin(x))
CN_UNARY(Sign, kZeroGrad, T((x > T(0)) - (x < T(0))), T(0))
CN_UNARY(ZerosLike, kZeroGrad, T(0), T(0))
CN_UNARY(OnesLike, kZeroGrad, T(1), T(0))

#undef CN_UNARY

template <typename F>
void Forward(const cn::NoParams&, const cn::ForwardArgs& a) {
  if (a.in[0].dtype == CN_FLOAT16) {  // forward only: computed in float32, rounded to half once
    // (correctly rounded for sqrt, square, abs, negative, relu, sign; the rest within an ulp)
    const _Float16* x = a.in[0].ptr<_Float16>();
    MapStore(a.out[0].ptr<_Float16>(), a.out[0].size(), a.req[0],
             [=](int64_t i) { return _Float16(F::Fwd(float(x[i]))); });
    return;
  }
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    const DType* x = a.in[0].ptr<DType>();
    MapStore(a.out[0].ptr<DType>(), a.out[0].size(), a.req[0],
             [=](int64_t i) { return F::Fwd(x[i]); });
  });
}

// dx[i] is computed from dy[i] (and x[i] or y[i]) before it is stored, so dx may share dy's buffer.
template <typename F>
void Backward(const cn::NoParams&, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL || (F::kReads == kZeroGrad && req == CN_REQ_ADD)) return;
  CN_FLOAT_SWITCH(a.in_grad[0].dtype, DType, {
    DType* dx = a.in_grad[0].ptr<DType>();
    int64_t n = a.in_grad[0].size();
    if (F::kReads == kZeroGrad) {
      MapStore(dx, n, req, [](int64_t) { return DType(0); });
    } else {
      const DType* dy = a.out_grad[0].ptr<DType>();
      const DType* x = F::kReads == kInput ? a.in[0].ptr<DType>() : nullptr;
      const DType* y = F::kReads == kOutput ? a.out[0].ptr<DType>() : nullptr;
      MapStore(dx, n, req, [=](int64_t i) {
        return F::Grad(dy[i], F::kReads == kInput ? x[i] : DType(0),
                       F::kReads == kOutput ? y[i] : DType(0));
      });
    }
  });
}

template <typename F>
void Needs(const cn::NoParams&, cn::BackwardNeeds& n) {
  if (F::kReads == kZeroGrad) return;
  n.out_grad(0);
  if (F::kReads == kInput) n.input(0);
  if (F::kReads == kOutput) n.output(0);
}

template <typename F>
void RegisterUnary(const char* name, std::initializer_list<const char*> aliases, const char* doc) {
  auto& op = cn::NewOp<cn::NoParams>(name)
      .describe(doc)
      .inputs({"data"})
      .outputs({"output"})
      .forward(Forward<F>)
      .backward(Backward<F>)
      .backward_needs(Needs<F>)
      .inplace({{0, 0}})
      .backward_inplace({{0, 0}});
  for (const char* alias : aliases) op.alias(alias);
}

[[maybe_unused]] const bool kRegistered = [] {
  RegisterUnary<Exp>("exp", {}, "Returns element-wise exponential value of the input.");
  RegisterUnary<Log>("log", {}, "Returns element-wise Natural logarithmic value of the input.");
  RegisterUnary<Sqrt>("sqrt", {}, "Returns element-wise square-root value of the input.");
  RegisterUnary<Rsqrt>("rsqrt", {},
                       "Returns element-wise inverse square-root value of the input.");
  RegisterUnary<Square>("square", {}, "Returns element-wise squared value of the input.");
  RegisterUnary<Abs>("abs", {}, "Returns element-wise absolute value of the input.");
  RegisterUnary<Negative>("negative", {}, "Numerical negative of the argument, element-wise.");
  RegisterUnary<Reciprocal>("reciprocal", {},
                            "Returns the reciprocal of the argument, element-wise.");
  RegisterUnary<Sigmoid>("sigmoid", {}, "Computes sigmoid of x element-wise: 1 / (1 + exp(-x)).");
  RegisterUnary<Tanh>("tanh", {},
                      "Returns the hyperbolic tangent of the input array, computed element-wise.");
  RegisterUnary<Relu>("relu", {}, "Computes rectified linear activation: max(x, 0).");
  RegisterUnary<Sin>("sin", {}, "Computes the element-wise sine of the input array.");
  RegisterUnary<Cos>("cos", {}, "Computes the element-wise cosine of the input array.");
  RegisterUnary<Sign>("sign", {}, "Returns element-wise sign of the input (gradient zero).");
  RegisterUnary<ZerosLike>("zeros_like", {},
                           "Returns an array of zeros with the same shape and type as the input.");
  RegisterUnary<OnesLike>("ones_like", {},
                          "Returns an array of ones with the same shape and type as the input.");
  return true;
}();

}  // namespace
