// Same-shape elementwise ops.
//   elemwise_add/sub/mul/div, _maximum/_minimum/_power: y = lhs (op) rhs, both of one shape;
//     gradients from the functors in elemwise_util.h (add/sub read no inputs; the others both).
//   add_n (ElementWiseSum): y = arg0 + ... + arg{n-1}; every input gradient is dy.
//   _copy (identity): y = x, dx = dy.   BlockGrad (stop_gradient): y = x, dx = 0.
//   clip: y = min(max(x, a_min), a_max); dx = dy where a_min <= x <= a_max, else 0.
#include <string>
#include <vector>

#include <initializer_list>

#include "kernels/elemwise_dtype.h"
#include "kernels/elemwise_util.h"

namespace {

using cn_elem::MapStore;

enum { kLhs, kRhs };

// ---------------------------------------------------------------- elemwise_<binary>

void InferSameShape(const cn::NoParams&, cn::ShapeContext& s) {
  cn::Shape l = s.in(kLhs), r = s.in(kRhs);
  if (l.known() && r.known() && l != r)
    throw cn::Error(cn::Msg("inputs 'lhs' and 'rhs' must have the same shape, found ", l, " and ",
                            r, " (use broadcast_* ops to broadcast)"));
  cn::SameShape(cn::NoParams{}, s);
}

template <typename F>
void BinaryForward(const cn::NoParams&, const cn::ForwardArgs& a) {
  if (cn_elem::OtherDTypeBinaryForward<F>(a)) return;  // float16 and integers (forward only)
  CN_FLOAT_SWITCH(a.in[kLhs].dtype, DType, {
    const DType* l = a.in[kLhs].ptr<DType>();
    const DType* r = a.in[kRhs].ptr<DType>();
    MapStore(a.out[0].ptr<DType>(), a.out[0].size(), a.req[0],
             [=](int64_t i) { return F::Fwd(l[i], r[i]); });
  });
}

// One pass computes both gradients from dy[i] before storing either, so dy may share its buffer
// with the lhs gradient (backward in-place).
template <typename F, typename DType>
void BinaryBackwardImpl(const cn::BackwardArgs& a) {
  const DType* dy = a.out_grad[0].ptr<DType>();
  const DType* l = cn_elem::kNeedsA<F> ? a.in[kLhs].ptr<DType>() : nullptr;
  const DType* r = cn_elem::kNeedsB<F> ? a.in[kRhs].ptr<DType>() : nullptr;
  DType* gl = a.in_grad[kLhs].ptr<DType>();
  DType* gr = a.in_grad[kRhs].ptr<DType>();
  int32_t req_l = a.req[kLhs], req_r = a.req[kRhs];
  auto lhs = [=](int64_t i) { return cn_elem::kNeedsA<F> ? l[i] : DType(0); };
  auto rhs = [=](int64_t i) { return cn_elem::kNeedsB<F> ? r[i] : DType(0); };
  int64_t n = a.out_grad[0].size();
  if (req_l == CN_REQ_NULL) {
    MapStore(gr, n, req_r, [=](int64_t i) { return F::GradB(dy[i], lhs(i), rhs(i)); });
  } else if (req_r == CN_REQ_NULL) {
    MapStore(gl, n, req_l, [=](int64_t i) { return F::GradA(dy[i], lhs(i), rhs(i)); });
  } else {
    cn_elem::Chunked(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        DType g = dy[i], x = lhs(i), y = rhs(i);
        DType ga = F::GradA(g, x, y), gb = F::GradB(g, x, y);
        cn::Store(&gr[i], req_r, gb);
        cn::Store(&gl[i], req_l, ga);
      }
    });
  }
}

template <typename F>
void BinaryBackward(const cn::NoParams&, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, { BinaryBackwardImpl<F, DType>(a); });
}

template <typename F>
void BinaryNeeds(const cn::NoParams&, cn::BackwardNeeds& n) {
  n.out_grad(0);
  if (cn_elem::kNeedsA<F>) n.input(kLhs);
  if (cn_elem::kNeedsB<F>) n.input(kRhs);
}

template <typename F>
void RegisterBinary(const char* name, std::initializer_list<const char*> aliases, const char* doc) {
  auto& op = cn::NewOp<cn::NoParams>(name)
      .describe(doc)
      .inputs({"lhs", "rhs"})
      .outputs({"output"})
      .infer_shape(InferSameShape)
      .forward(BinaryForward<F>)
      .backward(BinaryBackward<F>)
      .backward_needs(BinaryNeeds<F>)
      .inplace({{kLhs, 0}, {kRhs, 0}})
      .backward_inplace({{0, kLhs}})
      .batch_separable(CN_BATCH_INFERENCE | CN_BATCH_TRAIN);  // one shape: element-wise
  for (const char* alias : aliases) op.alias(alias);
}

