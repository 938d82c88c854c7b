// dot and batch_dot: matrix products as single GEMMs (MXNet 1.x semantics).
//   dot: lhs is viewed as a matrix A and rhs as B without copying, then C = op(A) op(B).
//     lhs (d0..dn): A = (d0*..*d(n-1), dn) contracting its last axis, or with transpose_a
//     A^T where A = (d0, d1*..*dn), contracting its first axis. rhs likewise: B = (e0, e1*..*em)
//     contracting its first axis, or with transpose_b B^T where B = (e0*..*e(m-1), em).
//     Output shape: lhs's kept axes then rhs's kept axes; 1-D x 1-D is an inner product of
//     shape (1,) and cannot be transposed. E.g. (n,m,k) x (k,r,s) -> (n,m,r,s).
//   batch_dot: (B.., M, K) x (B.., K, N) -> (B.., M, N), one GEMM per batch item, with the last
//     two axes of either side transposed on request.
// Backward (G = dC): dA = G op(B)^T, dB = op(A)^T G, each transposed back when the forward
// transposed that side; again one GEMM per gradient (per batch item for batch_dot).
#include <algorithm>
#include <string>

#include "coarsenet/op.h"

namespace {

struct DotParam {
  bool transpose_a, transpose_b;
  int forward_stype;
  static void Declare(cn::ParamDecl<DotParam>& d) {
    d.field("transpose_a", &DotParam::transpose_a, false,
            "If true then transpose the first input before dot.");
    d.field("transpose_b", &DotParam::transpose_b, false,
            "If true then transpose the second input before dot.");
    d.choice("forward_stype", &DotParam::forward_stype, {"None", "csr", "default", "row_sparse"},
             "None", "The desired storage type of the output; only dense (None or 'default').");
  }
  void CheckDense() const {
    if (forward_stype == 1 || forward_stype == 3)
      throw cn::Error(cn::Msg("forward_stype='", forward_stype == 1 ? "csr" : "row_sparse",
                              "' is not supported; only dense storage ('default') exists"));
  }
};

enum { kLhs, kRhs };

// One product C(m, n) = op(A)(m, k) op(B)(k, n) over row-major A and B with leading dims.
struct Product {
  int64_t m, n, k;
  bool ta, tb;
  int64_t lda, ldb;
};

// dot's matrix views of lhs and rhs (see the header).
Product DotProduct(const DotParam& p, const cn::Shape& l, const cn::Shape& r) {
  Product g{};
  g.ta = p.transpose_a;
  g.tb = p.transpose_b;
  if (g.ta) {
    g.k = l[0];
    g.m = l.prod(1, l.ndim);
  } else {
    g.m = l.prod(0, l.ndim - 1);
    g.k = l[l.ndim - 1];
  }
  int64_t rk = g.tb ? r[r.ndim - 1] : r[0];
  g.n = g.tb ? r.prod(0, r.ndim - 1) : r.prod(1, r.ndim);
  if (rk != g.k) throw cn::Error(cn::Msg("dot shape error: ", l, " X ", r));
  g.lda = std::max<int64_t>(1, g.ta ? g.m : g.k);
  g.ldb = std::max<int64_t>(1, g.tb ? g.k : g.n);
  return g;
}

// batch_dot's per-item product; `batch` receives the number of items.
Product BatchProduct(const DotParam& p, const cn::Shape& l, const cn::Shape& r, int64_t* batch) {
  int nd = l.ndim;
  Product g{};
  g.ta = p.transpose_a;
  g.tb = p.transpose_b;
  g.m = g.ta ? l[nd - 1] : l[nd - 2];
  g.k = g.ta ? l[nd - 2] : l[nd - 1];
  int64_t rk = g.tb ? r[nd - 1] : r[nd - 2];
  g.n = g.tb ? r[nd - 2] : r[nd - 1];
  if (rk != g.k)
    throw cn::Error(cn::Msg("batch_dot shape error: ", l, " X ", r, " (transpose_a=",
                            g.ta, ", transpose_b=", g.tb, "): contracted sizes ", g.k, " and ",
                            rk, " differ"));
  g.lda = std::max<int64_t>(1, g.ta ? g.m : g.k);
  g.ldb = std::max<int64_t>(1, g.tb ? g.k : g.n);
  *batch = l.prod(0, nd - 2);
  return g;
}

void DotShape(const DotParam& p, cn::ShapeContext& s) {
  p.CheckDense();
  cn::Shape l = s.in(kLhs), r = s.in(kRhs);
  if (!l.known() || !r.known()) return;
  if (l.ndim == 0 || r.ndim == 0)
    throw cn::Error(cn::Msg("inputs must have at least 1 dim, found lhs ", l, " and rhs ", r));
  if (l.ndim == 1 && r.ndim == 1 && (p.transpose_a || p.transpose_b))
    throw cn::Error(cn::Msg("cannot transpose vectors: lhs ", l, ", rhs ", r));
  DotProduct(p, l, r);  // checks the contracted sizes
  std::vector<int64_t> out;
  if (l.ndim > 1) {
    auto d = l.vec();
    if (p.transpose_a)
      out.insert(out.end(), d.begin() + 1, d.end());
    else
      out.insert(out.end(), d.begin(), d.end() - 1);
  }
  if (r.ndim > 1) {
    auto d = r.vec();
    if (p.transpose_b)
      out.insert(out.end(), d.begin(), d.end() - 1);
    else
      out.insert(out.end(), d.begin() + 1, d.end());
  }
  if (out.empty()) out.push_back(1);  // vector . vector
  s.SetOutput(0, cn::Shape(out));
}

void BatchDotShape(const DotParam& p, cn::ShapeContext& s) {
  p.CheckDense();
  cn::Shape l = s.in(kLhs), r = s.in(kRhs);
  if (!l.known() || !r.known()) return;
  if (l.ndim < 3 || r.ndim != l.ndim)
    throw cn::Error(cn::Msg("expected lhs and rhs with the same number (>= 3) of dims, found lhs ",
                            l, " and rhs ", r));
  for (int i = 0; i < l.ndim - 2; ++i)
    if (l[i] != r[i])
      throw cn::Error(cn::Msg("batch dims differ: lhs ", l, ", rhs ", r));
  int64_t batch;
  Product g = BatchProduct(p, l, r, &batch);
  cn::Shape out = l;
  out[l.ndim - 2] = g.m;
  out[l.ndim - 1] = g.n;
  s.SetOutput(0, out);
}

// Writes or adds C = op(A) op(B); a zero-length contraction is a zero product.
template <typename DType>
void Multiply(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const DType* a, int64_t lda,
              const DType* b, int64_t ldb, DType* c, int32_t req) {
  if (req == CN_REQ_NULL || m == 0 || n == 0) return;
  if (k == 0) {
    if (req != CN_REQ_ADD) std::fill(c, c + m * n, DType(0));
    return;
  }
  cn::Gemm(ta, tb, m, n, k, DType(1), a, lda, b, ldb, DType(req == CN_REQ_ADD ? 1 : 0), c, n);
}

// The forward and both gradients of one product; `batch` items at strides of their sizes.
// Small products run one item per thread (single-threaded GEMMs); big ones use threaded GEMMs.
template <typename DType>
struct Batched {
  const Product& g;
  int64_t batch;

