// UpSampling with sample_type='nearest': each NCHW input is enlarged to (scale*H0, scale*W0),
// the size of the first input times `scale`, by repeating every pixel s_i x s_i times
// (s_i = scale*H0 / H_i, an integer), then the inputs are concatenated along C
// (multi_input_mode='concat') or summed ('sum', equal C). sample_type='bilinear' (a fixed
// Deconvolution in MXNet) is not supported: express it as Deconvolution.
//   Backward: dx_i[n, c, h, w] = sum of dy over the s_i x s_i block the pixel was copied to;
//   it reads only the output gradient.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/elemwise_util.h"

namespace {

enum SampleType { kBilinear, kNearest };
enum MultiInput { kConcat, kSum };

struct UpSamplingParam {
  int scale, num_filter, sample_type, multi_input_mode, num_args;
  int64_t workspace;
  static void Declare(cn::ParamDecl<UpSamplingParam>& d) {
    d.field("scale", &UpSamplingParam::scale, 1, "Up sampling scale").required()
        .at_least(1);
    d.field("num_filter", &UpSamplingParam::num_filter, 0,
            "Input filter. Only used by bilinear sample_type.")
        .at_least(0);
    d.choice("sample_type", &UpSamplingParam::sample_type, {"bilinear", "nearest"}, "nearest",
             "upsampling method (only 'nearest' is supported)")
        .required();
    d.choice("multi_input_mode", &UpSamplingParam::multi_input_mode, {"concat", "sum"},
             "concat",
             "How to handle multiple input. concat means concatenate upsampled images along the "
             "channel dimension. sum means add all images together, only available for nearest "
             "neighbor upsampling.");
    d.field("num_args", &UpSamplingParam::num_args, 1,
            "Number of inputs to be upsampled. For nearest neighbor upsampling, this can be "
            "1-N; the size of output will be (scale*h_0, scale*w_0) and all other inputs will "
            "be upsampled to the same size.")
        .required()
        .range(1, 65536);  // a name is made per input: bound the count
    d.field("workspace", &UpSamplingParam::workspace, int64_t(512),
            "Tmp workspace for deconvolution (MB); unused.")
        .at_least(0);
  }
};

std::vector<std::string> Inputs(const UpSamplingParam& p) {
  if (p.sample_type == kBilinear)
    throw cn::Error("sample_type='bilinear' is not supported; use Deconvolution with a bilinear "
                    "kernel (or sample_type='nearest')");
  if (p.scale < 1) throw cn::Error(cn::Msg("scale must be at least 1, found ", p.scale));
  if (p.num_args < 1) throw cn::Error(cn::Msg("num_args must be positive, found ", p.num_args));
  std::vector<std::string> names;
  for (int i = 0; i < p.num_args; ++i) names.push_back("arg" + std::to_string(i));
  return names;
}

// The integer scale of input i to the output height and width (oh, ow).
int64_t InputScale(const cn::Shape& x, int64_t oh, int64_t ow, const char* name) {
  if (x.ndim != 4)
    throw cn::Error(cn::Msg("input '", name, "' must be 4-D (NCHW), found shape ", x));
  if (x[2] <= 0 || x[3] <= 0 || oh % x[2] != 0 || ow % x[3] != 0 || oh / x[2] != ow / x[3])
    throw cn::Error(cn::Msg("input '", name, "' of shape ", x, " cannot be upsampled by an "
                            "integer factor to (", oh, ", ", ow, ")"));
  return oh / x[2];
}

void InferShape(const UpSamplingParam& p, cn::ShapeContext& s) {
  cn::Shape x0 = s.in(0);
  if (!x0.known()) return;
  if (x0.ndim != 4)
    throw cn::Error(cn::Msg("input 'arg0' must be 4-D (NCHW), found shape ", x0));
  int64_t oh = cn::MulDims(x0[2], p.scale, "upsampled height"),
          ow = cn::MulDims(x0[3], p.scale, "upsampled width"), channels = 0;
  for (int i = 0; i < s.num_in(); ++i) {
    cn::Shape x = s.in(i);
    if (!x.known()) return;
    InputScale(x, oh, ow, s.in_name(i));
    if (x[0] != x0[0])
      throw cn::Error(cn::Msg("input '", s.in_name(i), "' has batch size ", x[0], ", expected ",
                              x0[0]));
    if (p.multi_input_mode == kSum && x[1] != x0[1])
      throw cn::Error(cn::Msg("multi_input_mode='sum' needs equal channels; input '",
                              s.in_name(i), "' has ", x[1], ", expected ", x0[1]));
    channels += x[1];
  }
  s.SetOutput(0, cn::Shape{x0[0], p.multi_input_mode == kSum ? x0[1] : channels, oh, ow});
}

// Calls fn(input i, its plane count per image, scale, first output channel).
template <typename Fn>
void ForEachInput(const UpSamplingParam& p, const cn::Shape& y, const cn::TensorList& xs,
                  Fn fn) {
  int64_t c_off = 0;
  for (int i = 0; i < xs.size(); ++i) {
    cn::Shape x = xs[i].shape();
    fn(i, x, InputScale(x, y[2], y[3], "arg"), p.multi_input_mode == kSum ? 0 : c_off);
    c_off += x[1];
  }
}

void Forward(const UpSamplingParam& p, const cn::ForwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  cn::Shape y = a.out[0].shape();
  CN_FLOAT_SWITCH(a.out[0].dtype, DType, {
    ForEachInput(p, y, a.in, [&](int i, const cn::Shape& x, int64_t s, int64_t c_off) {
      // Later inputs of a sum add onto the first.
      int32_t req = p.multi_input_mode == kSum && i > 0 ? CN_REQ_ADD : a.req[0];
      const DType* src = a.in[i].ptr<DType>();
      DType* dst = a.out[0].ptr<DType>();
      int64_t h = x[2], w = x[3], oh = y[2], ow = y[3], planes = x[0] * x[1];
      // One task per input row: widen it into the first of its s output rows, then copy that
      // row to the other s - 1.
      cn_elem::ChunkedRows(planes * h, ow * s, [&](int64_t r0, int64_t r1) {
        std::vector<DType> wide(ow);
        for (int64_t r = r0; r < r1; ++r) {
          int64_t plane = r / h, row = r % h, n = plane / x[1], c = plane % x[1];
          const DType* xr = src + r * w;
          for (int64_t j = 0; j < w; ++j)
            for (int64_t u = 0; u < s; ++u) wide[j * s + u] = xr[j];
          DType* yr = dst + ((n * y[1] + c_off + c) * oh + row * s) * ow;
          for (int64_t u = 0; u < s; ++u, yr += ow) {
            if (req == CN_REQ_ADD) {
              for (int64_t o = 0; o < ow; ++o) yr[o] += wide[o];
            } else {
              std::memcpy(yr, wide.data(), ow * sizeof(DType));
            }
          }
        }
      });
    });
  });
}

// dx[n, c, h, w] (req) = sum of dy over the s x s block of output channel c_off + c.
template <typename DType>
void BackwardOne(const DType* dy, const cn::Shape& y, DType* dx, const cn::Shape& x, int64_t s,
                 int64_t c_off, int32_t req) {
  int64_t h = x[2], w = x[3], oh = y[2], ow = y[3];
  cn_elem::ChunkedRows(x[0] * x[1] * h, w * s * s, [&](int64_t r0, int64_t r1) {
    std::vector<DType> acc(w);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t plane = r / h, row = r % h, n = plane / x[1], c = plane % x[1];
      const DType* g = dy + ((n * y[1] + c_off + c) * oh + row * s) * ow;
      std::fill(acc.begin(), acc.end(), DType(0));
      for (int64_t u = 0; u < s; ++u, g += ow)  // the s output rows, each read contiguously
        for (int64_t j = 0; j < w; ++j)
          for (int64_t v = 0; v < s; ++v) acc[j] += g[j * s + v];
      DType* dxr = dx + r * w;
      for (int64_t j = 0; j < w; ++j) cn::Store(&dxr[j], req, acc[j]);
    }
  });
}

