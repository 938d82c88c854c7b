// MXNet's multi_sgd_update(w0, g0, w1, g1, ...) and multi_sgd_mom_update(w0, g0, m0, w1, ...):
// one SGD step per weight, each with its own lr and wd (the elementwise rules of
// optimizer_update.cc's sgd and sgd_mom). No gradient (NO_GRAD).
#include <cmath>
#include <string>
#include <vector>

#include "coarsenet/op.h"
#include "ops/update_gradient.h"

namespace {

using cn::update::Common;

// Outputs the new weights. The momenta are inputs interleaved as MXNet's scripts pass them, and
// are updated in place (MXNet mutates them too: they must be arrays the caller owns, never
// another op's output).

struct MultiParam {
  std::string lrs, wds;
  float momentum, rescale_grad, clip_gradient;
  int num_weights;
  std::vector<double> lr, wd;  // parsed from lrs / wds
  static void Declare(cn::ParamDecl<MultiParam>& d) {
    d.field("lrs", &MultiParam::lrs, std::string(), "Learning rates, one per weight.").required();
    d.field("wds", &MultiParam::wds, std::string(), "Weight decays, one per weight.").required();
    d.field("momentum", &MultiParam::momentum, 0.0f, "The decay rate of momentum.").finite();
    d.field("rescale_grad", &MultiParam::rescale_grad, 1.0f, "Gradient multiplier.").finite();
    d.field("clip_gradient", &MultiParam::clip_gradient, -1.0f,
            "Clip gradients to [-c, c] after rescaling; negative: no clipping.")
        .finite();
    d.field("num_weights", &MultiParam::num_weights, 1, "Number of weights.").range(1, 65536);
  }
};

std::vector<double> FloatTuple(const std::string& raw, int n, const char* name) {
  std::string s = cn::parse::Trim(raw);
  if (!s.empty() && (s.front() == '(' || s.front() == '[')) s = s.substr(1, s.size() - 2);
  std::vector<double> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t comma = s.find(',', pos);
    std::string item = cn::parse::Trim(s.substr(pos, comma == std::string::npos ? comma : comma - pos));
    if (!item.empty()) out.push_back(cn::parse::ParseFloat(item));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (static_cast<int>(out.size()) != n)
    throw cn::Error(cn::Msg(name, " has ", out.size(), " values, expected num_weights = ", n));
  for (double v : out)
    if (!std::isfinite(v)) throw cn::Error(cn::Msg(name, " must be finite, found ", v));
  return out;
}

template <bool kMom>
std::vector<std::string> MultiInputs(const MultiParam& p) {
  std::vector<std::string> names;
  for (int i = 0; i < p.num_weights; ++i) {
    std::string k = std::to_string(i);
    names.push_back("weight" + k);
    names.push_back("grad" + k);
    if (kMom) names.push_back("mom" + k);
  }
  FloatTuple(p.lrs, p.num_weights, "lrs");
  FloatTuple(p.wds, p.num_weights, "wds");
  return names;
}

std::vector<std::string> MultiOutputs(const MultiParam& p) {
  std::vector<std::string> names;
  for (int i = 0; i < p.num_weights; ++i) names.push_back("output" + std::to_string(i));
  return names;
}

template <bool kMom>
void MultiShape(const MultiParam& p, cn::ShapeContext& s) {
  int per = kMom ? 3 : 2;
  for (int i = 0; i < p.num_weights; ++i) {
    cn::Shape w;
    for (int k = 0; k < per && !w.known(); ++k) w = s.in(i * per + k);
    if (!w.known()) continue;
    for (int k = 0; k < per; ++k) s.SetInput(i * per + k, w);
    s.SetOutput(i, w);
  }
}

template <bool kMom>
void MultiForward(const MultiParam& p, const cn::ForwardArgs& a) {
  std::vector<double> lrs = FloatTuple(p.lrs, p.num_weights, "lrs");
  std::vector<double> wds = FloatTuple(p.wds, p.num_weights, "wds");
  int per = kMom ? 3 : 2;
  Common c{0, 0, p.rescale_grad, p.clip_gradient};
  for (int j = 0; j < p.num_weights; ++j) {
    int32_t req = a.req[j];
    const cn::Tensor& w_t = a.in[j * per];
    for (int k = 1; k < per; ++k)
      if (a.in[j * per + k].dtype != w_t.dtype)
        throw cn::Error(cn::Msg("input ", j * per + k, " has dtype ",
                                cn::DTypeName(a.in[j * per + k].dtype), ", expected weight ", j,
                                "'s ", cn::DTypeName(w_t.dtype)));
    CN_FLOAT_SWITCH(w_t.dtype, DType, {
      const DType* w = w_t.ptr<DType>();
      const DType* g = a.in[j * per + 1].ptr<DType>();
      DType* mom = kMom ? a.in[j * per + 2].ptr<DType>() : nullptr;
      DType* y = a.out[j].ptr<DType>();
      DType lr = DType(lrs[j]), wd = DType(wds[j]), m = DType(p.momentum);
      cn::ParallelFor(w_t.size(), 1 << 15, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          DType step = c.Grad(g[i]) + wd * w[i];
          DType nw;
          if (kMom) {
            mom[i] = m * mom[i] - lr * step;
            nw = w[i] + mom[i];
          } else {
            nw = w[i] - lr * step;
          }
          if (req != CN_REQ_NULL) cn::Store(&y[i], req, nw);
        }
      });
    });
  }
}

}  // namespace

CN_REGISTER_OP(multi_sgd_update, MultiParam)
    .describe("SGD steps for several weights (inputs weight0, grad0, weight1, grad1, ...).")
    .inputs(MultiInputs<false>)
    .outputs(MultiOutputs)
    .infer_shape(MultiShape<false>)
    .forward(MultiForward<false>)
    .flags(CN_FLAG_NO_GRAD);

CN_REGISTER_OP(multi_sgd_mom_update, MultiParam)
    .describe("Momentum SGD steps for several weights (weight0, grad0, mom0, weight1, ...); "
              "updates each mom in place.")
    .inputs(MultiInputs<true>)
    .outputs(MultiOutputs)
    .infer_shape(MultiShape<true>)
    .forward(MultiForward<true>)
    .flags(CN_FLAG_NO_GRAD);
