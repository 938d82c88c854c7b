// Rounding and logical_not, elementwise, in the input's float dtype:
//   round: half away from zero (MXNet; NumPy's round is half to even: round(2.5) = 3 here),
//   rint: nearest, a tie toward minus infinity (MXNet's rule: rint(2.5) = 2, rint(-2.5) = -3;
//     NumPy rounds ties to even), floor, ceil,
//   trunc and fix: toward zero (MXNet has both names),
//   logical_not: 1 where x == 0, else 0.
// MXNet gives all of these a zero gradient: NO_GRAD.
#include <cmath>

#include "kernels/elemwise_util.h"

namespace {

struct Round { template <typename T> static T F(T x) { return std::round(x); } };
// MXNet's rint takes the floor on a tie (2.5 -> 2, -2.5 -> -3), unlike C's and NumPy's.
struct Rint {
  template <typename T> static T F(T x) {
    T lo = std::floor(x), hi = std::ceil(x);
    return x - lo <= hi - x ? lo : hi;
  }
};
struct Floor { template <typename T> static T F(T x) { return std::floor(x); } };
struct Ceil { template <typename T> static T F(T x) { return std::ceil(x); } };
struct Trunc { template <typename T> static T F(T x) { return std::trunc(x); } };
struct LogicalNot { template <typename T> static T F(T x) { return x == T(0) ? T(1) : T(0); } };

template <typename Fn>
void Forward(const cn::NoParams&, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    const DType* x = a.in[0].ptr<DType>();
    cn_elem::MapStore(a.out[0].ptr<DType>(), a.out[0].size(), a.req[0],
                      [=](int64_t i) { return Fn::F(x[i]); });
  });
}

template <typename Fn>
void Register(const char* name, const char* doc) {
  cn::NewOp<cn::NoParams>(name)
      .describe(doc)
      .inputs({"data"})
      .outputs({"output"})
      .forward(Forward<Fn>)
      .inplace({{0, 0}})
      .flags(CN_FLAG_NO_GRAD);
}

[[maybe_unused]] const bool kRegistered = [] {
  Register<Round>("round", "Rounds to the nearest integer, halves away from zero.");
  Register<Rint>("rint", "Rounds to the nearest integer, halves toward minus infinity (as MXNet).");
  Register<Floor>("floor", "Rounds toward minus infinity.");
  Register<Ceil>("ceil", "Rounds toward plus infinity.");
  Register<Trunc>("trunc", "Rounds toward zero.");
  Register<Trunc>("fix", "Rounds toward zero (MXNet's other name for trunc).");
  Register<LogicalNot>("logical_not", "Returns 1 where data is 0, else 0.");
  return true;
}();

}  // namespace