// ---------------------------------------------------------------- add_n

struct AddNParam {
  int num_args;
  static void Declare(cn::ParamDecl<AddNParam>& d) {
    d.field("num_args", &AddNParam::num_args, 0, "Number of inputs to be summed.").required()
        .range(1, 65536);  // a name is made per input: bound the count
  }
};

std::vector<std::string> AddNInputs(const AddNParam& p) {
  if (p.num_args < 1) throw cn::Error(cn::Msg("num_args must be at least 1, found ", p.num_args));
  std::vector<std::string> names;
  for (int i = 0; i < p.num_args; ++i) names.push_back("arg" + std::to_string(i));
  return names;
}

void InferAddN(const AddNParam&, cn::ShapeContext& s) {
  cn::Shape first;
  for (int i = 0; i < s.num_in(); ++i) {
    if (!s.in(i).known()) continue;
    if (!first.known()) {
      first = s.in(i);
    } else if (s.in(i) != first) {
      throw cn::Error(cn::Msg("every input must have one shape; found ", first, " and input '",
                              s.in_name(i), "' of shape ", s.in(i)));
    }
  }
  cn::SameShape(AddNParam{}, s);
}

// out = arg0 + arg1 (or out += arg0 for add), then out += argk. Input 0 may alias the output:
// the first pass reads arg0[i] before writing out[i].
void AddNForward(const AddNParam& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.out[0].dtype, DType, {
    DType* y = a.out[0].ptr<DType>();
    int64_t n = a.out[0].size();
    int32_t req = a.req[0];
    if (req == CN_REQ_NULL) return;
    const DType* x0 = a.in[0].ptr<DType>();
    int first = 1;
    if (p.num_args == 1 || req == CN_REQ_ADD) {
      MapStore(y, n, req, [=](int64_t i) { return x0[i]; });
    } else {
      const DType* x1 = a.in[1].ptr<DType>();
      MapStore(y, n, req, [=](int64_t i) { return x0[i] + x1[i]; });
      first = 2;
    }
    for (int k = first; k < p.num_args; ++k) {
      const DType* xk = a.in[k].ptr<DType>();
      MapStore(y, n, CN_REQ_ADD, [=](int64_t i) { return xk[i]; });
    }
  });
}

// ---------------------------------------------------------------- unary: _copy, BlockGrad, clip

// Every input gradient is dy (add_n, _copy). Gradient 0 may share dy's buffer: copying onto
// itself is harmless, and the other gradients read dy, which stays unchanged.
template <typename P>
void PassGradBackward(const P&, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    const DType* dy = a.out_grad[0].ptr<DType>();
    for (int k = 0; k < a.in_grad.size(); ++k)
      MapStore(a.in_grad[k].ptr<DType>(), a.out_grad[0].size(), a.req[k],
               [=](int64_t i) { return dy[i]; });
  });
}

template <typename P>
void NeedsOutGrad(const P&, cn::BackwardNeeds& n) { n.out_grad(0); }

void CopyForward(const cn::NoParams&, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    const DType* x = a.in[0].ptr<DType>();
    MapStore(a.out[0].ptr<DType>(), a.out[0].size(), a.req[0], [=](int64_t i) { return x[i]; });
  });
}

// BlockGrad's gradient is zero: write zeros, add nothing.
void ZeroGradBackward(const cn::NoParams&, const cn::BackwardArgs& a) {
  if (a.req[0] != CN_REQ_WRITE && a.req[0] != CN_REQ_INPLACE) return;
  CN_FLOAT_SWITCH(a.in_grad[0].dtype, DType, {
    MapStore(a.in_grad[0].ptr<DType>(), a.in_grad[0].size(), a.req[0],
             [](int64_t) { return DType(0); });
  });
}

void NeedsNothing(const cn::NoParams&, cn::BackwardNeeds&) {}

struct ClipParam {
  float a_min, a_max;
  static void Declare(cn::ParamDecl<ClipParam>& d) {
    d.field("a_min", &ClipParam::a_min, 0.f, "Minimum value").required()
        .not_nan();
    d.field("a_max", &ClipParam::a_max, 0.f, "Maximum value").required()
        .not_nan();
  }
};

