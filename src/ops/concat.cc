// Concat and SliceChannel (split): join inputs along an axis, or cut one input into equal parts.
//   Concat(dim): y[..., off_i : off_i + d_i, ...] = x_i, every other dim equal.
//   SliceChannel(num_outputs, axis, squeeze_axis): y_j = x[..., j*d/n : (j+1)*d/n, ...], with the
//   axis dropped when squeeze_axis and each part has size 1.
// Both are block copies over the view (outer, axis, inner); each backward is the other op's
// forward. Backward reads only output gradients; Concat takes the input widths from the gradient
// tensors, so at most one of them may be left unshaped (req null, passed as None).
#include <algorithm>
#include <cstring>

#include "coarsenet/op.h"

namespace {

// Copies `rows` blocks of `width` elements from src (stride src_ld) to dst (stride dst_ld),
// writing or adding per req; parallel over the rows.
template <typename DType>
void CopyBlocks(const DType* src, int64_t src_ld, DType* dst, int64_t dst_ld, int64_t rows,
                int64_t width, int32_t req) {
  if (req == CN_REQ_NULL) return;
  cn::ParallelFor(rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(width, 1)),
                  [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const DType* s = src == nullptr ? nullptr : src + r * src_ld;
      DType* d = dst + r * dst_ld;
      if (req == CN_REQ_ADD) {
        for (int64_t i = 0; i < width; ++i) d[i] += s[i];
      } else if (s == nullptr) {
        std::memset(d, 0, width * sizeof(DType));
      } else {
        std::memcpy(d, s, width * sizeof(DType));
      }
    }
  });
}

int NormalizeAxis(int64_t axis, int ndim, const char* name) {
  if (axis < -ndim || axis >= ndim)
    throw cn::Error(cn::Msg(name, " ", axis, " is out of range for an input of ", ndim, " dims"));
  return static_cast<int>(axis < 0 ? axis + ndim : axis);
}

// ---------------------------------------------------------------- Concat

struct ConcatParam {
  int num_args;
  int dim;
  static void Declare(cn::ParamDecl<ConcatParam>& d) {
    d.field("num_args", &ConcatParam::num_args, 0, "Number of inputs to be concatenated.")
        .required()
        .range(1, 65536);  // a name is made per input: bound the count
    d.field("dim", &ConcatParam::dim, 1, "The dimension to be concatenated.");
  }
};

std::vector<std::string> ConcatInputs(const ConcatParam& p) {
  if (p.num_args < 1) throw cn::Error(cn::Msg("num_args must be positive, found ", p.num_args));
  std::vector<std::string> names;
  for (int i = 0; i < p.num_args; ++i) names.push_back("arg" + std::to_string(i));
  return names;
}

void ConcatShape(const ConcatParam& p, cn::ShapeContext& s) {
  cn::Shape first;
  for (int i = 0; i < s.num_in() && !first.known(); ++i) first = s.in(i);
  if (!first.known()) return;
  int axis = NormalizeAxis(p.dim, first.ndim, "dim");
  cn::Shape out = first;
  out[axis] = 0;
  int unknown = -1;
  for (int i = 0; i < s.num_in(); ++i) {
    cn::Shape x = s.in(i);
    if (!x.known()) {
      unknown = unknown == -1 ? i : -2;
      continue;
    }
    bool match = x.ndim == first.ndim;
    for (int d = 0; match && d < x.ndim; ++d) match = d == axis || x[d] == first[d];
    if (!match)
      throw cn::Error(cn::Msg("input '", s.in_name(i), "' has shape ", x, ", which does not match ",
                              first, " outside dim ", axis));
    out[axis] += x[axis];
  }
  if (unknown == -1) {
    s.SetOutput(0, out);
  } else if (unknown >= 0 && s.out(0).known()) {  // one missing input: the rest of the output
    cn::Shape x = s.out(0);
    x[axis] -= out[axis];
    s.SetInput(unknown, x);
  }
}

template <typename DType>
void ConcatForwardImpl(const ConcatParam& p, const cn::ForwardArgs& a) {
  cn::Shape y = a.out[0].shape();
  int axis = NormalizeAxis(p.dim, y.ndim, "dim");
  int64_t outer = y.prod(0, axis), inner = y.prod(axis + 1, y.ndim), total = y[axis] * inner;
  int64_t offset = 0;
  for (int i = 0; i < a.in.size(); ++i) {
    int64_t width = a.in[i].dim(axis) * inner;
    CopyBlocks(a.in[i].ptr<DType>(), width, a.out[0].ptr<DType>() + offset, total, outer, width,
               a.req[0]);
    offset += width;
  }
}

void ConcatForward(const ConcatParam& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.out[0].dtype, DType, { ConcatForwardImpl<DType>(p, a); });
}

// Widths along the axis of each input, from the gradient tensors. A caller may pass an unshaped
// (None) gradient for an input it wants no gradient for; one such width is the remainder.
std::vector<int64_t> GradWidths(const cn::BackwardArgs& a, const cn::Shape& y, int axis) {
  std::vector<int64_t> widths(a.in_grad.size(), -1);
  int64_t known = 0;
  int missing = -1;
  for (int i = 0; i < a.in_grad.size(); ++i) {
    if (a.in_grad[i].ndim == y.ndim) {
      widths[i] = a.in_grad[i].dim(axis);
      known += widths[i];
    } else if (missing == -1) {
      missing = i;
    } else {
      throw cn::Error("backward needs the shapes of all but one input gradient; pass shaped "
                      "buffers for inputs with req null");
    }
  }
  if (missing >= 0) widths[missing] = y[axis] - known;
  return widths;
}

