// MXNet's fused optimizer updates, elementwise. Every op first forms
//   g = clip(rescale_grad * grad, clip_gradient) (+ wd * w where MXNet adds it there)
// and returns the new weight; optimizer states (mom, mean, var, n, z, g, delta) are auxiliary
// states updated in place, as MXNet mutates them. Scripts call them as MXNet's do:
// `nd.sgd_mom_update(w, g, mom, lr=0.1, momentum=0.9, out=w)`. No gradient (NO_GRAD).
//   sgd:        w - lr (g + wd w)
//   sgd_mom:    mom = momentum mom - lr (g + wd w);  w + mom
//   nag_mom:    w' = w + m^2 mom - (1+m) lr (g + wd w);  mom = m mom - lr (g + wd w')  (MXNet)
//   adam:       G = g + wd w;  mean = b1 mean + (1-b1) G;  var = b2 var + (1-b2) G^2;
//               w - lr mean / (sqrt(var) + eps)          (no bias correction, as MXNet's op)
//   rmsprop:    G = g + wd w;  n = (1-g1) G^2 + g1 n;  w - lr G / sqrt(n + eps), clip_weights
//   rmspropalex: G as above; n = (1-g1) G^2 + g1 n; gs = (1-g1) G + g1 gs;
//               delta = g2 delta - lr G / sqrt(n - gs^2 + eps);  w + delta, clip_weights
//   ftrl:       z += g - (sqrt(n + g^2) - sqrt(n)) w / lr;  n += g^2;
//               w = |z| > l1 ? -(z - sign(z) l1) / ((beta + sqrt(n)) / lr + wd) : 0
//   signsgd:    (1 - lr wd) w - lr sign(g)
//   signum:     mom = momentum mom - (1-momentum) (g + wd w);  (1 - lr wd_lh) w + lr sign(mom)
// clip_gradient < 0 means no clipping; clip_weights < 0 likewise.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "coarsenet/op.h"
#include "ops/update_gradient.h"

namespace {

enum { kWeight, kGrad };

using cn::update::Common;

template <typename T>
T ClipWeight(T w, float c) {
  if (c < 0) return w;
  return w > T(c) ? T(c) : (w < T(-c) ? T(-c) : w);
}

template <typename T>
T Sign(T x) { return T((x > T(0)) - (x < T(0))); }

// The shared kernel: every weight element i, with pointers to each aux state.
// rule(w, g, states, i) returns the new weight.
template <typename P, typename Rule>
void RunUpdate(const P& p, const cn::ForwardArgs& a, Rule rule) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  const cn::Tensor& w_t = a.in[kWeight];
  if (a.in[kGrad].dtype != w_t.dtype)
    throw cn::Error(cn::Msg("input 'grad' has dtype ", cn::DTypeName(a.in[kGrad].dtype),
                            ", expected the weight's ", cn::DTypeName(w_t.dtype)));
  for (int k = 0; k < a.aux.size(); ++k)
    if (a.aux[k].dtype != w_t.dtype)
      throw cn::Error(cn::Msg("optimizer state ", k, " has dtype ", cn::DTypeName(a.aux[k].dtype),
                              ", expected the weight's ", cn::DTypeName(w_t.dtype)));
  CN_FLOAT_SWITCH(w_t.dtype, DType, {
    const DType* w = w_t.ptr<DType>();
    const DType* g = a.in[kGrad].ptr<DType>();
    DType* s[3] = {nullptr, nullptr, nullptr};
    for (int k = 0; k < a.aux.size() && k < 3; ++k) s[k] = a.aux[k].ptr<DType>();
    DType* y = a.out[0].ptr<DType>();
    // Elementwise, so any split over threads gives the same bits. Two things keep the loop a
    // vectorised stream (sgd_mom_update ran 1.25x PyTorch's time without them):
    // - the parameters and the rule (which holds its own copy of them) are locals: read through
    //   a reference they could alias the float stores, so every one was reloaded per element;
    // - new weights go to a local block first: y is w itself in the usual `out=weight` call,
    //   and the compiler's runtime overlap check then took the scalar loop.
    cn::ParallelFor(w_t.size(), 1 << 15, [&](int64_t begin, int64_t end) {
      const P q = p;
      const Rule r = rule;
      DType* st[3] = {s[0], s[1], s[2]};
      constexpr int64_t kBlock = 256;
      DType fresh[kBlock];
      for (int64_t b0 = begin; b0 < end; b0 += kBlock) {
        const int64_t nb = std::min(kBlock, end - b0);
        for (int64_t k = 0; k < nb; ++k)
          fresh[k] = r(w[b0 + k], q.Grad(g[b0 + k]), st, b0 + k, DType(0));
        DType* dst = y + b0;
        if (req == CN_REQ_ADD) {
          for (int64_t k = 0; k < nb; ++k) dst[k] += fresh[k];
        } else {
          std::copy_n(fresh, nb, dst);
        }
      }
    });
  });
}

