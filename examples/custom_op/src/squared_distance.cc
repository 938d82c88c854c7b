// SquaredDistance: y[i] = sum_j (a[i, j] - b[i, j])^2 for inputs a, b of shape (N, D) -> (N,).
// Backward: da = 2 (a - b) dy[i], db = -da. Reads both inputs and the output gradient, not the
// output. Rows are split across the host's threads with cn::ParallelFor.
#include "coarsenet/op.h"

namespace {

struct SquaredDistanceParam {
  static void Declare(cn::ParamDecl<SquaredDistanceParam>&) {}
};

enum { kA, kB };

void InferShape(const SquaredDistanceParam&, cn::ShapeContext& s) {
  cn::Shape a = s.in(kA).known() ? s.in(kA) : s.in(kB);
  if (!a.known()) return;
  if (a.ndim != 2) throw cn::Error(cn::Msg("inputs must be (N, D) matrices, found shape ", a));
  s.SetInput(kA, a);
  s.SetInput(kB, a);
  s.SetOutput(0, cn::Shape{a[0]});
}

template <typename DType>
void ForwardImpl(const cn::ForwardArgs& x) {
  if (x.req[0] == CN_REQ_NULL) return;
  const int64_t n = x.in[kA].dim(0), d = x.in[kA].dim(1);
  const DType* a = x.in[kA].ptr<DType>();
  const DType* b = x.in[kB].ptr<DType>();
  DType* y = x.out[0].ptr<DType>();
  cn::ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      DType sum = 0;
      for (int64_t j = 0; j < d; ++j) {
        DType diff = a[r * d + j] - b[r * d + j];
        sum += diff * diff;
      }
      cn::Store(&y[r], x.req[0], sum);
    }
  });
}

void Forward(const SquaredDistanceParam&, const cn::ForwardArgs& x) {
  CN_FLOAT_SWITCH(x.in[kA].dtype, DType, { ForwardImpl<DType>(x); });
}

template <typename DType>
void BackwardImpl(const cn::BackwardArgs& x) {
  const int64_t n = x.in[kA].dim(0), d = x.in[kA].dim(1);
  const DType* a = x.in[kA].ptr<DType>();
  const DType* b = x.in[kB].ptr<DType>();
  const DType* dy = x.out_grad[0].ptr<DType>();
  const int32_t req_a = x.req[kA], req_b = x.req[kB];
  DType* da = req_a == CN_REQ_NULL ? nullptr : x.in_grad[kA].ptr<DType>();
  DType* db = req_b == CN_REQ_NULL ? nullptr : x.in_grad[kB].ptr<DType>();
  cn::ParallelFor(n, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < d; ++j) {
        DType g = 2 * (a[r * d + j] - b[r * d + j]) * dy[r];
        if (da) cn::Store(&da[r * d + j], req_a, g);
        if (db) cn::Store(&db[r * d + j], req_b, -g);
      }
  });
}

void Backward(const SquaredDistanceParam&, const cn::BackwardArgs& x) {
  CN_FLOAT_SWITCH(x.out_grad[0].dtype, DType, { BackwardImpl<DType>(x); });
}

void Needs(const SquaredDistanceParam&, cn::BackwardNeeds& n) { n.input(kA).input(kB).out_grad(0); }

}  // namespace

CN_REGISTER_OP(SquaredDistance, SquaredDistanceParam)
    .describe("Row-wise squared Euclidean distance of two (N, D) matrices -> (N,).")
    .inputs({"a", "b"})
    .outputs({"output"})
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .onnx("com.example", "SquaredDistance");  // how ONNX export writes it (ABI 1.2)