// A caller may leave the gradient of one input it does not want unshaped (req null): its
// channel count is then what the others leave of the output's.
void Backward(const UpSamplingParam& p, const cn::BackwardArgs& a) {
  cn::Shape y = a.out_grad[0].shape();
  int64_t known = 0;
  int missing = 0;
  for (int i = 0; i < a.in_grad.size(); ++i) {
    if (a.in_grad[i].empty()) ++missing;
    else known += a.in_grad[i].dim(1);
  }
  if (missing > 1 && p.multi_input_mode == kConcat)
    throw cn::Error("backward needs the shapes of all but one input gradient");
  int64_t c_off = 0;
  for (int i = 0; i < a.in_grad.size(); ++i) {
    const cn::Tensor& g = a.in_grad[i];
    int64_t channels = !g.empty() ? g.dim(1) : y[1] - known;
    if (a.req[i] != CN_REQ_NULL) {
      cn::Shape x = g.shape();
      int64_t s = InputScale(x, y[2], y[3], "arg");
      CN_FLOAT_SWITCH(g.dtype, DType, {
        BackwardOne(a.out_grad[0].ptr<DType>(), y, g.ptr<DType>(), x, s, c_off, a.req[i]);
      });
    }
    if (p.multi_input_mode == kConcat) c_off += channels;
  }
}

void Needs(const UpSamplingParam&, cn::BackwardNeeds& n) { n.out_grad(0); }

}  // namespace

CN_REGISTER_OP(UpSampling, UpSamplingParam)
    .describe("Upsamples NCHW inputs by nearest neighbour (each pixel repeated scale x scale "
              "times); several inputs are brought to the first one's upsampled size and "
              "concatenated along C or summed.")
    .inputs(Inputs)
    .outputs({"output"})
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs);
