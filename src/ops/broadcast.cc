// broadcast_add/sub/mul/div/maximum/minimum/power: y = lhs (op) rhs with NumPy broadcasting
// (shapes aligned at the right, a dim of 1 stretches to the other operand's size). The gradient
// of an operand is the functor's gradient summed over the axes along which it was stretched.
//
// Kernels first collapse the broadcast into at most CN_MAX_NDIM "runs": output dims of size 1
// are dropped and adjacent dims merged when both operands are stretched (or not) alike, so a
// bias add (N, C, H, W) + (1, C, 1, 1) becomes three runs and the innermost loop is a
// contiguous or constant-operand loop the compiler vectorises.
#include <algorithm>
#include <utility>

#include <initializer_list>

#include "kernels/elemwise_dtype.h"
#include "kernels/elemwise_util.h"

namespace {

using cn_elem::MapStore;

enum { kLhs, kRhs };

cn::Shape BroadcastShape(const cn::Shape& l, const cn::Shape& r) {
  int nd = std::max(l.ndim, r.ndim);
  cn::Shape out;
  out.ndim = nd;
  for (int d = 0; d < nd; ++d) {
    int64_t a = d >= nd - l.ndim ? l[d - (nd - l.ndim)] : 1;
    int64_t b = d >= nd - r.ndim ? r[d - (nd - r.ndim)] : 1;
    if (a != b && a != 1 && b != 1)
      throw cn::Error(cn::Msg("operands could not be broadcast together with shapes ", l, " ", r));
    out[d] = a == 1 ? b : a;
  }
  return out;
}

void InferShape(const cn::NoParams&, cn::ShapeContext& s) {
  cn::Shape l = s.in(kLhs), r = s.in(kRhs);
  if (l.known() && r.known()) s.SetOutput(0, BroadcastShape(l, r));
}

// The collapsed iteration space: runs of the output with each operand's stride per run (0 where
// the operand is stretched).
struct Plan {
  int ndim = 0;
  int64_t dims[CN_MAX_NDIM], stride[2][CN_MAX_NDIM];
  int64_t size = 1, inner = 1, rows = 1;
  bool dense[2];  // operand has the output's shape (no reduction in its gradient)

  Plan(const cn::Shape& l, const cn::Shape& r) {
    cn::Shape out = BroadcastShape(l, r);
    bool flags[CN_MAX_NDIM][2];
    for (int d = 0; d < out.ndim; ++d) {
      if (out[d] == 1) continue;
      bool bl = d < out.ndim - l.ndim || l[d - (out.ndim - l.ndim)] == 1;
      bool br = d < out.ndim - r.ndim || r[d - (out.ndim - r.ndim)] == 1;
      if (ndim > 0 && flags[ndim - 1][0] == bl && flags[ndim - 1][1] == br) {
        dims[ndim - 1] *= out[d];
      } else {
        dims[ndim] = out[d];
        flags[ndim][0] = bl;
        flags[ndim][1] = br;
        ++ndim;
      }
    }
    if (ndim == 0) {  // a single element
      dims[0] = 1;
      flags[0][0] = flags[0][1] = false;
      ndim = 1;
    }
    for (int k = 0; k < 2; ++k) {
      int64_t acc = 1;
      for (int d = ndim - 1; d >= 0; --d) {
        stride[k][d] = flags[d][k] ? 0 : acc;
        if (!flags[d][k]) acc *= dims[d];
      }
    }
    size = out.size();
    inner = dims[ndim - 1];
    rows = inner == 0 ? 0 : size / inner;
    dense[0] = l.size() == size;
    dense[1] = r.size() == size;
  }

  // Offsets of row `row` (all runs but the last) into lhs and rhs.
  void RowOffsets(int64_t row, int64_t* off_l, int64_t* off_r) const {
    int64_t ol = 0, orr = 0;
    for (int d = ndim - 2; d >= 0; --d) {
      int64_t i = row % dims[d];
      row /= dims[d];
      ol += i * stride[0][d];
      orr += i * stride[1][d];
    }
    *off_l = ol;
    *off_r = orr;
  }
};

template <typename F, typename DType>
void ForwardImpl(const cn::ForwardArgs& a) {
  Plan p(a.in[kLhs].shape(), a.in[kRhs].shape());
  const DType* l = a.in[kLhs].ptr<DType>();
  const DType* r = a.in[kRhs].ptr<DType>();
  DType* y = a.out[0].ptr<DType>();
  int32_t req = a.req[0];
  int64_t sl = p.stride[0][p.ndim - 1], sr = p.stride[1][p.ndim - 1], n = p.inner;
  cn_elem::ChunkedRows(p.rows, n, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      int64_t ol, orr;
      p.RowOffsets(row, &ol, &orr);
      const DType *lr = l + ol, *rr = r + orr;
      DType* yr = y + row * n;
      if (sl && sr) {
        for (int64_t i = 0; i < n; ++i) cn::Store(&yr[i], req, F::Fwd(lr[i], rr[i]));
      } else if (sl) {
        DType b = rr[0];
        for (int64_t i = 0; i < n; ++i) cn::Store(&yr[i], req, F::Fwd(lr[i], b));
      } else {
        DType b = lr[0];
        for (int64_t i = 0; i < n; ++i) cn::Store(&yr[i], req, F::Fwd(b, rr[i]));
      }
    }
  });
}

