// smooth_l1: the elementwise smooth L1 loss of Fast R-CNN with sigma = scalar:
//   f(x) = 0.5 * (sigma * x)^2   if |x| < 1 / sigma^2,   |x| - 0.5 / sigma^2   otherwise.
// Backward: df/dx = sigma^2 * x inside the quadratic zone, sign(x) outside (continuous at the
// boundary). Reads the input only.
#include <cmath>

#include "coarsenet/op.h"

namespace {

struct SmoothL1Param {
  float scalar;
  static void Declare(cn::ParamDecl<SmoothL1Param>& d) {
    d.field("scalar", &SmoothL1Param::scalar, 1.0f,
            "sigma: the quadratic zone is |x| < 1 / sigma^2.")
        .finite();
  }
};

template <typename DType>
void ForwardImpl(const SmoothL1Param& p, const cn::ForwardArgs& a) {
  const int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  const DType s2 = DType(double(p.scalar) * p.scalar), bound = DType(1) / s2;
  const DType* x = a.in[0].ptr<DType>();
  DType* y = a.out[0].ptr<DType>();
  cn::ParallelFor(a.in[0].size(), 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const DType ax = std::abs(x[i]);
      cn::Store(&y[i], req, ax < bound ? DType(0.5) * x[i] * x[i] * s2 : ax - DType(0.5) * bound);
    }
  });
}

template <typename DType>
void BackwardImpl(const SmoothL1Param& p, const cn::BackwardArgs& a) {
  const int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  const DType s2 = DType(double(p.scalar) * p.scalar), bound = DType(1) / s2;
  const DType* x = a.in[0].ptr<DType>();
  const DType* dy = a.out_grad[0].ptr<DType>();  // may alias dx (in-place)
  DType* dx = a.in_grad[0].ptr<DType>();
  cn::ParallelFor(a.in[0].size(), 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const DType slope = x[i] > bound ? DType(1) : x[i] < -bound ? DType(-1) : s2 * x[i];
      cn::Store(&dx[i], req, dy[i] * slope);
    }
  });
}

void Forward(const SmoothL1Param& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, { ForwardImpl<DType>(p, a); });
}

void Backward(const SmoothL1Param& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, { BackwardImpl<DType>(p, a); });
}

void Needs(const SmoothL1Param&, cn::BackwardNeeds& n) { n.input(0).out_grad(0); }

}  // namespace

CN_REGISTER_OP(smooth_l1, SmoothL1Param)
    .describe("Elementwise smooth L1 loss: 0.5 (sigma x)^2 if |x| < 1/sigma^2, else "
              "|x| - 0.5/sigma^2, with sigma = scalar.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(cn::SameShape<SmoothL1Param>)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});
