// Deconvolution (2-D transposed convolution, NCHW, MXNet 1.x parameters).
//   data x: (N, C, H, W); weight: (C, F/G, KH, KW); bias: (F,); output y: (N, F, OH, OW) with
//   OH = (H - 1) SH - 2 PH + DH (KH - 1) + 1 + ADJ_H (likewise OW), G = num_group.
// y is the gradient of a Convolution (y -> x, same weight) with respect to its input, so
// forward = that convolution's DataGrad and backward = its Forward (dx) and WeightGrad (dW) with
// the roles of image and columns swapped; see ops/conv/dispatch.h. db = sum of dy over n, oh, ow.
// target_shape, when given, overrides pad and adj as MXNet does: the (H-1) S + DK - target
// excess is cropped, the odd pixel going to adj.
#include "ops/conv/dispatch.h"

namespace {

struct DeconvolutionParam {
  cn::Shape kernel, stride, dilate, pad, adj, target_shape;
  int64_t num_filter, num_group;
  bool no_bias;
  int layout;
  static void Declare(cn::ParamDecl<DeconvolutionParam>& d) {
    d.field("kernel", &DeconvolutionParam::kernel, cn::Shape{},
            "Deconvolution kernel size: (h, w), as for the corresponding convolution.")
        .required()
        .at_least(1);
    d.field("stride", &DeconvolutionParam::stride, cn::Shape{},
            "Stride of the corresponding convolution: (h, w). Defaults to 1 for each dimension.")
        .at_least(1);
    d.field("dilate", &DeconvolutionParam::dilate, cn::Shape{},
            "Dilation: (h, w). Defaults to 1 for each dimension.")
        .at_least(1);
    d.field("pad", &DeconvolutionParam::pad, cn::Shape{},
            "Padding of the corresponding convolution: (h, w); cropped from the output. Ignored "
            "when target_shape is set.")
        .at_least(0);
    d.field("adj", &DeconvolutionParam::adj, cn::Shape{},
            "Extra rows/columns added to the output: (h, w). Ignored when target_shape is set.")
        .at_least(0);
    d.field("target_shape", &DeconvolutionParam::target_shape, cn::Shape{},
            "Output shape (h, w); pad and adj are then computed to produce it.")
        .at_least(0);
    d.field("num_filter", &DeconvolutionParam::num_filter, 0,
            "Number of output channels.").required()
        .at_least(1);
    d.field("num_group", &DeconvolutionParam::num_group, 1, "Number of group partitions.")
        .at_least(1);
    d.field("no_bias", &DeconvolutionParam::no_bias, true,
            "Whether to disable the bias parameter (MXNet's default for Deconvolution: True).");
    d.choice("layout", &DeconvolutionParam::layout,
             {"None", "NCW", "NCHW", "NCDHW", "NHWC", "NDHWC"}, "None",
             "Layout of data, weight and output; only NCHW (the default) is supported.");
  }
};

enum { kData, kWeight, kBias };

void CheckParams(const DeconvolutionParam& p) {
  if (!p.kernel.known() || p.kernel.ndim != 2)
    throw cn::Error(cn::Msg("only 2-D deconvolution is supported: kernel must be (h, w), found ",
                            p.kernel));
  if (p.layout != 0 && p.layout != 2)
    throw cn::Error("only the NCHW layout is supported (layout=None or 'NCHW')");
  if (p.num_filter <= 0)
    throw cn::Error(cn::Msg("num_filter must be positive, found ", p.num_filter));
  if (p.num_group <= 0)
    throw cn::Error(cn::Msg("num_group must be positive, found ", p.num_group));
  if (p.num_filter % p.num_group != 0)
    throw cn::Error(cn::Msg("num_filter (", p.num_filter, ") must be divisible by num_group (",
                            p.num_group, ")"));
}

// Output size on one axis; pad and adj come from target (> 0) when given.
int64_t OutSize(int64_t in, int64_t k, int64_t s, int64_t d, int64_t target, int64_t* pad,
                int64_t* adj, const char* axis) {
  // Checked: a huge stride or dilate must fail here, not wrap into a nonsense shape.
  int64_t full = cn::AddDims(cn::MulDims(in - 1, s, "deconvolution output size"),
                             cn::AddDims(cn::MulDims(d, k - 1, "dilated kernel"), 1,
                                         "dilated kernel"),
                             "deconvolution output size");
  if (target > 0) {
    if (target > full)
      throw cn::Error(cn::Msg("target_shape ", axis, " (", target,
                              ") is larger than the full output size (", full, ")"));
    *adj = (full - target) % 2;
    *pad = (full - target + 1) / 2;
  }
  int64_t out = full - cn::MulDims(2, *pad, "pad") + *adj;
  if (out <= 0)
    throw cn::Error(cn::Msg("output ", axis, " would be ", out, " (input ", in, ", kernel ", k,
                            ", stride ", s, ", pad ", *pad, ", adj ", *adj, ")"));
  return out;
}

// The geometry of the convolution this op transposes: its image is our output, its columns
// are our data.
cn::conv::Geom MakeGeom(const DeconvolutionParam& p, const cn::Shape& x) {
  CheckParams(p);
  if (x.ndim != 4)
    throw cn::Error(cn::Msg("input 'data' expected 4 dims (N, C, H, W), found shape ", x));
  if (x[1] <= 0 || x[2] <= 0 || x[3] <= 0)
    throw cn::Error(cn::Msg("input 'data' must have positive C, H, W, found shape ", x));
  if (x[1] % p.num_group != 0)
    throw cn::Error(cn::Msg("input channels (", x[1], " in data shape ", x,
                            ") must be divisible by num_group (", p.num_group, ")"));
  auto [kh, kw] = cn::conv::Pair(p.kernel, 1, 1, "kernel");
  auto [sh, sw] = cn::conv::Pair(p.stride, 1, 1, "stride");
  auto [dh, dw] = cn::conv::Pair(p.dilate, 1, 1, "dilate");
  auto [ph, pw] = cn::conv::Pair(p.pad, 0, 0, "pad");
  auto [ah, aw] = cn::conv::Pair(p.adj, 0, 0, "adj");
  auto [th, tw] = cn::conv::Pair(p.target_shape, 0, 0, "target_shape");
  int64_t oh = OutSize(x[2], kh, sh, dh, th, &ph, &ah, "height");
  int64_t ow = OutSize(x[3], kw, sw, dw, tw, &pw, &aw, "width");
  return {x[0], p.num_filter, oh, ow, x[1], x[2], x[3], kh, kw, sh, sw, ph, pw, dh, dw,
          p.num_group};
}

void InferShape(const DeconvolutionParam& p, cn::ShapeContext& s) {
  CheckParams(p);
  cn::Shape x = s.in(kData);
  if (!x.known()) return;
  cn::conv::Geom g = MakeGeom(p, x);
  s.SetInput(kWeight, cn::Shape{g.f, g.cg(), g.kh, g.kw});
  if (!p.no_bias) s.SetInput(kBias, cn::Shape{g.c});
  s.SetOutput(0, cn::Shape{g.n, g.c, g.h, g.w});
}

// Scratch elements of the call's dtype (float32 calls get half the bytes of float64 ones).
size_t WorkspaceElems(const DeconvolutionParam& p, const std::vector<cn::Shape>& in,
                      const std::vector<cn::Shape>& out, bool backward, int threads) {
  cn::conv::Geom g = MakeGeom(p, in[kData]);
  g.threads = threads;
  return g.n == 0 ? 0 : g.WorkspaceElems(backward);  // an empty batch runs no kernel
}

template <typename DType>
void ForwardImpl(const DeconvolutionParam& p, const cn::ForwardArgs& a) {
  cn::conv::Geom g = MakeGeom(p, a.in[kData].shape());
  g.threads = a.ctx.threads;  // as the workspace was sized
  if (g.n == 0) return;  // an empty batch: nothing to write (the kernels divide work by n)
  const DType* bias = p.no_bias ? nullptr : a.in[kBias].ptr<DType>();
  cn::conv::DataGrad(g, a.in[kData].ptr<DType>(), a.in[kWeight].ptr<DType>(), bias,
                     a.out[0].ptr<DType>(), a.req[0], static_cast<DType*>(a.workspace));
}

void Forward(const DeconvolutionParam& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, { ForwardImpl<DType>(p, a); });
}

