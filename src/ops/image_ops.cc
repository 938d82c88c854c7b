// MXNet's nd.image / sym.image ops on HWC (or NHWC) images, under MXNet's operator names:
//   _image_to_tensor        HWC -> CHW float32, x / 255 (any input dtype); no gradient (MXNet
//                           has none either).
//   _image_normalize        CHW / NCHW: (x - mean[c]) / std[c]; gradient dy / std[c].
//   _image_flip_left_right  reverses W (axis -2); _image_flip_top_bottom reverses H (axis -3);
//                           the gradient is the flipped dy.
//   _image_crop             [y, y+height) x [x, x+width) of HWC / NHWC; the gradient scatters
//                           dy into a zero image.
//   _image_resize           in image_resize.cc.
// Forward takes the pixel types a data pipeline carries (uint8, int8, int32, int64, float32,
// float64); gradients are float32 / float64 like every op.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "image_common.h"

namespace {

using cn_image::Hwc;
using cn_image::MakeShape;
using cn_image::NoGradNeeds;
using cn_image::RequireHwc;
using cn_image::Store;
using cn_image::WithPixelType;
using cn_image::ZeroGrad;

// ------------------------------------------------------------------------------ to_tensor

void ToTensorShape(const cn::NoParams&, cn::ShapeContext& s) {
  if (!s.in(0).known()) return;
  Hwc x = RequireHwc(s.in(0), "NHWC");
  s.SetOutput(0, MakeShape(x, x.c, x.h, x.w));
}

void ToTensorType(const cn::NoParams&, std::vector<int>&, std::vector<int>& out,
                  std::vector<int>&) {
  out[0] = CN_FLOAT32;
}

void ToTensorForward(const cn::NoParams&, const cn::ForwardArgs& a) {
  Hwc x = RequireHwc(a.in[0].shape(), "NHWC");
  float* y = a.out[0].ptr<float>();
  WithPixelType(a.in[0].dtype, [&](auto t) {
    using T = decltype(t);
    const T* src = a.in[0].ptr<T>();
    int64_t plane = x.h * x.w;
    for (int64_t n = 0; n < x.n; ++n)
      for (int64_t p = 0; p < plane; ++p)
        for (int64_t c = 0; c < x.c; ++c)
          Store(y, (n * x.c + c) * plane + p,
                static_cast<float>(src[(n * plane + p) * x.c + c]) / 255.0f, a.req[0]);
  });
}

// ------------------------------------------------------------------------------ normalize

struct NormalizeParam {
  std::string mean, std;
  static void Declare(cn::ParamDecl<NormalizeParam>& d) {
    d.field("mean", &NormalizeParam::mean, "(0.0, 0.0, 0.0, 0.0)",
            "Mean of each channel (one value for all channels, or one per channel).");
    d.field("std", &NormalizeParam::std, "(1.0, 1.0, 1.0, 1.0)",
            "Standard deviation of each channel (one value, or one per channel).");
  }
};

// "(0.5, 0.2)", "[0.5]" or "0.5" -> numbers
std::vector<double> ParseFloats(const std::string& raw, const char* name) {
  std::vector<double> v;
  std::string cur;
  auto flush = [&]() {
    size_t b = cur.find_first_not_of(" \t"), e = cur.find_last_not_of(" \t");
    if (b != std::string::npos) {
      std::string tok = cur.substr(b, e - b + 1);
      size_t used = 0;
      double x = 0;
      try { x = std::stod(tok, &used); } catch (...) { used = 0; }
      if (used != tok.size() || !std::isfinite(x))
        throw cn::Error(cn::Msg(name, " expected a number or a tuple of numbers, found '", raw,
                                "'"));
      v.push_back(x);
    }
    cur.clear();
  };
  for (char ch : raw) {
    if (ch == '(' || ch == ')' || ch == '[' || ch == ']') continue;
    if (ch == ',') flush(); else cur += ch;
  }
  flush();
  if (v.empty()) throw cn::Error(cn::Msg(name, " is empty"));
  return v;
}

// Per-channel mean and std for c channels (MXNet's defaults have 4 entries: use the first c).
void Channels(const NormalizeParam& p, int64_t c, std::vector<double>& m, std::vector<double>& s) {
  m = ParseFloats(p.mean, "mean");
  s = ParseFloats(p.std, "std");
  for (auto* v : {&m, &s}) {
    const char* name = v == &m ? "mean" : "std";
    if (v->size() == 1) v->assign(c, (*v)[0]);
    else if (static_cast<int64_t>(v->size()) >= c && (v->size() == 4 || v->size() == size_t(c)))
      v->resize(c);
    else
      throw cn::Error(cn::Msg(name, " has ", v->size(), " values; expected 1 or ", c,
                              " (the channels of input 'data')"));
  }
  for (double x : s)
    if (x == 0) throw cn::Error(cn::Msg("std has a zero: ", p.std));
}

struct Chw { int64_t n, c, plane; };

Chw RequireChw(const cn::Shape& s) {
  if (s.ndim != 3 && s.ndim != 4)
    throw cn::Error(cn::Msg("input 'data' expected a 3-D (CHW) or 4-D (NCHW) tensor, found "
                            "shape ", s));
  int o = s.ndim - 3;
  return {o ? s[0] : 1, s[o], s[o + 1] * s[o + 2]};
}

void NormalizeShape(const NormalizeParam& p, cn::ShapeContext& s) {
  if (!s.in(0).known()) return;
  std::vector<double> m, sd;
  Channels(p, RequireChw(s.in(0)).c, m, sd);
  s.SetOutput(0, s.in(0));
}

void NormalizeForward(const NormalizeParam& p, const cn::ForwardArgs& a) {
  Chw x = RequireChw(a.in[0].shape());
  std::vector<double> m, sd;
  Channels(p, x.c, m, sd);
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    const DType* src = a.in[0].ptr<DType>();
    DType* y = a.out[0].ptr<DType>();
    for (int64_t n = 0; n < x.n; ++n)
      for (int64_t c = 0; c < x.c; ++c) {
        DType mc = static_cast<DType>(m[c]), sc = static_cast<DType>(sd[c]);
        int64_t base = (n * x.c + c) * x.plane;
        for (int64_t i = base; i < base + x.plane; ++i) Store(y, i, (src[i] - mc) / sc, a.req[0]);
      }
  });
}

