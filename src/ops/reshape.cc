// Flatten and Reshape: the same bytes under a new shape.
//   Flatten: (d0, d1, ..., dk) -> (d0, d1*...*dk).
//   Reshape: `shape` may hold MXNet's special codes, read left to right against the input dims:
//     0 copy this input dim, -1 infer from the remaining size (at most once), -2 copy all remaining
//     input dims, -3 merge the next two input dims, -4 a b split the next input dim into (a, b)
//     (one of a, b may be -1). reverse=True matches the codes right to left instead.
//   expand_dims(axis): inserts a dim of size 1 at `axis` (-ndim-1 <= axis <= ndim).
//   squeeze(axis): removes the listed dims of size 1, or every dim of size 1 when axis=None; a
//     result with no dims left has shape (1,), as in MXNet 1.x.
// Forward and backward are copies (or nothing when the planner runs them in place); backward
// reads only the output gradient.
#include <algorithm>
#include <cstring>

#include "coarsenet/op.h"

namespace {

// Writes (req write/inplace) or adds (req add) n elements of src into dst; a no-op when the
// planner gave both the same buffer.
void CopyOrAdd(const cn::Tensor& src, const cn::Tensor& dst, int32_t req) {
  if (req == CN_REQ_NULL) return;
  int64_t n = src.size();
  if (req != CN_REQ_ADD) {
    if (dst.data == src.data) return;
    size_t elem = 0;
    CN_FLOAT_SWITCH(src.dtype, DType, { elem = sizeof(DType); });
    std::memcpy(dst.data, src.data, static_cast<size_t>(n) * elem);
    return;
  }
  CN_FLOAT_SWITCH(src.dtype, DType, {
    const DType* s = src.ptr<DType>();
    DType* d = dst.ptr<DType>();
    cn::ParallelFor(n, 1 << 15, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) d[i] += s[i];
    });
  });
}

template <typename P>
void CopyForward(const P&, const cn::ForwardArgs& a) { CopyOrAdd(a.in[0], a.out[0], a.req[0]); }

template <typename P>
void CopyBackward(const P&, const cn::BackwardArgs& a) {
  CopyOrAdd(a.out_grad[0], a.in_grad[0], a.req[0]);
}

template <typename P>
void NeedsOutGrad(const P&, cn::BackwardNeeds& n) { n.out_grad(0); }

// ---------------------------------------------------------------- Flatten

void FlattenShape(const cn::NoParams&, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  if (x.ndim < 1) throw cn::Error("input 'data' must have at least 1 dim, found a scalar");
  s.SetOutput(0, cn::Shape{x[0], x.prod(1, x.ndim)});
}

// ---------------------------------------------------------------- Reshape

struct ReshapeParam {
  cn::Shape shape, target_shape;
  bool reverse, keep_highest;
  static void Declare(cn::ParamDecl<ReshapeParam>& d) {
    d.field("shape", &ReshapeParam::shape, cn::Shape{},
            "The target shape; may use the special codes 0, -1, -2, -3, -4.");
    d.field("reverse", &ReshapeParam::reverse, false,
            "Match the special codes against the input dims from right to left.");
    d.field("target_shape", &ReshapeParam::target_shape, cn::Shape{},
            "(Deprecated, unsupported) use `shape` instead.");
    d.field("keep_highest", &ReshapeParam::keep_highest, false,
            "(Deprecated, unsupported) use `shape` with code 0 instead.");
  }
};

// One code of `shape`; -4 carries its two split sizes so reverse can move it as a unit.
struct Code {
  int64_t code, a, b;
};

std::vector<Code> ParseCodes(const cn::Shape& shape) {
  std::vector<Code> codes;
  for (int i = 0; i < shape.ndim; ++i) {
    int64_t c = shape[i];
    if (c < -4) throw cn::Error(cn::Msg("shape ", shape, ": invalid code ", c));
    if (c != -4) {
      codes.push_back({c, 0, 0});
      continue;
    }
    if (i + 2 >= shape.ndim)
      throw cn::Error(cn::Msg("shape ", shape, ": code -4 must be followed by two sizes"));
    codes.push_back({c, shape[i + 1], shape[i + 2]});
    i += 2;
  }
  return codes;
}

