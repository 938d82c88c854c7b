// Convolution (2-D, NCHW, MXNet 1.x parameters).
//   data x: (N, C, H, W); weight: (F, C/G, KH, KW); bias: (F,); output y: (N, F, OH, OW) with
//   OH = floor((H + 2 PH - DH (KH - 1) - 1) / SH) + 1 (likewise OW), G = num_group.
//   y[n, f, oh, ow] = bias[f] + sum_{c in group(f), ki, kj} w[f, c, ki, kj] x[n, c, ih, iw]
//   with ih = oh SH - PH + ki DH, iw = ow SW - PW + kj DW (zero outside the input).
// Backward: dx = col2im(W^T dy), dW = sum_n dy col(x)^T, db = sum of dy over n, oh, ow.
// The kernels (im2col tiles + GEMM) live in ops/conv/dispatch.h, shared with Deconvolution.
// A 3-value kernel selects 3-D convolution (NCDHW, MXNet's Conv3D): data (N, C, D, H, W),
// weight (F, C/G, KD, KH, KW), computed by the direct loops of ops/conv3d_direct.h.
#include "ops/conv/dispatch.h"
#include "ops/conv3d_direct.h"

namespace {

struct ConvolutionParam {
  cn::Shape kernel, stride, dilate, pad;
  int64_t num_filter, num_group;
  bool no_bias;
  int layout;
  static void Declare(cn::ParamDecl<ConvolutionParam>& d) {
    d.field("kernel", &ConvolutionParam::kernel, cn::Shape{}, "Convolution kernel size: (h, w).")
        .required()
        .at_least(1);
    d.field("stride", &ConvolutionParam::stride, cn::Shape{},
            "Convolution stride: (h, w). Defaults to 1 for each dimension.")
        .at_least(1);
    d.field("dilate", &ConvolutionParam::dilate, cn::Shape{},
            "Convolution dilation: (h, w). Defaults to 1 for each dimension.")
        .at_least(1);
    d.field("pad", &ConvolutionParam::pad, cn::Shape{},
            "Zero padding on both sides: (h, w). Defaults to no padding.")
        .at_least(0);
    d.field("num_filter", &ConvolutionParam::num_filter, 0,
            "Convolution filter (channel) number.").required()
        .at_least(1);
    d.field("num_group", &ConvolutionParam::num_group, 1,
            "Number of group partitions: input and output channels are split into this many "
            "groups, each convolved separately.")
        .at_least(1);
    d.field("no_bias", &ConvolutionParam::no_bias, false, "Whether to disable the bias parameter.");
    d.choice("layout", &ConvolutionParam::layout, {"None", "NCW", "NCHW", "NCDHW", "NHWC", "NDHWC"},
             "None", "Layout of data, weight and output; only NCHW (the default) is supported.");
  }
};

enum { kData, kWeight, kBias };

bool Is3D(const ConvolutionParam& p) { return p.kernel.ndim == 3; }

void CheckParams(const ConvolutionParam& p) {
  if (!p.kernel.known() || (p.kernel.ndim != 2 && p.kernel.ndim != 3))
    throw cn::Error(cn::Msg("kernel must be (h, w) for 2-D or (d, h, w) for 3-D convolution, "
                            "found ", p.kernel));
  if (Is3D(p) ? (p.layout != 0 && p.layout != 3) : (p.layout != 0 && p.layout != 2))
    throw cn::Error(Is3D(p) ? "only the NCDHW layout is supported for 3-D convolution"
                            : "only the NCHW layout is supported (layout=None or 'NCHW')");
  if (p.num_filter <= 0)
    throw cn::Error(cn::Msg("num_filter must be positive, found ", p.num_filter));
  if (p.num_group <= 0)
    throw cn::Error(cn::Msg("num_group must be positive, found ", p.num_group));
  if (p.num_filter % p.num_group != 0)
    throw cn::Error(cn::Msg("num_filter (", p.num_filter, ") must be divisible by num_group (",
                            p.num_group, ")"));
}

// The geometry of a data shape; checks every size and names what is wrong.
cn::conv::Geom MakeGeom(const ConvolutionParam& p, const cn::Shape& x) {
  CheckParams(p);
  if (x.ndim != 4)
    throw cn::Error(cn::Msg("input 'data' expected 4 dims (N, C, H, W), found shape ", x));
  auto [kh, kw] = cn::conv::Pair(p.kernel, 1, 1, "kernel");
  auto [sh, sw] = cn::conv::Pair(p.stride, 1, 1, "stride");
  auto [dh, dw] = cn::conv::Pair(p.dilate, 1, 1, "dilate");
  auto [ph, pw] = cn::conv::Pair(p.pad, 0, 0, "pad");
  if (x[1] <= 0 || x[2] <= 0 || x[3] <= 0)
    throw cn::Error(cn::Msg("input 'data' must have positive C, H, W, found shape ", x));
  if (x[1] % p.num_group != 0)
    throw cn::Error(cn::Msg("input channels (", x[1], " in data shape ", x,
                            ") must be divisible by num_group (", p.num_group, ")"));
  // Checked arithmetic: a huge pad or dilate must fail here, not wrap into a nonsense shape.
  int64_t ekh = cn::AddDims(cn::MulDims(dh, kh - 1, "dilated kernel"), 1, "dilated kernel");
  int64_t ekw = cn::AddDims(cn::MulDims(dw, kw - 1, "dilated kernel"), 1, "dilated kernel");
  int64_t hp = cn::AddDims(x[2], cn::MulDims(2, ph, "pad"), "padded height");
  int64_t wp = cn::AddDims(x[3], cn::MulDims(2, pw, "pad"), "padded width");
  if (ekh > hp || ekw > wp)
    throw cn::Error(cn::Msg("dilated kernel (", ekh, ", ", ekw,
                            ") is larger than the padded input (", hp, ", ", wp,
                            ") of data shape ", x));
  int64_t oh = (hp - ekh) / sh + 1, ow = (wp - ekw) / sw + 1;
  // The column buffer holds C/g * kh * kw rows of oh * ow: it must be countable too.
  cn::MulDims(cn::MulDims(cn::MulDims(x[1], kh, "kernel size"), kw, "kernel size"),
              cn::MulDims(oh, ow, "output size"), "im2col buffer size");
  return {x[0], x[1], x[2], x[3], p.num_filter, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw,
          p.num_group};
}

// The 3-D geometry; checks every size as MakeGeom does.
cn_conv3d::Geom3 MakeGeom3(const ConvolutionParam& p, const cn::Shape& x) {
  CheckParams(p);
  if (x.ndim != 5)
    throw cn::Error(cn::Msg("input 'data' expected 5 dims (N, C, D, H, W) for a 3-D kernel, "
                            "found shape ", x));
  auto triple = [](const cn::Shape& v, int64_t def, const char* name, int i) -> int64_t {
    if (v.ndim <= 0) return def;
    if (v.ndim != 3)
      throw cn::Error(cn::Msg(name, " must have 3 values (d, h, w) for 3-D convolution, found ",
                              v));
    return v[i];
  };
  cn_conv3d::Geom3 g{};
  g.n = x[0], g.c = x[1], g.f = p.num_filter, g.g = p.num_group;
  if (g.c <= 0 || x[2] <= 0 || x[3] <= 0 || x[4] <= 0)
    throw cn::Error(cn::Msg("input 'data' must have positive C, D, H, W, found shape ", x));
  if (g.c % g.g != 0)
    throw cn::Error(cn::Msg("input channels (", g.c, " in data shape ", x,
                            ") must be divisible by num_group (", g.g, ")"));
  for (int i = 0; i < 3; ++i) {
    g.in[i] = x[2 + i];
    g.k[i] = p.kernel[i];
    g.s[i] = triple(p.stride, 1, "stride", i);
    g.dil[i] = triple(p.dilate, 1, "dilate", i);
    g.p[i] = triple(p.pad, 0, "pad", i);
    int64_t ek = cn::AddDims(cn::MulDims(g.dil[i], g.k[i] - 1, "dilated kernel"), 1,
                             "dilated kernel");
    int64_t padded = cn::AddDims(g.in[i], cn::MulDims(2, g.p[i], "pad"), "padded size");
    if (ek > padded)
      throw cn::Error(cn::Msg("dilated kernel size ", ek, " in dimension ", i,
                              " is larger than the padded input ", padded, " of data shape ", x));
    g.out[i] = (padded - ek) / g.s[i] + 1;
  }
  cn::MulDims(cn::MulDims(g.out[0], g.out[1], "output size"), g.out[2], "output size");
  return g;
}

void InferShape(const ConvolutionParam& p, cn::ShapeContext& s) {
  CheckParams(p);
  cn::Shape x = s.in(kData);
  if (!x.known()) return;
  if (Is3D(p)) {
    cn_conv3d::Geom3 g = MakeGeom3(p, x);
    s.SetInput(kWeight, cn::Shape{g.f, g.cg(), g.k[0], g.k[1], g.k[2]});
    if (!p.no_bias) s.SetInput(kBias, cn::Shape{g.f});
    s.SetOutput(0, cn::Shape{g.n, g.f, g.out[0], g.out[1], g.out[2]});
    return;
  }
  cn::conv::Geom g = MakeGeom(p, x);
  s.SetInput(kWeight, cn::Shape{g.f, g.cg(), g.kh, g.kw});
  if (!p.no_bias) s.SetInput(kBias, cn::Shape{g.f});
  s.SetOutput(0, cn::Shape{g.n, g.f, g.oh, g.ow});
}

// Scratch elements of the call's dtype (float32 calls get half the bytes of float64 ones).
size_t WorkspaceElems(const ConvolutionParam& p, const std::vector<cn::Shape>& in,
                      const std::vector<cn::Shape>& out, bool backward, int threads) {
  if (Is3D(p)) return 0;  // the direct 3-D loops keep their accumulators on the heap
  cn::conv::Geom g = MakeGeom(p, in[kData]);
  g.threads = threads;
  return g.n == 0 ? 0 : g.WorkspaceElems(backward);  // an empty batch runs no kernel
}

template <typename DType>
void ForwardImpl(const ConvolutionParam& p, const cn::ForwardArgs& a) {
  if (Is3D(p)) {
    if (a.req[0] == CN_REQ_NULL) return;
    cn_conv3d::Forward(MakeGeom3(p, a.in[kData].shape()), a.in[kData].ptr<DType>(),
                       a.in[kWeight].ptr<DType>(),
                       p.no_bias ? nullptr : a.in[kBias].ptr<DType>(), a.out[0].ptr<DType>(),
                       a.req[0]);
    return;
  }
  cn::conv::Geom g = MakeGeom(p, a.in[kData].shape());
  g.threads = a.ctx.threads;  // as the workspace was sized
  if (g.n == 0) return;  // an empty batch: nothing to write (the kernels divide work by n)
  const DType* bias = p.no_bias ? nullptr : a.in[kBias].ptr<DType>();
  cn::conv::Forward(g, a.in[kData].ptr<DType>(), a.in[kWeight].ptr<DType>(), bias,
                    a.out[0].ptr<DType>(), a.req[0], static_cast<DType*>(a.workspace));
}

void Forward(const ConvolutionParam& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, { ForwardImpl<DType>(p, a); });
}

