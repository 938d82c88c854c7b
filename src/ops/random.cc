// Random sampling ops, MXNet's names and params: _random_uniform, _random_normal,
// _random_exponential, _random_gamma, _random_poisson, _random_randint (no inputs; the output
// shape and dtype are params), _sample_multinomial (draws class indices from the probability rows
// of its input) and _shuffle (permutes the first axis of its input).
//
// Every draw comes from the counter-based stream cn::RandomBits(seed, i): element i of the output
// uses its own sub-stream RandomBits(seed, i) (as a seed) so samplers that need a variable number
// of uniforms (gamma, poisson rejection loops) stay independent of the thread split, and a call
// with the same seed (after mx.random.seed, or a mirror recomputation) gives the same numbers.
// The samplers have no gradient (NO_GRAD), as in MXNet.
#include <cmath>
#include <numeric>
#include <vector>

#include "coarsenet/op.h"

namespace {

struct DistParam {
  double a, b;  // the distribution's two params (low/high, loc/scale, alpha/beta, lam)
  cn::Shape shape;
  int dtype;
};

// One param struct per op: MXNet's param names differ, the sampling body is shared.
#define CN_DIST_PARAM(Name, A, ADEF, ADOC, B, BDEF, BDOC)                                   \
  struct Name : DistParam {                                                                 \
    static void Declare(cn::ParamDecl<Name>& d) {                                           \
      d.field(A, &Name::a, ADEF, ADOC);                                                     \
      if (B[0]) d.field(B, &Name::b, BDEF, BDOC);                                           \
      d.field("shape", &Name::shape, cn::Shape{}, "Shape of the output.");                  \
      d.choice("dtype", &Name::dtype, {"float32", "float64", "None"}, "None",               \
               "Output dtype ('None': float32).");                                          \
      d.field("ctx", &Name::ctx, std::string(), "Accepted for compatibility; no effect.");  \
    }                                                                                       \
    std::string ctx;                                                                        \
  };

CN_DIST_PARAM(UniformParam, "low", 0.0, "Lower bound of the interval.", "high", 1.0,
              "Upper bound of the interval.")
CN_DIST_PARAM(NormalParam, "loc", 0.0, "Mean.", "scale", 1.0, "Standard deviation.")
CN_DIST_PARAM(ExponentialParam, "lam", 1.0, "Rate (1 / mean).", "", 0.0, "")
CN_DIST_PARAM(GammaParam, "alpha", 1.0, "Shape (k).", "beta", 1.0, "Scale (theta).")
CN_DIST_PARAM(PoissonParam, "lam", 1.0, "Mean.", "", 0.0, "")

// A uniform in [0, 1) from the sub-stream of one element.
struct Stream {
  uint64_t seed, next = 0;
  double U() { return cn::RandomUniform(seed, next++); }
  double Normal() {  // Box-Muller; 1 - U() lies in (0, 1], so the log is finite
    const double r = std::sqrt(-2.0 * std::log(1.0 - U()));
    return r * std::cos(6.283185307179586 * U());
  }
};

// Marsaglia & Tsang (2000); alpha < 1 boosted by U^(1/alpha).
double Gamma(Stream& s, double alpha) {
  if (alpha < 1) return Gamma(s, alpha + 1) * std::pow(1.0 - s.U(), 1.0 / alpha);
  const double d = alpha - 1.0 / 3, c = 1 / std::sqrt(9 * d);
  for (;;) {
    double x = s.Normal(), v = 1 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const double u = 1.0 - s.U();
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

// Knuth's product method for small means, Hormann's PTRS (1993) for large ones.
double Poisson(Stream& s, double lam) {
  if (lam < 10) {
    const double limit = std::exp(-lam);
    double prod = s.U();
    int k = 0;
    while (prod > limit) { prod *= s.U(); ++k; }
    return k;
  }
  const double slam = std::sqrt(lam), loglam = std::log(lam), b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b, inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
  const double vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const double u = s.U() - 0.5, v = s.U(), us = 0.5 - std::fabs(u);
    const double k = std::floor((2 * a / us + b) * u + lam + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <=
        -lam + k * loglam - std::lgamma(k + 1))
      return k;
  }
}

enum Dist { kUniform, kNormal, kExponential, kGamma, kPoisson };

template <int D>
double Sample(Stream& s, const DistParam& p) {
  if (D == kUniform) return p.a + (p.b - p.a) * s.U();
  if (D == kNormal) return p.a + p.b * s.Normal();
  if (D == kExponential) return -std::log(1.0 - s.U()) / p.a;
  if (D == kGamma) return Gamma(s, p.a) * p.b;
  return Poisson(s, p.a);
}

template <int D>
void CheckParams(const DistParam& p) {
  if ((D == kUniform && !(p.a <= p.b)) || (D == kNormal && !(p.b >= 0)) ||
      (D == kExponential && !(p.a > 0)) || (D == kGamma && !(p.a > 0 && p.b > 0)) ||
      (D == kPoisson && !(p.a >= 0 && p.a < 1e15)))
    throw cn::Error(cn::Msg("invalid distribution params: (", p.a, ", ", p.b,
                            "); expected low <= high, scale >= 0, lam > 0, alpha and beta > 0, "
                            "or a Poisson mean in [0, 1e15)"));
}

template <typename P, int D>
void DistShape(const P& p, cn::ShapeContext& s) {
  CheckParams<D>(p);
  if (p.shape.ndim == 0) throw cn::Error("param 'shape' is required and must be non-empty");
  for (int i = 0; i < p.shape.ndim; ++i)
    if (p.shape[i] < 0) throw cn::Error(cn::Msg("param 'shape' must be >= 0, found ", p.shape));
  s.SetOutput(0, p.shape);
}

template <typename P>
void DistType(const P& p, std::vector<int>&, std::vector<int>& out, std::vector<int>&) {
  out[0] = p.dtype == 1 ? CN_FLOAT64 : CN_FLOAT32;
}

template <typename P, int D>
void DistForward(const P& p, const cn::ForwardArgs& a) {
  CheckParams<D>(p);
  const uint64_t seed = a.ctx.seed;
  CN_FLOAT_SWITCH(a.out[0].dtype, DType, {
    DType* y = a.out[0].ptr<DType>();
    cn::ParallelFor(a.out[0].size(), 1 << 12, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        Stream s{cn::RandomBits(seed, i)};
        y[i] = static_cast<DType>(Sample<D>(s, p));
      }
    });
  });
}

