// diag(data, k, axis1, axis2): MXNet's diag.
//   1-D data (n,): a square matrix (n+|k|, n+|k|) with data on diagonal k, zeros elsewhere.
//   N-D data: the k-th diagonal of every (axis1, axis2) plane, as a new last axis
//     (NumPy's diagonal: out shape = the other dims + (length,)).
// Backward: the adjoint (read back the diagonal, or scatter dy onto it).
#include <algorithm>
#include <vector>

#include "kernels/index_util.h"

namespace {

struct DiagParam {
  int k, axis1, axis2;
  static void Declare(cn::ParamDecl<DiagParam>& d) {
    d.field("k", &DiagParam::k, 0, "Diagonal offset: > 0 above, < 0 below the main one.");
    d.field("axis1", &DiagParam::axis1, 0, "First axis of the 2-D planes (N-D input).");
    d.field("axis2", &DiagParam::axis2, 1, "Second axis of the 2-D planes (N-D input).");
  }
};

// N-D geometry: planes over (a1, a2), the rest as "other" dims in order.
struct Geo {
  int a1, a2;
  int64_t len;              // diagonal length
  std::vector<int64_t> other_dims, other_strides;
  int64_t s1, s2, start;    // strides of a1, a2 and the first element's offset
};

Geo GeoOf(const DiagParam& p, const cn::Shape& x) {
  Geo g;
  g.a1 = cn_index::NormAxis(p.axis1, x.ndim, "axis1");
  g.a2 = cn_index::NormAxis(p.axis2, x.ndim, "axis2");
  if (g.a1 == g.a2) throw cn::Error(cn::Msg("axis1 and axis2 must differ, both are ", g.a1));
  std::vector<int64_t> stride(x.ndim, 1);
  for (int d = x.ndim - 2; d >= 0; --d) stride[d] = stride[d + 1] * x[d + 1];
  for (int d = 0; d < x.ndim; ++d)
    if (d != g.a1 && d != g.a2) {
      g.other_dims.push_back(x[d]);
      g.other_strides.push_back(stride[d]);
    }
  int64_t n1 = x[g.a1], n2 = x[g.a2];
  int64_t r0 = p.k < 0 ? -int64_t(p.k) : 0, c0 = p.k > 0 ? p.k : 0;
  g.len = std::max<int64_t>(0, std::min(n1 - r0, n2 - c0));
  g.s1 = stride[g.a1];
  g.s2 = stride[g.a2];
  g.start = g.len > 0 ? r0 * g.s1 + c0 * g.s2 : 0;
  return g;
}

void InferShape(const DiagParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  if (x.ndim == 0) throw cn::Error("input 'data' must have at least 1 dim, found ()");
  if (x.ndim == 1) {
    int64_t n = x[0] + (p.k < 0 ? -int64_t(p.k) : p.k);
    s.SetOutput(0, cn::Shape{n, n});
    return;
  }
  Geo g = GeoOf(p, x);
  std::vector<int64_t> out = g.other_dims;
  out.push_back(g.len);
  s.SetOutput(0, cn::Shape(out));
}

// Calls fn(offset in the N-D array, index in the diagonal output) for every diagonal element.
template <typename Fn>
void EachDiag(const Geo& g, Fn&& fn) {
  int64_t others = 1;
  for (int64_t d : g.other_dims) others *= d;
  for (int64_t o = 0; o < others; ++o) {
    int64_t base = 0, rem = o;
    for (int d = static_cast<int>(g.other_dims.size()) - 1; d >= 0; --d) {
      base += (rem % g.other_dims[d]) * g.other_strides[d];
      rem /= g.other_dims[d];
    }
    for (int64_t i = 0; i < g.len; ++i) fn(base + g.start + i * (g.s1 + g.s2), o * g.len + i);
  }
}

// 1-D <-> matrix: the matrix element of vector entry i.
int64_t MatrixOffset(const DiagParam& p, int64_t n, int64_t i) {
  int64_t r = p.k < 0 ? i - p.k : i, c = p.k > 0 ? i + p.k : i;
  return r * n + c;
}

void Forward(const DiagParam& p, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  const cn::Tensor& x_t = a.in[0];
  CN_FLOAT_SWITCH(x_t.dtype, DType, {
    const DType* x = x_t.ptr<DType>();
    DType* y = a.out[0].ptr<DType>();
    if (x_t.ndim == 1) {
      int64_t n = a.out[0].dims[0];
      if (req != CN_REQ_ADD) std::fill(y, y + n * n, DType(0));
      for (int64_t i = 0; i < x_t.dims[0]; ++i) y[MatrixOffset(p, n, i)] += x[i];
    } else {
      EachDiag(GeoOf(p, x_t.shape()), [&](int64_t src, int64_t dst) {
        cn::Store(&y[dst], req, x[src]);
      });
    }
  });
}

void Backward(const DiagParam& p, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  const cn::Tensor& g_t = a.in_grad[0];
  CN_FLOAT_SWITCH(g_t.dtype, DType, {
    const DType* dy = a.out_grad[0].ptr<DType>();
    DType* g = g_t.ptr<DType>();
    if (g_t.ndim == 1) {
      int64_t n = a.out_grad[0].dims[0];
      for (int64_t i = 0; i < g_t.dims[0]; ++i) cn::Store(&g[i], req, dy[MatrixOffset(p, n, i)]);
    } else {
      if (req != CN_REQ_ADD) std::fill(g, g + g_t.size(), DType(0));
      EachDiag(GeoOf(p, g_t.shape()), [&](int64_t dst, int64_t src) { g[dst] += dy[src]; });
    }
  });
}

void Needs(const DiagParam&, cn::BackwardNeeds& n) { n.out_grad(0); }

}  // namespace

CN_REGISTER_OP(diag, DiagParam)
    .describe("Builds a diagonal matrix from a vector, or extracts diagonals of an N-D array.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(InferShape)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs);
