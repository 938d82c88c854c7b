// Array-scalar arithmetic: y = x (op) s, or y = s (op) x for the reversed ops (_rminus_scalar,
// _rdiv_scalar, _rpower_scalar). Each op is a binary functor from elemwise_util.h with the scalar
// as one operand, so its gradient and what backward reads follow from the functor: _rdiv_scalar
// (dx = -dy s / x^2), maximum/minimum (which operand won) and the powers read their input; the
// others need dy alone.
#include <initializer_list>

#include "kernels/elemwise_dtype.h"
#include "kernels/elemwise_util.h"

namespace {

using cn_elem::MapStore;

struct ScalarParam {
  double scalar;
  bool is_int;
  static void Declare(cn::ParamDecl<ScalarParam>& d) {
    d.field("scalar", &ScalarParam::scalar, 1.0, "Scalar input value");
    d.field("is_int", &ScalarParam::is_int, true,
            "Indicate whether scalar input is int type (accepted for MXNet >= 1.8 graphs; "
            "float inputs ignore it)");
  }
};

template <typename F, bool kReversed>
void Forward(const ScalarParam& p, const cn::ForwardArgs& a) {
  // float16 and integers (forward only)
  if (cn_elem::OtherDTypeScalarForward<F, kReversed>(a, p.scalar)) return;
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    const DType* x = a.in[0].ptr<DType>();
    DType s = static_cast<DType>(p.scalar);
    MapStore(a.out[0].ptr<DType>(), a.out[0].size(), a.req[0], [=](int64_t i) {
      return kReversed ? F::Fwd(s, x[i]) : F::Fwd(x[i], s);
    });
  });
}

template <typename F, bool kReversed>
constexpr bool kNeedsInput = kReversed ? F::kGradBNeedsB : F::kGradANeedsA;

template <typename F, bool kReversed>
void Backward(const ScalarParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    const DType* dy = a.out_grad[0].ptr<DType>();
    const DType* x = kNeedsInput<F, kReversed> ? a.in[0].ptr<DType>() : nullptr;
    DType s = static_cast<DType>(p.scalar);
    MapStore(a.in_grad[0].ptr<DType>(), a.out_grad[0].size(), a.req[0], [=](int64_t i) {
      DType xi = kNeedsInput<F, kReversed> ? x[i] : DType(0);
      return kReversed ? F::GradB(dy[i], s, xi) : F::GradA(dy[i], xi, s);
    });
  });
}

template <typename F, bool kReversed>
void Needs(const ScalarParam&, cn::BackwardNeeds& n) {
  n.out_grad(0);
  if (kNeedsInput<F, kReversed>) n.input(0);
}

template <typename F, bool kReversed>
void RegisterScalar(const char* name, std::initializer_list<const char*> aliases, const char* doc) {
  auto& op = cn::NewOp<ScalarParam>(name)
      .describe(doc)
      .inputs({"data"})
      .outputs({"output"})
      .forward(Forward<F, kReversed>)
      .backward(Backward<F, kReversed>)
      .backward_needs(Needs<F, kReversed>)
      .inplace({{0, 0}})
      .backward_inplace({{0, 0}});
  for (const char* alias : aliases) op.alias(alias);
}

[[maybe_unused]] const bool kRegistered = [] {
  using namespace cn_elem;  // NOLINT: the binary functors
  RegisterScalar<Add, false>("_plus_scalar", {"_PlusScalar"}, "Returns data + scalar.");
  RegisterScalar<Sub, false>("_minus_scalar", {"_MinusScalar"}, "Returns data - scalar.");
  RegisterScalar<Sub, true>("_rminus_scalar", {"_RMinusScalar"}, "Returns scalar - data.");
  RegisterScalar<Mul, false>("_mul_scalar", {"_MulScalar"}, "Returns data * scalar.");
  RegisterScalar<Div, false>("_div_scalar", {"_DivScalar"}, "Returns data / scalar.");
  RegisterScalar<Div, true>("_rdiv_scalar", {"_RDivScalar"}, "Returns scalar / data.");
  RegisterScalar<Maximum, false>("_maximum_scalar", {"_MaximumScalar"},
                                 "Returns max(data, scalar).");
  RegisterScalar<Minimum, false>("_minimum_scalar", {"_MinimumScalar"},
                                 "Returns min(data, scalar).");
  RegisterScalar<Power, false>("_power_scalar", {"_PowerScalar"}, "Returns data ^ scalar.");
  RegisterScalar<Power, true>("_rpower_scalar", {"_RPowerScalar"}, "Returns scalar ^ data.");
  return true;
}();

}  // namespace