void WeightShape(cn::ShapeContext& s) {
  cn::Shape w = s.in(kWeight);
  if (!w.known()) w = s.in(kGrad);
  if (!w.known()) return;
  s.SetInput(kWeight, w);
  s.SetInput(kGrad, w);
  for (int k = 0; k < s.num_aux(); ++k) s.SetAux(k, w);
  s.SetOutput(0, w);
}

template <typename P>
void Shape(const P&, cn::ShapeContext& s) { WeightShape(s); }

// ---- the ops (param struct + rule)

struct SGDParam : Common {
  bool lazy_update;
  static void Declare(cn::ParamDecl<SGDParam>& d) {
    DeclareCommon(d);
    d.field("lazy_update", &SGDParam::lazy_update, true, "Accepted; dense arrays update fully.");
  }
};
void SGD(const SGDParam& p, const cn::ForwardArgs& a) {
  RunUpdate(p, a, [p](auto w, auto g, auto, int64_t, auto z) {
    using T = decltype(z);
    return w - T(p.lr) * (g + T(p.wd) * w);
  });
}

struct MomParam : Common {
  float momentum;
  bool lazy_update;
  static void Declare(cn::ParamDecl<MomParam>& d) {
    DeclareCommon(d);
    d.field("momentum", &MomParam::momentum, 0.0f, "The decay rate of momentum.").finite();
    d.field("lazy_update", &MomParam::lazy_update, true, "Accepted; dense arrays update fully.");
  }
};
void SGDMom(const MomParam& p, const cn::ForwardArgs& a) {
  RunUpdate(p, a, [p](auto w, auto g, auto s, int64_t i, auto z) {
    using T = decltype(z);
    s[0][i] = T(p.momentum) * s[0][i] - T(p.lr) * (g + T(p.wd) * w);
    return w + s[0][i];
  });
}
// MXNet 1.9's kernel writes the weight first and then updates mom from the weight it reads
// again; with `out=weight` (how every script calls it) that is the new weight. Reproduced so
// scripts get MXNet's numbers (the difference is only with wd != 0).
void NAGMom(const MomParam& p, const cn::ForwardArgs& a) {
  RunUpdate(p, a, [p](auto w, auto g, auto s, int64_t i, auto z) {
    using T = decltype(z);
    T m = T(p.momentum), lr = T(p.lr);
    T nw = w + m * m * s[0][i] - (T(1) + m) * lr * (g + T(p.wd) * w);
    s[0][i] = m * s[0][i] - lr * (g + T(p.wd) * nw);
    return nw;
  });
}

struct AdamParam : Common {
  float beta1, beta2, epsilon;
  bool lazy_update;
  static void Declare(cn::ParamDecl<AdamParam>& d) {
    DeclareCommon(d);
    d.field("beta1", &AdamParam::beta1, 0.9f, "Decay rate of the first moment.").range(0, 1);
    d.field("beta2", &AdamParam::beta2, 0.999f, "Decay rate of the second moment.").range(0, 1);
    d.field("epsilon", &AdamParam::epsilon, 1e-8f, "Keeps the division finite.").range(0, 1e30);
    d.field("lazy_update", &AdamParam::lazy_update, true, "Accepted; dense arrays update fully.");
  }
};
void Adam(const AdamParam& p, const cn::ForwardArgs& a) {
  RunUpdate(p, a, [p](auto w, auto g, auto s, int64_t i, auto z) {
    using T = decltype(z);
    T G = g + T(p.wd) * w;
    s[0][i] = T(p.beta1) * s[0][i] + (T(1) - T(p.beta1)) * G;
    s[1][i] = T(p.beta2) * s[1][i] + (T(1) - T(p.beta2)) * G * G;
    return w - T(p.lr) * s[0][i] / (std::sqrt(s[1][i]) + T(p.epsilon));
  });
}

