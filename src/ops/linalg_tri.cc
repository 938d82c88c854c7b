// MXNet's triangular-factor products on batches of square matrices (last two axes):
//   _linalg_potri(A, lower): inverse from a Cholesky factor, (L L^T)^-1 with L = A's lower
//     triangle (lower=True), or (U^T U)^-1 with U = A's upper triangle. The output is the full
//     symmetric matrix, as MXNet 1.9.1 returns it. With C the output and G its head gradient,
//     dL = -tril(C (G + G^T) C L) (for U: the transpose, on the upper triangle).
//   _linalg_trmm(A, B, transpose, rightside, lower, alpha): alpha op(A) B (or alpha B op(A)),
//     only A's `lower` (or upper) triangle read. Gradients: dB = alpha op(A)^T dC (left) /
//     alpha dC op(A)^T (right); d op(A) = alpha dC B^T (left) / alpha B^T dC (right), kept on the
//     triangle that was read. Only the stored triangle of A matters, so the other one gets zero.
// Plain loops, like potrf/trsm: these ops serve small matrices.
#include <vector>

#include "coarsenet/op.h"
#include "linalg_tri.h"

namespace {

using cn::linalg::SolveLeft;
using cn::linalg::SquareSize;

// Whether (i, j) lies in the triangle that a `lower` (else upper) triangular op reads.
inline bool InTriangle(bool lower, int64_t i, int64_t j) { return lower ? j <= i : j >= i; }

// ---- potri

struct PotriParam {
  bool lower;
  static void Declare(cn::ParamDecl<PotriParam>& d) {
    d.field("lower", &PotriParam::lower, true, "A holds the lower factor L (else U = L^T).");
  }
};

// L (lower, n x n, row-major) from the triangle of A that the op reads.
template <typename DType>
void LowerFactor(const DType* A, int64_t n, bool lower, DType* L) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      L[i * n + j] = j <= i ? (lower ? A[i * n + j] : A[j * n + i]) : DType(0);
}

void PotriForward(const PotriParam& p, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  int64_t n = SquareSize(a.in[0].shape(), "A"), batch = n ? a.in[0].size() / (n * n) : 0;
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    std::vector<DType> L(n * n), Li(n * n);
    for (int64_t b = 0; b < batch; ++b) {
      LowerFactor(a.in[0].ptr<DType>() + b * n * n, n, p.lower, L.data());
      for (int64_t i = 0; i < n; ++i)
        if (L[i * n + i] == DType(0))
          throw cn::Error(cn::Msg("input 'A' (matrix ", b,
                                  ") is a singular factor: diagonal entry ", i, " is 0"));
      for (int64_t i = 0; i < n * n; ++i) Li[i] = i % (n + 1) == 0 ? DType(1) : DType(0);
      SolveLeft(L.data(), n, true, false, Li.data(), n);  // L^-1 (lower)
      DType* y = a.out[0].ptr<DType>() + b * n * n;
      // C = L^-T L^-1: C_ij = sum_k Li_ki Li_kj, k >= max(i, j) since L^-1 is lower.
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          DType v = 0;
          for (int64_t k = i > j ? i : j; k < n; ++k) v += Li[k * n + i] * Li[k * n + j];
          cn::Store(&y[i * n + j], req, v);
        }
    }
  });
}

void PotriBackward(const PotriParam& p, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  int64_t n = SquareSize(a.in[0].shape(), "A"), batch = n ? a.in[0].size() / (n * n) : 0;
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    std::vector<DType> L(n * n), T(n * n), U(n * n);
    for (int64_t b = 0; b < batch; ++b) {
      LowerFactor(a.in[0].ptr<DType>() + b * n * n, n, p.lower, L.data());
      const DType* C = a.out[0].ptr<DType>() + b * n * n;
      const DType* g = a.out_grad[0].ptr<DType>() + b * n * n;
      // T = C (G + G^T); U = T C; dL = -tril(U L).
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          DType v = 0;
          for (int64_t k = 0; k < n; ++k) v += C[i * n + k] * (g[k * n + j] + g[j * n + k]);
          T[i * n + j] = v;
        }
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          DType v = 0;
          for (int64_t k = 0; k < n; ++k) v += T[i * n + k] * C[k * n + j];
          U[i * n + j] = v;
        }
      DType* dA = a.in_grad[0].ptr<DType>() + b * n * n;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          // Entry (i, j) of A is L_ij (lower) or L_ji (upper).
          int64_t r = p.lower ? i : j, c = p.lower ? j : i;
          DType v = 0;
          if (c <= r)
            for (int64_t k = c; k < n; ++k) v -= U[r * n + k] * L[k * n + c];
          cn::Store(&dA[i * n + j], req, v);
        }
    }
  });
}

void PotriNeeds(const PotriParam&, cn::BackwardNeeds& n) { n.input(0).output(0).out_grad(0); }

// ---- trmm

struct TrmmParam {
  bool transpose, rightside, lower;
  double alpha;
  static void Declare(cn::ParamDecl<TrmmParam>& d) {
    d.field("transpose", &TrmmParam::transpose, false, "Use A^T.");
    d.field("rightside", &TrmmParam::rightside, false, "Compute alpha B op(A) instead.");
    d.field("lower", &TrmmParam::lower, true, "A is lower (else upper) triangular.");
    d.field("alpha", &TrmmParam::alpha, 1.0, "Scale of the product.").finite();
  }
};