void NormalizeBackward(const NormalizeParam& p, const cn::BackwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  Chw x = RequireChw(a.in_grad[0].shape());
  std::vector<double> m, sd;
  Channels(p, x.c, m, sd);
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    const DType* dy = a.out_grad[0].ptr<DType>();
    DType* dx = a.in_grad[0].ptr<DType>();
    for (int64_t n = 0; n < x.n; ++n)
      for (int64_t c = 0; c < x.c; ++c) {
        DType sc = static_cast<DType>(sd[c]);
        int64_t base = (n * x.c + c) * x.plane;
        for (int64_t i = base; i < base + x.plane; ++i) Store(dx, i, dy[i] / sc, a.req[0]);
      }
  });
}

template <typename P>
void OutGradNeeds(const P&, cn::BackwardNeeds& n) { n.out_grad(0); }

// ------------------------------------------------------------------------------ flips

// y = x with axis `Axis` (0: H, 1: W) of each HWC image reversed; in-place-safe only out of place.
template <int Axis, typename T>
void Flip(const Hwc& x, const T* src, T* dst, int32_t req) {
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t i = 0; i < x.h; ++i)
      for (int64_t j = 0; j < x.w; ++j) {
        int64_t si = Axis == 0 ? x.h - 1 - i : i, sj = Axis == 1 ? x.w - 1 - j : j;
        const T* s = src + ((n * x.h + si) * x.w + sj) * x.c;
        int64_t d = ((n * x.h + i) * x.w + j) * x.c;
        for (int64_t c = 0; c < x.c; ++c) Store(dst, d + c, s[c], req);
      }
}

void FlipShape(const cn::NoParams&, cn::ShapeContext& s) {
  if (!s.in(0).known()) return;
  RequireHwc(s.in(0), "NHWC");
  s.SetOutput(0, s.in(0));
}

template <int Axis>
void FlipForward(const cn::NoParams&, const cn::ForwardArgs& a) {
  Hwc x = RequireHwc(a.in[0].shape(), "NHWC");
  WithPixelType(a.in[0].dtype, [&](auto t) {
    using T = decltype(t);
    Flip<Axis, T>(x, a.in[0].ptr<T>(), a.out[0].ptr<T>(), a.req[0]);
  });
}

template <int Axis>
void FlipBackward(const cn::NoParams&, const cn::BackwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  Hwc x = RequireHwc(a.in_grad[0].shape(), "NHWC");
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    Flip<Axis, DType>(x, a.out_grad[0].ptr<DType>(), a.in_grad[0].ptr<DType>(), a.req[0]);
  });
}

// ------------------------------------------------------------------------------ crop

