// slice and slice_axis: a box of an array, with steps.
//   slice(begin, end, step): for each of the first m = len(begin) axes, elements
//     begin[k], begin[k] + step[k], ... up to end[k] (exclusive), like x[b0:e0:s0, ..., bm:em:sm]
//     in Python: negative indices count from the end, out-of-range ones are clamped, a None entry
//     takes the default (step 1; begin 0 / end d for a positive step, begin d-1 / "before 0" for a
//     negative one). The remaining axes are kept whole.
//   slice_axis(axis, begin, end): x[..., begin:end, ...] along one axis; end=None means the end;
//     the range must be non-empty and inside the axis, as in MXNet.
// Forward gathers through a strided view (offset begin, stride step); backward zero-fills dx (for
// write) and scatters dy through the same view, reading only the output gradient.
#include <optional>
#include <vector>

#include "kernels/strided_view.h"

namespace {

using OptTuple = std::vector<std::optional<int64_t>>;

// One sliced axis: `len` elements from `begin` in steps of `step`.
struct AxisRange {
  int64_t begin, step, len;
};

std::string TupleStr(const OptTuple& t) {
  std::string s = "(";
  for (size_t i = 0; i < t.size(); ++i)
    s += (i ? ", " : "") + (t[i] ? std::to_string(*t[i]) : std::string("None"));
  return s + (t.size() == 1 ? ",)" : ")");
}

// Python's slice.indices: clamps instead of failing on out-of-range ends.
AxisRange PythonRange(std::optional<int64_t> b, std::optional<int64_t> e, int64_t step,
                      int64_t d) {
  auto clamp = [d](int64_t i, int64_t lo, int64_t hi) {
    if (i < 0) i += d;
    return i < lo ? lo : (i > hi ? hi : i);
  };
  int64_t begin, end, len;
  if (step > 0) {
    begin = b ? clamp(*b, 0, d) : 0;
    end = e ? clamp(*e, 0, d) : d;
    len = end > begin ? (end - begin + step - 1) / step : 0;
  } else {
    begin = b ? clamp(*b, -1, d - 1) : d - 1;
    end = e ? clamp(*e, -1, d - 1) : -1;
    len = begin > end ? (begin - end - step - 1) / -step : 0;
  }
  return {begin, step, len};
}

// The strided view of x (shape x) that `ranges` select; axes beyond ranges are whole.
cn_view::View BoxView(const cn::Shape& x, const std::vector<AxisRange>& ranges) {
  int64_t stride[CN_MAX_NDIM];
  cn_view::DenseStrides(x, stride);
  cn_view::View v;
  for (int k = 0; k < x.ndim; ++k) {
    if (k < static_cast<int>(ranges.size())) {
      v.base += ranges[k].begin * stride[k];
      v.Push(ranges[k].len, ranges[k].step * stride[k]);
    } else {
      v.Push(x[k], stride[k]);
    }
  }
  return v;
}

cn::Shape ViewShape(const cn_view::View& v) {
  return cn::Shape(std::vector<int64_t>(v.dims, v.dims + v.ndim));
}

template <typename P, std::vector<AxisRange> (*Ranges)(const P&, const cn::Shape&)>
void BoxShape(const P& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (x.known()) s.SetOutput(0, ViewShape(BoxView(x, Ranges(p, x))));
}

template <typename P, std::vector<AxisRange> (*Ranges)(const P&, const cn::Shape&)>
void BoxForward(const P& p, const cn::ForwardArgs& a) {
  cn::Shape x = a.in[0].shape();
  cn_view::View v = BoxView(x, Ranges(p, x));
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    cn_view::Gather(v, a.in[0].ptr<DType>(), a.out[0].ptr<DType>(), a.req[0]);
  });
}

template <typename P, std::vector<AxisRange> (*Ranges)(const P&, const cn::Shape&)>
void BoxBackward(const P& p, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  cn::Shape x = a.in_grad[0].shape();
  cn_view::View v = BoxView(x, Ranges(p, x));
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    DType* dx = a.in_grad[0].ptr<DType>();
    cn_view::ZeroForWrite(dx, x.size(), req);
    cn_view::Scatter(v, a.out_grad[0].ptr<DType>(), dx, req == CN_REQ_ADD ? req : CN_REQ_WRITE);
  });
}

template <typename P>
void NeedsOutGrad(const P&, cn::BackwardNeeds& n) { n.out_grad(0); }

// ---------------------------------------------------------------- slice