// Applies the codes to the input dims; `where` names both shapes in every error.
std::vector<int64_t> ApplyCodes(const std::vector<Code>& codes, const std::vector<int64_t>& in,
                                const std::string& where) {
  std::vector<int64_t> out;
  int infer_at = -1;
  size_t src = 0;
  auto take = [&](const char* why) {
    if (src >= in.size())
      throw cn::Error(cn::Msg(where, ": code ", why, " needs more input dims than there are"));
    return in[src++];
  };
  for (const Code& c : codes) {
    if (c.code == 0) {
      out.push_back(take("0"));
    } else if (c.code == -1) {
      if (infer_at >= 0) throw cn::Error(cn::Msg(where, ": more than one -1"));
      infer_at = static_cast<int>(out.size());
      out.push_back(1);
      if (src < in.size()) ++src;
    } else if (c.code == -2) {
      while (src < in.size()) out.push_back(in[src++]);
    } else if (c.code == -3) {
      int64_t d0 = take("-3");
      out.push_back(cn::MulDims(d0, take("-3"), "reshape code -3"));
    } else if (c.code == -4) {
      int64_t d = take("-4"), a = c.a, b = c.b;
      if ((a == -1 && b == -1) || a == 0 || b == 0 || a < -1 || b < -1)
        throw cn::Error(cn::Msg(where, ": code -4 needs sizes (a, b) with at most one -1, found (",
                                a, ", ", b, ")"));
      if (a == -1) a = b > 0 && d % b == 0 ? d / b : -1;
      if (b == -1) b = a > 0 && d % a == 0 ? d / a : -1;
      int64_t ab;
      if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &ab) || ab != d)
        throw cn::Error(cn::Msg(where, ": cannot split dim ", d, " into (", c.a, ", ", c.b, ")"));
      out.push_back(a);
      out.push_back(b);
    } else {
      out.push_back(c.code);
      if (src < in.size()) ++src;
    }
  }
  int64_t total = 1, known = 1;
  for (int64_t d : in) total *= d;
  for (size_t i = 0; i < out.size(); ++i)
    if (static_cast<int>(i) != infer_at)  // checked: a wrapped product could pass the test
      known = cn::MulDims(known, out[i], where.c_str());
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0)
      throw cn::Error(cn::Msg(where, ": cannot infer the -1 dim (", total, " elements, ", known,
                              " fixed)"));
    out[infer_at] = total / known;
  } else if (known != total) {
    throw cn::Error(cn::Msg(where, ": sizes differ (", total, " elements in, ", known, " out)"));
  }
  return out;
}

cn::Shape ReshapeTarget(const ReshapeParam& p, const cn::Shape& x) {
  if (p.target_shape.ndim > 0 || p.keep_highest)
    throw cn::Error("target_shape and keep_highest are deprecated and unsupported; use shape");
  if (p.shape.ndim <= 0) throw cn::Error("parameter 'shape' is required");
  std::string where = cn::Msg("cannot reshape ", x, " to shape ", p.shape);
  std::vector<Code> codes = ParseCodes(p.shape);
  std::vector<int64_t> in = x.vec();
  if (!p.reverse) return cn::Shape(ApplyCodes(codes, in, where));
  std::reverse(codes.begin(), codes.end());
  for (Code& c : codes) std::swap(c.a, c.b);
  std::reverse(in.begin(), in.end());
  std::vector<int64_t> out = ApplyCodes(codes, in, where);
  std::reverse(out.begin(), out.end());
  return cn::Shape(out);
}

void ReshapeShape(const ReshapeParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  s.SetOutput(0, ReshapeTarget(p, x));
}

// ---------------------------------------------------------------- expand_dims, squeeze

