// Embedding: out[..., :] = weight[data[...], :]  (data holds row indices, as floats or ints).
//   data: any shape; weight: (input_dim, output_dim); out: data.shape + (output_dim,).
// Backward: dweight[r] = sum of out_grad rows whose index is r; ddata = 0. Threads own disjoint
// ranges of weight rows and each scans all indices, so accumulation needs no atomics.
// An index that is not an integer in [0, input_dim) is an error (MXNet would clip it).
#include <cmath>

#include "coarsenet/op.h"

namespace {

struct EmbeddingParam {
  int64_t input_dim, output_dim;
  int dtype;
  bool sparse_grad;
  static void Declare(cn::ParamDecl<EmbeddingParam>& d) {
    d.field("input_dim", &EmbeddingParam::input_dim, 0, "Vocabulary size of the input indices.")
        .required()
        .at_least(1);
    d.field("output_dim", &EmbeddingParam::output_dim, 0, "Dimension of the embedding vectors.")
        .required()
        .at_least(1);
    d.choice("dtype", &EmbeddingParam::dtype,
             {"float32", "float64", "float16", "uint8", "int32", "int8", "int64"}, "float32",
             "Data type of weight (the codes match cn_dtype).");
    d.field("sparse_grad", &EmbeddingParam::sparse_grad, false,
            "Accepted for compatibility; the weight gradient is always dense.");
  }
};

enum { kData, kWeight };

void InferShape(const EmbeddingParam& p, cn::ShapeContext& s) {
  if (p.input_dim <= 0 || p.output_dim <= 0)
    throw cn::Error(cn::Msg("input_dim and output_dim must be positive, found ", p.input_dim,
                            " and ", p.output_dim));
  s.SetInput(kWeight, cn::Shape{p.input_dim, p.output_dim});
  cn::Shape x = s.in(kData);
  if (!x.known()) return;
  std::vector<int64_t> out = x.vec();
  out.push_back(p.output_dim);
  s.SetOutput(0, cn::Shape(out));
}

// Indices may be float (MXNet's convention) or integer; the weight decides the output dtype.
void InferType(const EmbeddingParam& p, std::vector<int>& in, std::vector<int>& out,
               std::vector<int>&) {
  if (in[kWeight] < 0) in[kWeight] = p.dtype;
  if (in[kData] < 0) in[kData] = in[kWeight];
  out[0] = in[kWeight];
}

// Row index of data element j, checked.
template <typename IType>
int64_t RowAt(const IType* data, int64_t j, int64_t input_dim) {
  double v = static_cast<double>(data[j]);
  if (!(v >= 0 && v < static_cast<double>(input_dim) && v == std::floor(v)))
    throw cn::Error(cn::Msg("index ", v, " at position ", j, " is not an integer in [0, ",
                            input_dim, ")"));
  return static_cast<int64_t>(v);
}

#define CN_INDEX_SWITCH(dtype_code, IType, ...)                                        \
  switch (dtype_code) {                                                                \
    case CN_FLOAT32: { using IType = float; __VA_ARGS__ break; }                       \
    case CN_FLOAT64: { using IType = double; __VA_ARGS__ break; }                      \
    case CN_INT32: { using IType = int32_t; __VA_ARGS__ break; }                       \
    case CN_INT64: { using IType = int64_t; __VA_ARGS__ break; }                       \
    default:                                                                           \
      throw cn::Error(cn::Msg("input 'data' expected float32, float64, int32 or int64 " \
                              "indices, found ", cn::DTypeName(dtype_code)));          \
  }

void Forward(const EmbeddingParam& p, const cn::ForwardArgs& a) {
  const int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  const int64_t n = a.in[kData].size(), dim = p.output_dim;
  CN_INDEX_SWITCH(a.in[kData].dtype, IType, {
    CN_FLOAT_SWITCH(a.in[kWeight].dtype, DType, {
      const IType* data = a.in[kData].ptr<IType>();
      const DType* w = a.in[kWeight].ptr<DType>();
      DType* y = a.out[0].ptr<DType>();
      const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, dim));
      cn::ParallelFor(n, grain, [&](int64_t b, int64_t e) {
        for (int64_t j = b; j < e; ++j) {
          const DType* row = w + RowAt(data, j, p.input_dim) * dim;
          for (int64_t k = 0; k < dim; ++k) cn::Store(&y[j * dim + k], req, row[k]);
        }
      });
    });
  });
}

void Backward(const EmbeddingParam& p, const cn::BackwardArgs& a) {
  if (a.req[kData] != CN_REQ_NULL && a.req[kData] != CN_REQ_ADD) {
    CN_INDEX_SWITCH(a.in_grad[kData].dtype, IType, {
      IType* g = a.in_grad[kData].ptr<IType>();
      std::fill(g, g + a.in_grad[kData].size(), IType(0));
    });
  }
  const int32_t req = a.req[kWeight];
  if (req == CN_REQ_NULL) return;
  const int64_t n = a.in[kData].size(), dim = p.output_dim;
  CN_INDEX_SWITCH(a.in[kData].dtype, IType, {
    CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
      const IType* data = a.in[kData].ptr<IType>();
      const DType* dy = a.out_grad[0].ptr<DType>();
      DType* dw = a.in_grad[kWeight].ptr<DType>();
      for (int64_t j = 0; j < n; ++j) RowAt(data, j, p.input_dim);  // fail before writing
      // Each thread owns weight rows [r0, r1): it clears them (write) and adds their rows of dy.
      cn::ParallelFor(p.input_dim, 1, [&](int64_t r0, int64_t r1) {
        if (req != CN_REQ_ADD) std::fill(dw + r0 * dim, dw + r1 * dim, DType(0));
        for (int64_t j = 0; j < n; ++j) {
          int64_t r = static_cast<int64_t>(data[j]);
          if (r < r0 || r >= r1) continue;
          for (int64_t k = 0; k < dim; ++k) dw[r * dim + k] += dy[j * dim + k];
        }
      });
    });
  });
}

void Needs(const EmbeddingParam&, cn::BackwardNeeds& n) { n.input(kData).out_grad(0); }

}  // namespace

CN_REGISTER_OP(Embedding, EmbeddingParam)
    .describe("Maps integer indices to rows of a weight matrix (input_dim, output_dim).")
    .inputs({"data", "weight"})
    .outputs({"output"})
    .infer_shape(InferShape)
    .infer_type(InferType)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs);
