// sum and mean over axes (MXNet 1.x semantics):
//   axis=None or () reduces every element into shape (1,) (keepdims: all ones); otherwise the
//   listed axes (negative counts from the end; duplicates are an error), or with exclude=True every
//   axis NOT listed. A result with no dims left has shape (1,).
//   Backward: dx = dy broadcast back over the reduced axes (times 1/K for mean, K = elements
//   reduced into each output). It reads neither the input nor the output.
//
// Kernels walk the runs of reduce_plan.h, so the inner loop is either a contiguous sum or a
// contiguous vector add.
#include <utility>
#include <vector>

#include "kernels/reduce_plan.h"

namespace {

using cn_reduce::InferShape;
using cn_reduce::Plan;
using cn_reduce::ReduceParam;

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
