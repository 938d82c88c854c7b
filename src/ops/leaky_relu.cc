// LeakyReLU: leaky y = x > 0 ? x : slope x;  elu y = x > 0 ? x : slope (e^x - 1);
//   selu y = lambda (x > 0 ? x : alpha (e^x - 1));  gelu y = x Phi(x) (exact, erf form);
//   prelu y = x > 0 ? x : gamma[c] x with gamma per channel (axis 1) or one shared value,
//   dgamma[c] = sum over x <= 0 of dy x.  Backward reads the input for all of them.
//   rrelu (random slopes) is not supported and fails with a clear error.
#include <cmath>
#include <string>
#include <vector>

#include "kernels/elemwise_util.h"

namespace {

using cn_elem::MapStore;

enum LeakyType { kElu, kGelu, kLeaky, kPrelu, kRrelu, kSelu };
enum { kData, kGamma };

struct LeakyReLUParam {
  int act_type;
  float slope, lower_bound, upper_bound;
  static void Declare(cn::ParamDecl<LeakyReLUParam>& d) {
    d.choice("act_type", &LeakyReLUParam::act_type,
             {"elu", "gelu", "leaky", "prelu", "rrelu", "selu"}, "leaky",
             "Activation function to be applied.");
    d.field("slope", &LeakyReLUParam::slope, 0.25f,
            "Init slope for the activation. (For leaky and elu only)")
        .finite();
    d.field("lower_bound", &LeakyReLUParam::lower_bound, 0.125f,
            "Lower bound of random slope. (For rrelu only)")
        .finite();
    d.field("upper_bound", &LeakyReLUParam::upper_bound, 0.334f,
            "Upper bound of random slope. (For rrelu only)")
        .finite();
  }
};

// Fwd(x, slope) and Grad(x, slope) = dy/dx.
struct Leaky {
  template <typename T> static T Fwd(T x, T s) { return x > T(0) ? x : s * x; }
  template <typename T> static T Grad(T x, T s) { return x > T(0) ? T(1) : s; }
};
struct Elu {
  template <typename T> static T Fwd(T x, T s) { return x > T(0) ? x : s * std::expm1(x); }
  template <typename T> static T Grad(T x, T s) { return x > T(0) ? T(1) : s * std::exp(x); }
};
struct Selu {
  static constexpr double kAlpha = 1.6732632423543772848170429916717;
  static constexpr double kLambda = 1.0507009873554804934193349852946;
  template <typename T> static T Fwd(T x, T) {
    return T(kLambda) * (x > T(0) ? x : T(kAlpha) * std::expm1(x));
  }
  template <typename T> static T Grad(T x, T) {
    return T(kLambda) * (x > T(0) ? T(1) : T(kAlpha) * std::exp(x));
  }
};
struct Gelu {
  template <typename T> static T Fwd(T x, T) { return T(0.5) * x * (T(1) + std::erf(x * T(M_SQRT1_2))); }
  template <typename T> static T Grad(T x, T) {
    return T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2))) +
           x * std::exp(T(-0.5) * x * x) * T(0.5 * M_2_SQRTPI * M_SQRT1_2);
  }
};

template <typename Fn>
void WithLeaky(int act_type, Fn&& fn) {
  switch (act_type) {
    case kElu: return fn(Elu{});
    case kGelu: return fn(Gelu{});
    case kSelu: return fn(Selu{});
    default: return fn(Leaky{});
  }
}

std::vector<std::string> LeakyInputs(const LeakyReLUParam& p) {
  if (p.act_type == kRrelu)
    throw cn::Error("act_type 'rrelu' is not supported; use leaky, prelu, elu, selu or gelu");
  if (p.act_type == kPrelu) return {"data", "gamma"};
  return {"data"};
}

// prelu views data as (outer, channels, inner) with channels = dim 1.
struct PreluDims {
  int64_t outer, channels, inner;
};
PreluDims PreluView(const cn::Shape& x) {
  if (x.ndim < 2) return {1, 1, x.size()};
  return {x[0], x[1], x.prod(2, x.ndim)};
}

void InferLeaky(const LeakyReLUParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(kData);
  if (!x.known()) return;
  s.SetOutput(0, x);
  if (p.act_type != kPrelu) return;
  int64_t c = PreluView(x).channels;
  cn::Shape g = s.in(kGamma);
  if (!(g.known() && g.ndim == 1 && g[0] == 1)) s.SetInput(kGamma, cn::Shape{c});
}

