// one_hot / onehot_encode: out[..., j] = on_value if trunc(indices[...]) == j else off_value.
// An index outside [0, depth) (negative ones included, and NaN) gives a row of off_value, as in
// MXNet; fractional indices truncate toward zero (1.7 -> 1). No gradient (NO_GRAD).
//   one_hot(indices, depth, on_value, off_value, dtype): out shape indices.shape + (depth,).
//   onehot_encode(lhs, rhs): MXNet's legacy form; lhs (N,) indices, rhs (N, K) gives the shape
//     and dtype of the result (1/0).
#include <vector>

#include "kernels/index_util.h"

namespace {

struct OneHotParam {
  int depth;
  double on_value, off_value;
  int dtype;
  static void Declare(cn::ParamDecl<OneHotParam>& d) {
    d.field("depth", &OneHotParam::depth, 0, "Size of the one-hot dimension.").required();
    d.field("on_value", &OneHotParam::on_value, 1.0, "Value at the index position.");
    d.field("off_value", &OneHotParam::off_value, 0.0, "Value everywhere else.");
    d.choice("dtype", &OneHotParam::dtype, CN_INDEX_DTYPE_CHOICES, "float32",
             "Data type of the output.");
  }
};

void OneHotShape(const OneHotParam& p, cn::ShapeContext& s) {
  if (p.depth < 0) throw cn::Error(cn::Msg("depth must be >= 0, found ", p.depth));
  cn::Shape idx = s.in(0);
  if (!idx.known()) return;
  std::vector<int64_t> out = idx.vec();
  out.push_back(p.depth);
  s.SetOutput(0, cn::Shape(out));
}

void OneHotType(const OneHotParam& p, std::vector<int>& in, std::vector<int>& out,
                std::vector<int>&) {
  if (in[0] < 0) in[0] = CN_FLOAT32;
  out[0] = p.dtype;
}

// out[i * depth + j] = j == trunc(idx[i]) ? on : off, in the output's dtype.
void Encode(const cn::Tensor& idx, const cn::Tensor& out, int64_t depth, double on, double off,
            int32_t req) {
  if (req == CN_REQ_NULL) return;
  int64_t n = idx.size();
  std::vector<int64_t> pos(n);
  CN_INDEX_SWITCH(idx.dtype, "input 'indices'", IType, {
    const IType* raw = idx.ptr<IType>();
    for (int64_t i = 0; i < n; ++i) pos[i] = cn_index::ToIndex(raw[i]);
  });
  CN_INDEX_SWITCH(out.dtype, "output", OType, {
    OType* y = out.ptr<OType>();
    OType hot = static_cast<OType>(on), cold = static_cast<OType>(off);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < depth; ++j) cn::Store(&y[i * depth + j], req, j == pos[i] ? hot : cold);
  });
}

void OneHotForward(const OneHotParam& p, const cn::ForwardArgs& a) {
  Encode(a.in[0], a.out[0], p.depth, p.on_value, p.off_value, a.req[0]);
}

void EncodeShape(const cn::NoParams&, cn::ShapeContext& s) {
  cn::Shape lhs = s.in(0), rhs = s.in(1);
  if (!rhs.known()) return;
  if (rhs.ndim != 2) throw cn::Error(cn::Msg("input 'rhs' expected 2 dims, found shape ", rhs));
  s.SetInput(0, cn::Shape{rhs[0]});
  s.SetOutput(0, rhs);
  (void)lhs;
}

void EncodeType(const cn::NoParams&, std::vector<int>& in, std::vector<int>& out,
                std::vector<int>&) {
  int t = in[1] < 0 ? CN_FLOAT32 : in[1];
  if (in[0] < 0) in[0] = t;
  out[0] = t;
}

void EncodeForward(const cn::NoParams&, const cn::ForwardArgs& a) {
  Encode(a.in[0], a.out[0], a.out[0].dims[1], 1.0, 0.0, a.req[0]);
}

}  // namespace

CN_REGISTER_OP(one_hot, OneHotParam)
    .describe("Returns a one-hot array: on_value at each index, off_value elsewhere.")
    .inputs({"indices"})
    .outputs({"output"})
    .infer_shape(OneHotShape)
    .infer_type(OneHotType)
    .forward(OneHotForward)
    .flags(CN_FLAG_NO_GRAD);

CN_REGISTER_OP(onehot_encode, cn::NoParams)
    .describe("Legacy one-hot: lhs (N,) indices into an (N, K) array shaped like rhs.")
    .inputs({"lhs", "rhs"})
    .outputs({"output"})
    .infer_shape(EncodeShape)
    .infer_type(EncodeType)
    .forward(EncodeForward)
    .flags(CN_FLAG_NO_GRAD);
