// The Pooling op's parameters and how they resolve into a geometry: output sizes by the
// valid/full rule, global_pool, and every check on kernel, stride and pad made before any work
// (2-D Geometry for the phase-split kernels, Geom3 for the 3-D direct loops). The kernels
// themselves are in pooling.cc, kernels/pooling_plane.h and ops/pooling3d.h.
#ifndef COARSENET_OPS_POOLING_GEOMETRY_H_
#define COARSENET_OPS_POOLING_GEOMETRY_H_

#include <algorithm>
#include <optional>

#include "coarsenet/op.h"
#include "kernels/pooling_plane.h"
#include "ops/pooling3d.h"

namespace cn_pooling {

enum PoolType { kMax, kAvg, kSum, kLp };
enum Convention { kValid, kFull, kSame };
enum { kOut, kArgMax };  // outputs; argmax (max pooling only, hidden) = tap index kh * kw + kw

struct PoolingParam {
  cn::Shape kernel, stride, pad;
  int pool_type, pooling_convention, count_include_pad, layout;
  bool global_pool, cudnn_off;
  std::optional<double> p_value;
  static void Declare(cn::ParamDecl<PoolingParam>& d) {
    d.field("kernel", &PoolingParam::kernel, cn::Shape{}, "Pooling kernel size: (y, x).")
        .at_least(1);
    d.choice("pool_type", &PoolingParam::pool_type, {"max", "avg", "sum", "lp"}, "max",
             "Pooling type to be applied.");
    d.field("global_pool", &PoolingParam::global_pool, false,
            "Ignore kernel size and pool over the whole feature map.");
    d.field("cudnn_off", &PoolingParam::cudnn_off, false, "Accepted for MXNet compatibility.");
    d.choice("pooling_convention", &PoolingParam::pooling_convention, {"valid", "full", "same"},
             "valid", "Output size rule: valid (floor) or full (ceil).");
    d.field("stride", &PoolingParam::stride, cn::Shape{}, "Stride: (y, x). Defaults to 1 each.")
        .at_least(1);
    d.field("pad", &PoolingParam::pad, cn::Shape{}, "Padding: (y, x). Defaults to 0 each.")
        .at_least(0);
    d.field("p_value", &PoolingParam::p_value, "Value of p for Lp pooling (not supported).");
    d.choice("count_include_pad", &PoolingParam::count_include_pad, {"None", "True", "False"},
             "None", "Whether avg pooling counts padded positions (None means True).");
    d.choice("layout", &PoolingParam::layout, {"None", "NCHW", "NCW", "NCDHW", "NHWC", "NWC", "NDHWC"},
             "None", "Data layout; only NCHW (the default for 4-D data) is supported.");
  }
};

inline int64_t Pair(const cn::Shape& s, int i, int64_t def, const char* name) {
  if (s.ndim <= 0) return def;
  if (s.ndim != 2)
    throw cn::Error(cn::Msg(name, " must have 2 values (y, x) for 2-D pooling, found ", s));
  return s[i];
}

inline Geometry Resolve(const PoolingParam& p, const cn::Shape& x) {
  if (p.pool_type == kLp) throw cn::Error("pool_type 'lp' is not supported");
  if (p.pooling_convention == kSame) throw cn::Error("pooling_convention 'same' is not supported");
  if (p.layout != 0 && p.layout != 1)
    throw cn::Error("only layout NCHW is supported (2-D pooling)");
  if (x.ndim != 4)
    throw cn::Error(cn::Msg("input 'data' must be 4-D (N, C, H, W) for 2-D pooling, found ", x));
  Geometry g{};
  g.planes = x[0] * x[1];
  g.h = x[2];
  g.w = x[3];
  if (p.global_pool) {
    g.kh = g.h, g.kw = g.w, g.sh = g.sw = 1, g.ph = g.pw = 0;
  } else {
    if (p.kernel.ndim != 2)
      throw cn::Error(cn::Msg("kernel must have 2 values (y, x) for 2-D pooling, found ", p.kernel));
    g.kh = p.kernel[0], g.kw = p.kernel[1];
    g.sh = Pair(p.stride, 0, 1, "stride"), g.sw = Pair(p.stride, 1, 1, "stride");
    g.ph = Pair(p.pad, 0, 0, "pad"), g.pw = Pair(p.pad, 1, 0, "pad");
  }
  if (g.kh <= 0 || g.kw <= 0 || g.sh <= 0 || g.sw <= 0 || g.ph < 0 || g.pw < 0)
    throw cn::Error(cn::Msg("kernel and stride must be positive and pad non-negative, found kernel ",
                            cn::Shape{g.kh, g.kw}, ", stride ", cn::Shape{g.sh, g.sw}, ", pad ",
                            cn::Shape{g.ph, g.pw}));
  // Every size below is checked before any work: pads near 2^63 would wrap the padded extent.
  const int64_t hp = cn::AddDims(g.h, cn::MulDims(2, g.ph, "pad"), "padded height");
  const int64_t wp = cn::AddDims(g.w, cn::MulDims(2, g.pw, "pad"), "padded width");
  if (g.kh > hp || g.kw > wp)
    throw cn::Error(cn::Msg("kernel ", cn::Shape{g.kh, g.kw}, " is larger than the padded input ",
                            cn::Shape{hp, wp}));
  auto out = [&](int64_t padded, int64_t k, int64_t s) {
    int64_t span = padded - k;  // >= 0 here; ceil without overflow for strides near 2^63
    return (p.pooling_convention == kFull ? span / s + (span % s != 0) : span / s) + 1;
  };
  g.oh = out(hp, g.kh, g.sh);
  g.ow = out(wp, g.kw, g.sw);
  // A stride past the last window start changes nothing but the buffer size (which grows with
  // it): clamp it to just past the padded input, where every window beyond is pure padding.
  // (hp >= kernel >= 1 here, and strides up to the span are left alone.)
  g.sh = std::min(g.sh, hp), g.sw = std::min(g.sw, wp);
  // The per-plane buffer covers the padded plane; refuse planes no machine could hold.
  const int64_t kMaxPlane = int64_t(1) << 31;
  if (hp > kMaxPlane || wp > kMaxPlane || cn::MulDims(hp, wp, "padded plane") > kMaxPlane)
    throw cn::Error(cn::Msg("padded plane ", cn::Shape{hp, wp}, " of data ", x, " with pad ",
                            cn::Shape{g.ph, g.pw}, " exceeds 2^31 elements"));
  g.bh = std::max((g.oh - 1) * g.sh + g.kh, g.ph + g.h);
  g.bw = std::max((g.ow - 1) * g.sw + g.kw, g.pw + g.w);
  g.pl = ((g.bw + g.sw - 1) / g.sw + 15) / 16 * 16;  // whole vectors per phase
  g.rs = g.pl * g.sw;
  g.owp = (g.ow + 15) / 16 * 16;
  g.size = g.bh * g.rs + g.owp;
  g.include_pad = p.count_include_pad != 2;
  return g;
}

// The geometry of 3-D pooling over (N, C, D, H, W) data; the same checks as Resolve.
inline cn_pool3d::Geom3 Resolve3(const PoolingParam& p, const cn::Shape& x) {
  if (p.pool_type == kLp) throw cn::Error("pool_type 'lp' is not supported");
  if (p.pooling_convention == kSame) throw cn::Error("pooling_convention 'same' is not supported");
  if (p.layout != 0 && p.layout != 3)
    throw cn::Error("only layout NCDHW is supported for 5-D data (3-D pooling)");
  cn_pool3d::Geom3 g{};
  g.planes = cn::MulDims(x[0], x[1], "planes");
  g.include_pad = p.count_include_pad != 2;
  auto triple = [](const cn::Shape& v, int64_t def, const char* name, int i) -> int64_t {
    if (v.ndim <= 0) return def;
    if (v.ndim != 3)
      throw cn::Error(cn::Msg(name, " must have 3 values (d, h, w) for 3-D pooling, found ", v));
    return v[i];
  };
  if (!p.global_pool && p.kernel.ndim != 3)
    throw cn::Error(cn::Msg("kernel must have 3 values (d, h, w) for 3-D pooling, found ",
                            p.kernel));
  for (int i = 0; i < 3; ++i) {
    g.in[i] = x[2 + i];
    if (g.in[i] <= 0)
      throw cn::Error(cn::Msg("input 'data' must have positive D, H, W, found ", x));
    g.k[i] = p.global_pool ? g.in[i] : p.kernel[i];
    g.s[i] = p.global_pool ? 1 : triple(p.stride, 1, "stride", i);
    g.p[i] = p.global_pool ? 0 : triple(p.pad, 0, "pad", i);
    if (g.k[i] <= 0 || g.s[i] <= 0 || g.p[i] < 0)
      throw cn::Error(cn::Msg("kernel and stride must be positive and pad non-negative, found "
                              "kernel ", p.kernel, ", stride ", p.stride, ", pad ", p.pad));
    const int64_t padded = cn::AddDims(g.in[i], cn::MulDims(2, g.p[i], "pad"), "padded size");
    if (g.k[i] > padded)
      throw cn::Error(cn::Msg("kernel ", p.kernel, " is larger than the padded input in "
                              "dimension ", i, " of data ", x));
    const int64_t span = padded - g.k[i];
    g.out[i] = (p.pooling_convention == kFull ? span / g.s[i] + (span % g.s[i] != 0)
                                              : span / g.s[i]) + 1;
  }
  return g;
}

}  // namespace cn_pooling

#endif  // COARSENET_OPS_POOLING_GEOMETRY_H_
