// CTCLoss: connectionist temporal classification (Graves et al. 2006), MXNet's op and params.
//   data (T, N, C) unnormalised scores; y = softmax over C.  label (N, L) class indices.
//   loss[n] = -log sum over alignments pi of label n of prod_t y[t, n, pi_t].
// The forward-backward recursion runs in log space (double precision whatever the dtype) over
// the extended label l' = (blank, l1, blank, l2, ..., blank) of length S = 2 |l| + 1:
//   alpha_t(s) = y_t(l'_s) * (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [skip] alpha_{t-1}(s-2))
//   beta_t(s)  = y_{t+1}(l'_s) beta_{t+1}(s) + y_{t+1}(l'_{s+1}) beta_{t+1}(s+1) + [skip] ...
// (beta excludes time t's emission), skip allowed when l'_s is not blank and differs from
// l'_{s-2}. Then p = sum_s alpha_t(s) beta_t(s) for every t, and the gradient of the loss wrt the
// scores is y_t(k) - sum_{s: l'_s = k} alpha_t(s) beta_t(s) / p.
// As MXNet (warp-ctc) does, forward computes that gradient into a hidden output; backward
// scales it by the loss's head gradient. Labels: blank_label='first' uses class 0 as blank and
// pads labels with 0; 'last' uses class C-1 and pads with -1. Without label_lengths a label ends
// at its first padding value; without data_lengths every sequence has length T. Frames past a
// sequence's length get zero gradient. An impossible label (too long for its sequence) has loss
// +inf and zero gradient.
#include <cmath>
#include <limits>
#include <vector>

#include "coarsenet/op.h"

