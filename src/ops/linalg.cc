// MXNet's linalg ops on batches of matrices (the last two axes; leading axes are the batch):
//   _linalg_gemm(A, B, C):  out = alpha op(A) op(B) + beta C     (op = transpose or not)
//   _linalg_gemm2(A, B):    out = alpha op(A) op(B)
//   _linalg_syrk(A):        out = alpha A A^T  (alpha A^T A with transpose)
//   _linalg_sumlogdiag(A):  out = sum_i log A_ii per matrix
// Gradients (G = dout): dA = alpha G op(B)^T (transposed back when transpose_a), dB likewise,
// dC = beta G; syrk: dA = alpha (G + G^T) A (A (G + G^T) with transpose); sumlogdiag:
// dA = G / A_ii on the diagonal. Products use the host's BLAS GEMM.
// MXNet's `axis` param (rows axis other than -2) is accepted only at its default.
#include <cmath>
#include <vector>

#include "coarsenet/op.h"

namespace {

struct GemmParam {
  bool transpose_a, transpose_b;
  double alpha, beta;
  int axis;
  static void Declare(cn::ParamDecl<GemmParam>& d) {
    d.field("transpose_a", &GemmParam::transpose_a, false, "Use A^T.");
    d.field("transpose_b", &GemmParam::transpose_b, false, "Use B^T.");
    d.field("alpha", &GemmParam::alpha, 1.0, "Scale of the product.").finite();
    d.field("beta", &GemmParam::beta, 1.0, "Scale of C (gemm only).").finite();
    d.field("axis", &GemmParam::axis, -2, "Axis of the matrix rows; only -2 is supported.");
  }
};

// Rows and columns of a batch of matrices; batch = product of the leading dims.
struct Mat {
  int64_t batch, rows, cols;
};
Mat MatOf(const cn::Shape& s, const char* name) {
  if (s.ndim < 2)
    throw cn::Error(cn::Msg("input '", name, "' needs at least 2 dims, found shape ", s));
  return {s.prod(0, s.ndim - 2), s[s.ndim - 2], s[s.ndim - 1]};
}

void CheckAxis(const GemmParam& p) {
  if (p.axis != -2) throw cn::Error(cn::Msg("axis=", p.axis, " is not supported; only -2"));
}

// Shape of op(A) op(B), checking the batch and inner dims.
cn::Shape ProductShape(const GemmParam& p, const cn::Shape& a, const cn::Shape& b) {
  CheckAxis(p);
  Mat ma = MatOf(a, "A"), mb = MatOf(b, "B");
  int64_t m = p.transpose_a ? ma.cols : ma.rows, k = p.transpose_a ? ma.rows : ma.cols;
  int64_t k2 = p.transpose_b ? mb.cols : mb.rows, n = p.transpose_b ? mb.rows : mb.cols;
  if (a.ndim != b.ndim || ma.batch != mb.batch || cn::Shape(std::vector<int64_t>(
          a.dims, a.dims + a.ndim - 2)) != cn::Shape(std::vector<int64_t>(b.dims, b.dims + b.ndim - 2)))
    throw cn::Error(cn::Msg("inputs 'A' ", a, " and 'B' ", b, " must have the same batch dims"));
  if (k != k2)
    throw cn::Error(cn::Msg("inner dims differ: op(A) is ", m, " x ", k, ", op(B) is ", k2, " x ",
                            n, " (A ", a, ", B ", b, ")"));
  std::vector<int64_t> out(a.dims, a.dims + a.ndim - 2);
  out.push_back(m);
  out.push_back(n);
  return cn::Shape(out);
}

void Gemm2Shape(const GemmParam& p, cn::ShapeContext& s) {
  cn::Shape a = s.in(0), b = s.in(1);
  if (a.known() && b.known()) s.SetOutput(0, ProductShape(p, a, b));
}

void GemmShape(const GemmParam& p, cn::ShapeContext& s) {
  cn::Shape a = s.in(0), b = s.in(1);
  if (!a.known() || !b.known()) return;
  cn::Shape out = ProductShape(p, a, b);
  s.SetInput(2, out);
  s.SetOutput(0, out);
}

// C[i] = alpha op(A[i]) op(B[i]) + beta C[i] over the batch. A is (ra x ca), B (rb x cb).
template <typename DType>
void BatchGemm(bool ta, bool tb, const DType* a, Mat ma, const DType* b, Mat mb, DType alpha,
               DType beta, DType* c) {
  int64_t m = ta ? ma.cols : ma.rows, k = ta ? ma.rows : ma.cols, n = tb ? mb.rows : mb.cols;
  for (int64_t i = 0; i < ma.batch; ++i) {
    if (m == 0 || n == 0) continue;
    if (k == 0) {
      // An empty product: C = beta C, where beta = 0 must not read C (it may be uninitialised).
      for (int64_t j = 0; j < m * n; ++j)
        c[i * m * n + j] = beta == DType(0) ? DType(0) : beta * c[i * m * n + j];
      continue;
    }
    cn::Gemm(ta, tb, m, n, k, alpha, a + i * ma.rows * ma.cols, ma.cols,
             b + i * mb.rows * mb.cols, mb.cols, beta, c + i * m * n, n);
  }
}

// out = alpha op(A) op(B) (+ beta C), honouring req (add: accumulate into out).
template <bool kWithC>
void GemmForward(const GemmParam& p, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  CN_FLOAT_SWITCH(a.out[0].dtype, DType, {
    DType* y = a.out[0].ptr<DType>();
    int64_t n = a.out[0].size();
    std::vector<DType> tmp;
    DType* dst = y;
    if (req == CN_REQ_ADD) {
      tmp.assign(n, DType(0));
      dst = tmp.data();
    }
    if (kWithC) {
      const DType* c = a.in[2].ptr<DType>();
      if (dst != c) std::copy(c, c + n, dst);
    }
    BatchGemm(p.transpose_a, p.transpose_b, a.in[0].ptr<DType>(), MatOf(a.in[0].shape(), "A"),
              a.in[1].ptr<DType>(), MatOf(a.in[1].shape(), "B"), DType(p.alpha),
              DType(kWithC ? p.beta : 0.0), dst);
    if (req == CN_REQ_ADD)
      for (int64_t i = 0; i < n; ++i) y[i] += tmp[i];
  });
}

// dA (ra x ca) = alpha * [ta ? op(B) G^T : G op(B)^T]; dB = alpha * [tb ? G^T op(A) : op(A)^T G].
template <bool kWithC>
void GemmBackward(const GemmParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    const DType* g = a.out_grad[0].ptr<DType>();
    Mat ma = MatOf(a.in[0].shape(), "A"), mb = MatOf(a.in[1].shape(), "B");
    Mat mg = MatOf(a.out_grad[0].shape(), "output");
    const DType* A = a.in[0].ptr<DType>();
    const DType* B = a.in[1].ptr<DType>();
    DType alpha = DType(p.alpha);
    if (a.req[0] != CN_REQ_NULL) {
      DType* dA = a.in_grad[0].ptr<DType>();
      DType keep = a.req[0] == CN_REQ_ADD ? DType(1) : DType(0);
      if (keep == DType(0)) std::fill(dA, dA + a.in_grad[0].size(), DType(0));
      // Without transpose_a: dA = G op(B)^T = G * (tb ? B : B^T).
      if (!p.transpose_a)
        BatchGemm(false, !p.transpose_b, g, mg, B, mb, alpha, DType(1), dA);
      else  // dA = op(B) G^T = (tb ? B^T : B) * G^T
        BatchGemm(p.transpose_b, true, B, mb, g, mg, alpha, DType(1), dA);
    }
    if (a.req[1] != CN_REQ_NULL) {
      DType* dB = a.in_grad[1].ptr<DType>();
      if (a.req[1] != CN_REQ_ADD) std::fill(dB, dB + a.in_grad[1].size(), DType(0));
      if (!p.transpose_b)  // dB = op(A)^T G = (ta ? A : A^T) G
        BatchGemm(!p.transpose_a, false, A, ma, g, mg, alpha, DType(1), dB);
      else  // dB = G^T op(A) = G^T (ta ? A^T : A)
        BatchGemm(true, p.transpose_a, g, mg, A, ma, alpha, DType(1), dB);
    }
    if (kWithC && a.req[2] != CN_REQ_NULL) {
      DType* dC = a.in_grad[2].ptr<DType>();
      for (int64_t i = 0; i < a.in_grad[2].size(); ++i)
        cn::Store(&dC[i], a.req[2], DType(p.beta) * g[i]);
    }
  });
}

