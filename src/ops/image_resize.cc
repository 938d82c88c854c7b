// _image_resize: MXNet's nd.image.resize as an op (see image_ops.cc for the family). Resizes an
// HWC / NHWC image to size (w, h) (one int: square, or the short side with keep_ratio) like
// OpenCV: INTER_NEAREST (interp 0, source index floor(dst * scale)) or INTER_LINEAR (1,
// half-pixel centres, clamped edges); integer images are rounded and saturated. No gradient
// (as MXNet). Other interp codes are refused here; the Python nd.image.resize runs them through
// Pillow.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "image_common.h"

namespace {

using cn_image::Hwc;
using cn_image::MakeShape;
using cn_image::NoGradNeeds;
using cn_image::RequireHwc;
using cn_image::Store;
using cn_image::WithPixelType;
using cn_image::ZeroGrad;


struct ResizeParam {
  cn::Shape size;
  bool keep_ratio;
  int interp;
  static void Declare(cn::ParamDecl<ResizeParam>& d) {
    d.field("size", &ResizeParam::size, cn::Shape{}, "Output size (w, h), or one int.")
        .required();
    d.field("keep_ratio", &ResizeParam::keep_ratio, false,
            "With one int size: resize the short side to it, keeping the aspect ratio.");
    d.field("interp", &ResizeParam::interp, 1, "0: nearest, 1: bilinear (OpenCV's).");
  }
};

// (new_w, new_h) for an h x w image, as MXNet's GetHeightAndWidth.
std::pair<int64_t, int64_t> ResizeTo(const ResizeParam& p, int64_t h, int64_t w) {
  if (p.interp != 0 && p.interp != 1)
    throw cn::Error(cn::Msg("interp=", p.interp, " is not supported by the op (0 nearest, 1 "
                            "bilinear); nd.image.resize runs the others through Pillow"));
  if (p.size.ndim == 1) {
    int64_t s = p.size[0];
    if (s <= 0) throw cn::Error(cn::Msg("size must be positive, found ", p.size));
    if (!p.keep_ratio) return {s, s};
    if (h > w) return {s, static_cast<int64_t>(s * h / static_cast<double>(w))};
    return {static_cast<int64_t>(s * w / static_cast<double>(h)), s};
  }
  if (p.size.ndim != 2 || p.size[0] <= 0 || p.size[1] <= 0)
    throw cn::Error(cn::Msg("size expected one int or (width, height) > 0, found ", p.size));
  return {p.size[0], p.size[1]};
}

void ResizeShape(const ResizeParam& p, cn::ShapeContext& s) {
  if (!s.in(0).known()) return;
  Hwc x = RequireHwc(s.in(0), "NHWC");
  // An empty source has no pixel to sample from: every output pixel would read outside it.
  if (x.h < 1 || x.w < 1)
    throw cn::Error(cn::Msg("resize expects an image of height and width >= 1, found ", x.w, "x",
                            x.h, " (width x height)"));
  auto [nw, nh] = ResizeTo(p, x.h, x.w);
  if (nw < 1 || nh < 1)
    throw cn::Error(cn::Msg("resize of a ", x.w, "x", x.h, " image to ", nw, "x", nh,
                            " is empty"));
  s.SetOutput(0, MakeShape(x, nh, nw, x.c));
}

template <typename T>
T Saturate(double v) {
  if constexpr (std::is_integral_v<T>) {
    v = std::nearbyint(v);
    if (v < static_cast<double>(std::numeric_limits<T>::lowest()))
      return std::numeric_limits<T>::lowest();
    if (v > static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  }
  return static_cast<T>(v);
}

void ResizeForward(const ResizeParam& p, const cn::ForwardArgs& a) {
  Hwc x = RequireHwc(a.in[0].shape(), "NHWC");
  auto [nw, nh] = ResizeTo(p, x.h, x.w);
  double sy = static_cast<double>(x.h) / nh, sx = static_cast<double>(x.w) / nw;
  WithPixelType(a.in[0].dtype, [&](auto t) {
    using T = decltype(t);
    const T* src = a.in[0].ptr<T>();
    T* y = a.out[0].ptr<T>();
    auto px = [&](int64_t n, int64_t i, int64_t j, int64_t c) {
      return static_cast<double>(src[((n * x.h + i) * x.w + j) * x.c + c]);
    };
    for (int64_t n = 0; n < x.n; ++n)
      for (int64_t i = 0; i < nh; ++i)
        for (int64_t j = 0; j < nw; ++j) {
          int64_t d = ((n * nh + i) * nw + j) * x.c;
          if (p.interp == 0) {  // OpenCV INTER_NEAREST: floor(dst * scale)
            int64_t si = std::min<int64_t>(static_cast<int64_t>(std::floor(i * sy)), x.h - 1);
            int64_t sj = std::min<int64_t>(static_cast<int64_t>(std::floor(j * sx)), x.w - 1);
            for (int64_t c = 0; c < x.c; ++c) Store(y, d + c, Saturate<T>(px(n, si, sj, c)),
                                                   a.req[0]);
            continue;
          }
          double fy = (i + 0.5) * sy - 0.5, fx = (j + 0.5) * sx - 0.5;
          int64_t y0 = static_cast<int64_t>(std::floor(fy)), x0 = static_cast<int64_t>(std::floor(fx));
          double wy = fy - y0, wx = fx - x0;
          auto cy = [&](int64_t v) { return std::min(std::max<int64_t>(v, 0), x.h - 1); };
          auto cx = [&](int64_t v) { return std::min(std::max<int64_t>(v, 0), x.w - 1); };
          for (int64_t c = 0; c < x.c; ++c) {
            double v = (1 - wy) * ((1 - wx) * px(n, cy(y0), cx(x0), c) + wx * px(n, cy(y0), cx(x0 + 1), c)) +
                       wy * ((1 - wx) * px(n, cy(y0 + 1), cx(x0), c) + wx * px(n, cy(y0 + 1), cx(x0 + 1), c));
            Store(y, d + c, Saturate<T>(v), a.req[0]);
          }
        }
  });
}

}  // namespace

CN_REGISTER_OP(_image_resize, ResizeParam)
    .describe("Resizes an HWC / NHWC image to size (w, h) like OpenCV (nearest or bilinear).")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(ResizeShape)
    .forward(ResizeForward)
    .backward(ZeroGrad<ResizeParam>)
    .backward_needs(NoGradNeeds<ResizeParam>)
    .flags(CN_FLAG_NO_GRAD);
