// Binary comparison, logic and the two remaining arithmetic ops (modulo, hypot), each in MXNet's
// three forms: same-shape elementwise (`_equal`), broadcasting (`broadcast_equal`), and with a
// scalar (`_equal_scalar`; `_rmod_scalar` for scalar % x).
//   Comparisons and logic return 1 where true, 0 elsewhere, in the input's dtype, and have no
//   gradient (NO_GRAD), as in MXNet. NaN compares unequal to everything.
//   mod: MXNet's sign rule (the result has the divisor's sign, like Python's %), and x % 0 = 0.
//     d/da = 1, d/db = -floor(a / b) (MXNet's mod gradients).
//   hypot: sqrt(a^2 + b^2); d/da = a / h, d/db = b / h (0 where h = 0).
// The broadcast kernel is a plain odometer over the output; these ops are not on hot paths.
#include <cmath>
#include <initializer_list>

#include "coarsenet/op.h"

namespace {

// ---- the functors: Fwd(a, b); GradA/GradB for the differentiable ones.

#define CN_CMP(Name, expr)                                                       \
  struct Name {                                                                  \
    static constexpr bool kDiff = false;                                         \
    template <typename T> static T Fwd(T a, T b) { return (expr) ? T(1) : T(0); } \
    template <typename T> static T GradA(T, T, T) { return T(0); }               \
    template <typename T> static T GradB(T, T, T) { return T(0); }               \
  };
CN_CMP(Equal, a == b)
CN_CMP(NotEqual, a != b)
CN_CMP(Greater, a > b)
CN_CMP(GreaterEqual, a >= b)
CN_CMP(Lesser, a < b)
CN_CMP(LesserEqual, a <= b)
CN_CMP(LogicalAnd, a != T(0) && b != T(0))
CN_CMP(LogicalOr, a != T(0) || b != T(0))
CN_CMP(LogicalXor, (a != T(0)) != (b != T(0)))
#undef CN_CMP

struct Mod {
  static constexpr bool kDiff = true;
  template <typename T> static T Fwd(T a, T b) {
    if (b == T(0)) return T(0);
    T r = std::fmod(a, b);
    return (r != T(0) && ((r < T(0)) != (b < T(0)))) ? r + b : r;
  }
  template <typename T> static T GradA(T dy, T, T) { return dy; }
  template <typename T> static T GradB(T dy, T a, T b) {
    return b == T(0) ? T(0) : -dy * std::floor(a / b);
  }
};

struct Hypot {
  static constexpr bool kDiff = true;
  template <typename T> static T Fwd(T a, T b) { return std::hypot(a, b); }
  template <typename T> static T GradA(T dy, T a, T b) {
    T h = std::hypot(a, b);
    return h == T(0) ? T(0) : dy * a / h;
  }
  template <typename T> static T GradB(T dy, T a, T b) {
    T h = std::hypot(a, b);
    return h == T(0) ? T(0) : dy * b / h;
  }
};

// Scalar on the left: scalar (op) x, for _rmod_scalar.
template <typename F>
struct Reversed {
  static constexpr bool kDiff = F::kDiff;
  template <typename T> static T Fwd(T a, T b) { return F::Fwd(b, a); }
  template <typename T> static T GradA(T dy, T a, T b) { return F::GradB(dy, b, a); }
  template <typename T> static T GradB(T dy, T a, T b) { return F::GradA(dy, b, a); }
};

enum { kLhs, kRhs };

// ---- shapes

cn::Shape Broadcast(const cn::Shape& l, const cn::Shape& r) {
  int nd = std::max(l.ndim, r.ndim);
  std::vector<int64_t> out(nd);
  for (int d = 0; d < nd; ++d) {
    int64_t a = d >= nd - l.ndim ? l[d - (nd - l.ndim)] : 1;
    int64_t b = d >= nd - r.ndim ? r[d - (nd - r.ndim)] : 1;
    if (a != b && a != 1 && b != 1)
      throw cn::Error(cn::Msg("operands could not be broadcast together with shapes ", l, " ", r));
    out[d] = a == 1 ? b : a;
  }
  return cn::Shape(out);
}

void BroadcastShape(const cn::NoParams&, cn::ShapeContext& s) {
  cn::Shape l = s.in(kLhs), r = s.in(kRhs);
  if (l.known() && r.known()) s.SetOutput(0, Broadcast(l, r));
}

void SameShape(const cn::NoParams&, cn::ShapeContext& s) {
  cn::Shape l = s.in(kLhs), r = s.in(kRhs);
  if (l.known() && r.known() && l != r)
    throw cn::Error(cn::Msg("inputs 'lhs' and 'rhs' must have the same shape, found ", l, " and ",
                            r, " (use broadcast_* ops to broadcast)"));
  cn::SameShape(cn::NoParams{}, s);
}

// Offsets into lhs and rhs of every output element (strides 0 along stretched dims).
struct Odometer {
  int nd;
  int64_t dims[CN_MAX_NDIM], sl[CN_MAX_NDIM], sr[CN_MAX_NDIM];
  Odometer(const cn::Shape& l, const cn::Shape& r) {
    cn::Shape out = Broadcast(l, r);
    nd = out.ndim;
    int64_t al = 1, ar = 1;
    for (int d = nd - 1; d >= 0; --d) {
      dims[d] = out[d];
      int64_t dl = d >= nd - l.ndim ? l[d - (nd - l.ndim)] : 1;
      int64_t dr = d >= nd - r.ndim ? r[d - (nd - r.ndim)] : 1;
      sl[d] = dl == 1 ? 0 : al;
      sr[d] = dr == 1 ? 0 : ar;
      al *= dl;
      ar *= dr;
    }
  }
  // body(i, offset_l, offset_r) for every output index i in order.
  template <typename Body>
  void Run(int64_t size, Body&& body) const {
    int64_t idx[CN_MAX_NDIM] = {0};
    int64_t ol = 0, orr = 0;
    for (int64_t i = 0; i < size; ++i) {
      body(i, ol, orr);
      for (int d = nd - 1; d >= 0; --d) {
        ol += sl[d];
        orr += sr[d];
        if (++idx[d] < dims[d]) break;
        ol -= sl[d] * dims[d];
        orr -= sr[d] * dims[d];
        idx[d] = 0;
      }
    }
  }
};

// ---- tensor (op) tensor: same shape or broadcast (the same kernels; same shape is a broadcast
// with nothing stretched).

template <typename F>
void BinaryForward(const cn::NoParams&, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  if (a.in[kRhs].dtype != a.in[kLhs].dtype)
    throw cn::Error(cn::Msg("inputs must have one dtype, found ", cn::DTypeName(a.in[kLhs].dtype),
                            " and ", cn::DTypeName(a.in[kRhs].dtype)));
  CN_FLOAT_SWITCH(a.in[kLhs].dtype, DType, {
    const DType* l = a.in[kLhs].ptr<DType>();
    const DType* r = a.in[kRhs].ptr<DType>();
    DType* y = a.out[0].ptr<DType>();
    Odometer od(a.in[kLhs].shape(), a.in[kRhs].shape());
    od.Run(a.out[0].size(), [&](int64_t i, int64_t ol, int64_t orr) {
      cn::Store(&y[i], req, F::Fwd(l[ol], r[orr]));
    });
  });
}

template <typename F>
void BinaryBackward(const cn::NoParams&, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    const DType* l = a.in[kLhs].ptr<DType>();
    const DType* r = a.in[kRhs].ptr<DType>();
    const DType* dy = a.out_grad[0].ptr<DType>();
    Odometer od(a.in[kLhs].shape(), a.in[kRhs].shape());
    int64_t n = a.out_grad[0].size();
    // Gradients go to scratch first: dy may not alias them, and stretched operands accumulate.
    std::vector<DType> gl(a.in[kLhs].size(), DType(0)), gr(a.in[kRhs].size(), DType(0));
    od.Run(n, [&](int64_t i, int64_t ol, int64_t orr) {
      gl[ol] += F::GradA(dy[i], l[ol], r[orr]);
      gr[orr] += F::GradB(dy[i], l[ol], r[orr]);
    });
    for (int k = 0; k < 2; ++k) {
      int32_t req = a.req[k];
      if (req == CN_REQ_NULL) continue;
      DType* g = a.in_grad[k].ptr<DType>();
      const std::vector<DType>& src = k == kLhs ? gl : gr;
      for (size_t i = 0; i < src.size(); ++i) cn::Store(&g[i], req, src[i]);
    }
  });
}