struct ExpandDimsParam {
  int axis;
  static void Declare(cn::ParamDecl<ExpandDimsParam>& d) {
    d.field("axis", &ExpandDimsParam::axis, 0,
            "Position where new axis is to be inserted. Suppose that the input NDArray's "
            "dimension is ndim, the range of the inserted axis is [-ndim, ndim]")
        .required();
  }
};

void ExpandDimsShape(const ExpandDimsParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  if (p.axis < -x.ndim - 1 || p.axis > x.ndim)
    throw cn::Error(cn::Msg("axis ", p.axis, " is out of range for input 'data' of shape ", x,
                            " (expected ", -x.ndim - 1, " <= axis <= ", x.ndim, ")"));
  std::vector<int64_t> dims = x.vec();
  dims.insert(dims.begin() + (p.axis < 0 ? p.axis + x.ndim + 1 : p.axis), 1);
  s.SetOutput(0, cn::Shape(dims));
}

struct SqueezeParam {
  cn::Shape axis;
  static void Declare(cn::ParamDecl<SqueezeParam>& d) {
    d.field("axis", &SqueezeParam::axis, cn::Shape(),
            "Selects a subset of the single-dimensional entries in the shape. If an axis is "
            "selected with shape entry greater than one, an error is raised.");
  }
};

void SqueezeShape(const SqueezeParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  std::vector<bool> drop(x.ndim, false);
  if (!p.axis.known()) {
    for (int d = 0; d < x.ndim; ++d) drop[d] = x[d] == 1;
  }
  for (int i = 0; i < p.axis.ndim; ++i) {
    int64_t a = p.axis[i];
    if (a < -x.ndim || a >= x.ndim)
      throw cn::Error(cn::Msg("axis ", a, " is out of range for input 'data' of shape ", x));
    if (a < 0) a += x.ndim;
    if (drop[a]) throw cn::Error(cn::Msg("axis ", p.axis, " lists axis ", a, " twice"));
    if (x[a] != 1)
      throw cn::Error(cn::Msg("cannot squeeze axis ", a, " of input 'data' of shape ", x,
                              ": its size is ", x[a], ", not 1"));
    drop[a] = true;
  }
  std::vector<int64_t> dims;
  for (int d = 0; d < x.ndim; ++d)
    if (!drop[d]) dims.push_back(x[d]);
  if (dims.empty()) dims.push_back(1);
  s.SetOutput(0, cn::Shape(dims));
}

}  // namespace

CN_REGISTER_OP(Flatten, cn::NoParams)
    .describe("Flattens all but the first axis: (d0, d1, ..., dk) -> (d0, d1*...*dk).")
    .alias("flatten")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(FlattenShape)
    .forward(CopyForward<cn::NoParams>)
    .backward(CopyBackward<cn::NoParams>)
    .backward_needs(NeedsOutGrad<cn::NoParams>)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});

CN_REGISTER_OP(Reshape, ReshapeParam)
    .describe("Reshapes the input without copying its order; `shape` accepts MXNet's codes "
              "0 (copy), -1 (infer), -2 (copy rest), -3 (merge two), -4 (split one).")
    .alias("reshape")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(ReshapeShape)
    .forward(CopyForward<ReshapeParam>)
    .backward(CopyBackward<ReshapeParam>)
    .backward_needs(NeedsOutGrad<ReshapeParam>)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});

CN_REGISTER_OP(expand_dims, ExpandDimsParam)
    .describe("Inserts a new axis of size 1 into the array shape.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(ExpandDimsShape)
    .forward(CopyForward<ExpandDimsParam>)
    .backward(CopyBackward<ExpandDimsParam>)
    .backward_needs(NeedsOutGrad<ExpandDimsParam>)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});

CN_REGISTER_OP(squeeze, SqueezeParam)
    .describe("Removes single-dimensional entries from the shape of an array.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(SqueezeShape)
    .forward(CopyForward<SqueezeParam>)
    .backward(CopyBackward<SqueezeParam>)
    .backward_needs(NeedsOutGrad<SqueezeParam>)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});
