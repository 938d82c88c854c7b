// Loss heads whose backward is the loss gradient itself (CN_FLAG_LOSS: the head gradient is
// ignored, as in MXNet). Forward is the identity in all three.
//   MakeLoss(data, grad_scale, valid_thresh, normalization): dx = grad_scale / norm everywhere;
//     norm = 1 ('null'), data.shape[0] ('batch'), or the count of data > valid_thresh (at
//     least 1; 'valid').
//   make_loss(data): dx = 1 (MXNet's other, parameterless form).
//   SVMOutput(data, label, margin, regularization_coefficient, use_linear): classes along the
//     last axis, label = data.shape[:-1]. With y = +1 at the label and -1 elsewhere, c = reg coef:
//     L2-SVM (default): dx = -2 c y max(0, margin - y x);  L1-SVM (use_linear): dx = -c y [margin > y x].
//     The label gradient is zero.
#include <algorithm>

#include "kernels/index_util.h"

namespace {

enum Normalization { kNull, kBatch, kValid };

struct MakeLossParam {
  float grad_scale, valid_thresh;
  int normalization;
  static void Declare(cn::ParamDecl<MakeLossParam>& d) {
    d.field("grad_scale", &MakeLossParam::grad_scale, 1.0f, "Gradient scale.").finite();
    d.field("valid_thresh", &MakeLossParam::valid_thresh, 0.0f,
            "Elements above this count as valid for normalization='valid'.")
        .finite();
    d.choice("normalization", &MakeLossParam::normalization, {"null", "batch", "valid"}, "null",
             "Divide the gradient by nothing, the batch size, or the number of valid elements.");
  }
};

template <typename P>
void Identity(const P&, const cn::ForwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    const DType* x = a.in[0].ptr<DType>();
    DType* y = a.out[0].ptr<DType>();
    for (int64_t i = 0; i < a.out[0].size(); ++i) cn::Store(&y[i], a.req[0], x[i]);
  });
}

template <typename DType>
void FillGrad(const cn::BackwardArgs& a, int input, DType value) {
  int32_t req = a.req[input];
  if (req == CN_REQ_NULL) return;
  DType* g = a.in_grad[input].ptr<DType>();
  for (int64_t i = 0; i < a.in_grad[input].size(); ++i) cn::Store(&g[i], req, value);
}

void MakeLossBackward(const MakeLossParam& p, const cn::BackwardArgs& a) {
  const cn::Tensor& g = a.in_grad[0];
  CN_FLOAT_SWITCH(g.dtype, DType, {
    double norm = 1;
    if (p.normalization == kBatch && g.ndim > 0) norm = std::max<int64_t>(1, g.dims[0]);
    if (p.normalization == kValid) {
      const DType* x = a.in[0].ptr<DType>();
      int64_t valid = 0;
      for (int64_t i = 0; i < a.in[0].size(); ++i) valid += x[i] > p.valid_thresh;
      norm = std::max<int64_t>(1, valid);
    }
    FillGrad<DType>(a, 0, static_cast<DType>(p.grad_scale / norm));
  });
}

void MakeLossNeeds(const MakeLossParam& p, cn::BackwardNeeds& n) {
  if (p.normalization == kValid) n.input(0);
}

void OnesBackward(const cn::NoParams&, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.in_grad[0].dtype, DType, { FillGrad<DType>(a, 0, DType(1)); });
}

void NoNeeds(const cn::NoParams&, cn::BackwardNeeds&) {}

// ---- SVMOutput

enum { kData, kLabel };

struct SVMParam {
  float margin, regularization_coefficient;
  bool use_linear;
  static void Declare(cn::ParamDecl<SVMParam>& d) {
    d.field("margin", &SVMParam::margin, 1.0f, "The margin of the SVM loss.").finite();
    d.field("regularization_coefficient", &SVMParam::regularization_coefficient, 1.0f,
            "Scales the gradient.")
        .finite();
    d.field("use_linear", &SVMParam::use_linear, false, "L1-SVM instead of L2-SVM.");
  }
};

void SVMShape(const SVMParam&, cn::ShapeContext& s) {
  cn::Shape x = s.in(kData);
  if (!x.known()) return;
  if (x.ndim < 1) throw cn::Error("input 'data' must have at least 1 dim, found ()");
  std::vector<int64_t> rows(x.dims, x.dims + x.ndim - 1);
  if (rows.empty()) rows.push_back(1);
  s.SetInput(kLabel, cn::Shape(rows));
  s.SetOutput(0, x);
}

void SVMBackward(const SVMParam& p, const cn::BackwardArgs& a) {
  if (a.req[kLabel] == CN_REQ_WRITE || a.req[kLabel] == CN_REQ_INPLACE)
    CN_FLOAT_SWITCH(a.in_grad[kLabel].dtype, DType, { FillGrad<DType>(a, kLabel, DType(0)); });
  int32_t req = a.req[kData];
  if (req == CN_REQ_NULL) return;
  const cn::Tensor& x_t = a.in[kData];
  int64_t c = x_t.ndim ? x_t.dims[x_t.ndim - 1] : 1, rows = c ? x_t.size() / c : 0;
  std::vector<int64_t> label(rows);
  CN_INDEX_SWITCH(a.in[kLabel].dtype, "input 'label'", IType, {
    for (int64_t r = 0; r < rows; ++r) label[r] = cn_index::ToIndex(a.in[kLabel].ptr<IType>()[r]);
  });
  CN_FLOAT_SWITCH(x_t.dtype, DType, {
    const DType* x = x_t.ptr<DType>();
    DType* g = a.in_grad[kData].ptr<DType>();
    DType m = p.margin, coef = p.regularization_coefficient;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < c; ++k) {
        DType y = k == label[r] ? DType(1) : DType(-1), v = x[r * c + k];
        DType gap = m - y * v;
        DType d = gap > 0 ? (p.use_linear ? -y : DType(-2) * y * gap) : DType(0);
        cn::Store(&g[r * c + k], req, coef * d);
      }
  });
}

void SVMNeeds(const SVMParam&, cn::BackwardNeeds& n) { n.input(kData).input(kLabel); }

}  // namespace

CN_REGISTER_OP(MakeLoss, MakeLossParam)
    .describe("Makes its input a loss: forward is the identity, the gradient is grad_scale/norm.")
    .inputs({"data"})
    .outputs({"output"})
    .forward(Identity<MakeLossParam>)
    .backward(MakeLossBackward)
    .backward_needs(MakeLossNeeds)
    .inplace({{0, 0}})
    .flags(CN_FLAG_LOSS);

CN_REGISTER_OP(make_loss, cn::NoParams)
    .describe("Makes its input a loss: forward is the identity, the gradient is 1.")
    .inputs({"data"})
    .outputs({"output"})
    .forward(Identity<cn::NoParams>)
    .backward(OnesBackward)
    .backward_needs(NoNeeds)
    .inplace({{0, 0}})
    .flags(CN_FLAG_LOSS);

CN_REGISTER_OP(SVMOutput, SVMParam)
    .describe("Support vector machine output: identity forward, the (L1 or L2) hinge gradient.")
    .inputs({"data", "label"})
    .outputs({"output"})
    .infer_shape(SVMShape)
    .forward(Identity<SVMParam>)
    .backward(SVMBackward)
    .backward_needs(SVMNeeds)
    .inplace({{kData, 0}})
    .flags(CN_FLAG_LOSS);
