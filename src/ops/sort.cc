// topk / sort / argsort along an axis (axis=None: the flattened array).
// Ordering is stable in both directions, as MXNet's: equal values keep their original order
// (topk([1,3,3,2], k=2) has indices [1, 2]). NaN sorts as larger than every number (NumPy's
// convention; MXNet's NaN order is inconsistent between topk and sort).
// topk's ret_typ: 'value' (the k values; the positions are a hidden output kept for backward),
// 'indices', 'both' (values, indices) or 'mask' (1 at the k positions, 0 elsewhere, data's
// shape). k < 1 selects the whole axis. Indices are written in `dtype` (float32 by default).
// Backward of the values: dy scattered back to the positions they came from. Indices and mask
// have zero gradient.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <vector>

#include "kernels/index_util.h"

namespace {

enum RetTyp { kValue, kIndices, kMask, kBoth };

struct SortParam {
  std::optional<int64_t> axis;
  int k;
  int ret_typ;
  bool is_ascend;
  int dtype;
};

struct TopkParam : SortParam {
  static void Declare(cn::ParamDecl<TopkParam>& d) {
    d.field("axis", &TopkParam::axis, -1, "Axis along which to choose; None flattens the input.");
    d.field("k", &TopkParam::k, 1, "Number of elements to select; k < 1 selects all.");
    d.choice("ret_typ", &TopkParam::ret_typ, {"value", "indices", "mask", "both"}, "indices",
             "What to return: the values, their indices, both, or a 0/1 mask.");
    d.field("is_ascend", &TopkParam::is_ascend, false, "Select the smallest instead of largest.");
    d.choice("dtype", &TopkParam::dtype, CN_INDEX_DTYPE_CHOICES, "float32",
             "Data type of the returned indices.");
  }
};
struct SortOnlyParam : SortParam {
  static void Declare(cn::ParamDecl<SortOnlyParam>& d) {
    d.field("axis", &SortOnlyParam::axis, -1, "Axis along which to sort; None flattens the input.");
    d.field("is_ascend", &SortOnlyParam::is_ascend, true, "Ascending (else descending) order.");
  }
};
struct ArgsortParam : SortParam {
  static void Declare(cn::ParamDecl<ArgsortParam>& d) {
    d.field("axis", &ArgsortParam::axis, -1, "Axis along which to sort; None flattens the input.");
    d.field("is_ascend", &ArgsortParam::is_ascend, true, "Ascending (else descending) order.");
    d.choice("dtype", &ArgsortParam::dtype, CN_INDEX_DTYPE_CHOICES, "float32",
             "Data type of the returned indices.");
  }
};

// Defaults of the members a given op does not declare, so one kernel serves all three.
SortParam AsTopk(const TopkParam& p) { return p; }
SortParam AsSort(const SortOnlyParam& p) { return {p.axis, 0, kBoth, p.is_ascend, CN_INT64}; }
SortParam AsArgsort(const ArgsortParam& p) { return {p.axis, 0, kIndices, p.is_ascend, p.dtype}; }

int64_t KOf(const SortParam& p, const cn::Shape& x) {
  int64_t n = cn_index::LayoutOf(x, p.axis).n;
  if (p.k < 1) return n;
  if (p.k > n)
    throw cn::Error(cn::Msg("k = ", p.k, " is larger than the ", n, " elements along the axis ",
                            "of input 'data' of shape ", x));
  return p.k;
}

// Output shape of the values / indices: the axis shortened to k (flattened to (k,) for None).
cn::Shape Selected(const SortParam& p, const cn::Shape& x, int64_t k) {
  if (!p.axis) return cn::Shape{k};
  std::vector<int64_t> d = x.vec();
  d[cn_index::NormAxis(*p.axis, x.ndim)] = k;
  return cn::Shape(d);
}

void InferShapeWith(const SortParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  if (p.axis) cn_index::NormAxis(*p.axis, x.ndim);
  if (p.ret_typ == kMask) {
    KOf(p, x);
    s.SetOutput(0, x);
    return;
  }
  cn::Shape sel = Selected(p, x, KOf(p, x));
  for (int j = 0; j < s.num_out(); ++j) s.SetOutput(j, sel);
}

// NaN counts as the largest value; ties keep position order through stable_sort.
template <typename T>
bool Less(T a, T b) {
  return std::isnan(a) ? false : (std::isnan(b) ? true : a < b);
}

// For each of the outer*inner rows: order[0..k) = positions of the k selected elements.
template <typename DType>
void SelectRows(const SortParam& p, const cn::Tensor& data, int64_t k,
                std::vector<int64_t>& order_all) {
  cn_index::Layout l = cn_index::LayoutOf(data.shape(), p.axis);
  const DType* x = data.ptr<DType>();
  order_all.resize(l.outer * l.inner * k);
  cn::ParallelFor(l.outer * l.inner, 16, [&](int64_t b, int64_t e) {
    std::vector<int64_t> order(l.n);
    for (int64_t j = b; j < e; ++j) {
      const DType* row = x + (j / l.inner) * l.n * l.inner + j % l.inner;
      std::iota(order.begin(), order.end(), int64_t(0));
      auto at = [&](int64_t i) { return row[i * l.inner]; };
      if (p.is_ascend)
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t u, int64_t v) { return Less(at(u), at(v)); });
      else
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t u, int64_t v) { return Less(at(v), at(u)); });
      std::copy(order.begin(), order.begin() + k, order_all.begin() + j * k);
    }
  });
}

