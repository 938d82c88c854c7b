// where: out = condition != 0 ? x : y, elementwise. condition has x's shape, or is 1-D with
// x.shape[0] entries that each select a whole row (first-axis slice) of x or y.
// Backward: dx = condition ? dout : 0 and dy = condition ? 0 : dout; condition gets a zero
// gradient. Backward reads only condition.
#include <algorithm>

#include "coarsenet/op.h"

namespace {

enum { kCond, kX, kY };

void InferShape(const cn::NoParams&, cn::ShapeContext& s) {
  cn::Shape x = s.in(kX).known() ? s.in(kX) : s.in(kY);
  if (!x.known()) return;
  s.SetInput(kX, x);
  s.SetInput(kY, x);
  cn::Shape c = s.in(kCond);
  const bool rows = x.ndim >= 1 && c == cn::Shape{x[0]};
  if (c.known() && c != x && !rows)
    throw cn::Error(cn::Msg("input 'condition' must have the shape of x ", x,
                            (x.ndim >= 1 ? cn::Msg(" or (", x[0], ",)") : std::string()),
                            ", found ", c));
  if (!c.known()) s.SetInput(kCond, x);
  s.SetOutput(0, x);
}

void InferType(const cn::NoParams&, std::vector<int>& in, std::vector<int>& out,
               std::vector<int>&) {
  int t = in[kX] >= 0 ? in[kX] : in[kY];
  if (in[kX] < 0) in[kX] = t;
  if (in[kY] < 0) in[kY] = t;
  if (in[kCond] < 0) in[kCond] = t;
  out[0] = t;
}

#define CN_WHERE_COND_SWITCH(dtype_code, CType, ...)                                     \
  switch (dtype_code) {                                                                  \
    case CN_FLOAT32: { using CType = float; __VA_ARGS__ break; }                         \
    case CN_FLOAT64: { using CType = double; __VA_ARGS__ break; }                        \
    case CN_INT32: { using CType = int32_t; __VA_ARGS__ break; }                         \
    case CN_INT64: { using CType = int64_t; __VA_ARGS__ break; }                         \
    case CN_UINT8: { using CType = uint8_t; __VA_ARGS__ break; }                         \
    case CN_INT8: { using CType = int8_t; __VA_ARGS__ break; }                           \
    default:                                                                             \
      throw cn::Error(cn::Msg("input 'condition' has unsupported dtype ",                \
                              cn::DTypeName(dtype_code)));                               \
  }

// Calls body(i, take_x) for every element; `row` elements share one condition in 1-D form.
template <typename CType, typename Body>
void Select(const cn::Tensor& cond, int64_t size, Body body) {
  const CType* c = cond.ptr<CType>();
  const int64_t row = cond.size() == size ? 1 : size / cond.size();
  cn::ParallelFor(size, 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) body(i, c[i / row] != CType(0));
  });
}

void Forward(const cn::NoParams&, const cn::ForwardArgs& a) {
  const int32_t req = a.req[0];
  if (a.in[kY].dtype != a.in[kX].dtype)
    throw cn::Error(cn::Msg("input 'y' must have dtype ", cn::DTypeName(a.in[kX].dtype),
                            " like x, found ", cn::DTypeName(a.in[kY].dtype)));
  if (req == CN_REQ_NULL) return;
  CN_WHERE_COND_SWITCH(a.in[kCond].dtype, CType, {
    CN_FLOAT_SWITCH(a.in[kX].dtype, DType, {
      const DType *x = a.in[kX].ptr<DType>(), *y = a.in[kY].ptr<DType>();
      DType* out = a.out[0].ptr<DType>();
      Select<CType>(a.in[kCond], a.in[kX].size(),
                    [&](int64_t i, bool take_x) { cn::Store(&out[i], req, take_x ? x[i] : y[i]); });
    });
  });
}

void Backward(const cn::NoParams&, const cn::BackwardArgs& a) {
  const int32_t req_x = a.req[kX], req_y = a.req[kY];
  if (a.req[kCond] == CN_REQ_WRITE || a.req[kCond] == CN_REQ_INPLACE) {
    CN_WHERE_COND_SWITCH(a.in_grad[kCond].dtype, CType, {
      CType* g = a.in_grad[kCond].ptr<CType>();
      std::fill(g, g + a.in_grad[kCond].size(), CType(0));
    });
  }
  if (req_x == CN_REQ_NULL && req_y == CN_REQ_NULL) return;
  CN_WHERE_COND_SWITCH(a.in[kCond].dtype, CType, {
    CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
      const DType* dout = a.out_grad[0].ptr<DType>();
      DType* dx = req_x == CN_REQ_NULL ? nullptr : a.in_grad[kX].ptr<DType>();
      DType* dy = req_y == CN_REQ_NULL ? nullptr : a.in_grad[kY].ptr<DType>();
      Select<CType>(a.in[kCond], a.out_grad[0].size(), [&](int64_t i, bool take_x) {
        const DType g = dout[i];  // read first: dout may alias dx or dy (in-place)
        if (dx) cn::Store(&dx[i], req_x, take_x ? g : DType(0));
        if (dy) cn::Store(&dy[i], req_y, take_x ? DType(0) : g);
      });
    });
  });
}

void Needs(const cn::NoParams&, cn::BackwardNeeds& n) { n.input(kCond).out_grad(0); }

}  // namespace

CN_REGISTER_OP(where, cn::NoParams)
    .describe("Takes elements from x where condition is non-zero and from y elsewhere; a 1-D "
              "condition selects whole rows (slices along the first axis).")
    .inputs({"condition", "x", "y"})
    .outputs({"output"})
    .infer_shape(InferShape)
    .infer_type(InferType)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .inplace({{kX, 0}, {kY, 0}})
    .backward_inplace({{0, kX}, {0, kY}});