template <typename DType>
void BackwardImpl(const ConvolutionParam& p, const cn::BackwardArgs& a) {
  if (Is3D(p)) {
    cn_conv3d::Geom3 g = MakeGeom3(p, a.in[kData].shape());
    const DType* dy = a.out_grad[0].ptr<DType>();
    cn_conv3d::DataGrad(g, dy, a.in[kWeight].ptr<DType>(), a.in_grad[kData].ptr<DType>(),
                        a.req[kData]);
    cn_conv3d::WeightGrad(g, a.in[kData].ptr<DType>(), dy, a.in_grad[kWeight].ptr<DType>(),
                          a.req[kWeight]);
    if (!p.no_bias) cn_conv3d::BiasGrad(g, dy, a.in_grad[kBias].ptr<DType>(), a.req[kBias]);
    return;
  }
  cn::conv::Geom g = MakeGeom(p, a.in[kData].shape());
  g.threads = a.ctx.threads;  // as the workspace was sized
  if (g.n == 0) {
    cn::conv::ZeroParamGradsOfEmptyBatch<DType>(a, kWeight, kBias, p.no_bias);
    return;
  }
  const DType* dy = a.out_grad[0].ptr<DType>();
  auto* ws = static_cast<DType*>(a.workspace);
  cn::conv::DataGrad(g, dy, a.in[kWeight].ptr<DType>(), static_cast<const DType*>(nullptr),
                     a.in_grad[kData].ptr<DType>(), a.req[kData], ws);
  cn::conv::WeightGrad(g, a.in[kData].ptr<DType>(), dy, a.in_grad[kWeight].ptr<DType>(),
                       a.req[kWeight], ws);
  if (!p.no_bias)
    cn::conv::ChannelSum(dy, g.n, g.f, g.ohw(), a.in_grad[kBias].ptr<DType>(), a.req[kBias]);
}

void Backward(const ConvolutionParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, { BackwardImpl<DType>(p, a); });
}

// dx needs the weight, dW needs the data; neither needs the output.
void Needs(const ConvolutionParam& p, cn::BackwardNeeds& n) {
  n.input(kData).input(kWeight).out_grad(0);
}

std::vector<std::string> InputNames(const ConvolutionParam& p) {
  if (p.no_bias) return {"data", "weight"};
  return {"data", "weight", "bias"};
}

}  // namespace

CN_REGISTER_OP(Convolution, ConvolutionParam)
    .describe("Computes 2-D (NCHW) or 3-D (NCDHW) convolution with optional groups, stride, "
              "dilation and padding.")
    .inputs(InputNames)
    .outputs({"output"})
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .workspace_elems_threads(WorkspaceElems)
    .batch_separable(CN_BATCH_INFERENCE | CN_BATCH_TRAIN, {1, 2})  // weight, bias: summed
    .flags(CN_FLAG_EXPENSIVE);