// Element (row j, rank r) of a k-long selection lives at this offset of the output.
inline int64_t OutOffset(const cn_index::Layout& l, int64_t k, int64_t j, int64_t r) {
  return ((j / l.inner) * k + r) * l.inner + j % l.inner;
}

void ForwardWith(const SortParam& p, const cn::ForwardArgs& a) {
  const cn::Tensor& data = a.in[0];
  int64_t k = KOf(p, data.shape());
  cn_index::Layout l = cn_index::LayoutOf(data.shape(), p.axis);
  std::vector<int64_t> order;
  CN_FLOAT_SWITCH(data.dtype, DType, {
    SelectRows<DType>(p, data, k, order);
    const DType* x = data.ptr<DType>();
    int64_t rows = l.outer * l.inner;
    if (p.ret_typ == kMask) {
      int32_t req = a.req[0];
      if (req == CN_REQ_NULL) return;
      DType* m = a.out[0].ptr<DType>();
      if (req != CN_REQ_ADD) std::fill(m, m + data.size(), DType(0));
      for (int64_t j = 0; j < rows; ++j)
        for (int64_t r = 0; r < k; ++r) m[OutOffset(l, l.n, j, order[j * k + r])] += DType(1);
      return;
    }
    int idx_out = p.ret_typ == kIndices ? 0 : 1;
    if (p.ret_typ != kIndices && a.req[0] != CN_REQ_NULL) {
      DType* y = a.out[0].ptr<DType>();
      for (int64_t j = 0; j < rows; ++j)
        for (int64_t r = 0; r < k; ++r)
          cn::Store(&y[OutOffset(l, k, j, r)], a.req[0],
                    x[OutOffset(l, l.n, j, order[j * k + r])]);
    }
    if (idx_out < a.out.size() && a.req[idx_out] != CN_REQ_NULL) {
      const cn::Tensor& out = a.out[idx_out];
      int32_t req = a.req[idx_out];
      CN_INDEX_SWITCH(out.dtype, "output 'indices'", IType, {
        IType* y = out.ptr<IType>();
        for (int64_t j = 0; j < rows; ++j)
          for (int64_t r = 0; r < k; ++r)
            cn::Store(&y[OutOffset(l, k, j, r)], req, static_cast<IType>(order[j * k + r]));
      });
    }
  });
}

