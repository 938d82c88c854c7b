// sum and mean over axes (MXNet 1.x semantics):
//   axis=None or () reduces every element into shape (1,) (keepdims: all ones); otherwise the
//   listed axes (negative counts from the end; duplicates are an error), or with exclude=True every
//   axis NOT listed. A result with no dims left has shape (1,).
//   Backward: dx = dy broadcast back over the reduced axes (times 1/K for mean, K = elements
//   reduced into each output). It reads neither the input nor the output.
//
// Kernels collapse the input into "runs" of adjacent dims that are all reduced or all kept (dims
// of size 1 dropped), so the inner loop is either a contiguous sum or a contiguous vector add.
#include <utility>
#include <vector>

#include "ops/elemwise_util.h"

namespace {

struct ReduceParam {
  cn::Shape axis;
  bool keepdims, exclude;
  static void Declare(cn::ParamDecl<ReduceParam>& d) {
    d.field("axis", &ReduceParam::axis, cn::Shape{},
            "The axis or axes along which to perform the reduction. The default, axis=(), "
            "computes over all elements into a scalar array with shape (1,). If exclude is "
            "true, reduction is performed on the axes that are NOT in axis instead. Negative "
            "values count from the end.");
    d.field("keepdims", &ReduceParam::keepdims, false,
            "If this is set to True, the reduced axes are left in the result as dimension with "
            "size one.");
    d.field("exclude", &ReduceParam::exclude, false,
            "Whether to perform reduction on axis that are NOT in axis instead.");
  }
};

// Which axes of an ndim-dim input are reduced.
std::vector<bool> ReducedAxes(const ReduceParam& p, int ndim) {
  if (!p.axis.known() || p.axis.ndim == 0) return std::vector<bool>(ndim, true);
  std::vector<bool> reduced(ndim, false);
  for (int i = 0; i < p.axis.ndim; ++i) {
    int64_t a = p.axis[i];
    if (a < -ndim || a >= ndim)
      throw cn::Error(cn::Msg("axis ", a, " is out of range for input 'data' with ", ndim,
                              " dims (axis ", p.axis, ")"));
    if (a < 0) a += ndim;
    if (reduced[a]) throw cn::Error(cn::Msg("axis ", p.axis, " lists axis ", a, " twice"));
    reduced[a] = true;
  }
  if (p.exclude) reduced.flip();
  return reduced;
}

void InferShape(const ReduceParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  std::vector<bool> reduced = ReducedAxes(p, x.ndim);
  std::vector<int64_t> out;
  for (int d = 0; d < x.ndim; ++d) {
    if (!reduced[d])
      out.push_back(x[d]);
    else if (p.keepdims)
      out.push_back(1);
  }
  if (out.empty()) out.push_back(1);
  s.SetOutput(0, cn::Shape(out));
}

// The input as runs; each run is reduced or kept, with its stride in the output (0 if reduced).
struct Plan {
  int ndim = 0;
  int64_t dims[CN_MAX_NDIM], out_stride[CN_MAX_NDIM];
  bool reduced[CN_MAX_NDIM];
  int64_t size, inner, rows, out_size = 1;

  Plan(const ReduceParam& p, const cn::Shape& x) {
    std::vector<bool> red = ReducedAxes(p, x.ndim);
    for (int d = 0; d < x.ndim; ++d) {
      if (x[d] == 1) continue;
      if (ndim > 0 && reduced[ndim - 1] == red[d]) {
        dims[ndim - 1] *= x[d];
      } else {
        dims[ndim] = x[d];
        reduced[ndim++] = red[d];
      }
    }
    if (ndim == 0) {
      dims[0] = 1;
      reduced[0] = true;
      ndim = 1;
    }
    for (int d = ndim - 1; d >= 0; --d) {
      out_stride[d] = reduced[d] ? 0 : out_size;
      if (!reduced[d]) out_size *= dims[d];
    }
    size = x.size();
    inner = dims[ndim - 1];
    rows = inner == 0 ? 0 : size / inner;
  }
  int64_t OutOffset(int64_t row) const {
    int64_t off = 0;
    for (int d = ndim - 2; d >= 0; --d) {
      off += (row % dims[d]) * out_stride[d];
      row /= dims[d];
    }
    return off;
  }
  // Elements reduced into each output (K).
  int64_t Count() const { return out_size == 0 ? 0 : size / out_size; }
};

template <bool kMean>
void Forward(const ReduceParam& p, const cn::ForwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    Plan plan(p, a.in[0].shape());
    const DType* x = a.in[0].ptr<DType>();
    std::vector<DType> acc(plan.out_size, DType(0));
    int64_t n = plan.inner;
    cn_elem::AccumulateRows(plan.rows, n, plan.reduced[plan.ndim - 1], acc.data(),
                            [&](int64_t row) {
                              const DType* xr = x + row * n;
                              return std::make_pair(plan.OutOffset(row),
                                                    [xr](int64_t i) { return xr[i]; });
                            });
    DType scale = kMean ? DType(1) / DType(plan.Count()) : DType(1);
    const DType* accp = acc.data();
    cn_elem::MapStore(a.out[0].ptr<DType>(), plan.out_size, a.req[0],
                      [=](int64_t i) { return accp[i] * scale; });
  });
}

template <bool kMean>
void Backward(const ReduceParam& p, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    Plan plan(p, a.in_grad[0].shape());
    const DType* dy = a.out_grad[0].ptr<DType>();
    DType* dx = a.in_grad[0].ptr<DType>();
    DType scale = kMean ? DType(1) / DType(plan.Count()) : DType(1);
    int64_t n = plan.inner;
    bool inner_reduced = plan.reduced[plan.ndim - 1];
    cn_elem::ChunkedRows(plan.rows, n, [&](int64_t r0, int64_t r1) {
      for (int64_t row = r0; row < r1; ++row) {
        const DType* g = dy + plan.OutOffset(row);
        DType* dxr = dx + row * n;
        if (inner_reduced) {
          DType v = g[0] * scale;
          for (int64_t i = 0; i < n; ++i) cn::Store(&dxr[i], req, v);
        } else {
          for (int64_t i = 0; i < n; ++i) cn::Store(&dxr[i], req, g[i] * scale);
        }
      }
    });
  });
}

void Needs(const ReduceParam&, cn::BackwardNeeds& n) { n.out_grad(0); }

}  // namespace

CN_REGISTER_OP(sum, ReduceParam)
    .describe("Computes the sum of array elements over given axes.")
    .alias("sum_axis")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(InferShape)
    .forward(Forward<false>)
    .backward(Backward<false>)
    .backward_needs(Needs);

CN_REGISTER_OP(mean, ReduceParam)
    .describe("Computes the mean of array elements over given axes.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(InferShape)
    .forward(Forward<true>)
    .backward(Backward<true>)
    .backward_needs(Needs);
