// Forward of the binary elementwise functors (elemwise_util.h), array-array and array-scalar, on
// the dtypes beyond float32/float64 that MXNet's ndarray arithmetic accepts: float16, uint8, int32
// (and int8, int64).
// Gradients stay float32/float64 only (the backward switch rejects the others by name).
//   float16: each element is computed in float32 and rounded to half once. For + - * / float32
//     carries at least 2*11+2 significand bits, so rounding the float32 result to half gives the
//     correctly rounded half result (no double-rounding error); max/min are exact; power is
//     float32's powf rounded once.
//   integers: MXNet's semantics, checked against MXNet 1.9.1: + - * wrap around modulo 2^bits
//     (computed in 64 bits, then narrowed, so no signed-overflow UB), / truncates toward zero.
//     Division by zero raises (MXNet dies with SIGFPE); INT_MIN / -1 wraps to INT_MIN.
//     power on integers is not supported and raises (MXNet wraps it; not needed yet).
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

// Raises unless F can run on integer T over these divisors: power is not supported, and
// division scans its divisors rhs(0..n-1) for a zero before anything is written.
template <typename F, typename T, typename R>
inline void CheckIntegerOp(int64_t n, R rhs, const char* dtype) {
  if constexpr (!kIntegerOk<F>) {
    throw cn::Error(cn::Msg("not supported for integer dtype ", dtype,
                            " (float16, float32 and float64 only)"));
  } else if constexpr (std::is_same_v<F, Div>) {
    for (int64_t i = 0; i < n; ++i)
      if (rhs(i) == T(0))
        throw cn::Error(cn::Msg("integer division by zero (dtype ", dtype, ", element ", i, ")"));
  }
}

// y[i] = lhs(i) (op) rhs(i) on integer T.
template <typename F, typename T, typename L, typename R>
inline void IntMap(T* y, int64_t n, int32_t req, L lhs, R rhs, const char* dtype) {
  CheckIntegerOp<F, T>(n, rhs, dtype);
  if constexpr (kIntegerOk<F>)
    MapStore(y, n, req, [=](int64_t i) { return IntFwd<F, T>(lhs(i), rhs(i)); });
}

// F for kernels that call F::Fwd per element (broadcast_*): half through float32 rounded once,
// integers through IntFwd. Integer callers run CheckIntegerOp first.
template <typename F>
struct AnyDType {
  template <typename T>
  static T Fwd(T a, T b) {
    if constexpr (std::is_same_v<T, _Float16>)
      return _Float16(F::Fwd(float(a), float(b)));
    else if constexpr (kIntegerOk<F>)
      return IntFwd<F, T>(a, b);
    else
      return T(0);  // unreachable: CheckIntegerOp raised
  }
};

// y[i] = lhs(i) (op) rhs(i) on half: computed in float32, rounded once (see the top).
template <typename F, typename L, typename R>
inline void HalfMap(_Float16* y, int64_t n, int32_t req, L lhs, R rhs) {
  MapStore(y, n, req, [=](int64_t i) { return _Float16(F::Fwd(float(lhs(i)), float(rhs(i)))); });
}

// fn(T{}) for float16 and the integer dtypes; false for any other dtype (the caller's float
// switch then handles float32/float64 or raises naming the dtype).
template <typename Fn>
inline bool OtherDTypeSwitch(int dtype, Fn&& fn) {
  switch (dtype) {
    case CN_FLOAT16: fn(_Float16{}); return true;
    case CN_UINT8: fn(uint8_t{}); return true;
    case CN_INT8: fn(int8_t{}); return true;
    case CN_INT32: fn(int32_t{}); return true;
    case CN_INT64: fn(int64_t{}); return true;
    default: return false;
  }
}

// y = lhs (op) rhs, both arrays of one shape (elemwise_*).
template <typename F>
inline bool OtherDTypeBinaryForward(const cn::ForwardArgs& a) {
  int dtype = a.in[0].dtype;
  return OtherDTypeSwitch(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* l = a.in[0].ptr<T>();
    const T* r = a.in[1].ptr<T>();
    auto lhs = [=](int64_t i) { return l[i]; };
    auto rhs = [=](int64_t i) { return r[i]; };
    T* y = a.out[0].ptr<T>();
    if constexpr (std::is_same_v<T, _Float16>)
      HalfMap<F>(y, a.out[0].size(), a.req[0], lhs, rhs);
    else
      IntMap<F, T>(y, a.out[0].size(), a.req[0], lhs, rhs, cn::DTypeName(dtype));
  });
}

// y = x (op) s, or s (op) x when kReversed (_plus_scalar, ...). As MXNet, the scalar is first
// converted to the array's dtype: to half (through float), or truncated toward zero and wrapped to the integer
// type (uint8 x * -1 is x * 255); a non-finite or out-of-int64-range scalar raises for integers.
template <typename F, bool kReversed>
inline bool OtherDTypeScalarForward(const cn::ForwardArgs& a, double scalar) {
  int dtype = a.in[0].dtype;
  return OtherDTypeSwitch(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = a.in[0].ptr<T>();
    T* y = a.out[0].ptr<T>();
    int64_t n = a.out[0].size();
    T s;
    if constexpr (std::is_same_v<T, _Float16>) {
      s = _Float16(float(scalar));  // via float, as MXNet's half_t(double)
    } else {
      if (!(scalar > -9.2e18 && scalar < 9.2e18))
        throw cn::Error(cn::Msg("scalar ", scalar, " cannot be converted to integer dtype ",
                                cn::DTypeName(dtype)));
      s = T(uint64_t(int64_t(scalar)));  // truncate, then wrap modulo 2^bits
    }
    auto xs = [=](int64_t i) { return x[i]; };
    auto ss = [=](int64_t) { return s; };
    if constexpr (std::is_same_v<T, _Float16>) {
      if constexpr (kReversed) HalfMap<F>(y, n, a.req[0], ss, xs);
      else HalfMap<F>(y, n, a.req[0], xs, ss);
    } else {
      if constexpr (kReversed) IntMap<F, T>(y, n, a.req[0], ss, xs, cn::DTypeName(dtype));
      else IntMap<F, T>(y, n, a.req[0], xs, ss, cn::DTypeName(dtype));
    }
  });
}

}  // namespace cn_elem

#endif  // COARSENET_KERNELS_ELEMWISE_DTYPE_H_
