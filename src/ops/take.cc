// take / batch_take / choose_element_0index / fill_element_0index: reading (or writing) data at
// indices along one axis.
//   take(a, indices, axis, mode): out = a.shape[:axis] + indices.shape + a.shape[axis+1:],
//     out[o, i, r] = a[o, idx(i), r]. Indices are truncated toward zero (MXNet's cast), then
//     'clip' clamps them to [0, n-1], 'wrap' takes them modulo n, 'raise' rejects any outside
//     [0, n) (MXNet raises for -1 too).
//   batch_take(a, indices) = choose_element_0index(lhs, rhs): a seen as (rows, m) with m its last
//     dim, out[i] = a[i, clip(idx[i])].
//   fill_element_0index(lhs, mhs, rhs): out = lhs with out[i, rhs[i]] = mhs[i]; an index outside
//     [0, m) leaves the row unchanged, as in MXNet. Not differentiable in MXNet: NO_GRAD here.
// Backward of the reads: dy scatter-added to the positions read; indices get no gradient.
#include <algorithm>
#include <vector>

#include "kernels/index_util.h"

namespace {

enum Mode { kClip, kWrap, kRaise };
enum { kData, kIndex };

struct TakeParam {
  int axis;
  int mode;
  static void Declare(cn::ParamDecl<TakeParam>& d) {
    d.field("axis", &TakeParam::axis, 0, "The axis of `a` to take from.");
    d.choice("mode", &TakeParam::mode, {"clip", "wrap", "raise"}, "clip",
             "Out-of-range indices: clamp, wrap around, or raise an error.");
  }
};

void TakeShape(const TakeParam& p, cn::ShapeContext& s) {
  cn::Shape a = s.in(kData), idx = s.in(kIndex);
  if (!a.known() || !idx.known()) return;
  if (a.ndim == 0) throw cn::Error("input 'a' must have at least 1 dim, found ()");
  int axis = cn_index::NormAxis(p.axis, a.ndim);
  if (a[axis] == 0 && idx.size() > 0)
    throw cn::Error(cn::Msg("cannot take from axis ", p.axis, " of size 0 in input 'a' ", a));
  std::vector<int64_t> out(a.dims, a.dims + axis);
  for (int d = 0; d < idx.ndim; ++d) out.push_back(idx[d]);
  for (int d = axis + 1; d < a.ndim; ++d) out.push_back(a[d]);
  s.SetOutput(0, cn::Shape(out));
}

void TakeType(const TakeParam&, std::vector<int>& in, std::vector<int>& out, std::vector<int>&) {
  if (in[kIndex] < 0) in[kIndex] = in[kData] < 0 ? CN_FLOAT32 : in[kData];
  out[0] = in[kData];
}

// Positions of every index (validated once, so kernels never throw mid-loop).
std::vector<int64_t> Positions(const cn::Tensor& idx, int64_t n, int mode) {
  std::vector<int64_t> pos(idx.size());
  CN_INDEX_SWITCH(idx.dtype, "input 'indices'", IType, {
    const IType* raw = idx.ptr<IType>();
    for (int64_t i = 0; i < idx.size(); ++i) {
      int64_t k = cn_index::ToIndex(raw[i]);
      if (mode == kRaise && (k < 0 || k >= n))
        throw cn::Error(cn::Msg("index ", static_cast<double>(raw[i]), " at position ", i,
                                " is out of range [0, ", n, ") (mode='raise')"));
      pos[i] = mode == kWrap ? cn_index::Wrap(k, n) : cn_index::Clip(k, n);
    }
  });
  return pos;
}

struct TakeLayout {
  int64_t outer, n, inner, m;  // a = (outer, n, inner); m = number of indices
};
TakeLayout TakeLayoutOf(const TakeParam& p, const cn::Shape& a, int64_t m) {
  int axis = cn_index::NormAxis(p.axis, a.ndim);
  return {a.prod(0, axis), a[axis], a.prod(axis + 1, a.ndim), m};
}

void TakeForward(const TakeParam& p, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  TakeLayout l = TakeLayoutOf(p, a.in[kData].shape(), a.in[kIndex].size());
  if (a.out[0].size() == 0) return;
  std::vector<int64_t> pos = Positions(a.in[kIndex], l.n, p.mode);
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, {
    const DType* x = a.in[kData].ptr<DType>();
    DType* y = a.out[0].ptr<DType>();
    cn::ParallelFor(l.outer * l.m, 64, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) {
        const DType* src = x + ((j / l.m) * l.n + pos[j % l.m]) * l.inner;
        DType* dst = y + j * l.inner;
        for (int64_t r = 0; r < l.inner; ++r) cn::Store(&dst[r], req, src[r]);
      }
    });
  });
}