// M = op(triangle of A), dense n x n.
template <typename DType>
void TriOp(const TrmmParam& p, const DType* A, int64_t n, DType* M) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t r = p.transpose ? j : i, c = p.transpose ? i : j;
      M[i * n + j] = InTriangle(p.lower, r, c) ? A[r * n + c] : DType(0);
    }
}

// out (rows x cols) = alpha * X Y, X is rows x k, Y is k x cols; tx / ty read X / Y transposed
// from their stored (k x rows) / (cols x k) layouts.
template <typename DType>
void MatMul(const DType* X, bool tx, const DType* Y, bool ty, int64_t rows, int64_t k,
            int64_t cols, DType alpha, DType* out) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      DType v = 0;
      for (int64_t t = 0; t < k; ++t)
        v += (tx ? X[t * rows + i] : X[i * k + t]) * (ty ? Y[j * k + t] : Y[t * cols + j]);
      out[i * cols + j] = alpha * v;
    }
}

void TrmmForward(const TrmmParam& p, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  cn::Shape bs = a.in[1].shape();
  int64_t n = SquareSize(a.in[0].shape(), "A"), rows = bs[bs.ndim - 2], cols = bs[bs.ndim - 1];
  int64_t batch = bs.prod(0, bs.ndim - 2);
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    std::vector<DType> M(n * n), out(rows * cols);
    for (int64_t b = 0; b < batch; ++b) {
      TriOp(p, a.in[0].ptr<DType>() + b * n * n, n, M.data());
      const DType* B = a.in[1].ptr<DType>() + b * rows * cols;
      if (p.rightside)
        MatMul(B, false, M.data(), false, rows, n, cols, DType(p.alpha), out.data());
      else
        MatMul(M.data(), false, B, false, rows, n, cols, DType(p.alpha), out.data());
      DType* y = a.out[0].ptr<DType>() + b * rows * cols;
      for (int64_t i = 0; i < rows * cols; ++i) cn::Store(&y[i], req, out[i]);
    }
  });
}

void TrmmBackward(const TrmmParam& p, const cn::BackwardArgs& a) {
  cn::Shape bs = a.in[1].shape();
  int64_t n = SquareSize(a.in[0].shape(), "A"), rows = bs[bs.ndim - 2], cols = bs[bs.ndim - 1];
  int64_t batch = bs.prod(0, bs.ndim - 2);
  CN_FLOAT_SWITCH(a.in[1].dtype, DType, {
    std::vector<DType> M(n * n), dM(n * n), dB(rows * cols);
    DType alpha(p.alpha);
    for (int64_t b = 0; b < batch; ++b) {
      const DType* A = a.in[0].ptr<DType>() + b * n * n;
      const DType* B = a.in[1].ptr<DType>() + b * rows * cols;
      const DType* g = a.out_grad[0].ptr<DType>() + b * rows * cols;
      if (a.req[1] != CN_REQ_NULL) {
        TriOp(p, A, n, M.data());
        if (p.rightside)
          MatMul(g, false, M.data(), true, rows, n, cols, alpha, dB.data());
        else
          MatMul(M.data(), true, g, false, rows, n, cols, alpha, dB.data());
        DType* d = a.in_grad[1].ptr<DType>() + b * rows * cols;
        for (int64_t i = 0; i < rows * cols; ++i) cn::Store(&d[i], a.req[1], dB[i]);
      }
      if (a.req[0] == CN_REQ_NULL) continue;
      if (p.rightside)
        MatMul(B, true, g, false, n, rows, n, alpha, dM.data());
      else
        MatMul(g, false, B, true, n, cols, n, alpha, dM.data());
      DType* dA = a.in_grad[0].ptr<DType>() + b * n * n;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          DType v = p.transpose ? dM[j * n + i] : dM[i * n + j];
          cn::Store(&dA[i * n + j], a.req[0], InTriangle(p.lower, i, j) ? v : DType(0));
        }
    }
  });
}

void TrmmNeeds(const TrmmParam&, cn::BackwardNeeds& n) { n.input(0).input(1).out_grad(0); }

}  // namespace

CN_REGISTER_OP(_linalg_potri, PotriParam)
    .describe("Inverse (L L^T)^-1 of a matrix from its Cholesky factor L (or U = L^T).")
    .alias("linalg_potri")
    .inputs({"A"})
    .outputs({"output"})
    .infer_shape(cn::linalg::SquareMatrixShape<PotriParam>)
    .forward(PotriForward)
    .backward(PotriBackward)
    .backward_needs(PotriNeeds);

CN_REGISTER_OP(_linalg_trmm, TrmmParam)
    .describe("alpha op(A) B (or alpha B op(A)) for triangular A.")
    .alias("linalg_trmm")
    .inputs({"A", "B"})
    .outputs({"output"})
    .infer_shape(cn::linalg::TriangularOperandShape<TrmmParam>)
    .forward(TrmmForward)
    .backward(TrmmBackward)
    .backward_needs(TrmmNeeds);
