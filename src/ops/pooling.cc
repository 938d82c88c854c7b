// Pooling (2-D, NCHW): max, avg or sum over kernel windows of each (n, c) plane.
//   out size = floor((H + 2p - k) / s) + 1 ("valid") or ceil(...) + 1 ("full", Caffe's ceil mode);
//   global_pool resets kernel to (H, W), pad to 0 and stride to 1.
//   avg divides by the window size clipped to the padded input (count_include_pad, the default)
//   or to the input itself; windows that run past the padded input ("full") are clipped as well.
// Backward: avg/sum spread dy / divisor over the window; max sends dy to the first maximum of the
// window in row-major order, found again from the input (no index tensor is kept, so backward
// needs only the input and dy).
// Kernel: each plane is copied into a padded buffer (-inf or 0 border, sized so every window of
// every output is in bounds), which removes all bounds tests from the inner loops; the loops run
// over the output columns of one row so the compiler vectorises them (strided loads for stride > 1).
#include <algorithm>
#include <limits>

#include "coarsenet/op.h"

namespace {

enum PoolType { kMax, kAvg, kSum, kLp };
enum Convention { kValid, kFull, kSame };

struct PoolingParam {
  cn::Shape kernel, stride, pad;
  int pool_type, pooling_convention, count_include_pad, layout;
  bool global_pool, cudnn_off;
  std::optional<double> p_value;
  static void Declare(cn::ParamDecl<PoolingParam>& d) {
    d.field("kernel", &PoolingParam::kernel, cn::Shape{}, "Pooling kernel size: (y, x).");
    d.choice("pool_type", &PoolingParam::pool_type, {"max", "avg", "sum", "lp"}, "max",
             "Pooling type to be applied.");
    d.field("global_pool", &PoolingParam::global_pool, false,
            "Ignore kernel size and pool over the whole feature map.");
    d.field("cudnn_off", &PoolingParam::cudnn_off, false, "Accepted for MXNet compatibility.");
    d.choice("pooling_convention", &PoolingParam::pooling_convention, {"valid", "full", "same"},
             "valid", "Output size rule: valid (floor) or full (ceil).");
    d.field("stride", &PoolingParam::stride, cn::Shape{}, "Stride: (y, x). Defaults to 1 each.");
    d.field("pad", &PoolingParam::pad, cn::Shape{}, "Padding: (y, x). Defaults to 0 each.");
    d.field("p_value", &PoolingParam::p_value, "Value of p for Lp pooling (not supported).");
    d.choice("count_include_pad", &PoolingParam::count_include_pad, {"None", "True", "False"},
             "None", "Whether avg pooling counts padded positions (None means True).");
    d.choice("layout", &PoolingParam::layout, {"None", "NCHW", "NCW", "NCDHW", "NHWC", "NWC", "NDHWC"},
             "None", "Data layout; only NCHW (the default for 4-D data) is supported.");
  }
};

// Everything the kernels need, resolved from params and the input shape.
struct Geometry {
  int64_t planes, h, w, oh, ow, kh, kw, sh, sw, ph, pw;
  int64_t bh, bw;  // padded buffer: every window of every output lies inside it
  bool include_pad;
  // Window size that avg divides by for output (i, j); separable in rows and columns.
  int64_t Count(int64_t i, int64_t size, int64_t k, int64_t s, int64_t p) const {
    int64_t start = i * s - p, end = std::min(start + k, size + p);
    if (include_pad) return end - start;
    return std::min(end, size) - std::max(start, int64_t(0));
  }
};

int64_t Pair(const cn::Shape& s, int i, int64_t def, const char* name) {
  if (s.ndim <= 0) return def;
  if (s.ndim != 2)
    throw cn::Error(cn::Msg(name, " must have 2 values (y, x) for 2-D pooling, found ", s));
  return s[i];
}

Geometry Resolve(const PoolingParam& p, const cn::Shape& x) {
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
  if (g.kh > g.h + 2 * g.ph || g.kw > g.w + 2 * g.pw)
    throw cn::Error(cn::Msg("kernel ", cn::Shape{g.kh, g.kw}, " is larger than the padded input ",
                            cn::Shape{g.h + 2 * g.ph, g.w + 2 * g.pw}));
  auto out = [&](int64_t size, int64_t k, int64_t s, int64_t pad) {
    int64_t span = size + 2 * pad - k;
    return (p.pooling_convention == kFull ? (span + s - 1) / s : span / s) + 1;
  };
  g.oh = out(g.h, g.kh, g.sh, g.ph);
  g.ow = out(g.w, g.kw, g.sw, g.pw);
  g.bh = std::max((g.oh - 1) * g.sh + g.kh, g.ph + g.h);
  g.bw = std::max((g.ow - 1) * g.sw + g.kw, g.pw + g.w);
  g.include_pad = p.count_include_pad != 2;
  return g;
}

void InferShape(const PoolingParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  Geometry g = Resolve(p, x);
  s.SetOutput(0, cn::Shape{x[0], x[1], g.oh, g.ow});
}

// Copies plane x (h, w) into buf (bh, bw) at offset (ph, pw), filling the border with `fill`.
template <typename DType>
void PadPlane(const Geometry& g, const DType* x, DType* buf, DType fill) {
  std::fill(buf, buf + g.bh * g.bw, fill);
  for (int64_t r = 0; r < g.h; ++r) std::copy(x + r * g.w, x + (r + 1) * g.w, buf + (r + g.ph) * g.bw + g.pw);
}

template <typename DType>
void ForwardImpl(const PoolingParam& p, const cn::ForwardArgs& a) {
  const Geometry g = Resolve(p, a.in[0].shape());
  const int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  const DType* x = a.in[0].ptr<DType>();
  DType* y = a.out[0].ptr<DType>();
  const bool is_max = p.pool_type == kMax;
  const DType fill = is_max ? -std::numeric_limits<DType>::infinity() : DType(0);
  std::vector<DType> inv_count_w(g.ow, 1), inv_count_h(g.oh, 1);
  if (p.pool_type == kAvg) {
    for (int64_t j = 0; j < g.ow; ++j)
      inv_count_w[j] = DType(1) / std::max<int64_t>(g.Count(j, g.w, g.kw, g.sw, g.pw), 1);
    for (int64_t i = 0; i < g.oh; ++i)
      inv_count_h[i] = DType(1) / std::max<int64_t>(g.Count(i, g.h, g.kh, g.sh, g.ph), 1);
  }
  cn::ParallelFor(g.planes, 1, [&](int64_t b, int64_t e) {
    std::vector<DType> buf(g.bh * g.bw), acc(g.ow);
    DType* __restrict row = acc.data();
    for (int64_t plane = b; plane < e; ++plane) {
      PadPlane(g, x + plane * g.h * g.w, buf.data(), fill);
      const DType* __restrict in = buf.data();
      DType* out = y + plane * g.oh * g.ow;
      for (int64_t i = 0; i < g.oh; ++i) {
        const DType* top = in + i * g.sh * g.bw;
        std::fill(row, row + g.ow, fill);
        for (int64_t kh = 0; kh < g.kh; ++kh) {
          for (int64_t kw = 0; kw < g.kw; ++kw) {
            const DType* src = top + kh * g.bw + kw;
            if (is_max) {
              for (int64_t j = 0; j < g.ow; ++j) {
                DType v = src[j * g.sw];
                row[j] = v > row[j] ? v : row[j];
              }
            } else {
              for (int64_t j = 0; j < g.ow; ++j) row[j] += src[j * g.sw];
            }
          }
        }
        DType* o = out + i * g.ow;
        const DType ch = inv_count_h[i];
        if (req == CN_REQ_ADD) {
          for (int64_t j = 0; j < g.ow; ++j) o[j] += row[j] * ch * inv_count_w[j];
        } else {
          for (int64_t j = 0; j < g.ow; ++j) o[j] = row[j] * ch * inv_count_w[j];
        }
      }
    }
  });
}

void Forward(const PoolingParam& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, { ForwardImpl<DType>(p, a); });
}