// Gradient of the indices: zero (written for req write, nothing added).
void ZeroIndexGrad(const cn::BackwardArgs& a, int input) {
  int32_t req = a.req[input];
  if (req != CN_REQ_WRITE && req != CN_REQ_INPLACE) return;
  const cn::Tensor& g = a.in_grad[input];
  std::fill(static_cast<char*>(g.data), static_cast<char*>(g.data) + g.size() * cn::DTypeSize(g.dtype),
            char(0));
}

void TakeBackward(const TakeParam& p, const cn::BackwardArgs& a) {
  ZeroIndexGrad(a, kIndex);
  int32_t req = a.req[kData];
  if (req == CN_REQ_NULL) return;
  TakeLayout l = TakeLayoutOf(p, a.in_grad[kData].shape(), a.in[kIndex].size());
  std::vector<int64_t> pos = Positions(a.in[kIndex], std::max<int64_t>(l.n, 1), p.mode);
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    const DType* dy = a.out_grad[0].ptr<DType>();
    DType* dx = a.in_grad[kData].ptr<DType>();
    // Parallel over outer slices only: indices may repeat within a slice.
    cn::ParallelFor(l.outer, 1, [&](int64_t b, int64_t e) {
      if (req != CN_REQ_ADD) std::fill(dx + b * l.n * l.inner, dx + e * l.n * l.inner, DType(0));
      for (int64_t o = b; o < e; ++o)
        for (int64_t i = 0; i < l.m; ++i) {
          const DType* src = dy + (o * l.m + i) * l.inner;
          DType* dst = dx + (o * l.n + pos[i]) * l.inner;
          for (int64_t r = 0; r < l.inner; ++r) dst[r] += src[r];
        }
    });
  });
}

void TakeNeeds(const TakeParam&, cn::BackwardNeeds& n) { n.input(kIndex).out_grad(0); }

// ---- batch_take / choose_element_0index: one element per row of a (rows, m) view.

void RowShape(const cn::NoParams&, cn::ShapeContext& s) {
  cn::Shape a = s.in(kData);
  if (!a.known()) return;
  const char *an = s.in_name(kData), *in = s.in_name(kIndex);
  if (a.ndim < 1) throw cn::Error(cn::Msg("input '", an, "' must have at least 1 dim, found ()"));
  int64_t m = a[a.ndim - 1];
  int64_t rows = a.prod(0, a.ndim - 1);
  if (m == 0 && rows > 0)
    throw cn::Error(cn::Msg("input '", an, "' of shape ", a, " has empty rows"));
  cn::Shape idx = s.in(kIndex);
  if (idx.known() && idx.size() != rows)
    throw cn::Error(cn::Msg("input '", in, "' expected ", rows, " elements (one per row of '", an,
                            "' ", a, "), found shape ", idx));
  if (!idx.known()) s.SetInput(kIndex, cn::Shape{rows});
  s.SetOutput(0, s.in(kIndex));
}

void RowType(const cn::NoParams&, std::vector<int>& in, std::vector<int>& out, std::vector<int>&) {
  if (in[kIndex] < 0) in[kIndex] = in[kData] < 0 ? CN_FLOAT32 : in[kData];
  out[0] = in[kData];
}

void RowForward(const cn::NoParams&, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL || a.out[0].size() == 0) return;
  cn::Shape s = a.in[kData].shape();
  int64_t m = s[s.ndim - 1];
  std::vector<int64_t> pos = Positions(a.in[kIndex], m, kClip);
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, {
    const DType* x = a.in[kData].ptr<DType>();
    DType* y = a.out[0].ptr<DType>();
    for (size_t i = 0; i < pos.size(); ++i) cn::Store(&y[i], req, x[i * m + pos[i]]);
  });
}