struct RMSPropParam : Common {
  float gamma1, gamma2, epsilon, clip_weights;
  static void Declare(cn::ParamDecl<RMSPropParam>& d) {
    DeclareCommon(d);
    d.field("gamma1", &RMSPropParam::gamma1, 0.95f, "Decay rate of the squared gradient.")
        .range(0, 1);
    d.field("epsilon", &RMSPropParam::epsilon, 1e-8f, "Keeps the division finite.").range(0, 1e30);
    d.field("clip_weights", &RMSPropParam::clip_weights, -1.0f,
            "Clip weights to [-c, c]; negative: no clipping.")
        .finite();
  }
};
struct RMSPropAlexParam : RMSPropParam {
  static void Declare(cn::ParamDecl<RMSPropAlexParam>& d) {
    DeclareCommon(d);
    d.field("gamma1", &RMSPropAlexParam::gamma1, 0.95f, "Decay rate of the squared gradient.")
        .range(0, 1);
    d.field("gamma2", &RMSPropAlexParam::gamma2, 0.9f, "Decay rate of the update.").range(0, 1);
    d.field("epsilon", &RMSPropAlexParam::epsilon, 1e-8f, "Keeps the division finite.").range(0, 1e30);
    d.field("clip_weights", &RMSPropAlexParam::clip_weights, -1.0f,
            "Clip weights to [-c, c]; negative: no clipping.")
        .finite();
  }
};
void RMSProp(const RMSPropParam& p, const cn::ForwardArgs& a) {
  RunUpdate(p, a, [p](auto w, auto g, auto s, int64_t i, auto z) {
    using T = decltype(z);
    T G = g + T(p.wd) * w;
    s[0][i] = (T(1) - T(p.gamma1)) * G * G + T(p.gamma1) * s[0][i];
    return ClipWeight(w - T(p.lr) * G / std::sqrt(s[0][i] + T(p.epsilon)), p.clip_weights);
  });
}
void RMSPropAlex(const RMSPropAlexParam& p, const cn::ForwardArgs& a) {
  RunUpdate(p, a, [p](auto w, auto g, auto s, int64_t i, auto z) {
    using T = decltype(z);
    T G = g + T(p.wd) * w;
    s[0][i] = (T(1) - T(p.gamma1)) * G * G + T(p.gamma1) * s[0][i];
    s[1][i] = (T(1) - T(p.gamma1)) * G + T(p.gamma1) * s[1][i];
    // n >= gs^2 always holds for states this op produced (Jensen); the max() only keeps
    // inconsistent user-given states from producing NaN (MXNet's result there).
    T var = std::max(s[0][i] - s[1][i] * s[1][i], T(0));
    s[2][i] = T(p.gamma2) * s[2][i] - T(p.lr) * G / std::sqrt(var + T(p.epsilon));
    return ClipWeight(w + s[2][i], p.clip_weights);
  });
}

struct FtrlParam : Common {
  float lamda1, beta;
  static void Declare(cn::ParamDecl<FtrlParam>& d) {
    DeclareCommon(d);
    d.field("lamda1", &FtrlParam::lamda1, 0.01f, "The L1 regularization coefficient.")
        .range(0, 1e30);
    d.field("beta", &FtrlParam::beta, 1.0f, "Per-coordinate learning rate correlation.")
        .finite();
  }
};
void Ftrl(const FtrlParam& p, const cn::ForwardArgs& a) {
  if (!(p.lr > 0)) throw cn::Error(cn::Msg("lr must be > 0 (FTRL divides by it), found ", p.lr));
  RunUpdate(p, a, [p](auto w, auto g, auto s, int64_t i, auto z) {
    using T = decltype(z);
    T lr = T(p.lr), n = s[1][i];
    s[0][i] += g - (std::sqrt(n + g * g) - std::sqrt(n)) * w / lr;
    s[1][i] = n + g * g;
    T zz = s[0][i];
    if (!(std::abs(zz) > T(p.lamda1))) return T(0);
    return -(zz - Sign(zz) * T(p.lamda1)) / ((T(p.beta) + std::sqrt(s[1][i])) / lr + T(p.wd));
  });
}

