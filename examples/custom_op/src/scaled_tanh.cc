// ScaledTanh: y = scale * tanh(x), elementwise.
// Backward: dx = dy * scale * (1 - tanh(x)^2) = dy * (scale - y^2 / scale), so backward reads
// only the output y and the output gradient (the memory planner may free x after forward), and
// both forward (x -> y) and backward (dy -> dx) may run in place.
#include <cmath>

#include "coarsenet/op.h"

namespace {

struct ScaledTanhParam {
  double scale;
  static void Declare(cn::ParamDecl<ScaledTanhParam>& d) {
    d.field("scale", &ScaledTanhParam::scale, 1.0, "Multiplier of tanh(x).");
  }
};

template <typename DType>
void ForwardImpl(const ScaledTanhParam& p, const cn::ForwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  const DType* x = a.in[0].ptr<DType>();
  DType* y = a.out[0].ptr<DType>();
  const DType scale = DType(p.scale);
  const int32_t req = a.req[0];
  cn::ParallelFor(a.in[0].size(), 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) cn::Store(&y[i], req, scale * std::tanh(x[i]));
  });
}

void Forward(const ScaledTanhParam& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, { ForwardImpl<DType>(p, a); });
}

template <typename DType>
void BackwardImpl(const ScaledTanhParam& p, const cn::BackwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  const DType* y = a.out[0].ptr<DType>();
  const DType* dy = a.out_grad[0].ptr<DType>();
  DType* dx = a.in_grad[0].ptr<DType>();
  const DType scale = DType(p.scale);
  const DType inv = p.scale == 0 ? DType(0) : DType(1) / scale;  // scale 0: y and dx are 0
  const int32_t req = a.req[0];
  cn::ParallelFor(a.out[0].size(), 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) cn::Store(&dx[i], req, dy[i] * (scale - y[i] * y[i] * inv));
  });
}

void Backward(const ScaledTanhParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, { BackwardImpl<DType>(p, a); });
}

void Needs(const ScaledTanhParam&, cn::BackwardNeeds& n) { n.output(0).out_grad(0); }

}  // namespace

CN_REGISTER_OP(ScaledTanh, ScaledTanhParam)
    .describe("y = scale * tanh(x), elementwise.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(cn::SameShape<ScaledTanhParam>)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});

// The library's entry point; exactly one source file of a plugin has it.
CN_PLUGIN_MAIN()