void BinaryNeeds(const cn::NoParams&, cn::BackwardNeeds& n) { n.all_inputs().out_grad(0); }

// ---- tensor (op) scalar

struct ScalarParam {
  double scalar;
  bool is_int;
  static void Declare(cn::ParamDecl<ScalarParam>& d) {
    d.field("scalar", &ScalarParam::scalar, 1.0, "Scalar input value.");
    d.field("is_int", &ScalarParam::is_int, true,
            "Whether the scalar is an integer (MXNet >= 1.8 graphs; float inputs ignore it).");
  }
};

template <typename F>
void ScalarForward(const ScalarParam& p, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    const DType* x = a.in[0].ptr<DType>();
    DType* y = a.out[0].ptr<DType>();
    DType s = static_cast<DType>(p.scalar);
    for (int64_t i = 0; i < a.out[0].size(); ++i) cn::Store(&y[i], req, F::Fwd(x[i], s));
  });
}

template <typename F>
void ScalarBackward(const ScalarParam& p, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    const DType* x = a.in[0].ptr<DType>();
    const DType* dy = a.out_grad[0].ptr<DType>();
    DType* g = a.in_grad[0].ptr<DType>();
    DType s = static_cast<DType>(p.scalar);
    for (int64_t i = 0; i < a.in_grad[0].size(); ++i)
      cn::Store(&g[i], req, F::GradA(dy[i], x[i], s));
  });
}