template <typename DType>
void BackwardImpl(const PoolingParam& p, const cn::BackwardArgs& a) {
  const int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  const Geometry g = Resolve(p, a.in_grad[0].shape());
  const DType* dy = a.out_grad[0].ptr<DType>();
  DType* dx = a.in_grad[0].ptr<DType>();
  const bool is_max = p.pool_type == kMax;
  const DType* x = is_max ? a.in[0].ptr<DType>() : nullptr;
  std::vector<DType> inv_count_w(g.ow, 1), inv_count_h(g.oh, 1);
  if (p.pool_type == kAvg) {
    for (int64_t j = 0; j < g.ow; ++j)
      inv_count_w[j] = DType(1) / std::max<int64_t>(g.Count(j, g.w, g.kw, g.sw, g.pw), 1);
    for (int64_t i = 0; i < g.oh; ++i)
      inv_count_h[i] = DType(1) / std::max<int64_t>(g.Count(i, g.h, g.kh, g.sh, g.ph), 1);
  }
  cn::ParallelFor(g.planes, 1, [&](int64_t b, int64_t e) {
    std::vector<DType> grad(g.bh * g.bw), buf(is_max ? g.bh * g.bw : 0), best(g.ow), scaled(g.ow);
    std::vector<int64_t> where(g.ow);
    DType* __restrict gbuf = grad.data();
    DType* __restrict bv = best.data();
    DType* __restrict sv = scaled.data();
    int64_t* __restrict wv = where.data();
    for (int64_t plane = b; plane < e; ++plane) {
      std::fill(grad.begin(), grad.end(), DType(0));
      const DType* gy = dy + plane * g.oh * g.ow;
      if (is_max) PadPlane(g, x + plane * g.h * g.w, buf.data(), -std::numeric_limits<DType>::infinity());
      for (int64_t i = 0; i < g.oh; ++i) {
        const int64_t top = i * g.sh * g.bw;
        if (is_max) {
          // First maximum in row-major window order: strict > keeps the earliest one.
          const DType* __restrict in = buf.data();
          for (int64_t j = 0; j < g.ow; ++j) bv[j] = -std::numeric_limits<DType>::infinity(), wv[j] = top + j * g.sw;
          for (int64_t kh = 0; kh < g.kh; ++kh) {
            for (int64_t kw = 0; kw < g.kw; ++kw) {
              const int64_t off = top + kh * g.bw + kw;
              for (int64_t j = 0; j < g.ow; ++j) {
                DType v = in[off + j * g.sw];
                bool take = v > bv[j];
                bv[j] = take ? v : bv[j];
                wv[j] = take ? off + j * g.sw : wv[j];
              }
            }
          }
          for (int64_t j = 0; j < g.ow; ++j) gbuf[wv[j]] += gy[i * g.ow + j];
        } else {
          const DType ch = inv_count_h[i];
          for (int64_t j = 0; j < g.ow; ++j) sv[j] = gy[i * g.ow + j] * ch * inv_count_w[j];
          // For one (kh, kw) the columns j hit distinct cells, so the loop has no conflicts.
          for (int64_t kh = 0; kh < g.kh; ++kh)
            for (int64_t kw = 0; kw < g.kw; ++kw) {
              DType* dst = gbuf + top + kh * g.bw + kw;
              for (int64_t j = 0; j < g.ow; ++j) dst[j * g.sw] += sv[j];
            }
        }
      }
      DType* out = dx + plane * g.h * g.w;
      for (int64_t r = 0; r < g.h; ++r) {
        const DType* src = gbuf + (r + g.ph) * g.bw + g.pw;
        DType* o = out + r * g.w;
        if (req == CN_REQ_ADD) {
          for (int64_t c = 0; c < g.w; ++c) o[c] += src[c];
        } else {
          for (int64_t c = 0; c < g.w; ++c) o[c] = src[c];
        }
      }
    }
  });
}

void Backward(const PoolingParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, { BackwardImpl<DType>(p, a); });
}

// Max pooling finds the argmax again from the input; avg and sum need only the shape, which
// the input-gradient buffer carries.
void Needs(const PoolingParam& p, cn::BackwardNeeds& n) {
  n.out_grad(0);
  if (p.pool_type == kMax) n.input(0);
}

}  // namespace

CN_REGISTER_OP(Pooling, PoolingParam)
    .describe("Performs 2-D max, average or sum pooling on NCHW input.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs);
