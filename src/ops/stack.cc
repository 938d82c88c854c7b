// stack(arg0, ..., arg{n-1}, axis): joins n arrays of one shape along a new axis.
//   out shape = shape[:axis] + (n,) + shape[axis:]; axis in [-(ndim+1), ndim].
// Backward: each input's gradient is its slice of dy along the new axis.
#include <string>
#include <vector>

#include "kernels/index_util.h"

namespace {

struct StackParam {
  int axis;
  int num_args;
  static void Declare(cn::ParamDecl<StackParam>& d) {
    d.field("axis", &StackParam::axis, 0, "The new axis's position in the result.");
    d.field("num_args", &StackParam::num_args, 0, "Number of inputs to be stacked.")
        .required()
        .range(1, 65536);  // a name is made per input: bound the count
  }
};

std::vector<std::string> Inputs(const StackParam& p) {
  if (p.num_args < 1) throw cn::Error(cn::Msg("num_args must be positive, found ", p.num_args));
  std::vector<std::string> names;
  for (int i = 0; i < p.num_args; ++i) names.push_back("arg" + std::to_string(i));
  return names;
}

void InferShape(const StackParam& p, cn::ShapeContext& s) {
  cn::Shape x;
  for (int i = 0; i < s.num_in() && !x.known(); ++i) x = s.in(i);
  if (!x.known()) return;
  for (int i = 0; i < s.num_in(); ++i) s.SetInput(i, x);
  int axis = cn_index::NormAxis(p.axis, x.ndim + 1);
  std::vector<int64_t> out = x.vec();
  out.insert(out.begin() + axis, p.num_args);
  s.SetOutput(0, cn::Shape(out));
}

// The output as (outer, n, inner): input i fills slot i of each outer block.
void Split(const StackParam& p, const cn::Shape& x, int64_t* outer, int64_t* inner) {
  int axis = cn_index::NormAxis(p.axis, x.ndim + 1);
  *outer = x.prod(0, axis);
  *inner = x.prod(axis, x.ndim);
}

void Forward(const StackParam& p, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  int64_t outer, inner;
  Split(p, a.in[0].shape(), &outer, &inner);
  int n = p.num_args;
  CN_FLOAT_SWITCH(a.out[0].dtype, DType, {
    DType* y = a.out[0].ptr<DType>();
    for (int i = 0; i < n; ++i) {
      if (a.in[i].dtype != a.out[0].dtype)
        throw cn::Error(cn::Msg("input 'arg", i, "' has dtype ", cn::DTypeName(a.in[i].dtype),
                                ", expected ", cn::DTypeName(a.out[0].dtype)));
      const DType* x = a.in[i].ptr<DType>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t r = 0; r < inner; ++r)
          cn::Store(&y[(o * n + i) * inner + r], req, x[o * inner + r]);
    }
  });
}

void Backward(const StackParam& p, const cn::BackwardArgs& a) {
  const cn::Tensor& dy_t = a.out_grad[0];
  cn::Shape ys = dy_t.shape();
  std::vector<int64_t> xs = ys.vec();
  xs.erase(xs.begin() + cn_index::NormAxis(p.axis, ys.ndim));
  int64_t outer, inner;
  Split(p, cn::Shape(xs), &outer, &inner);
  int n = p.num_args;
  CN_FLOAT_SWITCH(dy_t.dtype, DType, {
    const DType* dy = dy_t.ptr<DType>();
    for (int i = 0; i < n; ++i) {
      int32_t req = a.req[i];
      if (req == CN_REQ_NULL) continue;
      DType* g = a.in_grad[i].ptr<DType>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t r = 0; r < inner; ++r)
          cn::Store(&g[o * inner + r], req, dy[(o * n + i) * inner + r]);
    }
  });
}

void Needs(const StackParam&, cn::BackwardNeeds& n) { n.out_grad(0); }

}  // namespace

CN_REGISTER_OP(stack, StackParam)
    .describe("Joins arrays of one shape along a new axis.")
    .inputs(Inputs)
    .outputs({"output"})
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs);