void GemmNeeds(const GemmParam&, cn::BackwardNeeds& n) { n.input(0).input(1).out_grad(0); }

// ---- syrk

struct SyrkParam {
  bool transpose;
  double alpha;
  static void Declare(cn::ParamDecl<SyrkParam>& d) {
    d.field("transpose", &SyrkParam::transpose, false, "Compute alpha A^T A instead.");
    d.field("alpha", &SyrkParam::alpha, 1.0, "Scale of the product.").finite();
  }
};

// syrk is gemm2 of A with itself: A A^T, or A^T A with transpose.
GemmParam AsGemm(const SyrkParam& p) { return {p.transpose, !p.transpose, p.alpha, 0.0, -2}; }

void SyrkShape(const SyrkParam& p, cn::ShapeContext& s) {
  cn::Shape a = s.in(0);
  if (a.known()) s.SetOutput(0, ProductShape(AsGemm(p), a, a));
}

void SyrkForward(const SyrkParam& p, const cn::ForwardArgs& a) {
  cn::Tensor in[2] = {a.in[0], a.in[0]};
  cn::ForwardArgs two{a.ctx, {in, 2}, a.out, a.aux, a.req, a.workspace};
  GemmForward<false>(AsGemm(p), two);
}

// dA = alpha (G + G^T) A, or alpha A (G + G^T) with transpose.
void SyrkBackward(const SyrkParam& p, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    Mat mg = MatOf(a.out_grad[0].shape(), "output"), ma = MatOf(a.in[0].shape(), "A");
    const DType* g = a.out_grad[0].ptr<DType>();
    std::vector<DType> sym(a.out_grad[0].size());
    for (int64_t b = 0; b < mg.batch; ++b)
      for (int64_t i = 0; i < mg.rows; ++i)
        for (int64_t j = 0; j < mg.cols; ++j) {
          int64_t o = b * mg.rows * mg.cols;
          sym[o + i * mg.cols + j] = g[o + i * mg.cols + j] + g[o + j * mg.cols + i];
        }
    DType* dA = a.in_grad[0].ptr<DType>();
    if (req != CN_REQ_ADD) std::fill(dA, dA + a.in_grad[0].size(), DType(0));
    const DType* A = a.in[0].ptr<DType>();
    if (!p.transpose)
      BatchGemm(false, false, sym.data(), mg, A, ma, DType(p.alpha), DType(1), dA);
    else
      BatchGemm(false, false, A, ma, sym.data(), mg, DType(p.alpha), DType(1), dA);
  });
}