// Values' gradient: dy back to the recorded positions (hidden or visible output 1).
void BackwardWith(const SortParam& p, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  const cn::Tensor& dx_t = a.in_grad[0];
  CN_FLOAT_SWITCH(dx_t.dtype, DType, {
    DType* dx = dx_t.ptr<DType>();
    if (req != CN_REQ_ADD) std::fill(dx, dx + dx_t.size(), DType(0));
    if (p.ret_typ == kIndices || p.ret_typ == kMask) return;  // zero gradient
    cn_index::Layout l = cn_index::LayoutOf(dx_t.shape(), p.axis);
    int64_t k = KOf(p, dx_t.shape());
    const DType* dy = a.out_grad[0].ptr<DType>();
    const cn::Tensor& idx = a.out[1];
    CN_INDEX_SWITCH(idx.dtype, "output 'indices'", IType, {
      const IType* pos = idx.ptr<IType>();
      for (int64_t j = 0; j < l.outer * l.inner; ++j)
        for (int64_t r = 0; r < k; ++r) {
          int64_t o = OutOffset(l, k, j, r);
          dx[OutOffset(l, l.n, j, static_cast<int64_t>(pos[o]))] += dy[o];
        }
    });
  });
}

void NeedsWith(const SortParam& p, cn::BackwardNeeds& n) {
  if (p.ret_typ == kValue || p.ret_typ == kBoth) n.output(1).out_grad(0);
}

// Output names and types per ret_typ: 'value' keeps the positions as a hidden int64 output.
std::vector<std::string> OutputsWith(const SortParam& p) {
  if (p.ret_typ == kIndices || p.ret_typ == kMask) return {"output"};
  return {"output", "indices"};
}
void InferTypeWith(const SortParam& p, std::vector<int>& in, std::vector<int>& out) {
  int data = in[0] < 0 ? CN_FLOAT32 : in[0];
  if (p.ret_typ == kIndices) {
    out[0] = p.dtype;
  } else if (p.ret_typ == kMask) {
    out[0] = data;
  } else {
    out[0] = data;
    out[1] = p.ret_typ == kBoth ? p.dtype : CN_INT64;
  }
}

// Thin per-op adapters onto the shared kernels.
template <typename P, SortParam (*Conv)(const P&)>
struct Adapt {
  static void Shape(const P& p, cn::ShapeContext& s) { InferShapeWith(Conv(p), s); }
  static void Type(const P& p, std::vector<int>& in, std::vector<int>& out, std::vector<int>&) {
    InferTypeWith(Conv(p), in, out);
  }
  static void Fwd(const P& p, const cn::ForwardArgs& a) { ForwardWith(Conv(p), a); }
  static void Bwd(const P& p, const cn::BackwardArgs& a) { BackwardWith(Conv(p), a); }
  static void Needs(const P& p, cn::BackwardNeeds& n) { NeedsWith(Conv(p), n); }
  static std::vector<std::string> Outs(const P& p) { return OutputsWith(Conv(p)); }
};
using TopkOp = Adapt<TopkParam, AsTopk>;
using SortOp = Adapt<SortOnlyParam, AsSort>;
using ArgsortOp = Adapt<ArgsortParam, AsArgsort>;

// 'value' shows one output (positions hidden); 'both' shows both.
int TopkVisible(const TopkParam& p) { return p.ret_typ == kBoth ? 2 : 1; }

}  // namespace

CN_REGISTER_OP(topk, TopkParam)
    .describe("Returns the k largest (or smallest) elements' values, indices, or a mask.")
    .inputs({"data"})
    .outputs(TopkOp::Outs)
    .visible_outputs(TopkVisible)
    .infer_shape(TopkOp::Shape)
    .infer_type(TopkOp::Type)
    .forward(TopkOp::Fwd)
    .backward(TopkOp::Bwd)
    .backward_needs(TopkOp::Needs);

CN_REGISTER_OP(sort, SortOnlyParam)
    .describe("Returns the data sorted along an axis.")
    .inputs({"data"})
    .outputs({"output", "indices"})
    .visible_outputs(1)
    .infer_shape(SortOp::Shape)
    .infer_type(SortOp::Type)
    .forward(SortOp::Fwd)
    .backward(SortOp::Bwd)
    .backward_needs(SortOp::Needs);

CN_REGISTER_OP(argsort, ArgsortParam)
    .describe("Returns the indices that sort the data along an axis (in `dtype`).")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(ArgsortOp::Shape)
    .infer_type(ArgsortOp::Type)
    .forward(ArgsortOp::Fwd)
    .flags(CN_FLAG_NO_GRAD);
