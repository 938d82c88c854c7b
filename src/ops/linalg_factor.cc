// MXNet's triangular linalg ops on batches of square matrices (last two axes):
//   _linalg_potrf(A, lower): Cholesky factor, L with A = L L^T (zeros above), or U = L^T with
//     A = U^T U when lower=False. A must be symmetric positive definite; it is read as
//     (A + A^T) / 2, so the gradient is the symmetric one MXNet returns:
//     dA = sym(L^-T Phi(L^T dL) L^-1), Phi = lower triangle with the diagonal halved.
//   _linalg_trsm(A, B, transpose, rightside, lower, alpha): solves op(A) X = alpha B (or
//     X op(A) = alpha B); only A's `lower` (or upper) triangle is read.
//     Gradients: Y = op(A)^-T dX (left) / dX op(A)^-T (right); dB = alpha Y;
//     d op(A) = -Y X^T (left) / -X^T Y (right), kept on the triangle that was read.
// Plain substitution loops: these ops serve small matrices (Gaussian-process style scripts).
#include <cmath>
#include <vector>

#include "coarsenet/op.h"
#include "linalg_tri.h"

namespace {

using cn::linalg::SolveLeft;
using cn::linalg::SolveRight;
using cn::linalg::SquareSize;

// ---- potrf

struct PotrfParam {
  bool lower;
  static void Declare(cn::ParamDecl<PotrfParam>& d) {
    d.field("lower", &PotrfParam::lower, true, "Return the lower factor L (else U = L^T).");
  }
};

// L (lower, n x n) of sym(A); throws when A is not positive definite.
template <typename DType>
void Cholesky(const DType* A, int64_t n, DType* L) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) L[i * n + j] = j <= i ? (A[i * n + j] + A[j * n + i]) / 2 : 0;
  for (int64_t j = 0; j < n; ++j) {
    DType d = L[j * n + j];
    for (int64_t k = 0; k < j; ++k) d -= L[j * n + k] * L[j * n + k];
    if (!(d > 0))
      throw cn::Error(cn::Msg("input 'A' is not positive definite (pivot ", j, " is ", d, ")"));
    d = std::sqrt(d);
    L[j * n + j] = d;
    for (int64_t i = j + 1; i < n; ++i) {
      DType v = L[i * n + j];
      for (int64_t k = 0; k < j; ++k) v -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = v / d;
    }
  }
}

void PotrfForward(const PotrfParam& p, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  int64_t n = SquareSize(a.in[0].shape(), "A"), batch = n ? a.in[0].size() / (n * n) : 0;
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    std::vector<DType> L(n * n);
    for (int64_t b = 0; b < batch; ++b) {
      Cholesky(a.in[0].ptr<DType>() + b * n * n, n, L.data());
      DType* y = a.out[0].ptr<DType>() + b * n * n;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
          cn::Store(&y[i * n + j], req, p.lower ? L[i * n + j] : L[j * n + i]);
    }
  });
}

void PotrfBackward(const PotrfParam& p, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  int64_t n = SquareSize(a.out[0].shape(), "output"), batch = n ? a.out[0].size() / (n * n) : 0;
  CN_FLOAT_SWITCH(a.out[0].dtype, DType, {
    std::vector<DType> L(n * n), G(n * n), P(n * n);
    for (int64_t b = 0; b < batch; ++b) {
      const DType* y = a.out[0].ptr<DType>() + b * n * n;
      const DType* dy = a.out_grad[0].ptr<DType>() + b * n * n;
      // Work with the lower factor; dU^T is the gradient of L = U^T. Only the triangle of the
      // factor depends on A.
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          L[i * n + j] = j <= i ? (p.lower ? y[i * n + j] : y[j * n + i]) : 0;
          G[i * n + j] = j <= i ? (p.lower ? dy[i * n + j] : dy[j * n + i]) : 0;
        }
      // P = Phi(L^T G): lower triangle, diagonal halved.
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          DType v = 0;
          if (j <= i)
            for (int64_t k = 0; k < n; ++k) v += L[k * n + i] * G[k * n + j];
          P[i * n + j] = j < i ? v : (j == i ? v / 2 : 0);
        }
      SolveRight(L.data(), n, true, false, P.data(), n);  // P L^-1
      SolveLeft(L.data(), n, true, true, P.data(), n);    // L^-T (P L^-1)
      DType* g = a.in_grad[0].ptr<DType>() + b * n * n;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
          cn::Store(&g[i * n + j], req, (P[i * n + j] + P[j * n + i]) / 2);
    }
  });
}

void PotrfNeeds(const PotrfParam&, cn::BackwardNeeds& n) { n.output(0).out_grad(0); }

// ---- trsm