void SyrkNeeds(const SyrkParam&, cn::BackwardNeeds& n) { n.input(0).out_grad(0); }

// ---- sumlogdiag

void SumLogDiagShape(const cn::NoParams&, cn::ShapeContext& s) {
  cn::Shape a = s.in(0);
  if (!a.known()) return;
  Mat m = MatOf(a, "A");
  if (m.rows != m.cols) throw cn::Error(cn::Msg("input 'A' must be square, found shape ", a));
  std::vector<int64_t> out(a.dims, a.dims + a.ndim - 2);
  if (out.empty()) out.push_back(1);  // MXNet has no 0-d arrays
  s.SetOutput(0, cn::Shape(out));
}

void SumLogDiagForward(const cn::NoParams&, const cn::ForwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  Mat m = MatOf(a.in[0].shape(), "A");
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    const DType* x = a.in[0].ptr<DType>();
    DType* y = a.out[0].ptr<DType>();
    for (int64_t b = 0; b < m.batch; ++b) {
      DType s = 0;
      for (int64_t i = 0; i < m.rows; ++i) s += std::log(x[b * m.rows * m.cols + i * (m.cols + 1)]);
      cn::Store(&y[b], a.req[0], s);
    }
  });
}

void SumLogDiagBackward(const cn::NoParams&, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  Mat m = MatOf(a.in[0].shape(), "A");
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    const DType* x = a.in[0].ptr<DType>();
    const DType* g = a.out_grad[0].ptr<DType>();
    DType* dA = a.in_grad[0].ptr<DType>();
    if (req != CN_REQ_ADD) std::fill(dA, dA + a.in_grad[0].size(), DType(0));
    for (int64_t b = 0; b < m.batch; ++b)
      for (int64_t i = 0; i < m.rows; ++i) {
        int64_t at = b * m.rows * m.cols + i * (m.cols + 1);
        dA[at] += g[b] / x[at];
      }
  });
}

void SumLogDiagNeeds(const cn::NoParams&, cn::BackwardNeeds& n) { n.input(0).out_grad(0); }

}  // namespace

CN_REGISTER_OP(_linalg_gemm, GemmParam)
    .describe("General matrix multiply-add on batches: alpha op(A) op(B) + beta C.")
    .alias("linalg_gemm")
    .inputs({"A", "B", "C"})
    .outputs({"output"})
    .infer_shape(GemmShape)
    .forward(GemmForward<true>)
    .backward(GemmBackward<true>)
    .backward_needs(GemmNeeds);

CN_REGISTER_OP(_linalg_gemm2, GemmParam)
    .describe("Matrix product on batches: alpha op(A) op(B).")
    .alias("linalg_gemm2")
    .inputs({"A", "B"})
    .outputs({"output"})
    .infer_shape(Gemm2Shape)
    .forward(GemmForward<false>)
    .backward(GemmBackward<false>)
    .backward_needs(GemmNeeds);

CN_REGISTER_OP(_linalg_syrk, SyrkParam)
    .describe("Symmetric rank-k product on batches: alpha A A^T (or alpha A^T A).")
    .alias("linalg_syrk")
    .inputs({"A"})
    .outputs({"output"})
    .infer_shape(SyrkShape)
    .forward(SyrkForward)
    .backward(SyrkBackward)
    .backward_needs(SyrkNeeds);

CN_REGISTER_OP(_linalg_sumlogdiag, cn::NoParams)
    .describe("Sum of the logarithms of the diagonal of each square matrix.")
    .alias("linalg_sumlogdiag")
    .inputs({"A"})
    .outputs({"output"})
    .infer_shape(SumLogDiagShape)
    .forward(SumLogDiagForward)
    .backward(SumLogDiagBackward)
    .backward_needs(SumLogDiagNeeds);