void InferClip(const ClipParam& p, cn::ShapeContext& s) {
  if (!(p.a_min <= p.a_max))
    throw cn::Error(cn::Msg("a_min must not exceed a_max, found a_min=", p.a_min,
                            " and a_max=", p.a_max));
  cn::SameShape(p, s);
}

void ClipForward(const ClipParam& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    const DType* x = a.in[0].ptr<DType>();
    DType lo = p.a_min, hi = p.a_max;
    MapStore(a.out[0].ptr<DType>(), a.out[0].size(), a.req[0], [=](int64_t i) {
      DType v = x[i] < lo ? lo : x[i];
      return v > hi ? hi : v;
    });
  });
}

void ClipBackward(const ClipParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    const DType* x = a.in[0].ptr<DType>();
    const DType* dy = a.out_grad[0].ptr<DType>();
    DType lo = p.a_min, hi = p.a_max;
    // dy is loaded unconditionally and the two tests combined without short-circuit, so the
    // loop vectorises into a masked select: `x >= lo && x <= hi ? dy[i] : 0` compiled to a
    // branch per element, mispredicted on half of them after BatchNorm (ReLU6 backward in
    // MobileNet v2 ran 15-40x slower than ReLU's).
    MapStore(a.in_grad[0].ptr<DType>(), a.out_grad[0].size(), a.req[0], [=](int64_t i) {
      DType g = dy[i], v = x[i];
      return ((v >= lo) & (v <= hi)) ? g : DType(0);
    });
  });
}

void ClipNeeds(const ClipParam&, cn::BackwardNeeds& n) { n.input(0).out_grad(0); }

// ---------------------------------------------------------------- registration

[[maybe_unused]] const bool kRegistered = [] {
  RegisterBinary<cn_elem::Add>("elemwise_add", {"_add", "_plus", "_Plus"},
                               "Adds arguments element-wise: lhs + rhs.");
  RegisterBinary<cn_elem::Sub>("elemwise_sub", {"_sub", "_minus", "_Minus"},
                               "Subtracts arguments element-wise: lhs - rhs.");
  RegisterBinary<cn_elem::Mul>("elemwise_mul", {"_mul", "_Mul"},
                               "Multiplies arguments element-wise: lhs * rhs.");
  RegisterBinary<cn_elem::Div>("elemwise_div", {"_div", "_Div"},
                               "Divides arguments element-wise: lhs / rhs.");
  RegisterBinary<cn_elem::Maximum>("_maximum", {"_Maximum"},
                                   "Element-wise maximum of the arguments: max(lhs, rhs).");
  RegisterBinary<cn_elem::Minimum>("_minimum", {"_Minimum"},
                                   "Element-wise minimum of the arguments: min(lhs, rhs).");
  RegisterBinary<cn_elem::Power>("_power", {"_Power"},
                                 "Element-wise power of the arguments: lhs ^ rhs.");
  return true;
}();

}  // namespace

CN_REGISTER_OP(add_n, AddNParam)
    .describe("Adds all input arguments element-wise: arg0 + arg1 + ... + arg{num_args-1}.")
    .alias("ElementWiseSum")
    .inputs(AddNInputs)
    .outputs({"output"})
    .infer_shape(InferAddN)
    .forward(AddNForward)
    .backward(PassGradBackward<AddNParam>)
    .backward_needs(NeedsOutGrad<AddNParam>)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});

CN_REGISTER_OP(_copy, cn::NoParams)
    .describe("Returns a copy of the input.")
    .alias("identity")
    .inputs({"data"})
    .outputs({"output"})
    .forward(CopyForward)
    .backward(PassGradBackward<cn::NoParams>)
    .backward_needs(NeedsOutGrad<cn::NoParams>)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});

CN_REGISTER_OP(BlockGrad, cn::NoParams)
    .describe("Stops gradient computation: the output equals the input, its gradient is zero.")
    .alias("stop_gradient")
    .inputs({"data"})
    .outputs({"output"})
    .forward(CopyForward)
    .backward(ZeroGradBackward)
    .backward_needs(NeedsNothing)
    .inplace({{0, 0}})
    .flags(CN_FLAG_NO_GRAD);

CN_REGISTER_OP(clip, ClipParam)
    .describe("Clips (limits) the values in an array to [a_min, a_max].")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(InferClip)
    .forward(ClipForward)
    .backward(ClipBackward)
    .backward_needs(ClipNeeds)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});