struct SignSGDParam : Common {
  static void Declare(cn::ParamDecl<SignSGDParam>& d) { DeclareCommon(d); }
};
void SignSGD(const SignSGDParam& p, const cn::ForwardArgs& a) {
  RunUpdate(p, a, [p](auto w, auto g, auto, int64_t, auto z) {
    using T = decltype(z);
    return (T(1) - T(p.lr) * T(p.wd)) * w - T(p.lr) * Sign(g);
  });
}

struct SignumParam : Common {
  float momentum, wd_lh;
  static void Declare(cn::ParamDecl<SignumParam>& d) {
    DeclareCommon(d);
    d.field("momentum", &SignumParam::momentum, 0.0f, "The decay rate of momentum.").finite();
    d.field("wd_lh", &SignumParam::wd_lh, 0.0f, "Decoupled weight decay (Loshchilov & Hutter).")
        .finite();
  }
};
void Signum(const SignumParam& p, const cn::ForwardArgs& a) {
  RunUpdate(p, a, [p](auto w, auto g, auto s, int64_t i, auto z) {
    using T = decltype(z);
    s[0][i] = T(p.momentum) * s[0][i] - (T(1) - T(p.momentum)) * (g + T(p.wd) * w);
    return (T(1) - T(p.lr) * T(p.wd_lh)) * w + T(p.lr) * Sign(s[0][i]);
  });
}

}  // namespace

#define CN_REGISTER_UPDATE(Name, Param, Fn, AUX, DOC) \
  CN_REGISTER_OP(Name, Param)                         \
      .describe(DOC)                                  \
      .inputs({"weight", "grad"})                     \
      .aux(AUX)                                       \
      .outputs({"output"})                            \
      .infer_shape(Shape<Param>)                      \
      .forward(Fn)                                    \
      .inplace({{kWeight, 0}})                        \
      .flags(CN_FLAG_NO_GRAD | CN_FLAG_UPDATES_AUX)

using Names = std::vector<std::string>;
CN_REGISTER_UPDATE(sgd_update, SGDParam, SGD, Names{}, "SGD step: w - lr (g + wd w).");
CN_REGISTER_UPDATE(sgd_mom_update, MomParam, SGDMom, Names{"mom"},
                   "SGD with momentum; updates `mom` in place.");
CN_REGISTER_UPDATE(nag_mom_update, MomParam, NAGMom, Names{"mom"},
                   "Nesterov momentum SGD; updates `mom` in place.");
CN_REGISTER_UPDATE(adam_update, AdamParam, Adam, (Names{"mean", "var"}),
                   "Adam step (no bias correction); updates `mean` and `var` in place.");
CN_REGISTER_UPDATE(rmsprop_update, RMSPropParam, RMSProp, Names{"n"},
                   "RMSProp (Tieleman & Hinton); updates `n` in place.");
CN_REGISTER_UPDATE(rmspropalex_update, RMSPropAlexParam, RMSPropAlex,
                   (Names{"n", "g", "delta"}),
                   "RMSProp (Graves' variant); updates `n`, `g` and `delta` in place.");
CN_REGISTER_UPDATE(ftrl_update, FtrlParam, Ftrl, (Names{"z", "n"}),
                   "FTRL-proximal step; updates `z` and `n` in place.");
CN_REGISTER_UPDATE(signsgd_update, SignSGDParam, SignSGD, Names{}, "signSGD step.");
CN_REGISTER_UPDATE(signum_update, SignumParam, Signum, Names{"mom"},
                   "Signum (signSGD with momentum); updates `mom` in place.");