namespace {

struct CTCLossParam {
  bool use_data_lengths;
  bool use_label_lengths;
  int blank_label;  // 0: first, 1: last
  static void Declare(cn::ParamDecl<CTCLossParam>& d) {
    d.field("use_data_lengths", &CTCLossParam::use_data_lengths, false,
            "Whether the input 'data_lengths' gives each sequence's length.");
    d.field("use_label_lengths", &CTCLossParam::use_label_lengths, false,
            "Whether the input 'label_lengths' gives each label's length (else padding ends it).");
    d.choice("blank_label", &CTCLossParam::blank_label, {"first", "last"}, "first",
             "Blank class: 'first' is 0 (labels 1..C-1, padded with 0), 'last' is C-1 (labels "
             "0..C-2, padded with -1).");
  }
};

enum { kData, kLabel };
enum { kLoss, kGrad };
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

int DataLengthsIndex(const CTCLossParam& p) { return p.use_data_lengths ? 2 : -1; }
int LabelLengthsIndex(const CTCLossParam& p) {
  return p.use_label_lengths ? (p.use_data_lengths ? 3 : 2) : -1;
}

std::vector<std::string> InputNames(const CTCLossParam& p) {
  std::vector<std::string> names{"data", "label"};
  if (p.use_data_lengths) names.push_back("data_lengths");
  if (p.use_label_lengths) names.push_back("label_lengths");
  return names;
}

void InferShape(const CTCLossParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(kData);
  if (!x.known()) return;
  if (x.ndim != 3)
    throw cn::Error(cn::Msg("input 'data' expected 3 dims (T, N, C), found shape ", x));
  if (x[2] < 2)
    throw cn::Error(cn::Msg("input 'data' needs at least 2 classes (blank + one), found shape ",
                            x));
  cn::Shape label = s.in(kLabel);
  if (label.known() && (label.ndim != 2 || label[0] != x[1]))
    throw cn::Error(cn::Msg("input 'label' expected shape (N=", x[1], ", L), found ", label));
  for (int i : {DataLengthsIndex(p), LabelLengthsIndex(p)})
    if (i >= 0) s.SetInput(i, cn::Shape{x[1]});
  s.SetOutput(kLoss, cn::Shape{x[1]});
  s.SetOutput(kGrad, x);
}

double LogAdd(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  return a > b ? a + std::log1p(std::exp(b - a)) : b + std::log1p(std::exp(a - b));
}

// One sequence: its label (already checked), its length, its scores with row stride N*C.
template <typename DType>
struct Sequence {
  const DType* x;  // x[t * stride + k]
  int64_t stride, T, C;
  std::vector<int64_t> ext;  // the extended label l'
};

// Writes loss and (when grad != nullptr) the gradient rows t < T of one sequence.
template <typename DType>
double RunSequence(const Sequence<DType>& q, DType* grad, int64_t blank) {
  const int64_t T = q.T, C = q.C, S = static_cast<int64_t>(q.ext.size());
  std::vector<double> logy(T * C);  // log softmax of the scores, one row per frame
  for (int64_t t = 0; t < T; ++t) {
    const DType* row = q.x + t * q.stride;
    double m = kNegInf, sum = 0;
    for (int64_t k = 0; k < C; ++k) m = std::max(m, double(row[k]));
    for (int64_t k = 0; k < C; ++k) sum += std::exp(double(row[k]) - m);
    for (int64_t k = 0; k < C; ++k) logy[t * C + k] = double(row[k]) - m - std::log(sum);
  }
  auto skip = [&](int64_t s) { return s >= 2 && q.ext[s] != blank && q.ext[s] != q.ext[s - 2]; };
  std::vector<double> alpha(T * S, kNegInf), beta(T * S, kNegInf);
  if (T > 0) {
    alpha[0] = logy[q.ext[0]];
    if (S > 1) alpha[1] = logy[q.ext[1]];
  }
  for (int64_t t = 1; t < T; ++t)
    for (int64_t s = 0; s < S; ++s) {
      double a = alpha[(t - 1) * S + s];
      if (s >= 1) a = LogAdd(a, alpha[(t - 1) * S + s - 1]);
      if (skip(s)) a = LogAdd(a, alpha[(t - 1) * S + s - 2]);
      alpha[t * S + s] = a == kNegInf ? kNegInf : a + logy[t * C + q.ext[s]];
    }
  double logp = kNegInf;
  if (T > 0) {
    logp = alpha[(T - 1) * S + S - 1];
    if (S > 1) logp = LogAdd(logp, alpha[(T - 1) * S + S - 2]);
  } else if (S == 1) {
    logp = 0;  // an empty sequence emits exactly the empty label
  }
  if (grad == nullptr || T == 0) return -logp;
  if (logp == kNegInf) {  // impossible label: no finite gradient, report zero as warp-ctc does
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < C; ++k) grad[t * q.stride + k] = DType(0);
    return -logp;
  }
  beta[(T - 1) * S + S - 1] = 0;
  if (S > 1) beta[(T - 1) * S + S - 2] = 0;
  for (int64_t t = T - 2; t >= 0; --t)
    for (int64_t s = 0; s < S; ++s) {
      const double* next = &beta[(t + 1) * S];
      const double* ly = &logy[(t + 1) * C];
      double b = next[s] == kNegInf ? kNegInf : next[s] + ly[q.ext[s]];
      if (s + 1 < S && next[s + 1] != kNegInf) b = LogAdd(b, next[s + 1] + ly[q.ext[s + 1]]);
      if (s + 2 < S && skip(s + 2) && next[s + 2] != kNegInf)
        b = LogAdd(b, next[s + 2] + ly[q.ext[s + 2]]);
      beta[t * S + s] = b;
    }
  std::vector<double> occupancy(C);  // log sum_{s: l'_s = k} alpha_t(s) beta_t(s)
  for (int64_t t = 0; t < T; ++t) {
    std::fill(occupancy.begin(), occupancy.end(), kNegInf);
    for (int64_t s = 0; s < S; ++s)
      occupancy[q.ext[s]] = LogAdd(occupancy[q.ext[s]], alpha[t * S + s] + beta[t * S + s]);
    for (int64_t k = 0; k < C; ++k)
      grad[t * q.stride + k] =
          DType(std::exp(logy[t * C + k]) - std::exp(occupancy[k] - logp));
  }
  return -logp;
}

// The length of label n's row: label_lengths[n] if given, else up to the first padding value.
template <typename DType>
int64_t LabelLength(const CTCLossParam& p, const cn::ForwardArgs& a, int64_t n, int64_t L) {
  const DType* row = a.in[kLabel].ptr<DType>() + n * L;
  if (p.use_label_lengths) {
    double len = double(a.in[LabelLengthsIndex(p)].ptr<DType>()[n]);
    if (!(len >= 0 && len <= double(L)) || len != std::floor(len))
      throw cn::Error(cn::Msg("label_lengths[", n, "] = ", len, " must be an integer in [0, L=",
                              L, "]"));
    return static_cast<int64_t>(len);
  }
  const double pad = p.blank_label == 0 ? 0.0 : -1.0;
  int64_t len = 0;
  while (len < L && double(row[len]) != pad) ++len;
  return len;
}

