// Shared pieces of the indexing op families (argmax, sort/topk, take/gather, one_hot): an axis
// normalised against ndim, the (outer, n, inner) view of a tensor around that axis, a dtype
// switch over every index type MXNet accepts, and index conversion that never hits undefined
// behaviour (NaN, +-inf, values beyond int64).
#ifndef COARSENET_KERNELS_INDEX_UTIL_H_
#define COARSENET_KERNELS_INDEX_UTIL_H_

#include <cmath>
#include <cstdint>
#include <optional>

#include "coarsenet/op.h"

namespace cn_index {

// axis in [-ndim, ndim) -> [0, ndim); anything else names the op's parameter in the error.
inline int NormAxis(int64_t axis, int ndim, const char* what = "axis") {
  int64_t a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim)
    throw cn::Error(cn::Msg(what, " ", axis, " is out of range for data of ", ndim, " dims"));
  return static_cast<int>(a);
}

// A tensor seen as (outer, n, inner) around one axis; axis None flattens it to (1, size, 1).
struct Layout {
  int64_t outer, n, inner;
};
inline Layout LayoutOf(const cn::Shape& x, std::optional<int64_t> axis) {
  if (!axis) return {1, x.size(), 1};
  int a = NormAxis(*axis, x.ndim);
  return {x.prod(0, a), x[a], x.prod(a + 1, x.ndim)};
}

// Index inputs and outputs may be any of these types (MXNet's indices are float by default).
#define CN_INDEX_SWITCH(dtype_code, what, IType, ...)                                      \
  switch (dtype_code) {                                                                    \
    case CN_FLOAT32: { using IType = float; __VA_ARGS__ break; }                           \
    case CN_FLOAT64: { using IType = double; __VA_ARGS__ break; }                          \
    case CN_FLOAT16: { using IType = _Float16; __VA_ARGS__ break; }                        \
    case CN_UINT8: { using IType = uint8_t; __VA_ARGS__ break; }                           \
    case CN_INT8: { using IType = int8_t; __VA_ARGS__ break; }                             \
    case CN_INT32: { using IType = int32_t; __VA_ARGS__ break; }                           \
    case CN_INT64: { using IType = int64_t; __VA_ARGS__ break; }                           \
    default:                                                                               \
      throw cn::Error(cn::Msg(what, " has unsupported dtype ", cn::DTypeName(dtype_code))); \
  }

// An index value as int64, truncated toward zero like MXNet's cast. NaN and values beyond
// +-2^62 map to a sentinel far out of range, so clip/wrap/raise logic treats them uniformly.
constexpr int64_t kFarOut = int64_t(1) << 62;
template <typename IType>
inline int64_t ToIndex(IType raw) {
  double d = static_cast<double>(raw);
  if (std::isnan(d) || d >= static_cast<double>(kFarOut)) return kFarOut;
  if (d <= -static_cast<double>(kFarOut)) return -kFarOut;
  return static_cast<int64_t>(d);
}

// Clip to [0, n-1] or wrap modulo n (n > 0).
inline int64_t Clip(int64_t k, int64_t n) { return k < 0 ? 0 : (k >= n ? n - 1 : k); }
inline int64_t Wrap(int64_t k, int64_t n) {
  int64_t r = k % n;
  return r < 0 ? r + n : r;
}

// The choice list of MXNet's index `dtype` params, in cn_dtype code order (choice index == code).
#define CN_INDEX_DTYPE_CHOICES \
  { "float32", "float64", "float16", "uint8", "int32", "int8", "int64" }

}  // namespace cn_index

#endif  // COARSENET_KERNELS_INDEX_UTIL_H_
