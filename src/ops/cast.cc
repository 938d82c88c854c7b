// Cast: y = static_cast<dtype>(x) for every pair of float16/32/64, uint8, int8, int32, int64.
// Backward casts dy back to the input's dtype (the identity's gradient, in the input's type).
// Float to integer truncates toward zero like C and NumPy; values out of the target's range
// (and NaN) give unspecified results there, as in MXNet. bool and bfloat16 are MXNet dtypes
// with no storage here and are rejected with a clear error.
#include <cstdint>

#include "kernels/elemwise_util.h"

namespace {

// The choice index equals the cn_dtype code for the first seven names.
struct CastParam {
  int dtype;
  static void Declare(cn::ParamDecl<CastParam>& d) {
    d.choice("dtype", &CastParam::dtype,
             {"float32", "float64", "float16", "uint8", "int32", "int8", "int64", "bool",
              "bfloat16"},
             "float32", "Output data type.")
        .required();
  }
};

constexpr int kNumSupported = CN_INT64 + 1;

int TargetType(const CastParam& p) {
  if (p.dtype >= kNumSupported)
    throw cn::Error(cn::Msg("dtype '", p.dtype == kNumSupported ? "bool" : "bfloat16",
                            "' is not supported; expected one of float32, float64, float16, "
                            "uint8, int32, int8, int64"));
  return p.dtype;
}

void InferType(const CastParam& p, std::vector<int>& in, std::vector<int>& out,
               std::vector<int>&) {
  out[0] = TargetType(p);
}

void InferShape(const CastParam& p, cn::ShapeContext& s) {
  TargetType(p);  // fail early, at shape inference, for bool / bfloat16
  cn::SameShape(p, s);
}

// Calls fn(T{}) with the C++ type of a dtype code.
template <typename Fn>
void WithType(int code, Fn&& fn) {
  switch (code) {
    case CN_FLOAT32: return fn(float{});
    case CN_FLOAT64: return fn(double{});
    case CN_FLOAT16: return fn(_Float16{});
    case CN_UINT8: return fn(uint8_t{});
    case CN_INT32: return fn(int32_t{});
    case CN_INT8: return fn(int8_t{});
    case CN_INT64: return fn(int64_t{});
  }
  throw cn::Error(cn::Msg("unsupported dtype ", cn::DTypeName(code)));
}

// dst (=|+=) cast(src); 7 x 7 instantiations of one loop.
void Convert(const cn::Tensor& src, const cn::Tensor& dst, int32_t req) {
  if (req == CN_REQ_NULL) return;
  WithType(src.dtype, [&](auto s) {
    using S = decltype(s);
    WithType(dst.dtype, [&](auto d) {
      using D = decltype(d);
      const S* x = src.ptr<S>();
      cn_elem::MapStore(dst.ptr<D>(), dst.size(), req,
                        [=](int64_t i) { return static_cast<D>(x[i]); });
    });
  });
}

void Forward(const CastParam& p, const cn::ForwardArgs& a) {
  if (a.out[0].dtype != TargetType(p))
    throw cn::Error(cn::Msg("output expected dtype ", cn::DTypeName(p.dtype), ", found ",
                            cn::DTypeName(a.out[0].dtype)));
  Convert(a.in[0], a.out[0], a.req[0]);
}

void Backward(const CastParam&, const cn::BackwardArgs& a) {
  Convert(a.out_grad[0], a.in_grad[0], a.req[0]);
}

void Needs(const CastParam&, cn::BackwardNeeds& n) { n.out_grad(0); }

}  // namespace

CN_REGISTER_OP(Cast, CastParam)
    .describe("Casts all elements of the input to a new type.")
    .alias("cast")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(InferShape)
    .infer_type(InferType)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs);