struct CropParam {
  int x, y, width, height;
  static void Declare(cn::ParamDecl<CropParam>& d) {
    d.field("x", &CropParam::x, 0, "Left boundary of the cropping area.").required();
    d.field("y", &CropParam::y, 0, "Top boundary of the cropping area.").required();
    d.field("width", &CropParam::width, 0, "Width of the cropping area.").required();
    d.field("height", &CropParam::height, 0, "Height of the cropping area.").required();
  }
};

Hwc CheckCrop(const CropParam& p, const cn::Shape& s) {
  Hwc x = RequireHwc(s, "NHWC");
  if (p.x < 0 || p.y < 0 || p.width <= 0 || p.height <= 0 || p.x + int64_t{p.width} > x.w ||
      p.y + int64_t{p.height} > x.h)
    throw cn::Error(cn::Msg("crop box x=", p.x, " y=", p.y, " width=", p.width, " height=",
                            p.height, " lies outside the ", x.w, "x", x.h, " image of input "
                            "'data' (shape ", s, ")"));
  return x;
}

void CropShape(const CropParam& p, cn::ShapeContext& s) {
  if (!s.in(0).known()) return;
  Hwc x = CheckCrop(p, s.in(0));
  s.SetOutput(0, MakeShape(x, p.height, p.width, x.c));
}

void CropForward(const CropParam& p, const cn::ForwardArgs& a) {
  Hwc x = CheckCrop(p, a.in[0].shape());
  WithPixelType(a.in[0].dtype, [&](auto t) {
    using T = decltype(t);
    const T* src = a.in[0].ptr<T>();
    T* y = a.out[0].ptr<T>();
    int64_t row = int64_t{p.width} * x.c;
    for (int64_t n = 0; n < x.n; ++n)
      for (int64_t i = 0; i < p.height; ++i) {
        const T* s = src + ((n * x.h + p.y + i) * x.w + p.x) * x.c;
        int64_t d = (n * p.height + i) * row;
        for (int64_t k = 0; k < row; ++k) Store(y, d + k, s[k], a.req[0]);
      }
  });
}

void CropBackward(const CropParam& p, const cn::BackwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  Hwc x = CheckCrop(p, a.in_grad[0].shape());
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    const DType* dy = a.out_grad[0].ptr<DType>();
    DType* dx = a.in_grad[0].ptr<DType>();
    if (a.req[0] != CN_REQ_ADD)
      for (int64_t i = 0; i < a.in_grad[0].size(); ++i) dx[i] = 0;
    int64_t row = int64_t{p.width} * x.c;
    for (int64_t n = 0; n < x.n; ++n)
      for (int64_t i = 0; i < p.height; ++i) {
        DType* d = dx + ((n * x.h + p.y + i) * x.w + p.x) * x.c;
        const DType* s = dy + (n * p.height + i) * row;
        for (int64_t k = 0; k < row; ++k) d[k] += s[k];
      }
  });
}

}  // namespace

CN_REGISTER_OP(_image_to_tensor, cn::NoParams)
    .describe("HWC / NHWC image in [0, 255] -> CHW / NCHW float32 in [0, 1].")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(ToTensorShape)
    .infer_type(ToTensorType)
    .forward(ToTensorForward)
    .backward(ZeroGrad<cn::NoParams>)
    .backward_needs(NoGradNeeds<cn::NoParams>)
    .flags(CN_FLAG_NO_GRAD);

CN_REGISTER_OP(_image_normalize, NormalizeParam)
    .describe("(x - mean[c]) / std[c] over the channels of a CHW / NCHW tensor.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(NormalizeShape)
    .forward(NormalizeForward)
    .backward(NormalizeBackward)
    .backward_needs(OutGradNeeds<NormalizeParam>);

CN_REGISTER_OP(_image_flip_left_right, cn::NoParams)
    .describe("Reverses the width axis of an HWC / NHWC image.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(FlipShape)
    .forward(FlipForward<1>)
    .backward(FlipBackward<1>)
    .backward_needs(OutGradNeeds<cn::NoParams>);

CN_REGISTER_OP(_image_flip_top_bottom, cn::NoParams)
    .describe("Reverses the height axis of an HWC / NHWC image.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(FlipShape)
    .forward(FlipForward<0>)
    .backward(FlipBackward<0>)
    .backward_needs(OutGradNeeds<cn::NoParams>);

CN_REGISTER_OP(_image_crop, CropParam)
    .describe("Crops [y, y+height) x [x, x+width) of an HWC / NHWC image.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(CropShape)
    .forward(CropForward)
    .backward(CropBackward)
    .backward_needs(OutGradNeeds<CropParam>);

