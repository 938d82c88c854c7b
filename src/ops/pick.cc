// pick: out[o, i] = data[o, index[o, i], i], picking one element along `axis` per position.
//   data viewed as (outer, n, inner) around axis; index and out: (outer, inner), shaped as data
//   without the axis (keepdims=False) or with it as 1 (keepdims=True).
// Backward: ddata is dout scattered to the picked positions (zero elsewhere); index gets no
// gradient. mode='clip' clamps indices to [0, n-1], mode='wrap' takes them modulo n.
// Used by SoftmaxCrossEntropyLoss: -pick(log_softmax(pred), label).
#include <cmath>

#include "coarsenet/op.h"

namespace {

enum PickMode { kClip, kWrap };

struct PickParam {
  int axis;
  bool keepdims;
  int mode;
  static void Declare(cn::ParamDecl<PickParam>& d) {
    d.field("axis", &PickParam::axis, -1, "The axis to pick along (negative counts from the end).");
    d.field("keepdims", &PickParam::keepdims, false,
            "Keep the picked axis in the output, with size 1.");
    d.choice("mode", &PickParam::mode, {"clip", "wrap"}, "clip",
             "Out-of-range indices: clip to the ends, or wrap around.");
  }
};

enum { kData, kIndex };

int Axis(const PickParam& p, int ndim) {
  int axis = p.axis < 0 ? p.axis + ndim : p.axis;
  if (axis < 0 || axis >= ndim)
    throw cn::Error(cn::Msg("axis ", p.axis, " is out of range for data of ", ndim, " dims"));
  return axis;
}

void InferShape(const PickParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(kData);
  if (!x.known()) return;
  if (x.ndim == 0) throw cn::Error(cn::Msg("input 'data' must have at least 1 dim, found ()"));
  int axis = Axis(p, x.ndim);
  // Nothing to pick from on an empty axis (unless there is nothing to pick either).
  if (x[axis] == 0 && x.size() == 0 && x.prod(0, axis) * x.prod(axis + 1, x.ndim) != 0)
    throw cn::Error(cn::Msg("cannot pick along axis ", p.axis, " of size 0 in input 'data' of "
                            "shape ", x));
  std::vector<int64_t> kept = x.vec(), dropped = x.vec();
  kept[axis] = 1;
  dropped.erase(dropped.begin() + axis);
  cn::Shape out(p.keepdims ? kept : dropped);
  cn::Shape index = s.in(kIndex);
  // MXNet accepts the index with or without the picked axis; default to the output's form.
  if (index.known() && index != cn::Shape(kept) && index != cn::Shape(dropped))
    throw cn::Error(cn::Msg("input 'index' expected shape ", cn::Shape(dropped), " or ",
                            cn::Shape(kept), ", found ", index));
  if (!index.known()) s.SetInput(kIndex, out);
  s.SetOutput(0, out);
}

void InferType(const PickParam&, std::vector<int>& in, std::vector<int>& out, std::vector<int>&) {
  if (in[kIndex] < 0) in[kIndex] = in[kData];
  out[0] = in[kData];
}

#define CN_PICK_INDEX_SWITCH(dtype_code, IType, ...)                                    \
  switch (dtype_code) {                                                                 \
    case CN_FLOAT32: { using IType = float; __VA_ARGS__ break; }                        \
    case CN_FLOAT64: { using IType = double; __VA_ARGS__ break; }                       \
    case CN_INT32: { using IType = int32_t; __VA_ARGS__ break; }                        \
    case CN_INT64: { using IType = int64_t; __VA_ARGS__ break; }                        \
    default:                                                                            \
      throw cn::Error(cn::Msg("input 'index' expected float32, float64, int32 or int64 " \
                              "indices, found ", cn::DTypeName(dtype_code)));           \
  }

struct Layout {
  int64_t outer, n, inner;
};

Layout LayoutOf(const PickParam& p, const cn::Tensor& data) {
  cn::Shape x = data.shape();
  int axis = Axis(p, x.ndim);
  return {x.prod(0, axis), x[axis], x.prod(axis + 1, x.ndim)};
}

template <typename IType>
int64_t Position(const PickParam& p, IType raw, int64_t n) {
  // In double first: casting an index >= 2^63, +-inf or NaN to int64 is undefined behaviour.
  // NaN picks position 0 (the kernel cannot throw mid-loop; MXNet leaves it undefined).
  double d = std::floor(static_cast<double>(raw));
  if (std::isnan(d)) return 0;
  if (p.mode == kWrap) {
    if (std::isinf(d)) return 0;
    d = std::fmod(d, static_cast<double>(n));  // exact, |d| < n afterwards
    int64_t k = static_cast<int64_t>(d);
    return k < 0 ? k + n : k;
  }
  return d < 0 ? 0 : (d >= static_cast<double>(n) ? n - 1 : static_cast<int64_t>(d));
}

void Forward(const PickParam& p, const cn::ForwardArgs& a) {
  const int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  Layout l = LayoutOf(p, a.in[kData]);
  CN_PICK_INDEX_SWITCH(a.in[kIndex].dtype, IType, {
    CN_FLOAT_SWITCH(a.in[kData].dtype, DType, {
      const DType* x = a.in[kData].ptr<DType>();
      const IType* idx = a.in[kIndex].ptr<IType>();
      DType* y = a.out[0].ptr<DType>();
      cn::ParallelFor(l.outer, 64, [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o)
          for (int64_t i = 0; i < l.inner; ++i) {
            int64_t j = o * l.inner + i;
            cn::Store(&y[j], req, x[(o * l.n + Position(p, idx[j], l.n)) * l.inner + i]);
          }
      });
    });
  });
}

void Backward(const PickParam& p, const cn::BackwardArgs& a) {
  if (a.req[kIndex] == CN_REQ_WRITE || a.req[kIndex] == CN_REQ_INPLACE) {
    CN_PICK_INDEX_SWITCH(a.in_grad[kIndex].dtype, IType, {
      IType* g = a.in_grad[kIndex].ptr<IType>();
      std::fill(g, g + a.in_grad[kIndex].size(), IType(0));
    });
  }
  const int32_t req = a.req[kData];
  if (req == CN_REQ_NULL) return;
  Layout l = LayoutOf(p, a.in_grad[kData]);
  CN_PICK_INDEX_SWITCH(a.in[kIndex].dtype, IType, {
    CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
      const IType* idx = a.in[kIndex].ptr<IType>();
      const DType* dy = a.out_grad[0].ptr<DType>();
      DType* dx = a.in_grad[kData].ptr<DType>();
      cn::ParallelFor(l.outer, 64, [&](int64_t b, int64_t e) {
        if (req != CN_REQ_ADD) std::fill(dx + b * l.n * l.inner, dx + e * l.n * l.inner, DType(0));
        for (int64_t o = b; o < e; ++o)
          for (int64_t i = 0; i < l.inner; ++i) {
            int64_t j = o * l.inner + i;
            dx[(o * l.n + Position(p, idx[j], l.n)) * l.inner + i] += dy[j];
          }
      });
    });
  });
}

void Needs(const PickParam&, cn::BackwardNeeds& n) { n.input(kIndex).out_grad(0); }

}  // namespace

CN_REGISTER_OP(pick, PickParam)
    .describe("Picks one element along an axis per position, at the given indices.")
    .inputs({"data", "index"})
    .outputs({"output"})
    .infer_shape(InferShape)
    .infer_type(InferType)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs);