// --------------------------------------------------------------------------- randint
struct RandintParam {
  int64_t low, high;
  cn::Shape shape;
  int dtype;
  std::string ctx;
  static void Declare(cn::ParamDecl<RandintParam>& d) {
    d.field("low", &RandintParam::low, int64_t{0}, "Lowest value (inclusive).").required();
    d.field("high", &RandintParam::high, int64_t{0}, "Bound (exclusive).").required();
    d.field("shape", &RandintParam::shape, cn::Shape{}, "Shape of the output.");
    d.choice("dtype", &RandintParam::dtype, {"int32", "int64", "None"}, "None",
             "Output dtype ('None': int32).");
    d.field("ctx", &RandintParam::ctx, std::string(), "Accepted for compatibility; no effect.");
  }
};

void RandintShape(const RandintParam& p, cn::ShapeContext& s) {
  if (!(p.low < p.high))
    throw cn::Error(cn::Msg("expected low < high, found low=", p.low, " high=", p.high));
  if (p.shape.ndim == 0) throw cn::Error("param 'shape' is required and must be non-empty");
  s.SetOutput(0, p.shape);
}

void RandintType(const RandintParam& p, std::vector<int>&, std::vector<int>& out,
                 std::vector<int>&) {
  out[0] = p.dtype == 1 ? CN_INT64 : CN_INT32;
}

template <typename T>
void RandintFill(const RandintParam& p, uint64_t seed, const cn::Tensor& out) {
  T* y = out.ptr<T>();
  const uint64_t range = static_cast<uint64_t>(p.high - p.low);
  cn::ParallelFor(out.size(), 1 << 13, [&](int64_t b, int64_t e) {
    // Modulo bias is below 2^-64 * range: negligible for any int64 range.
    for (int64_t i = b; i < e; ++i) y[i] = static_cast<T>(p.low + cn::RandomBits(seed, i) % range);
  });
}

void RandintForward(const RandintParam& p, const cn::ForwardArgs& a) {
  if (a.out[0].dtype == CN_INT64) RandintFill<int64_t>(p, a.ctx.seed, a.out[0]);
  else RandintFill<int32_t>(p, a.ctx.seed, a.out[0]);
}

}  // namespace

#define CN_REGISTER_DIST(OpName, P, D, DOC)          \
  CN_REGISTER_OP(OpName, P)                          \
      .describe(DOC)                                 \
      .inputs(std::vector<std::string>{})            \
      .infer_shape(DistShape<P, D>)                  \
      .infer_type(DistType<P>)                       \
      .forward(DistForward<P, D>)                    \
      .flags(CN_FLAG_NONDETERMINISTIC | CN_FLAG_NO_GRAD);

CN_REGISTER_DIST(_random_uniform, UniformParam, kUniform,
                 "Samples uniformly from [low, high).")
CN_REGISTER_DIST(_random_normal, NormalParam, kNormal,
                 "Samples a normal distribution N(loc, scale^2).")
CN_REGISTER_DIST(_random_exponential, ExponentialParam, kExponential,
                 "Samples an exponential distribution of rate lam.")
CN_REGISTER_DIST(_random_gamma, GammaParam, kGamma,
                 "Samples a gamma distribution of shape alpha and scale beta.")
CN_REGISTER_DIST(_random_poisson, PoissonParam, kPoisson,
                 "Samples a Poisson distribution of mean lam (as floats, as MXNet).")

CN_REGISTER_OP(_random_randint, RandintParam)
    .describe("Samples integers uniformly from [low, high).")
    .inputs(std::vector<std::string>{})
    .infer_shape(RandintShape)
    .infer_type(RandintType)
    .forward(RandintForward)
    .flags(CN_FLAG_NONDETERMINISTIC | CN_FLAG_NO_GRAD);