struct TrsmParam {
  bool transpose, rightside, lower;
  double alpha;
  static void Declare(cn::ParamDecl<TrsmParam>& d) {
    d.field("transpose", &TrsmParam::transpose, false, "Use A^T.");
    d.field("rightside", &TrsmParam::rightside, false, "Solve X op(A) = alpha B instead.");
    d.field("lower", &TrsmParam::lower, true, "A is lower (else upper) triangular.");
    d.field("alpha", &TrsmParam::alpha, 1.0, "Scale of B.").finite();
  }
};

// X = alpha op(A)^-1 B (or alpha B op(A)^-1) for one matrix, into x (B's shape).
template <typename DType>
void Solve(const TrsmParam& p, const DType* A, int64_t n, const DType* B, int64_t rows,
           int64_t cols, DType alpha, bool trans, DType* x) {
  for (int64_t i = 0; i < rows * cols; ++i) x[i] = alpha * B[i];
  if (p.rightside)
    SolveRight(A, n, p.lower, trans, x, rows);
  else
    SolveLeft(A, n, p.lower, trans, x, cols);
}

void TrsmForward(const TrsmParam& p, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  cn::Shape bs = a.in[1].shape();
  int64_t n = SquareSize(a.in[0].shape(), "A"), rows = bs[bs.ndim - 2], cols = bs[bs.ndim - 1];
  int64_t batch = bs.prod(0, bs.ndim - 2);
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    std::vector<DType> x(rows * cols);
    for (int64_t b = 0; b < batch; ++b) {
      Solve(p, a.in[0].ptr<DType>() + b * n * n, n, a.in[1].ptr<DType>() + b * rows * cols, rows,
            cols, DType(p.alpha), p.transpose, x.data());
      DType* y = a.out[0].ptr<DType>() + b * rows * cols;
      for (int64_t i = 0; i < rows * cols; ++i) cn::Store(&y[i], req, x[i]);
    }
  });
}

void TrsmBackward(const TrsmParam& p, const cn::BackwardArgs& a) {
  cn::Shape bs = a.out[0].shape();
  int64_t n = SquareSize(a.in[0].shape(), "A"), rows = bs[bs.ndim - 2], cols = bs[bs.ndim - 1];
  int64_t batch = bs.prod(0, bs.ndim - 2);
  CN_FLOAT_SWITCH(a.out[0].dtype, DType, {
    std::vector<DType> Y(rows * cols), dopA(n * n);
    for (int64_t b = 0; b < batch; ++b) {
      const DType* A = a.in[0].ptr<DType>() + b * n * n;
      const DType* X = a.out[0].ptr<DType>() + b * rows * cols;
      // Y = op(A)^-T dX (left) or dX op(A)^-T (right): the same solve with transpose flipped.
      Solve(p, A, n, a.out_grad[0].ptr<DType>() + b * rows * cols, rows, cols, DType(1),
            !p.transpose, Y.data());
      if (a.req[1] != CN_REQ_NULL) {
        DType* dB = a.in_grad[1].ptr<DType>() + b * rows * cols;
        for (int64_t i = 0; i < rows * cols; ++i) cn::Store(&dB[i], a.req[1], DType(p.alpha) * Y[i]);
      }
      if (a.req[0] == CN_REQ_NULL) continue;
      // d op(A) = -Y X^T (left: n x n from rows = n) or -X^T Y (right: cols = n).
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          DType v = 0;
          if (!p.rightside)
            for (int64_t k = 0; k < cols; ++k) v -= Y[i * cols + k] * X[j * cols + k];
          else
            for (int64_t k = 0; k < rows; ++k) v -= X[k * cols + i] * Y[k * cols + j];
          dopA[i * n + j] = v;
        }
      DType* dA = a.in_grad[0].ptr<DType>() + b * n * n;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          bool used = p.lower ? j <= i : j >= i;
          DType v = used ? (p.transpose ? dopA[j * n + i] : dopA[i * n + j]) : DType(0);
          cn::Store(&dA[i * n + j], a.req[0], v);
        }
    }
  });
}

void TrsmNeeds(const TrsmParam&, cn::BackwardNeeds& n) { n.input(0).output(0).out_grad(0); }

}  // namespace

CN_REGISTER_OP(_linalg_potrf, PotrfParam)
    .describe("Cholesky factorization of symmetric positive definite matrices.")
    .alias("linalg_potrf")
    .inputs({"A"})
    .outputs({"output"})
    .infer_shape(cn::linalg::SquareMatrixShape<PotrfParam>)
    .forward(PotrfForward)
    .backward(PotrfBackward)
    .backward_needs(PotrfNeeds);

CN_REGISTER_OP(_linalg_trsm, TrsmParam)
    .describe("Solves op(A) X = alpha B (or X op(A) = alpha B) for triangular A.")
    .alias("linalg_trsm")
    .inputs({"A", "B"})
    .outputs({"output"})
    .infer_shape(cn::linalg::TriangularOperandShape<TrsmParam>)
    .forward(TrsmForward)
    .backward(TrsmBackward)
    .backward_needs(TrsmNeeds);