void ScalarNeeds(const ScalarParam&, cn::BackwardNeeds& n) { n.input(0).out_grad(0); }

// ---- registration: one call per op family member, all three forms.

template <typename F>
void RegisterForms(const char* elem, const char* bcast, const char* scalar, const char* what) {
  std::string doc = std::string("Returns ") + what;
  auto& e = cn::NewOp<cn::NoParams>(elem)
                .describe((doc + " element-wise (inputs of one shape).").c_str())
                .inputs({"lhs", "rhs"})
                .outputs({"output"})
                .infer_shape(SameShape)
                .forward(BinaryForward<F>);
  auto& b = cn::NewOp<cn::NoParams>(bcast)
                .describe((doc + " element-wise with broadcasting.").c_str())
                .inputs({"lhs", "rhs"})
                .outputs({"output"})
                .infer_shape(BroadcastShape)
                .forward(BinaryForward<F>);
  auto& s = cn::NewOp<ScalarParam>(scalar)
                .describe((doc + " with `scalar` as the right operand.").c_str())
                .inputs({"data"})
                .outputs({"output"})
                .forward(ScalarForward<F>)
                .inplace({{0, 0}});
  if constexpr (F::kDiff) {
    e.backward(BinaryBackward<F>).backward_needs(BinaryNeeds);
    b.backward(BinaryBackward<F>).backward_needs(BinaryNeeds);
    s.backward(ScalarBackward<F>).backward_needs(ScalarNeeds);
  } else {
    e.flags(CN_FLAG_NO_GRAD);
    b.flags(CN_FLAG_NO_GRAD);
    s.flags(CN_FLAG_NO_GRAD);
  }
}

[[maybe_unused]] const bool kRegistered = [] {
  RegisterForms<Equal>("_equal", "broadcast_equal", "_equal_scalar", "(lhs == rhs) as 1/0");
  RegisterForms<NotEqual>("_not_equal", "broadcast_not_equal", "_not_equal_scalar",
                          "(lhs != rhs) as 1/0");
  RegisterForms<Greater>("_greater", "broadcast_greater", "_greater_scalar", "(lhs > rhs) as 1/0");
  RegisterForms<GreaterEqual>("_greater_equal", "broadcast_greater_equal",
                              "_greater_equal_scalar", "(lhs >= rhs) as 1/0");
  RegisterForms<Lesser>("_lesser", "broadcast_lesser", "_lesser_scalar", "(lhs < rhs) as 1/0");
  RegisterForms<LesserEqual>("_lesser_equal", "broadcast_lesser_equal", "_lesser_equal_scalar",
                             "(lhs <= rhs) as 1/0");
  RegisterForms<LogicalAnd>("_logical_and", "broadcast_logical_and", "_logical_and_scalar",
                            "(lhs and rhs) as 1/0");
  RegisterForms<LogicalOr>("_logical_or", "broadcast_logical_or", "_logical_or_scalar",
                           "(lhs or rhs) as 1/0");
  RegisterForms<LogicalXor>("_logical_xor", "broadcast_logical_xor", "_logical_xor_scalar",
                            "(lhs xor rhs) as 1/0");
  RegisterForms<Mod>("_mod", "broadcast_mod", "_mod_scalar",
                     "lhs % rhs with the divisor's sign (0 where rhs is 0)");
  RegisterForms<Hypot>("_hypot", "broadcast_hypot", "_hypot_scalar", "sqrt(lhs^2 + rhs^2)");
  cn::NewOp<ScalarParam>("_rmod_scalar")
      .describe("Returns scalar % data with the divisor's sign (0 where data is 0).")
      .inputs({"data"})
      .outputs({"output"})
      .forward(ScalarForward<Reversed<Mod>>)
      .backward(ScalarBackward<Reversed<Mod>>)
      .backward_needs(ScalarNeeds)
      .inplace({{0, 0}});
  return true;
}();

}  // namespace