  template <typename Call>
  void Each(Call call) const {
    if (batch == 1 || g.m * g.n * g.k >= (int64_t(1) << 22)) {
      for (int64_t i = 0; i < batch; ++i) call(i);
    } else {
      cn::ParallelFor(batch, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) call(i);
      });
    }
  }
  void Forward(const DType* a, const DType* b, DType* c, int32_t req) const {
    Each([&](int64_t i) {
      Multiply(g.ta, g.tb, g.m, g.n, g.k, a + i * g.m * g.k, g.lda, b + i * g.k * g.n, g.ldb,
               c + i * g.m * g.n, req);
    });
  }
  // dA stored as (m, k), or (k, m) when ta: G op(B)^T, or op(B) G^T.
  void GradA(const DType* dc, const DType* b, DType* da, int32_t req) const {
    Each([&](int64_t i) {
      const DType *gi = dc + i * g.m * g.n, *bi = b + i * g.k * g.n;
      DType* dai = da + i * g.m * g.k;
      if (g.ta)
        Multiply(g.tb, true, g.k, g.m, g.n, bi, g.ldb, gi, g.n, dai, req);
      else
        Multiply(false, !g.tb, g.m, g.k, g.n, gi, g.n, bi, g.ldb, dai, req);
    });
  }
  // dB stored as (k, n), or (n, k) when tb: op(A)^T G, or G^T op(A).
  void GradB(const DType* dc, const DType* a, DType* db, int32_t req) const {
    Each([&](int64_t i) {
      const DType *gi = dc + i * g.m * g.n, *ai = a + i * g.m * g.k;
      DType* dbi = db + i * g.k * g.n;
      if (g.tb)
        Multiply(true, g.ta, g.n, g.k, g.m, gi, g.n, ai, g.lda, dbi, req);
      else
        Multiply(!g.ta, false, g.k, g.n, g.m, ai, g.lda, gi, g.n, dbi, req);
    });
  }
};

