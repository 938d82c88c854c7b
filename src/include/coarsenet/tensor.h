// Shapes, tensor views and errors for op authors. Header-only; see op.h for registration.
#ifndef COARSENET_TENSOR_H_
#define COARSENET_TENSOR_H_

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "coarsenet/c_api.h"

// Everything in namespace cn is hidden so that two libraries (the core and a plugin) that both
// include this header never bind to each other's copies of the inline registry and helpers.
#define CN_HIDDEN __attribute__((visibility("hidden")))

namespace cn CN_HIDDEN {

// A user-facing error: the host turns it into a Python exception prefixed with the op name.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Builds a message from any streamable parts: throw Error(Msg("expected ", a, ", found ", b)).
template <typename... Parts>
std::string Msg(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

// Shape arithmetic on user-given sizes that fails instead of wrapping around int64
// (tile reps 2^62, pads near 2^63): throw Error naming `what`.
inline int64_t MulDims(int64_t a, int64_t b, const char* what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    throw Error(Msg(what, " overflows 64 bits: ", a, " * ", b));
  return r;
}
inline int64_t AddDims(int64_t a, int64_t b, const char* what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    throw Error(Msg(what, " overflows 64 bits: ", a, " + ", b));
  return r;
}

// A shape of up to CN_MAX_NDIM dims; ndim == -1 means "not known yet" during shape inference.
struct Shape : cn_shape {
  Shape() { ndim = -1; std::memset(dims, 0, sizeof(dims)); }
  Shape(std::initializer_list<int64_t> d) { assign(d.begin(), d.end()); }
  explicit Shape(const std::vector<int64_t>& d) { assign(d.begin(), d.end()); }
  Shape(const cn_shape& s) : cn_shape(s) {}  // NOLINT: views of the C struct are shapes

  template <typename It>
  void assign(It begin, It end) {
    std::memset(dims, 0, sizeof(dims));
    int64_t n = end - begin;
    if (n > CN_MAX_NDIM) throw Error(Msg("at most ", CN_MAX_NDIM, " dims are supported, got ", n));
    ndim = static_cast<int32_t>(n);
    for (int i = 0; begin != end; ++begin, ++i) dims[i] = *begin;
  }
  bool known() const { return ndim >= 0; }
  int64_t operator[](int i) const { return dims[i]; }
  int64_t& operator[](int i) { return dims[i]; }
  int64_t size() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= dims[i];
    return n;
  }
  // Product of dims [begin, end).
  int64_t prod(int begin, int end) const {
    int64_t n = 1;
    for (int i = begin; i < end; ++i) n *= dims[i];
    return n;
  }
  bool operator==(const Shape& o) const {
    if (ndim != o.ndim) return false;
    for (int i = 0; i < ndim; ++i)
      if (dims[i] != o.dims[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::vector<int64_t> vec() const { return std::vector<int64_t>(dims, dims + (ndim < 0 ? 0 : ndim)); }
  // MXNet's string form: "(2, 3)"; "(5,)" for one dim; "None" when unknown.
  std::string str() const {
    if (ndim < 0) return "None";
    std::string s = "(";
    for (int i = 0; i < ndim; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + (ndim == 1 ? ",)" : ")");
  }
};

inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

inline const char* DTypeName(int dtype) {
  switch (dtype) {
    case CN_FLOAT32: return "float32";
    case CN_FLOAT64: return "float64";
    case CN_FLOAT16: return "float16";
    case CN_UINT8: return "uint8";
    case CN_INT32: return "int32";
    case CN_INT8: return "int8";
    case CN_INT64: return "int64";
    default: return "unknown";
  }
}

// Bytes per element; 8 (the widest) for an unknown code, so a size is never too small.
inline size_t DTypeSize(int dtype) {
  switch (dtype) {
    case CN_FLOAT32: case CN_INT32: return 4;
    case CN_FLOAT16: return 2;
    case CN_UINT8: case CN_INT8: return 1;
    default: return 8;
  }
}

// A dense C-contiguous view; layout-identical to cn_tensor so arrays of either can be reinterpreted.
struct Tensor : cn_tensor {
  Shape shape() const {
    Shape s;
    s.ndim = ndim;
    for (int i = 0; i < ndim; ++i) s.dims[i] = dims[i];
    return s;
  }
  int64_t size() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= dims[i];
    return n;
  }
  int64_t dim(int i) const { return dims[i]; }
  bool empty() const { return data == nullptr; }
  template <typename T>
  T* ptr() const { return static_cast<T*>(data); }
};
static_assert(sizeof(Tensor) == sizeof(cn_tensor), "Tensor must stay layout-compatible");

// Dispatch on the floating types every built-in op supports: float32 (the main path) and
// float64 (exact gradient checks). Usage: CN_FLOAT_SWITCH(t.dtype, DType, { Kernel<DType>(...); });
#define CN_FLOAT_SWITCH(dtype_code, DType, ...)                                              \
  switch (dtype_code) {                                                                      \
    case CN_FLOAT32: { using DType = float; __VA_ARGS__ break; }                             \
    case CN_FLOAT64: { using DType = double; __VA_ARGS__ break; }                            \
    default:                                                                                 \
      throw ::cn::Error(::cn::Msg("expected dtype float32 or float64, found ",               \
                                  ::cn::DTypeName(dtype_code)));                             \
  }

}  // namespace cn

#endif  // COARSENET_TENSOR_H_
