// max, min, prod and norm over axes, with sum's axis/keepdims/exclude rules (reduce_plan.h).
//   max/min: dx = dy where x equals the result (every tied position, as MXNet), else 0; backward
//     reads the input and the output.
//   prod: dx_i = dy * prod_{j != i} x_j, computed as y / x_i when the group has no zero and from
//     the product of the non-zeros otherwise (so a zero input gets a finite, exact gradient);
//     backward reads the input only.
//   norm(ord, axis, keepdims): ord=2 sqrt(sum x^2) (over two axes the Frobenius norm, as MXNet),
//     dx = dy x / y (0 where y = 0); ord=1 sum |x|, dx = dy sign(x).
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/reduce_plan.h"

namespace {

using cn_reduce::Plan;
using cn_reduce::ReduceParam;

// acc[out] = combine over its group of value(x): groups are the plan's rows, reduced along the
// inner run (one partial per row, combined serially) or kept (columns split across threads).
template <typename DType, typename Value, typename Combine>
void CombineRows(const Plan& p, const DType* x, DType* acc, Value value, Combine combine) {
  int64_t n = p.inner;
  if (p.reduced[p.ndim - 1]) {
    std::vector<DType> part(p.rows);
    cn_elem::ChunkedRows(p.rows, n, [&](int64_t r0, int64_t r1) {
      for (int64_t row = r0; row < r1; ++row) {
        const DType* xr = x + row * n;
        DType v = value(xr[0]);
        for (int64_t i = 1; i < n; ++i) v = combine(v, value(xr[i]));
        part[row] = v;
      }
    });
    for (int64_t row = 0; row < p.rows; ++row) {
      DType& a = acc[p.OutOffset(row)];
      a = combine(a, part[row]);
    }
    return;
  }
  auto columns = [&](int64_t b, int64_t e) {
    for (int64_t row = 0; row < p.rows; ++row) {
      DType* a = acc + p.OutOffset(row);
      const DType* xr = x + row * n;
      for (int64_t i = b; i < e; ++i) a[i] = combine(a[i], value(xr[i]));
    }
  };
  if (p.size >= 2 * cn_elem::kParallelGrain && n >= 64 * cn::NumThreads())
    cn::ParallelFor(n, 64, columns);
  else
    columns(0, n);
}

// dx[i] = grad(x[i], group index of i) for every input element, stored per req.
template <typename DType, typename Grad>
void MapGroups(const Plan& p, DType* dx, int32_t req, Grad grad) {
  int64_t n = p.inner;
  bool inner_reduced = p.reduced[p.ndim - 1];
  cn_elem::ChunkedRows(p.rows, n, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      int64_t off = p.OutOffset(row);
      for (int64_t i = 0; i < n; ++i)
        cn::Store(&dx[row * n + i], req, grad(row * n + i, inner_reduced ? off : off + i));
    }
  });
}

// ---------------------------------------------------------------- max, min, prod

enum Kind { kMax, kMin, kProd };

template <Kind K>
void ExtremumForward(const ReduceParam& p, const cn::ForwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    Plan plan(p, a.in[0].shape());
    if (plan.size == 0) throw cn::Error("cannot reduce an empty input");
    constexpr DType inf = std::numeric_limits<DType>::infinity();
    std::vector<DType> acc(plan.out_size, K == kMax ? -inf : (K == kMin ? inf : DType(1)));
    auto same = [](DType v) { return v; };
    if (K == kMax)
      CombineRows(plan, a.in[0].ptr<DType>(), acc.data(), same,
                  [](DType u, DType v) { return v > u ? v : u; });
    else if (K == kMin)
      CombineRows(plan, a.in[0].ptr<DType>(), acc.data(), same,
                  [](DType u, DType v) { return v < u ? v : u; });
    else
      CombineRows(plan, a.in[0].ptr<DType>(), acc.data(), same,
                  [](DType u, DType v) { return u * v; });
    const DType* r = acc.data();
    cn_elem::MapStore(a.out[0].ptr<DType>(), plan.out_size, a.req[0],
                      [=](int64_t i) { return r[i]; });
  });
}

template <Kind K>
void ExtremumBackward(const ReduceParam& p, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    Plan plan(p, a.in_grad[0].shape());
    const DType* x = a.in[0].ptr<DType>();
    const DType* dy = a.out_grad[0].ptr<DType>();
    if (K != kProd) {
      const DType* y = a.out[0].ptr<DType>();
      // dy is loaded unconditionally so the select compiles to a blend, not a branch per
      // element (the pattern that made clip's backward 27x slower than ReLU's).
      MapGroups(plan, a.in_grad[0].ptr<DType>(), req, [=](int64_t i, int64_t o) {
        DType g = dy[o];
        return x[i] == y[o] ? g : DType(0);
      });
      return;
    }
    std::vector<DType> zeros(plan.out_size, DType(0)), nonzero(plan.out_size, DType(1));
    CombineRows(plan, x, zeros.data(), [](DType v) { return DType(v == DType(0)); },
                [](DType u, DType v) { return u + v; });
    CombineRows(plan, x, nonzero.data(), [](DType v) { return v == DType(0) ? DType(1) : v; },
                [](DType u, DType v) { return u * v; });
    const DType *zc = zeros.data(), *nz = nonzero.data();
    MapGroups(plan, a.in_grad[0].ptr<DType>(), req, [=](int64_t i, int64_t o) {
      if (zc[o] == DType(0)) return dy[o] * nz[o] / x[i];
      return zc[o] == DType(1) && x[i] == DType(0) ? dy[o] * nz[o] : DType(0);
    });
  });
}

