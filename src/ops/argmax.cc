// argmax / argmin / argmax_channel: the position of the largest (smallest) value along an axis,
// returned in the data's float dtype as MXNet does. axis=None searches the flattened array
// (output (1,), or all ones with keepdims). Ties give the first position; a NaN wins over every
// number (the first NaN's position), as in NumPy and MXNet. argmax_channel is argmax over axis 1.
// No gradient (NO_GRAD): positions are piecewise constant in the data.
#include <cmath>
#include <optional>

#include "kernels/index_util.h"

namespace {

struct ArgParam {
  std::optional<int64_t> axis;
  bool keepdims;
  static void Declare(cn::ParamDecl<ArgParam>& d) {
    d.field("axis", &ArgParam::axis, "The axis to search along; None searches all elements.");
    d.field("keepdims", &ArgParam::keepdims, false, "Keep the reduced axis with size 1.");
  }
};

void InferShapeFor(const ArgParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  if (!p.axis) {
    if (x.size() == 0) throw cn::Error(cn::Msg("cannot search an empty input 'data' ", x));
    s.SetOutput(0, p.keepdims ? cn::Shape(std::vector<int64_t>(x.ndim, 1)) : cn::Shape{1});
    return;
  }
  int axis = cn_index::NormAxis(*p.axis, x.ndim);
  if (x[axis] == 0 && x.size() == 0 && x.prod(0, axis) * x.prod(axis + 1, x.ndim) != 0)
    throw cn::Error(cn::Msg("cannot search along axis ", *p.axis, " of size 0 in input 'data' "
                            "of shape ", x));
  std::vector<int64_t> out = x.vec();
  if (p.keepdims)
    out[axis] = 1;
  else
    out.erase(out.begin() + axis);
  if (out.empty()) out.push_back(1);  // MXNet has no 0-d arrays: argmax of a vector is (1,)
  s.SetOutput(0, cn::Shape(out));
}

// Better(a, b): a replaces the current best b. NaN beats numbers; among NaNs the first stays.
template <bool kMax, typename T>
bool Better(T a, T b) {
  if (std::isnan(b)) return false;
  if (std::isnan(a)) return true;
  return kMax ? a > b : a < b;
}

template <bool kMax>
void ForwardWith(const ArgParam& p, const cn::ForwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  cn_index::Layout l = cn_index::LayoutOf(a.in[0].shape(), p.axis);
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    const DType* x = a.in[0].ptr<DType>();
    DType* y = a.out[0].ptr<DType>();
    int32_t req = a.req[0];
    cn::ParallelFor(l.outer * l.inner, 256, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) {
        const DType* row = x + (j / l.inner) * l.n * l.inner + j % l.inner;
        int64_t best = 0;
        for (int64_t k = 1; k < l.n; ++k)
          if (Better<kMax>(row[k * l.inner], row[best * l.inner])) best = k;
        cn::Store(&y[j], req, static_cast<DType>(best));
      }
    });
  });
}

void ForwardMax(const ArgParam& p, const cn::ForwardArgs& a) { ForwardWith<true>(p, a); }
void ForwardMin(const ArgParam& p, const cn::ForwardArgs& a) { ForwardWith<false>(p, a); }

// argmax_channel: argmax over axis 1, no params (MXNet's legacy op).
ArgParam ChannelParam() { return ArgParam{1, false}; }
void InferShapeChannel(const cn::NoParams&, cn::ShapeContext& s) {
  InferShapeFor(ChannelParam(), s);
}
void ForwardChannel(const cn::NoParams&, const cn::ForwardArgs& a) {
  ForwardWith<true>(ChannelParam(), a);
}

}  // namespace

CN_REGISTER_OP(argmax, ArgParam)
    .describe("Returns the indices of the maximum values along an axis (in the data's dtype).")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(InferShapeFor)
    .forward(ForwardMax)
    .flags(CN_FLAG_NO_GRAD);

CN_REGISTER_OP(argmin, ArgParam)
    .describe("Returns the indices of the minimum values along an axis (in the data's dtype).")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(InferShapeFor)
    .forward(ForwardMin)
    .flags(CN_FLAG_NO_GRAD);

CN_REGISTER_OP(argmax_channel, cn::NoParams)
    .describe("Returns the argmax indices along axis 1 (the channel axis).")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(InferShapeChannel)
    .forward(ForwardChannel)
    .flags(CN_FLAG_NO_GRAD);
