// FullyConnected: y = x W^T + b.
//   x: (N, K) after flattening all but the first axis (flatten=True) or all but the last
//   (flatten=False); W: (num_hidden, K); b: (num_hidden,); y: (N, num_hidden) or x.shape[:-1]+(H,).
// Backward: dx = dy W, dW = dy^T x, db = sum_rows(dy). All three are single GEMMs or a row sum.
#include "coarsenet/op.h"

namespace {

struct FullyConnectedParam {
  int64_t num_hidden;
  bool no_bias;
  bool flatten;
  static void Declare(cn::ParamDecl<FullyConnectedParam>& d) {
    d.field("num_hidden", &FullyConnectedParam::num_hidden, 0, "Number of hidden nodes of the output.")
        .required()
        .at_least(1);
    d.field("no_bias", &FullyConnectedParam::no_bias, false, "Whether to disable the bias parameter.");
    d.field("flatten", &FullyConnectedParam::flatten, true,
            "Whether to collapse all but the first axis of the input data tensor.");
  }
};

enum { kData, kWeight, kBias };

// Rows and columns of the 2-D view of data.
std::pair<int64_t, int64_t> DataMatrix(const FullyConnectedParam& p, const cn::Shape& x) {
  if (p.flatten) return {x[0], x.prod(1, x.ndim)};
  return {x.prod(0, x.ndim - 1), x[x.ndim - 1]};
}

void InferShape(const FullyConnectedParam& p, cn::ShapeContext& s) {
  if (p.num_hidden <= 0)
    throw cn::Error(cn::Msg("num_hidden must be positive, found ", p.num_hidden));
  cn::Shape x = s.in(kData);
  if (!x.known()) return;
  if (x.ndim < 1) throw cn::Error("input 'data' must have at least 1 dim, found a scalar");
  auto [rows, cols] = DataMatrix(p, x);
  s.SetInput(kWeight, cn::Shape{p.num_hidden, cols});
  if (!p.no_bias) s.SetInput(kBias, cn::Shape{p.num_hidden});
  cn::Shape y = x;
  if (p.flatten) {
    y = cn::Shape{x[0], p.num_hidden};
  } else {
    y[x.ndim - 1] = p.num_hidden;
  }
  (void)rows;
  s.SetOutput(0, y);
}

template <typename DType>
void ForwardImpl(const FullyConnectedParam& p, const cn::ForwardArgs& a) {
  auto [n, k] = DataMatrix(p, a.in[kData].shape());
  int64_t h = p.num_hidden;
  const DType* x = a.in[kData].ptr<DType>();
  const DType* w = a.in[kWeight].ptr<DType>();
  DType* y = a.out[0].ptr<DType>();
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  DType beta = req == CN_REQ_ADD ? 1 : 0;
  if (!p.no_bias && req != CN_REQ_ADD) {
    // Start from the broadcast bias so the GEMM can accumulate onto it (beta = 1).
    const DType* b = a.in[kBias].ptr<DType>();
    cn::ParallelFor(n, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t j = 0; j < h; ++j) y[r * h + j] = b[j];
    });
    beta = 1;
  } else if (!p.no_bias) {
    const DType* b = a.in[kBias].ptr<DType>();
    cn::ParallelFor(n, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t j = 0; j < h; ++j) y[r * h + j] += b[j];
    });
  }
  cn::Gemm(false, true, n, h, k, DType(1), x, k, w, k, beta, y, h);
}

void Forward(const FullyConnectedParam& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, { ForwardImpl<DType>(p, a); });
}

template <typename DType>
void BackwardImpl(const FullyConnectedParam& p, const cn::BackwardArgs& a) {
  const cn::Tensor& dy_t = a.out_grad[0];
  int64_t h = p.num_hidden;
  int64_t n = dy_t.size() / h;
  int64_t k = a.in[kWeight].size() / h;
  const DType* dy = dy_t.ptr<DType>();
  if (a.req[kData] != CN_REQ_NULL) {
    DType beta = a.req[kData] == CN_REQ_ADD ? 1 : 0;
    cn::Gemm(false, false, n, k, h, DType(1), dy, h, a.in[kWeight].ptr<DType>(), k, beta,
             a.in_grad[kData].ptr<DType>(), k);
  }
  if (a.req[kWeight] != CN_REQ_NULL) {
    DType beta = a.req[kWeight] == CN_REQ_ADD ? 1 : 0;
    cn::Gemm(true, false, h, k, n, DType(1), dy, h, a.in[kData].ptr<DType>(), k, beta,
             a.in_grad[kWeight].ptr<DType>(), k);
  }
  if (!p.no_bias && a.req[kBias] != CN_REQ_NULL) {
    DType* db = a.in_grad[kBias].ptr<DType>();
    int32_t req = a.req[kBias];
    // Columns split across threads; each thread sums its columns over all rows.
    cn::ParallelFor(h, 64, [&](int64_t j0, int64_t j1) {
      std::vector<DType> acc(j1 - j0, DType(0));
      for (int64_t r = 0; r < n; ++r)
        for (int64_t j = j0; j < j1; ++j) acc[j - j0] += dy[r * h + j];
      for (int64_t j = j0; j < j1; ++j) cn::Store(&db[j], req, acc[j - j0]);
    });
  }
}

void Backward(const FullyConnectedParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, { BackwardImpl<DType>(p, a); });
}

void Needs(const FullyConnectedParam& p, cn::BackwardNeeds& n) {
  n.input(kData).input(kWeight).out_grad(0);
}

std::vector<std::string> InputNames(const FullyConnectedParam& p) {
  if (p.no_bias) return {"data", "weight"};
  return {"data", "weight", "bias"};
}

}  // namespace

CN_REGISTER_OP(FullyConnected, FullyConnectedParam)
    .describe("Applies a linear transformation: y = x W^T + b.")
    .inputs(InputNames)
    .outputs({"output"})
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .flags(CN_FLAG_EXPENSIVE);
