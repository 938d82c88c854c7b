// reverse (alias flip): reverses the order of elements along the given axes.
// Backward: the same reversal of dy. Not in place: element i reads element n-1-i.
#include <vector>

#include "kernels/index_util.h"

namespace {

struct FlipParam {
  cn::Shape axis;
  static void Declare(cn::ParamDecl<FlipParam>& d) {
    d.field("axis", &FlipParam::axis, cn::Shape{}, "The axes to reverse.").required();
  }
};

// Per dim: reversed or not.
std::vector<bool> Reversed(const FlipParam& p, int ndim) {
  std::vector<bool> rev(ndim, false);
  for (int i = 0; i < p.axis.ndim; ++i) rev[cn_index::NormAxis(p.axis[i], ndim)] = true;
  return rev;
}

void InferShape(const FlipParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  Reversed(p, x.ndim);  // validates the axes
  s.SetOutput(0, x);
}

template <typename DType>
void Flip(const FlipParam& p, const cn::Shape& shape, const DType* x, DType* y, int32_t req) {
  std::vector<bool> rev = Reversed(p, shape.ndim);
  int64_t n = shape.size();
  std::vector<int64_t> idx(shape.ndim, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t src = 0;
    for (int d = 0; d < shape.ndim; ++d)
      src = src * shape[d] + (rev[d] ? shape[d] - 1 - idx[d] : idx[d]);
    cn::Store(&y[i], req, x[src]);
    for (int d = shape.ndim - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

void Forward(const FlipParam& p, const cn::ForwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    Flip(p, a.in[0].shape(), a.in[0].ptr<DType>(), a.out[0].ptr<DType>(), a.req[0]);
  });
}

void Backward(const FlipParam& p, const cn::BackwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    Flip(p, a.out_grad[0].shape(), a.out_grad[0].ptr<DType>(), a.in_grad[0].ptr<DType>(),
         a.req[0]);
  });
}

void Needs(const FlipParam&, cn::BackwardNeeds& n) { n.out_grad(0); }

}  // namespace

CN_REGISTER_OP(reverse, FlipParam)
    .describe("Reverses the order of elements along the given axes.")
    .alias("flip")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs);
