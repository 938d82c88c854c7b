// The axis bookkeeping shared by the reductions (reduce.cc: sum, mean; reduce_value.cc: max, min,
// prod, norm): MXNet's axis/keepdims/exclude parameters, the output shape, and a Plan that views
// the input as "runs" of adjacent dims that are all reduced or all kept (dims of size 1
// dropped), so inner loops run over one contiguous run.
#ifndef COARSENET_KERNELS_REDUCE_PLAN_H_
#define COARSENET_KERNELS_REDUCE_PLAN_H_

#include <vector>

#include "kernels/elemwise_util.h"

namespace cn_reduce {

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
inline std::vector<bool> ReducedAxes(const ReduceParam& p, int ndim) {
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

inline void InferShape(const ReduceParam& p, cn::ShapeContext& s) {
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

}  // namespace cn_reduce

#endif  // COARSENET_KERNELS_REDUCE_PLAN_H_