template <typename DType>
void ForwardImpl(const CTCLossParam& p, const cn::ForwardArgs& a) {
  const cn::Shape xs = a.in[kData].shape();
  const int64_t T = xs[0], N = xs[1], C = xs[2], L = a.in[kLabel].shape()[1];
  const int64_t blank = p.blank_label == 0 ? 0 : C - 1;
  const int64_t lo = p.blank_label == 0 ? 1 : 0, hi = p.blank_label == 0 ? C - 1 : C - 2;
  // Check every label and length first: a bad one must fail before any output is written.
  std::vector<Sequence<DType>> seqs(N);
  for (int64_t n = 0; n < N; ++n) {
    Sequence<DType>& q = seqs[n];
    q.x = a.in[kData].ptr<DType>() + n * C;
    q.stride = N * C;
    q.C = C;
    q.T = T;
    if (p.use_data_lengths) {
      double len = double(a.in[DataLengthsIndex(p)].ptr<DType>()[n]);
      if (!(len >= 0 && len <= double(T)) || len != std::floor(len))
        throw cn::Error(cn::Msg("data_lengths[", n, "] = ", len, " must be an integer in [0, T=",
                                T, "]"));
      q.T = static_cast<int64_t>(len);
    }
    const int64_t len = LabelLength<DType>(p, a, n, L);
    const DType* row = a.in[kLabel].ptr<DType>() + n * L;
    q.ext.assign(2 * len + 1, blank);
    for (int64_t i = 0; i < len; ++i) {
      double v = double(row[i]);
      if (!(v >= double(lo) && v <= double(hi)) || v != std::floor(v))
        throw cn::Error(cn::Msg("label[", n, ", ", i, "] = ", v, " is not a class in [", lo, ", ",
                                hi, "] (blank_label='", p.blank_label == 0 ? "first" : "last",
                                "' with ", C, " classes)"));
      q.ext[2 * i + 1] = static_cast<int64_t>(v);
    }
  }
  const bool want_grad = a.req[kGrad] != CN_REQ_NULL;
  DType* loss = a.out[kLoss].ptr<DType>();
  DType* grad = a.out[kGrad].ptr<DType>();
  cn::ParallelFor(N, 1, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      if (want_grad)  // frames past the sequence's end get no gradient
        for (int64_t t = seqs[n].T; t < T; ++t)
          for (int64_t k = 0; k < C; ++k) grad[(t * N + n) * C + k] = DType(0);
      double l = RunSequence(seqs[n], want_grad ? grad + n * C : nullptr, blank);
      cn::Store(&loss[n], a.req[kLoss], DType(l));
    }
  });
}

void Forward(const CTCLossParam& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, { ForwardImpl<DType>(p, a); });
}

template <typename DType>
void BackwardImpl(const CTCLossParam& p, const cn::BackwardArgs& a) {
  const cn::Shape xs = a.out[kGrad].shape();
  const int64_t T = xs[0], N = xs[1], C = xs[2];
  const DType* g = a.out[kGrad].ptr<DType>();
  const DType* dy = a.out_grad[kLoss].ptr<DType>();
  if (a.req[kData] != CN_REQ_NULL) {
    DType* dx = a.in_grad[kData].ptr<DType>();
    cn::ParallelFor(T * N, 64, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        for (int64_t k = 0; k < C; ++k)
          cn::Store(&dx[i * C + k], a.req[kData], g[i * C + k] * dy[i % N]);
    });
  }
  // Labels and lengths are indices: their gradient is zero.
  for (int64_t i = 1; i < int64_t(a.in_grad.size()); ++i) {
    if (a.req[i] != CN_REQ_WRITE && a.req[i] != CN_REQ_INPLACE) continue;
    DType* d = a.in_grad[i].ptr<DType>();
    std::fill(d, d + a.in_grad[i].size(), DType(0));
  }
}

void Backward(const CTCLossParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out[kGrad].dtype, DType, { BackwardImpl<DType>(p, a); });
}

void Needs(const CTCLossParam&, cn::BackwardNeeds& n) { n.output(kGrad).out_grad(kLoss); }

}  // namespace

CN_REGISTER_OP(CTCLoss, CTCLossParam)
    .describe("Connectionist temporal classification loss of unnormalised scores data (T, N, C) "
              "against labels (N, L); one loss per sequence.")
    .alias("ctc_loss")
    .alias("_contrib_CTCLoss")
    .alias("_contrib_ctc_loss")
    .inputs(InputNames)
    .outputs({"output", "grad"})
    .visible_outputs(1)
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs);
