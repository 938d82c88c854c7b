// Helpers shared by the image ops (image_ops.cc, image_resize.cc): pixel-type dispatch, req
// stores, HWC / NHWC geometry, and the zero gradient of ops MXNet gives none.
#ifndef COARSENET_OPS_IMAGE_COMMON_H_
#define COARSENET_OPS_IMAGE_COMMON_H_

#include <algorithm>
#include <cstdint>

#include "coarsenet/op.h"

namespace cn_image {

// Calls fn(T{}) for the C++ type of a pixel dtype code.
template <typename Fn>
inline void WithPixelType(int code, Fn&& fn) {
  switch (code) {
    case CN_FLOAT32: return fn(float{});
    case CN_FLOAT64: return fn(double{});
    case CN_UINT8: return fn(uint8_t{});
    case CN_INT8: return fn(int8_t{});
    case CN_INT32: return fn(int32_t{});
    case CN_INT64: return fn(int64_t{});
  }
  throw cn::Error(cn::Msg("expected an image of dtype uint8, int8, int32, int64, float32 or "
                          "float64, found ", cn::DTypeName(code)));
}

template <typename T>
inline void Store(T* dst, int64_t i, T v, int32_t req) {
  if (req == CN_REQ_ADD) dst[i] += v; else dst[i] = v;
}

// (batch, h, w, c) of an HWC or NHWC image; batch is 0 for HWC.
struct Hwc {
  int64_t n, h, w, c;
  bool batched;
};

inline Hwc RequireHwc(const cn::Shape& s, const char* layout) {
  if (s.ndim != 3 && s.ndim != 4)
    throw cn::Error(cn::Msg("input 'data' expected a 3-D (", layout + 1, ") or 4-D (", layout,
                            ") image, found shape ", s));
  int o = s.ndim - 3;
  return {o ? s[0] : 1, s[o], s[o + 1], s[o + 2], o == 1};
}

inline cn::Shape MakeShape(const Hwc& x, int64_t a, int64_t b, int64_t c) {
  return x.batched ? cn::Shape{x.n, a, b, c} : cn::Shape{a, b, c};
}

// No gradient flows through to_tensor and resize (as in MXNet): the input gradient is zero.
template <typename P>
void NoGradNeeds(const P&, cn::BackwardNeeds&) {}

template <typename P>
void ZeroGrad(const P&, const cn::BackwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL || a.req[0] == CN_REQ_ADD) return;  // adding zero: nothing
  CN_FLOAT_SWITCH(a.in_grad[0].dtype, DType, {
    std::fill_n(a.in_grad[0].ptr<DType>(), a.in_grad[0].size(), DType(0));
  });
}

}  // namespace cn_image

#endif  // COARSENET_OPS_IMAGE_COMMON_H_