template <typename DType>
void PreluForward(const cn::ForwardArgs& a) {
  PreluDims v = PreluView(a.in[kData].shape());
  const DType* x = a.in[kData].ptr<DType>();
  const DType* gamma = a.in[kGamma].ptr<DType>();
  bool shared = a.in[kGamma].size() == 1;
  DType* y = a.out[0].ptr<DType>();
  int32_t req = a.req[0];
  cn_elem::ChunkedRows(v.outer * v.channels, v.inner, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      DType g = gamma[shared ? 0 : r % v.channels];
      const DType* xr = x + r * v.inner;
      DType* yr = y + r * v.inner;
      MapStore(yr, v.inner, req, [=](int64_t i) { return xr[i] > DType(0) ? xr[i] : g * xr[i]; });
    }
  });
}

// dgamma first (it reads dy), then dx, so dy may share dx's buffer.
template <typename DType>
void PreluBackward(const cn::BackwardArgs& a) {
  PreluDims v = PreluView(a.in[kData].shape());
  const DType* x = a.in[kData].ptr<DType>();
  const DType* gamma = a.in[kGamma].ptr<DType>();
  const DType* dy = a.out_grad[0].ptr<DType>();
  bool shared = a.in[kGamma].size() == 1;
  if (a.req[kGamma] != CN_REQ_NULL) {
    std::vector<DType> acc(v.channels, DType(0));
    for (int64_t r = 0; r < v.outer * v.channels; ++r) {
      const DType *xr = x + r * v.inner, *dyr = dy + r * v.inner;
      DType sum = 0;
      for (int64_t i = 0; i < v.inner; ++i) sum += xr[i] > DType(0) ? DType(0) : dyr[i] * xr[i];
      acc[r % v.channels] += sum;
    }
    DType* dg = a.in_grad[kGamma].ptr<DType>();
    if (shared) {
      DType total = 0;
      for (DType s : acc) total += s;
      cn::Store(dg, a.req[kGamma], total);
    } else {
      for (int64_t c = 0; c < v.channels; ++c) cn::Store(&dg[c], a.req[kGamma], acc[c]);
    }
  }
  if (a.req[kData] == CN_REQ_NULL) return;
  DType* dx = a.in_grad[kData].ptr<DType>();
  cn_elem::ChunkedRows(v.outer * v.channels, v.inner, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      DType g = gamma[shared ? 0 : r % v.channels];
      const DType *xr = x + r * v.inner, *dyr = dy + r * v.inner;
      MapStore(dx + r * v.inner, v.inner, a.req[kData],
               [=](int64_t i) { return xr[i] > DType(0) ? dyr[i] : g * dyr[i]; });
    }
  });
}

void LeakyForward(const LeakyReLUParam& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, {
    if (p.act_type == kPrelu) {
      PreluForward<DType>(a);
      return;
    }
    WithLeaky(p.act_type, [&](auto f) {
      using F = decltype(f);
      const DType* x = a.in[kData].ptr<DType>();
      DType s = p.slope;
      MapStore(a.out[0].ptr<DType>(), a.out[0].size(), a.req[0],
               [=](int64_t i) { return F::Fwd(x[i], s); });
    });
  });
}

void LeakyBackward(const LeakyReLUParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    if (p.act_type == kPrelu) {
      PreluBackward<DType>(a);
      return;
    }
    WithLeaky(p.act_type, [&](auto f) {
      using F = decltype(f);
      const DType* x = a.in[kData].ptr<DType>();
      const DType* dy = a.out_grad[0].ptr<DType>();
      DType s = p.slope;
      MapStore(a.in_grad[kData].ptr<DType>(), a.out_grad[0].size(), a.req[kData],
               [=](int64_t i) { return dy[i] * F::Grad(x[i], s); });
    });
  });
}

void LeakyNeeds(const LeakyReLUParam& p, cn::BackwardNeeds& n) {
  n.out_grad(0).all_inputs();
}

}  // namespace

CN_REGISTER_OP(LeakyReLU, LeakyReLUParam)
    .describe("Applies a leaky rectified linear unit element-wise: leaky, prelu (learned "
              "per-channel slope gamma), elu, selu or gelu. rrelu is not supported.")
    .inputs(LeakyInputs)
    .outputs({"output"})
    .infer_shape(InferLeaky)
    .forward(LeakyForward)
    .backward(LeakyBackward)
    .backward_needs(LeakyNeeds)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});