struct SliceParam {
  OptTuple begin, end, step;
  static void Declare(cn::ParamDecl<SliceParam>& d) {
    d.field("begin", &SliceParam::begin, "starting indices for the slice operation, supports "
            "negative indices.").required();
    d.field("end", &SliceParam::end, "ending indices for the slice operation, supports negative "
            "indices.").required();
    d.field("step", &SliceParam::step, "step for the slice operation, supports negative values.");
  }
};

std::vector<AxisRange> SliceRanges(const SliceParam& p, const cn::Shape& x) {
  std::string where = cn::Msg("slice begin=", TupleStr(p.begin), ", end=", TupleStr(p.end),
                              ", step=", TupleStr(p.step), " of input 'data' with shape ", x);
  if (p.begin.size() != p.end.size())
    throw cn::Error(cn::Msg(where, ": begin and end must have the same length"));
  if (!p.step.empty() && p.step.size() != p.begin.size())
    throw cn::Error(cn::Msg(where, ": step must be empty or as long as begin"));
  if (static_cast<int>(p.begin.size()) > x.ndim)
    throw cn::Error(cn::Msg(where, ": more indices than the input has dims"));
  std::vector<AxisRange> ranges;
  for (size_t k = 0; k < p.begin.size(); ++k) {
    int64_t step = p.step.empty() || !p.step[k] ? 1 : *p.step[k];
    if (step == 0) throw cn::Error(cn::Msg(where, ": step must not be 0"));
    ranges.push_back(PythonRange(p.begin[k], p.end[k], step, x[static_cast<int>(k)]));
    if (ranges.back().len == 0 && x[static_cast<int>(k)] > 0)
      throw cn::Error(cn::Msg(where, ": axis ", k, " selects no elements"));
  }
  return ranges;
}

// ---------------------------------------------------------------- slice_axis

struct SliceAxisParam {
  int axis;
  int64_t begin;
  std::optional<int64_t> end;
  static void Declare(cn::ParamDecl<SliceAxisParam>& d) {
    d.field("axis", &SliceAxisParam::axis, 0,
            "Axis along which to be sliced, supports negative indexes.").required();
    d.field("begin", &SliceAxisParam::begin, int64_t(0), "The beginning index along the axis to "
            "be sliced, supports negative indexes.").required();
    // Required in MXNet; optional here because symbol calls drop None-valued params.
    d.field("end", &SliceAxisParam::end, "The ending index along the axis to be sliced, supports "
            "negative indexes.");
  }
};

std::vector<AxisRange> SliceAxisRanges(const SliceAxisParam& p, const cn::Shape& x) {
  if (p.axis < -x.ndim || p.axis >= x.ndim)
    throw cn::Error(cn::Msg("axis ", p.axis, " is out of range for input 'data' with shape ", x));
  int axis = p.axis < 0 ? p.axis + x.ndim : p.axis;
  int64_t d = x[axis];
  int64_t b = p.begin < 0 ? p.begin + d : p.begin;
  int64_t e = !p.end ? d : (*p.end < 0 ? *p.end + d : *p.end);
  if (b < 0 || e > d || b >= e)
    throw cn::Error(cn::Msg("begin=", p.begin, ", end=", p.end ? std::to_string(*p.end) : "None",
                            " select no valid range of axis ", axis, " (size ", d,
                            ") of input 'data' with shape ", x));
  std::vector<AxisRange> ranges;
  for (int k = 0; k < axis; ++k) ranges.push_back({0, 1, x[k]});
  ranges.push_back({b, 1, e - b});
  return ranges;
}

}  // namespace

CN_REGISTER_OP(slice, SliceParam)
    .describe("Slices a region of the array: x[b0:e0:s0, b1:e1:s1, ...] with Python's rules "
              "for negative and None entries.")
    .alias("crop")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(BoxShape<SliceParam, SliceRanges>)
    .forward(BoxForward<SliceParam, SliceRanges>)
    .backward(BoxBackward<SliceParam, SliceRanges>)
    .backward_needs(NeedsOutGrad<SliceParam>);

CN_REGISTER_OP(slice_axis, SliceAxisParam)
    .describe("Slices along a given axis: x[..., begin:end, ...]; end=None means the end.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(BoxShape<SliceAxisParam, SliceAxisRanges>)
    .forward(BoxForward<SliceAxisParam, SliceAxisRanges>)
    .backward(BoxBackward<SliceAxisParam, SliceAxisRanges>)
    .backward_needs(NeedsOutGrad<SliceAxisParam>);