template <Kind K>
void ExtremumNeeds(const ReduceParam&, cn::BackwardNeeds& n) {
  n.out_grad(0).input(0);
  if (K != kProd) n.output(0);
}

// ---------------------------------------------------------------- norm

struct NormParam {
  int ord;
  cn::Shape axis;
  int out_dtype;
  bool keepdims;
  static void Declare(cn::ParamDecl<NormParam>& d) {
    d.field("ord", &NormParam::ord, 2,
            "Order of the norm. Currently ord=1 and ord=2 is supported.");
    d.field("axis", &NormParam::axis, cn::Shape(),
            "The axis or axes along which to perform the reduction. The default, axis=(), will "
            "compute over all elements into a scalar array with shape (1,). If axis is a "
            "2-tuple, the Frobenius norms of the matrices it spans are computed.");
    d.choice("out_dtype", &NormParam::out_dtype,
             {"None", "float16", "float32", "float64", "int32", "int64", "int8"}, "None",
             "The data type of the output (only None, the input's type, is supported).");
    d.field("keepdims", &NormParam::keepdims, false,
            "If this is set to True, the reduced axis is left in the result as dimension with "
            "size one.");
  }
  ReduceParam Reduce() const {
    if (ord != 1 && ord != 2)
      throw cn::Error(cn::Msg("ord must be 1 or 2, found ", ord));
    if (out_dtype != 0)
      throw cn::Error("out_dtype other than None is not supported; Cast the result instead");
    ReduceParam r;
    r.axis = axis;
    r.keepdims = keepdims;
    r.exclude = false;
    return r;
  }
};

void NormShape(const NormParam& p, cn::ShapeContext& s) { cn_reduce::InferShape(p.Reduce(), s); }

void NormForward(const NormParam& p, const cn::ForwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    Plan plan(p.Reduce(), a.in[0].shape());
    const DType* x = a.in[0].ptr<DType>();
    std::vector<DType> acc(plan.out_size, DType(0));
    int64_t n = plan.inner;
    bool l2 = p.ord == 2;
    cn_elem::AccumulateRows(plan.rows, n, plan.reduced[plan.ndim - 1], acc.data(),
                            [&](int64_t row) {
                              const DType* xr = x + row * n;
                              return std::make_pair(plan.OutOffset(row), [xr, l2](int64_t i) {
                                return l2 ? xr[i] * xr[i] : std::abs(xr[i]);
                              });
                            });
    const DType* r = acc.data();
    cn_elem::MapStore(a.out[0].ptr<DType>(), plan.out_size, a.req[0],
                      [=](int64_t i) { return l2 ? std::sqrt(r[i]) : r[i]; });
  });
}

void NormBackward(const NormParam& p, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    Plan plan(p.Reduce(), a.in_grad[0].shape());
    const DType* x = a.in[0].ptr<DType>();
    const DType* dy = a.out_grad[0].ptr<DType>();
    DType* dx = a.in_grad[0].ptr<DType>();
    if (p.ord == 2) {
      const DType* y = a.out[0].ptr<DType>();
      MapGroups(plan, dx, req, [=](int64_t i, int64_t o) {
        return y[o] == DType(0) ? DType(0) : dy[o] * x[i] / y[o];
      });
    } else {
      MapGroups(plan, dx, req, [=](int64_t i, int64_t o) {
        return x[i] > DType(0) ? dy[o] : (x[i] < DType(0) ? -dy[o] : DType(0));
      });
    }
  });
}

void NormNeeds(const NormParam& p, cn::BackwardNeeds& n) {
  n.out_grad(0).input(0);
  if (p.ord == 2) n.output(0);
}

}  // namespace

CN_REGISTER_OP(max, ReduceParam)
    .describe("Computes the max of array elements over given axes.")
    .alias("max_axis")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(cn_reduce::InferShape)
    .forward(ExtremumForward<kMax>)
    .backward(ExtremumBackward<kMax>)
    .backward_needs(ExtremumNeeds<kMax>);

CN_REGISTER_OP(min, ReduceParam)
    .describe("Computes the min of array elements over given axes.")
    .alias("min_axis")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(cn_reduce::InferShape)
    .forward(ExtremumForward<kMin>)
    .backward(ExtremumBackward<kMin>)
    .backward_needs(ExtremumNeeds<kMin>);

CN_REGISTER_OP(prod, ReduceParam)
    .describe("Computes the product of array elements over given axes.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(cn_reduce::InferShape)
    .forward(ExtremumForward<kProd>)
    .backward(ExtremumBackward<kProd>)
    .backward_needs(ExtremumNeeds<kProd>);

CN_REGISTER_OP(norm, NormParam)
    .describe("Computes the L2 (ord=2, default) or L1 (ord=1) norm over the given axes, or of "
              "the whole array into shape (1,).")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(NormShape)
    .forward(NormForward)
    .backward(NormBackward)
    .backward_needs(NormNeeds);
