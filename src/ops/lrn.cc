// LRN: local response normalisation across channels (AlexNet), MXNet 1.x semantics.
//   norm[c] = knorm + alpha / nsize * sum_{c' = c - nsize/2}^{c + nsize/2} x[c']^2   (clipped to [0, C))
//   y[c] = x[c] * norm[c]^-beta
// Hidden output 1 keeps norm (MXNet's tmp_norm) for backward. nsize must be odd, so the window is
// symmetric and c' is in the window of c exactly when c is in the window of c':
//   dx[c] = dy[c] * norm[c]^-beta
//           - 2 * beta * alpha / nsize * x[c] * sum_{c' in window(c)} dy[c'] x[c'] norm[c']^(-beta-1)
// Kernel: data is (N, C, S) with S = H * W; work is split over (n, block of S) so each piece is
// C short unit-stride rows that stay in L1/L2 while the channel window slides.
#include <cmath>

#include "coarsenet/op.h"

namespace {

struct LRNParam {
  float alpha, beta, knorm;
  int64_t nsize;
  static void Declare(cn::ParamDecl<LRNParam>& d) {
    d.field("alpha", &LRNParam::alpha, 1e-4f, "The variance scaling parameter alpha.")
        .at_least(0);  // with knorm > 0 the base of the power stays positive (no NaN)
    d.field("beta", &LRNParam::beta, 0.75f, "The power parameter beta.")
        .finite();
    d.field("knorm", &LRNParam::knorm, 2.0f, "The parameter k (additive constant).")
        .above(0);
    d.field("nsize", &LRNParam::nsize, 0, "Normalisation window width in channels (odd).")
        .required()
        .at_least(1);
  }
};

constexpr int64_t kBlock = 256;  // spatial positions per work item

void InferShape(const LRNParam& p, cn::ShapeContext& s) {
  if (p.nsize <= 0 || p.nsize % 2 == 0)
    throw cn::Error(cn::Msg("nsize must be a positive odd number, found ", p.nsize));
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  if (x.ndim != 4) throw cn::Error(cn::Msg("input 'data' must be 4-D (N, C, H, W), found ", x));
  s.SetOutput(0, x);
  s.SetOutput(1, x);
}

// v^-beta; the common beta = 0.75 as 1 / (sqrt(v) * sqrt(sqrt(v))), which vectorises.
template <typename DType>
inline DType PowNegBeta(DType v, DType beta) {
  if (beta == DType(0.75)) {
    DType r = std::sqrt(v);
    return DType(1) / (r * std::sqrt(r));
  }
  return std::pow(v, -beta);
}

// Calls body(n, s0, len) for every (image, block of spatial positions), in parallel.
template <typename Body>
void ForEachBlock(const cn::Shape& x, Body&& body) {
  const int64_t n = x[0], s = x[2] * x[3], blocks = (s + kBlock - 1) / kBlock;
  cn::ParallelFor(n * blocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t item = b; item < e; ++item) {
      int64_t s0 = (item % blocks) * kBlock;
      body(item / blocks, s0, std::min(kBlock, s - s0));
    }
  });
}

template <typename DType>
void ForwardImpl(const LRNParam& p, const cn::ForwardArgs& a) {
  const cn::Shape shape = a.in[0].shape();
  const int64_t C = shape[1], S = shape[2] * shape[3], half = p.nsize / 2;
  const DType salpha = DType(p.alpha) / DType(p.nsize), k = p.knorm, beta = p.beta;
  const DType* x = a.in[0].ptr<DType>();
  DType* y = a.out[0].ptr<DType>();
  DType* norm = a.req[1] == CN_REQ_NULL ? nullptr : a.out[1].ptr<DType>();
  const int32_t req = a.req[0];
  ForEachBlock(shape, [&](int64_t n, int64_t s0, int64_t len) {
    const int64_t base = n * C * S + s0;
    std::vector<DType> nb(C * len);  // this block's norm; copied out when tmp_norm is wanted
    for (int64_t c = 0; c < C; ++c) {
      DType* nc = nb.data() + c * len;
      for (int64_t w = std::max<int64_t>(0, c - half); w <= std::min(C - 1, c + half); ++w) {
        const DType* xw = x + base + w * S;
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) nc[i] += xw[i] * xw[i];
      }
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) nc[i] = k + salpha * nc[i];
      if (norm) std::copy(nc, nc + len, norm + base + c * S);
    }
    if (req == CN_REQ_NULL) return;
    for (int64_t c = 0; c < C; ++c) {
      const DType* nc = nb.data() + c * len;
      const DType* xc = x + base + c * S;
      DType* yc = y + base + c * S;
      if (req == CN_REQ_ADD) {
        for (int64_t i = 0; i < len; ++i) yc[i] += xc[i] * PowNegBeta(nc[i], beta);
      } else {
        for (int64_t i = 0; i < len; ++i) yc[i] = xc[i] * PowNegBeta(nc[i], beta);
      }
    }
  });
}

void Forward(const LRNParam& p, const cn::ForwardArgs& a) {
  if (a.req[1] == CN_REQ_ADD) throw cn::Error("output 'tmp_norm' cannot be accumulated (req=add)");
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, { ForwardImpl<DType>(p, a); });
}

template <typename DType>
void BackwardImpl(const LRNParam& p, const cn::BackwardArgs& a) {
  const int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  const cn::Shape shape = a.in[0].shape();
  const int64_t C = shape[1], S = shape[2] * shape[3], half = p.nsize / 2;
  const DType coef = DType(2) * DType(p.beta) * DType(p.alpha) / DType(p.nsize), beta = p.beta;
  const DType* x = a.in[0].ptr<DType>();
  const DType* norm = a.out[1].ptr<DType>();
  const DType* dy = a.out_grad[0].ptr<DType>();
  DType* dx = a.in_grad[0].ptr<DType>();
  ForEachBlock(shape, [&](int64_t n, int64_t s0, int64_t len) {
    const int64_t base = n * C * S + s0;
    // t[c] = dy x norm^(-beta-1) for this block: the sum over the window reads it nsize times.
    std::vector<DType> t(C * len);
    for (int64_t c = 0; c < C; ++c) {
      const int64_t off = base + c * S;
      for (int64_t i = 0; i < len; ++i)
        t[c * len + i] = dy[off + i] * x[off + i] * PowNegBeta(norm[off + i], beta) / norm[off + i];
    }
    std::vector<DType> acc(len);
    for (int64_t c = 0; c < C; ++c) {
      std::fill(acc.begin(), acc.end(), DType(0));
      for (int64_t w = std::max<int64_t>(0, c - half); w <= std::min(C - 1, c + half); ++w) {
        const DType* tw = t.data() + w * len;
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) acc[i] += tw[i];
      }
      const int64_t off = base + c * S;
      for (int64_t i = 0; i < len; ++i) {
        DType g = dy[off + i] * PowNegBeta(norm[off + i], beta) - coef * x[off + i] * acc[i];
        cn::Store(dx + off + i, req, g);
      }
    }
  });
}

void Backward(const LRNParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, { BackwardImpl<DType>(p, a); });
}

void Needs(const LRNParam& p, cn::BackwardNeeds& n) { n.input(0).output(1).out_grad(0); }

}  // namespace

CN_REGISTER_OP(LRN, LRNParam)
    .describe("Local response normalisation across channels: "
              "y = x / (knorm + alpha / nsize * sum of x^2 over nsize neighbouring channels)^beta.")
    .inputs({"data"})
    .outputs({"output", "tmp_norm"})
    .visible_outputs(1)
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs);