void RowBackward(const cn::NoParams&, const cn::BackwardArgs& a) {
  ZeroIndexGrad(a, kIndex);
  int32_t req = a.req[kData];
  if (req == CN_REQ_NULL) return;
  const cn::Tensor& g = a.in_grad[kData];
  int64_t m = g.dims[g.ndim - 1];
  std::vector<int64_t> pos = Positions(a.in[kIndex], std::max<int64_t>(m, 1), kClip);
  CN_FLOAT_SWITCH(g.dtype, DType, {
    const DType* dy = a.out_grad[0].ptr<DType>();
    DType* dx = g.ptr<DType>();
    if (req != CN_REQ_ADD) std::fill(dx, dx + g.size(), DType(0));
    for (size_t i = 0; i < pos.size(); ++i) dx[i * m + pos[i]] += dy[i];
  });
}

void RowNeeds(const cn::NoParams&, cn::BackwardNeeds& n) { n.input(kIndex).out_grad(0); }

// ---- fill_element_0index(lhs, mhs, rhs)

enum { kLhs, kMhs, kRhs };

void FillShape(const cn::NoParams&, cn::ShapeContext& s) {
  cn::Shape l = s.in(kLhs);
  if (!l.known()) return;
  if (l.ndim != 2) throw cn::Error(cn::Msg("input 'lhs' expected 2 dims, found shape ", l));
  s.SetInput(kMhs, cn::Shape{l[0]});
  s.SetInput(kRhs, cn::Shape{l[0]});
  s.SetOutput(0, l);
}

void FillType(const cn::NoParams&, std::vector<int>& in, std::vector<int>& out, std::vector<int>&) {
  int t = in[kLhs] < 0 ? CN_FLOAT32 : in[kLhs];
  if (in[kMhs] < 0) in[kMhs] = t;
  if (in[kRhs] < 0) in[kRhs] = t;
  out[0] = t;
}

void FillForward(const cn::NoParams&, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  const cn::Tensor& lhs = a.in[kLhs];
  int64_t rows = lhs.dims[0], m = lhs.dims[1];
  if (a.in[kMhs].dtype != lhs.dtype)
    throw cn::Error(cn::Msg("input 'mhs' expected dtype ", cn::DTypeName(lhs.dtype), ", found ",
                            cn::DTypeName(a.in[kMhs].dtype)));
  std::vector<int64_t> pos(rows);
  CN_INDEX_SWITCH(a.in[kRhs].dtype, "input 'rhs'", IType, {
    for (int64_t i = 0; i < rows; ++i) pos[i] = cn_index::ToIndex(a.in[kRhs].ptr<IType>()[i]);
  });
  CN_FLOAT_SWITCH(lhs.dtype, DType, {
    const DType* x = lhs.ptr<DType>();
    const DType* v = a.in[kMhs].ptr<DType>();
    DType* y = a.out[0].ptr<DType>();
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < m; ++j)
        cn::Store(&y[i * m + j], req, j == pos[i] ? v[i] : x[i * m + j]);
  });
}

}  // namespace

CN_REGISTER_OP(take, TakeParam)
    .describe("Takes elements of `a` at `indices` along an axis (mode clip, wrap or raise).")
    .inputs({"a", "indices"})
    .outputs({"output"})
    .infer_shape(TakeShape)
    .infer_type(TakeType)
    .forward(TakeForward)
    .backward(TakeBackward)
    .backward_needs(TakeNeeds);

CN_REGISTER_OP(batch_take, cn::NoParams)
    .describe("out[i] = a[i, indices[i]] over the rows of `a` (its last axis); clipped indices.")
    .inputs({"a", "indices"})
    .outputs({"output"})
    .infer_shape(RowShape)
    .infer_type(RowType)
    .forward(RowForward)
    .backward(RowBackward)
    .backward_needs(RowNeeds);

CN_REGISTER_OP(choose_element_0index, cn::NoParams)
    .describe("out[i] = lhs[i, rhs[i]] (MXNet's legacy batch_take); clipped indices.")
    .inputs({"lhs", "rhs"})
    .outputs({"output"})
    .infer_shape(RowShape)
    .infer_type(RowType)
    .forward(RowForward)
    .backward(RowBackward)
    .backward_needs(RowNeeds);

CN_REGISTER_OP(fill_element_0index, cn::NoParams)
    .describe("out = lhs with out[i, rhs[i]] = mhs[i]; rows whose index is out of range unchanged.")
    .inputs({"lhs", "mhs", "rhs"})
    .outputs({"output"})
    .infer_shape(FillShape)
    .infer_type(FillType)
    .forward(FillForward)
    .flags(CN_FLAG_NO_GRAD);