template <typename DType>
void ConcatBackwardImpl(const ConcatParam& p, const cn::BackwardArgs& a) {
  cn::Shape y = a.out_grad[0].shape();
  int axis = NormalizeAxis(p.dim, y.ndim, "dim");
  int64_t outer = y.prod(0, axis), inner = y.prod(axis + 1, y.ndim), total = y[axis] * inner;
  std::vector<int64_t> widths = GradWidths(a, y, axis);
  int64_t offset = 0;
  for (int i = 0; i < a.in_grad.size(); ++i) {
    int64_t width = widths[i] * inner;
    if (a.req[i] != CN_REQ_NULL)
      CopyBlocks(a.out_grad[0].ptr<DType>() + offset, total, a.in_grad[i].ptr<DType>(), width,
                 outer, width, a.req[i]);
    offset += width;
  }
}

void ConcatBackward(const ConcatParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, { ConcatBackwardImpl<DType>(p, a); });
}

void ConcatNeeds(const ConcatParam&, cn::BackwardNeeds& n) { n.out_grad(0); }

// ---------------------------------------------------------------- SliceChannel

struct SliceChannelParam {
  int num_outputs;
  int axis;
  bool squeeze_axis;
  static void Declare(cn::ParamDecl<SliceChannelParam>& d) {
    d.field("num_outputs", &SliceChannelParam::num_outputs, 0, "Number of splits.").required()
        .range(1, 65536);  // a name is made per input: bound the count
    d.field("axis", &SliceChannelParam::axis, 1, "Axis along which to split.");
    d.field("squeeze_axis", &SliceChannelParam::squeeze_axis, false,
            "Remove the split axis from the outputs (each part must have size 1 along it).");
  }
};

std::vector<std::string> SliceOutputs(const SliceChannelParam& p) {
  if (p.num_outputs < 1)
    throw cn::Error(cn::Msg("num_outputs must be positive, found ", p.num_outputs));
  std::vector<std::string> names;
  for (int i = 0; i < p.num_outputs; ++i) names.push_back("output" + std::to_string(i));
  return names;
}

void SliceShape(const SliceChannelParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  int axis = NormalizeAxis(p.axis, x.ndim, "axis");
  if (x[axis] % p.num_outputs != 0)
    throw cn::Error(cn::Msg("input 'data' of shape ", x, ": dim ", axis, " (", x[axis],
                            ") is not divisible by num_outputs ", p.num_outputs));
  int64_t part = x[axis] / p.num_outputs;
  if (p.squeeze_axis && part != 1)
    throw cn::Error(
        cn::Msg("squeeze_axis needs parts of size 1 along axis ", axis, ", found ", part));
  std::vector<int64_t> dims = x.vec();
  if (p.squeeze_axis)
    dims.erase(dims.begin() + axis);
  else
    dims[axis] = part;
  for (int j = 0; j < p.num_outputs; ++j) s.SetOutput(j, cn::Shape(dims));
}

// The (outer, width-per-part, total) view of the input along the split axis.
struct SplitView {
  int64_t outer, width, total;
};
SplitView View(const SliceChannelParam& p, const cn::Shape& x) {
  int axis = NormalizeAxis(p.axis, x.ndim, "axis");
  int64_t inner = x.prod(axis + 1, x.ndim);
  return {x.prod(0, axis), x[axis] / p.num_outputs * inner, x[axis] * inner};
}

void SliceForward(const SliceChannelParam& p, const cn::ForwardArgs& a) {
  SplitView v = View(p, a.in[0].shape());
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    for (int j = 0; j < a.out.size(); ++j)
      CopyBlocks(a.in[0].ptr<DType>() + j * v.width, v.total, a.out[j].ptr<DType>(), v.width,
                 v.outer, v.width, a.req[j]);
  });
}

// An output gradient the caller left empty (an unused output) counts as zeros.
void SliceBackward(const SliceChannelParam& p, const cn::BackwardArgs& a) {
  SplitView v = View(p, a.in_grad[0].shape());
  CN_FLOAT_SWITCH(a.in_grad[0].dtype, DType, {
    for (int j = 0; j < a.out_grad.size(); ++j) {
      const DType* g = a.out_grad[j].ptr<DType>();
      if (g == nullptr && a.req[0] == CN_REQ_ADD) continue;
      CopyBlocks(g, v.width, a.in_grad[0].ptr<DType>() + j * v.width, v.total, v.outer, v.width,
                 a.req[0]);
    }
  });
}

void SliceNeeds(const SliceChannelParam&, cn::BackwardNeeds& n) { n.all_out_grads(); }

}  // namespace

CN_REGISTER_OP(Concat, ConcatParam)
    .describe("Joins input arrays along dimension `dim`; all other dimensions must match.")
    .alias("concat")
    .alias("_rnn_param_concat")  // what gluon.rnn layers export to pack their weights
    .inputs(ConcatInputs)
    .outputs({"output"})
    .infer_shape(ConcatShape)
    .forward(ConcatForward)
    .backward(ConcatBackward)
    .backward_needs(ConcatNeeds);

CN_REGISTER_OP(SliceChannel, SliceChannelParam)
    .describe("Splits an array along `axis` into `num_outputs` equal parts.")
    .alias("split")
    .inputs({"data"})
    .outputs(SliceOutputs)
    .infer_shape(SliceShape)
    .forward(SliceForward)
    .backward(SliceBackward)
    .backward_needs(SliceNeeds);