template <typename F>
void Forward(const cn::NoParams&, const cn::ForwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  int dtype = a.in[kLhs].dtype;
  bool other = cn_elem::OtherDTypeSwitch(dtype, [&](auto tag) {  // float16, integers: forward only
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, _Float16>) {  // (an empty output divides nothing)
      const T* r = a.in[kRhs].ptr<T>();
      cn_elem::CheckIntegerOp<F, T>(a.out[0].size() ? a.in[kRhs].size() : 0, [=](int64_t i) { return r[i]; },
                                    cn::DTypeName(dtype));
    }
    ForwardImpl<cn_elem::AnyDType<F>, T>(a);
  });
  if (other) return;
  CN_FLOAT_SWITCH(dtype, DType, { ForwardImpl<F, DType>(a); });
}

// Gradient of operand k (0 = lhs, 1 = rhs). A dense operand gets one store per element, split
// across threads; a stretched one accumulates over the runs it was stretched along.
template <typename F, int k, typename DType>
void GradOperand(const Plan& p, const cn::BackwardArgs& a) {
  int32_t req = a.req[k];
  if (req == CN_REQ_NULL) return;
  const DType* dy = a.out_grad[0].ptr<DType>();
  const DType* l = cn_elem::kNeedsA<F> ? a.in[kLhs].ptr<DType>() : nullptr;
  const DType* r = cn_elem::kNeedsB<F> ? a.in[kRhs].ptr<DType>() : nullptr;
  DType* g = a.in_grad[k].ptr<DType>();
  int64_t sl = p.stride[0][p.ndim - 1], sr = p.stride[1][p.ndim - 1], n = p.inner;
  int64_t sg = k == 0 ? sl : sr;
  auto term = [=](int64_t row, int64_t ol, int64_t orr, int64_t i) {
    DType av = cn_elem::kNeedsA<F> ? l[ol + i * sl] : DType(0);
    DType bv = cn_elem::kNeedsB<F> ? r[orr + i * sr] : DType(0);
    DType gy = dy[row * n + i];
    return k == 0 ? F::GradA(gy, av, bv) : F::GradB(gy, av, bv);
  };
  if (p.dense[k]) {
    cn_elem::ChunkedRows(p.rows, n, [&](int64_t r0, int64_t r1) {
      for (int64_t row = r0; row < r1; ++row) {
        int64_t ol, orr;
        p.RowOffsets(row, &ol, &orr);
        DType* gr = g + row * n;
        for (int64_t i = 0; i < n; ++i) cn::Store(&gr[i], req, term(row, ol, orr, i));
      }
    });
    return;
  }
  if (req != CN_REQ_ADD) std::fill(g, g + a.in_grad[k].size(), DType(0));
  cn_elem::AccumulateRows(p.rows, n, sg == 0, g, [&](int64_t row) {
    int64_t ol, orr;
    p.RowOffsets(row, &ol, &orr);
    return std::make_pair(k == 0 ? ol : orr,
                          [=](int64_t i) { return term(row, ol, orr, i); });
  });
}

// An operand's shape from its gradient or its value; when backward has neither (add/sub with that
// gradient not requested) nothing of it is read, and the output's shape stands in.
cn::Shape OperandShape(const cn::BackwardArgs& a, int k) {
  if (!a.in_grad[k].empty()) return a.in_grad[k].shape();
  if (!a.in[k].empty()) return a.in[k].shape();
  return a.out_grad[0].shape();
}

template <typename F>
void Backward(const cn::NoParams&, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    Plan p(OperandShape(a, kLhs), OperandShape(a, kRhs));
    // rhs first: dy may share its buffer with the lhs gradient (backward in-place).
    GradOperand<F, 1, DType>(p, a);
    GradOperand<F, 0, DType>(p, a);
  });
}

template <typename F>
void Needs(const cn::NoParams&, cn::BackwardNeeds& n) {
  n.out_grad(0);
  if (cn_elem::kNeedsA<F>) n.input(kLhs);
  if (cn_elem::kNeedsB<F>) n.input(kRhs);
}

template <typename F>
void RegisterBroadcast(const char* name, std::initializer_list<const char*> aliases, const char* doc) {
  auto& op = cn::NewOp<cn::NoParams>(name)
      .describe(doc)
      .inputs({"lhs", "rhs"})
      .outputs({"output"})
      .infer_shape(InferShape)
      .forward(Forward<F>)
      .backward(Backward<F>)
      .backward_needs(Needs<F>)
      .inplace({{kLhs, 0}, {kRhs, 0}})  // used only when that input has the output's shape
      .backward_inplace({{0, kLhs}});
  for (const char* alias : aliases) op.alias(alias);
}

[[maybe_unused]] const bool kRegistered = [] {
  RegisterBroadcast<cn_elem::Add>("broadcast_add", {"broadcast_plus"}, "Returns lhs + rhs with broadcasting.");
  RegisterBroadcast<cn_elem::Sub>("broadcast_sub", {"broadcast_minus"}, "Returns lhs - rhs with broadcasting.");
  RegisterBroadcast<cn_elem::Mul>("broadcast_mul", {}, "Returns lhs * rhs with broadcasting.");
  RegisterBroadcast<cn_elem::Div>("broadcast_div", {}, "Returns lhs / rhs with broadcasting.");
  RegisterBroadcast<cn_elem::Maximum>("broadcast_maximum", {},
                                      "Returns max(lhs, rhs) element-wise with broadcasting.");
  RegisterBroadcast<cn_elem::Minimum>("broadcast_minimum", {},
                                      "Returns min(lhs, rhs) element-wise with broadcasting.");
  RegisterBroadcast<cn_elem::Power>("broadcast_power", {},
                                    "Returns lhs ^ rhs element-wise with broadcasting.");
  return true;
}();

}  // namespace