void CheckSameDType(const cn::Tensor& l, const cn::Tensor& r) {
  if (l.dtype != r.dtype)
    throw cn::Error(cn::Msg("input 'rhs' must have dtype ", cn::DTypeName(l.dtype),
                            " like lhs, found ", cn::DTypeName(r.dtype)));
}

template <bool kBatch>
Product ProductOf(const DotParam& p, const cn::Shape& l, const cn::Shape& r, int64_t* batch) {
  if (kBatch) return BatchProduct(p, l, r, batch);
  *batch = 1;
  return DotProduct(p, l, r);
}

template <bool kBatch>
void Forward(const DotParam& p, const cn::ForwardArgs& a) {
  const cn::Tensor &l = a.in[kLhs], &r = a.in[kRhs];
  CheckSameDType(l, r);
  int64_t batch;
  Product g = ProductOf<kBatch>(p, l.shape(), r.shape(), &batch);
  CN_FLOAT_SWITCH(l.dtype, DType, {
    Batched<DType>{g, batch}.Forward(l.ptr<DType>(), r.ptr<DType>(), a.out[0].ptr<DType>(),
                                     a.req[0]);
  });
}

template <bool kBatch>
void Backward(const DotParam& p, const cn::BackwardArgs& a) {
  const cn::Tensor &l = a.in[kLhs], &r = a.in[kRhs];
  int64_t batch;
  Product g = ProductOf<kBatch>(p, l.shape(), r.shape(), &batch);
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    Batched<DType> run{g, batch};
    const DType* dc = a.out_grad[0].ptr<DType>();
    if (a.req[kLhs] != CN_REQ_NULL)
      run.GradA(dc, r.ptr<DType>(), a.in_grad[kLhs].ptr<DType>(), a.req[kLhs]);
    if (a.req[kRhs] != CN_REQ_NULL)
      run.GradB(dc, l.ptr<DType>(), a.in_grad[kRhs].ptr<DType>(), a.req[kRhs]);
  });
}

void Needs(const DotParam&, cn::BackwardNeeds& n) { n.input(kLhs).input(kRhs).out_grad(0); }

}  // namespace

CN_REGISTER_OP(dot, DotParam)
    .describe("Dot product of two arrays: inner product of vectors, matrix product of "
              "matrices, and for N-D arrays a sum product over the last axis of lhs and the "
              "first axis of rhs (the first of lhs / last of rhs when transposed).")
    .inputs({"lhs", "rhs"})
    .outputs({"output"})
    .infer_shape(DotShape)
    .forward(Forward<false>)
    .backward(Backward<false>)
    .backward_needs(Needs)
    .flags(CN_FLAG_EXPENSIVE);

CN_REGISTER_OP(batch_dot, DotParam)
    .describe("Batchwise dot product: (B.., M, K) x (B.., K, N) -> (B.., M, N), optionally "
              "transposing the last two axes of either input.")
    .inputs({"lhs", "rhs"})
    .outputs({"output"})
    .infer_shape(BatchDotShape)
    .forward(Forward<true>)
    .backward(Backward<true>)
    .backward_needs(Needs)
    .flags(CN_FLAG_EXPENSIVE);
