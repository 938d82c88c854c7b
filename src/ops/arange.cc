// _arange: MXNet's range op (mx.sym.arange / mx.nd.arange): no inputs; the output is
// start, start + step, ... up to (not including) stop, each value repeated `repeat` times, in
// float32 or float64. Its length is ceil((stop - start) / step) * repeat, as MXNet's.
// sym.arange resolves stop=None (range(start)) in Python before the op is made.
#include <cmath>
#include <vector>

#include "coarsenet/op.h"

namespace {

struct ArangeParam {
  double start, stop, step;
  int64_t repeat;
  int dtype;
  std::string ctx;
  static void Declare(cn::ParamDecl<ArangeParam>& d) {
    d.field("start", &ArangeParam::start, 0.0, "First value.");
    d.field("stop", &ArangeParam::stop, 0.0, "Bound (exclusive).").required();
    d.field("step", &ArangeParam::step, 1.0, "Spacing between values.");
    d.field("repeat", &ArangeParam::repeat, int64_t{1}, "Times each value is repeated.");
    d.choice("dtype", &ArangeParam::dtype, {"float32", "float64", "None"}, "None",
             "Output dtype ('None': float32).");
    d.field("ctx", &ArangeParam::ctx, std::string(), "Accepted for compatibility; no effect.");
  }
};

int64_t Length(const ArangeParam& p) {
  if (p.step == 0 || !std::isfinite(p.step))
    throw cn::Error(cn::Msg("expected a finite non-zero step, found step=", p.step));
  if (p.repeat < 1) throw cn::Error(cn::Msg("expected repeat >= 1, found repeat=", p.repeat));
  const double n = std::ceil((p.stop - p.start) / p.step);
  if (!(n > 0))
    throw cn::Error(cn::Msg("start=", p.start, " stop=", p.stop, " step=", p.step,
                            " gives an empty range; expected at least one value"));
  return static_cast<int64_t>(n) * p.repeat;
}

void ArangeShape(const ArangeParam& p, cn::ShapeContext& s) {
  s.SetOutput(0, cn::Shape{Length(p)});
}

void ArangeType(const ArangeParam& p, std::vector<int>&, std::vector<int>& out,
                std::vector<int>&) {
  out[0] = p.dtype == 1 ? CN_FLOAT64 : CN_FLOAT32;
}

template <typename T>
void Fill(const ArangeParam& p, const cn::Tensor& out) {
  T* y = out.ptr<T>();
  for (int64_t i = 0, n = out.size(); i < n; ++i)
    y[i] = static_cast<T>(p.start + static_cast<double>(i / p.repeat) * p.step);
}

void ArangeForward(const ArangeParam& p, const cn::ForwardArgs& a) {
  if (a.out[0].dtype == CN_FLOAT64) Fill<double>(p, a.out[0]);
  else Fill<float>(p, a.out[0]);
}

}  // namespace

CN_REGISTER_OP(_arange, ArangeParam)
    .describe("Evenly spaced values in [start, stop), each repeated `repeat` times.")
    .inputs(std::vector<std::string>{})
    .infer_shape(ArangeShape)
    .infer_type(ArangeType)
    .forward(ArangeForward)
    .flags(CN_FLAG_NO_GRAD);
