// Dropout: in training (or mode='always'), keep each element with probability 1 - p and scale the
// kept ones by 1 / (1 - p); otherwise the identity.
//   mask[i] = (u(seed, i') < 1 - p) / (1 - p), y = x * mask, dx = dy * mask
// u is the counter-based cn::RandomUniform, so a recomputation with the same seed (mirror pass)
// redraws exactly the same mask whatever the thread split. i' is i with the coordinates on `axes`
// set to 0, so the mask is shared along those axes (variational dropout). The mask is a hidden
// second output; backward reads only it and the output gradient.
#include <cmath>

#include "coarsenet/op.h"

namespace {

struct DropoutParam {
  float p;
  int mode;
  cn::Shape axes;
  bool cudnn_off;
  static void Declare(cn::ParamDecl<DropoutParam>& d) {
    d.field("p", &DropoutParam::p, 0.5f, "Fraction of the input that gets dropped out.")
        .range(0, 1);
    d.choice("mode", &DropoutParam::mode, {"training", "always"}, "training",
             "Whether to drop only in training or also in inference.");
    d.field("axes", &DropoutParam::axes, cn::Shape{}, "Axes along which the mask is shared.");
    d.field("cudnn_off", &DropoutParam::cudnn_off, false, "Accepted for compatibility; no effect.");
  }
};

enum { kOut, kMask };
enum { kTraining, kAlways };

void InferShape(const DropoutParam& p, cn::ShapeContext& s) {
  if (!(p.p >= 0 && p.p <= 1)) throw cn::Error(cn::Msg("p must be in [0, 1], found ", p.p));
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  for (int i = 0; i < p.axes.ndim; ++i)
    if (p.axes[i] < -x.ndim || p.axes[i] >= x.ndim)
      throw cn::Error(cn::Msg("axes ", p.axes, " out of range for input shape ", x));
  s.SetOutput(kOut, x);
  s.SetOutput(kMask, x);
}

// Maps an element index to the index of the mask value it shares (coordinates on axes -> 0).
struct MaskIndex {
  std::vector<int64_t> stride, extent;  // per dropped-coordinate axis
  int64_t operator()(int64_t i) const {
    for (size_t d = 0; d < stride.size(); ++d) i -= (i / stride[d] % extent[d]) * stride[d];
    return i;
  }
};

MaskIndex MakeMaskIndex(const DropoutParam& p, const cn::Shape& x) {
  MaskIndex m;
  for (int i = 0; i < p.axes.ndim; ++i) {
    int a = static_cast<int>(p.axes[i] < 0 ? p.axes[i] + x.ndim : p.axes[i]);
    m.stride.push_back(x.prod(a + 1, x.ndim));
    m.extent.push_back(x[a]);
  }
  return m;
}

// Keep test in integers: u = (bits >> 11) * 2^-53 < keep  <=>  (bits >> 11) < ceil(keep * 2^53).
// No branch and no float conversion, so the loop vectorises and never mispredicts.
template <typename DType, bool kShared>
void Draw(uint64_t seed, const MaskIndex& index, uint64_t threshold, DType scale, const DType* x,
          DType* y, DType* mask, int64_t b, int64_t e, int32_t req) {
  for (int64_t i = b; i < e; ++i) {
    uint64_t at = kShared ? index(i) : static_cast<uint64_t>(i);
    DType m = (cn::RandomBits(seed, at) >> 11) < threshold ? scale : DType(0);
    DType v = x[i] * m;  // read x before y (they may share a buffer)
    if (mask) mask[i] = m;
    if (req != CN_REQ_NULL) cn::Store(&y[i], req, v);
  }
}

template <typename DType>
void ForwardImpl(const DropoutParam& p, const cn::ForwardArgs& a) {
  const int64_t n = a.in[0].size();
  const DType* x = a.in[0].ptr<DType>();
  DType* y = a.out[kOut].ptr<DType>();
  DType* mask = a.req[kMask] == CN_REQ_NULL ? nullptr : a.out[kMask].ptr<DType>();
  const int32_t req = a.req[kOut];
  const bool drop = (a.ctx.is_train || p.mode == kAlways) && p.p > 0;
  const double keep = 1.0 - p.p;
  const DType scale = keep > 0 ? static_cast<DType>(1.0 / keep) : DType(0);
  const uint64_t threshold = static_cast<uint64_t>(std::ceil(keep * 9007199254740992.0));
  const MaskIndex index = MakeMaskIndex(p, a.in[0].shape());
  const uint64_t seed = a.ctx.seed;
  cn::ParallelFor(n, 1 << 13, [&](int64_t b, int64_t e) {
    if (!drop) {
      for (int64_t i = b; i < e; ++i) {
        if (mask) mask[i] = 1;
        if (req != CN_REQ_NULL) cn::Store(&y[i], req, x[i]);
      }
    } else if (index.stride.empty()) {
      Draw<DType, false>(seed, index, threshold, scale, x, y, mask, b, e, req);
    } else {
      Draw<DType, true>(seed, index, threshold, scale, x, y, mask, b, e, req);
    }
  });
}

void Forward(const DropoutParam& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, { ForwardImpl<DType>(p, a); });
}

template <typename DType>
void BackwardImpl(const DropoutParam& p, const cn::BackwardArgs& a) {
  const int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  const DType* dy = a.out_grad[kOut].ptr<DType>();
  const DType* mask = a.out[kMask].ptr<DType>();
  DType* dx = a.in_grad[0].ptr<DType>();
  cn::ParallelFor(a.in_grad[0].size(), 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) cn::Store(&dx[i], req, dy[i] * mask[i]);
  });
}

void Backward(const DropoutParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.in_grad[0].dtype, DType, { BackwardImpl<DType>(p, a); });
}

void Needs(const DropoutParam&, cn::BackwardNeeds& n) { n.output(kMask).out_grad(kOut); }

}  // namespace

CN_REGISTER_OP(Dropout, DropoutParam)
    .describe("Randomly zeroes elements with probability p in training, scaling the rest by "
              "1/(1-p); the identity in inference.")
    .inputs({"data"})
    .outputs({"output", "mask"})
    .visible_outputs(1)
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .inplace({{0, kOut}})
    .backward_inplace({{kOut, 0}})
    .flags(CN_FLAG_NONDETERMINISTIC);
