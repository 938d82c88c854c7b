// Small triangular helpers shared by linalg_factor.cc (potrf, trsm) and linalg_tri.cc (potri,
// trmm): plain loops over one row-major matrix; these ops serve small matrices.
#pragma once
#include <cstdint>
#include <vector>

#include "coarsenet/op.h"

namespace cn::linalg {

inline int64_t SquareSize(const cn::Shape& a, const char* name) {
  if (a.ndim < 2 || a[a.ndim - 1] != a[a.ndim - 2])
    throw cn::Error(cn::Msg("input '", name, "' must be a batch of square matrices, found ", a));
  return a[a.ndim - 1];
}

// Shape rule of the ops whose one input is a batch of square matrices A and whose output is
// A-shaped (potrf, potri).
template <typename Param>
void SquareMatrixShape(const Param&, cn::ShapeContext& s) {
  cn::Shape a = s.in(0);
  if (!a.known()) return;
  SquareSize(a, "A");
  s.SetOutput(0, a);
}

// Shape rule of the ops that apply a triangular A to B from the left (B's rows match A) or,
// with `rightside`, from the right (B's columns match A); the output is B-shaped (trsm, trmm).
template <typename Param>
void TriangularOperandShape(const Param& p, cn::ShapeContext& s) {
  cn::Shape a = s.in(0), b = s.in(1);
  if (!a.known() || !b.known()) return;
  int64_t n = SquareSize(a, "A");
  if (b.ndim != a.ndim || b.prod(0, b.ndim - 2) != a.prod(0, a.ndim - 2) ||
      b[b.ndim - (p.rightside ? 1 : 2)] != n)
    throw cn::Error(cn::Msg("input 'B' ", b, " does not match A ", a,
                            p.rightside ? " (B's columns must equal A's size)"
                                        : " (B's rows must equal A's size)"));
  s.SetOutput(0, b);
}

// Solves M Z = R in place (R is n x m, row-major); M = trans ? A^T : A, A triangular (lower or
// upper as stored).
template <typename DType>
void SolveLeft(const DType* A, int64_t n, bool lower, bool trans, DType* R, int64_t m) {
  bool m_lower = lower != trans;
  auto M = [&](int64_t i, int64_t k) { return trans ? A[k * n + i] : A[i * n + k]; };
  for (int64_t s = 0; s < n; ++s) {
    int64_t i = m_lower ? s : n - 1 - s;
    for (int64_t t = 0; t < s; ++t) {
      int64_t k = m_lower ? t : n - 1 - t;
      DType f = M(i, k);
      for (int64_t j = 0; j < m; ++j) R[i * m + j] -= f * R[k * m + j];
    }
    DType d = M(i, i);
    for (int64_t j = 0; j < m; ++j) R[i * m + j] /= d;
  }
}

// Solves Z M = R in place (R is m x n): transposed, it is M^T Z^T = R^T.
template <typename DType>
void SolveRight(const DType* A, int64_t n, bool lower, bool trans, DType* R, int64_t m) {
  std::vector<DType> t(n * m);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) t[j * m + i] = R[i * n + j];
  SolveLeft(A, n, lower, !trans, t.data(), m);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) R[i * n + j] = t[j * m + i];
}

}  // namespace cn::linalg