template <typename DType>
void BackwardImpl(const DeconvolutionParam& p, const cn::BackwardArgs& a) {
  cn::conv::Geom g = MakeGeom(p, a.in[kData].shape());
  g.threads = a.ctx.threads;  // as the workspace was sized
  if (g.n == 0) {
    cn::conv::ZeroParamGradsOfEmptyBatch<DType>(a, kWeight, kBias, p.no_bias);
    return;
  }
  const DType* dy = a.out_grad[0].ptr<DType>();
  auto* ws = static_cast<DType*>(a.workspace);
  cn::conv::Forward(g, dy, a.in[kWeight].ptr<DType>(), static_cast<const DType*>(nullptr),
                    a.in_grad[kData].ptr<DType>(), a.req[kData], ws);
  cn::conv::WeightGrad(g, dy, a.in[kData].ptr<DType>(), a.in_grad[kWeight].ptr<DType>(),
                       a.req[kWeight], ws);
  if (!p.no_bias)
    cn::conv::ChannelSum(dy, g.n, g.c, g.hw(), a.in_grad[kBias].ptr<DType>(), a.req[kBias]);
}

void Backward(const DeconvolutionParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, { BackwardImpl<DType>(p, a); });
}

void Needs(const DeconvolutionParam& p, cn::BackwardNeeds& n) {
  n.input(kData).input(kWeight).out_grad(0);
}

std::vector<std::string> InputNames(const DeconvolutionParam& p) {
  if (p.no_bias) return {"data", "weight"};
  return {"data", "weight", "bias"};
}

}  // namespace

CN_REGISTER_OP(Deconvolution, DeconvolutionParam)
    .describe("Computes 2-D transposed convolution (NCHW): the gradient of Convolution with "
              "respect to its input, with optional groups, stride, dilation, padding and adj.")
    .inputs(InputNames)
    .outputs({"output"})
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .workspace_elems_threads(WorkspaceElems)
    .flags(CN_FLAG_EXPENSIVE);
