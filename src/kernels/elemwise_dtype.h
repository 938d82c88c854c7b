// Forward of the binary elementwise functors (elemwise_util.h) on the dtypes beyond
// float32/float64 that MXNet's ndarray arithmetic accepts: float16, uint8, int32 (and int8, int64).
// Gradients stay float32/float64 only (the backward switch rejects the others by name).
//   float16: each element is computed in float32 and rounded to half once. For + - * / float32
//     carries at least 2*11+2 significand bits, so rounding the float32 result to half gives the
//     correctly rounded half result (no double-rounding error); max/min are exact; power is
//     float32's powf rounded once.
//   integers: MXNet's semantics, checked against MXNet 1.9.1: + - * wrap around modulo 2^bits
//     (computed in 64 bits, then narrowed, so no signed-overflow UB), / truncates toward zero.
//     Division by zero raises (MXNet dies with SIGFPE); INT_MIN / -1 wraps to INT_MIN.
//     power on integers is not supported and raises.
#ifndef COARSENET_KERNELS_ELEMWISE_DTYPE_H_
#define COARSENET_KERNELS_ELEMWISE_DTYPE_H_

#include <cstdint>
#include <type_traits>

#include "kernels/elemwise_util.h"

namespace cn_elem {

template <typename F>
constexpr bool kIntegerOk = std::is_same_v<F, Add> || std::is_same_v<F, Sub> ||
                            std::is_same_v<F, Mul> || std::is_same_v<F, Div> ||
                            std::is_same_v<F, Maximum> || std::is_same_v<F, Minimum>;

// a (op) b for integer T with MXNet's wrap-around, in 64-bit arithmetic narrowed once.
// int64 * int64 and INT64_MIN / -1 are done in uint64 (modular, defined behaviour).
template <typename F, typename T>
inline T IntFwd(T a, T b) {
  using U = uint64_t;
  if constexpr (std::is_same_v<F, Add>) return T(U(int64_t(a)) + U(int64_t(b)));
  if constexpr (std::is_same_v<F, Sub>) return T(U(int64_t(a)) - U(int64_t(b)));
  if constexpr (std::is_same_v<F, Mul>) return T(U(int64_t(a)) * U(int64_t(b)));
  if constexpr (std::is_same_v<F, Div>) {
    if (int64_t(b) == -1) return T(U(0) - U(int64_t(a)));  // -a, wrapping at the minimum
    return T(int64_t(a) / int64_t(b));
  }
  if constexpr (std::is_same_v<F, Maximum>) return a > b ? a : b;
  if constexpr (std::is_same_v<F, Minimum>) return a < b ? a : b;
  return T(0);
}

template <typename F, typename T>
inline void IntBinaryForward(const cn::ForwardArgs& a, const char* dtype) {
  if constexpr (!kIntegerOk<F>) {
    throw cn::Error(cn::Msg("not supported for integer dtype ", dtype,
                            " (float16, float32 and float64 only)"));
  } else {
    const T* l = a.in[0].ptr<T>();
    const T* r = a.in[1].ptr<T>();
    int64_t n = a.out[0].size();
    if constexpr (std::is_same_v<F, Div>) {
      for (int64_t i = 0; i < n; ++i)
        if (r[i] == T(0))
          throw cn::Error(cn::Msg("integer division by zero (dtype ", dtype, ", rhs element ", i,
                                  ")"));
    }
    MapStore(a.out[0].ptr<T>(), n, a.req[0], [=](int64_t i) { return IntFwd<F, T>(l[i], r[i]); });
  }
}

// Forward for a dtype other than float32/float64; returns false when `dtype` is not one of them
// (the caller's float switch then raises naming the dtype).
template <typename F>
inline bool OtherDTypeBinaryForward(const cn::ForwardArgs& a) {
  int dtype = a.in[0].dtype;
  const char* name = cn::DTypeName(dtype);
  switch (dtype) {
    case CN_FLOAT16: {
      const _Float16* l = a.in[0].ptr<_Float16>();
      const _Float16* r = a.in[1].ptr<_Float16>();
      MapStore(a.out[0].ptr<_Float16>(), a.out[0].size(), a.req[0], [=](int64_t i) {
        return _Float16(F::Fwd(float(l[i]), float(r[i])));
      });
      return true;
    }
    case CN_UINT8: IntBinaryForward<F, uint8_t>(a, name); return true;
    case CN_INT8: IntBinaryForward<F, int8_t>(a, name); return true;
    case CN_INT32: IntBinaryForward<F, int32_t>(a, name); return true;
    case CN_INT64: IntBinaryForward<F, int64_t>(a, name); return true;
    default: return false;
  }
}

}  // namespace cn_elem

#endif  // COARSENET_KERNELS_ELEMWISE_DTYPE_H_
