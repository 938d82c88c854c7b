// gather_nd / scatter_nd: N-dimensional indexing with an index array of shape (M, Y...).
//   gather_nd(data, indices): out[y..., t...] = data[indices[0, y...], ..., indices[M-1, y...],
//     t...]; out shape = indices.shape[1:] + data.shape[M:].
//   scatter_nd(data, indices, shape): out = zeros(shape), then out[indices[:, y...], t...] =
//     data[y..., t...] (a repeated position keeps the last write).
// Indices are truncated toward zero; a negative index counts from the end (MXNet's gather_nd
// does this); anything outside [-n, n) raises (MXNet's gather_nd raises, its scatter_nd writes out
// of bounds). Backward: gather_nd's is a scatter-add of dy, scatter_nd's is gather_nd of dy (for
// repeated positions every write gets the gradient, as in MXNet).
#include <algorithm>
#include <vector>

#include "kernels/index_util.h"

namespace {

enum { kData, kIndex };

struct ScatterParam {
  cn::Shape shape;
  static void Declare(cn::ParamDecl<ScatterParam>& d) {
    d.field("shape", &ScatterParam::shape, cn::Shape{}, "Shape of the output.").required();
  }
};

// Output shape of a gather from `data` (or the data shape of a scatter into `data`).
cn::Shape Gathered(const cn::Shape& data, const cn::Shape& idx, const char* data_name) {
  if (idx.ndim < 1) throw cn::Error("input 'indices' must have at least 1 dim, found ()");
  int64_t m = idx[0];
  if (m < 1 || m > data.ndim)
    throw cn::Error(cn::Msg("input 'indices' of shape ", idx, " indexes ", m, " dims, but '",
                            data_name, "' ", data, " has ", data.ndim));
  std::vector<int64_t> out(idx.dims + 1, idx.dims + idx.ndim);
  for (int d = static_cast<int>(m); d < data.ndim; ++d) out.push_back(data[d]);
  if (out.empty()) out.push_back(1);  // MXNet has no 0-d arrays
  return cn::Shape(out);
}

void GatherShape(const cn::NoParams&, cn::ShapeContext& s) {
  cn::Shape data = s.in(kData), idx = s.in(kIndex);
  if (data.known() && idx.known()) s.SetOutput(0, Gathered(data, idx, "data"));
}

void ScatterShape(const ScatterParam& p, cn::ShapeContext& s) {
  cn::Shape idx = s.in(kIndex);
  if (p.shape.ndim < 1) throw cn::Error("param 'shape' must have at least 1 dim");
  s.SetOutput(0, p.shape);
  if (idx.known()) s.SetInput(kData, Gathered(p.shape, idx, "shape"));
}

template <typename P>
void IndexedType(const P&, std::vector<int>& in, std::vector<int>& out, std::vector<int>&) {
  if (in[kIndex] < 0) in[kIndex] = in[kData] < 0 ? CN_FLOAT32 : in[kData];
  out[0] = in[kData];
}

// For each of the Y positions, the offset (in units of the tail size) into the full tensor.
std::vector<int64_t> Offsets(const cn::Tensor& idx, const cn::Shape& full) {
  int64_t m = idx.dims[0], y = m ? idx.size() / m : 0;
  std::vector<int64_t> off(y, 0);
  CN_INDEX_SWITCH(idx.dtype, "input 'indices'", IType, {
    const IType* raw = idx.ptr<IType>();
    for (int64_t d = 0; d < m; ++d) {
      int64_t n = full[static_cast<int>(d)];
      for (int64_t j = 0; j < y; ++j) {
        int64_t k = cn_index::ToIndex(raw[d * y + j]);
        if (k < -n || k >= n)
          throw cn::Error(cn::Msg("index ", static_cast<double>(raw[d * y + j]), " is out of ",
                                  "bounds for axis ", d, " with size ", n));
        off[j] = off[j] * n + (k < 0 ? k + n : k);
      }
    }
  });
  return off;
}

// dst[j-th tail] (op)= src[offset j tail] or the reverse; the common gather loop.
template <typename DType>
void Gather(const DType* full, const std::vector<int64_t>& off, int64_t tail, DType* out,
            int32_t req) {
  for (size_t j = 0; j < off.size(); ++j)
    for (int64_t t = 0; t < tail; ++t) cn::Store(&out[j * tail + t], req, full[off[j] * tail + t]);
}

int64_t TailOf(const cn::Shape& full, int64_t m) { return full.prod(static_cast<int>(m), full.ndim); }

void GatherForward(const cn::NoParams&, const cn::ForwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  cn::Shape full = a.in[kData].shape();
  std::vector<int64_t> off = Offsets(a.in[kIndex], full);
  int64_t tail = TailOf(full, a.in[kIndex].dims[0]);
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, {
    Gather(a.in[kData].ptr<DType>(), off, tail, a.out[0].ptr<DType>(), a.req[0]);
  });
}

void ZeroIndexGrad(const cn::BackwardArgs& a) {
  int32_t req = a.req[kIndex];
  if (req != CN_REQ_WRITE && req != CN_REQ_INPLACE) return;
  const cn::Tensor& g = a.in_grad[kIndex];
  std::fill(static_cast<char*>(g.data),
            static_cast<char*>(g.data) + g.size() * cn::DTypeSize(g.dtype), char(0));
}

void GatherBackward(const cn::NoParams&, const cn::BackwardArgs& a) {
  ZeroIndexGrad(a);
  int32_t req = a.req[kData];
  if (req == CN_REQ_NULL) return;
  const cn::Tensor& g = a.in_grad[kData];
  cn::Shape full = g.shape();
  std::vector<int64_t> off = Offsets(a.in[kIndex], full);
  int64_t tail = TailOf(full, a.in[kIndex].dims[0]);
  CN_FLOAT_SWITCH(g.dtype, DType, {
    DType* dx = g.ptr<DType>();
    const DType* dy = a.out_grad[0].ptr<DType>();
    if (req != CN_REQ_ADD) std::fill(dx, dx + g.size(), DType(0));
    for (size_t j = 0; j < off.size(); ++j)
      for (int64_t t = 0; t < tail; ++t) dx[off[j] * tail + t] += dy[j * tail + t];
  });
}

void ScatterForward(const ScatterParam& p, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  std::vector<int64_t> off = Offsets(a.in[kIndex], p.shape);
  int64_t tail = TailOf(p.shape, a.in[kIndex].dims[0]);
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, {
    const DType* x = a.in[kData].ptr<DType>();
    DType* y = a.out[0].ptr<DType>();
    // For req=add the scattered values add onto the existing output; the last write wins
    // among repeats, so collect into a scratch image first.
    std::vector<DType> img(p.shape.size(), DType(0));
    for (size_t j = 0; j < off.size(); ++j)
      for (int64_t t = 0; t < tail; ++t) img[off[j] * tail + t] = x[j * tail + t];
    for (int64_t i = 0; i < p.shape.size(); ++i) cn::Store(&y[i], req, img[i]);
  });
}

void ScatterBackward(const ScatterParam& p, const cn::BackwardArgs& a) {
  ZeroIndexGrad(a);
  int32_t req = a.req[kData];
  if (req == CN_REQ_NULL) return;
  std::vector<int64_t> off = Offsets(a.in[kIndex], p.shape);
  int64_t tail = TailOf(p.shape, a.in[kIndex].dims[0]);
  CN_FLOAT_SWITCH(a.in_grad[kData].dtype, DType, {
    Gather(a.out_grad[0].ptr<DType>(), off, tail, a.in_grad[kData].ptr<DType>(), req);
  });
}

template <typename P>
void Needs(const P&, cn::BackwardNeeds& n) { n.input(kIndex).out_grad(0); }

}  // namespace

CN_REGISTER_OP(gather_nd, cn::NoParams)
    .describe("Gathers elements or slices of `data` at N-dimensional `indices` (M, Y...).")
    .inputs({"data", "indices"})
    .outputs({"output"})
    .infer_shape(GatherShape)
    .infer_type(IndexedType<cn::NoParams>)
    .forward(GatherForward)
    .backward(GatherBackward)
    .backward_needs(Needs<cn::NoParams>);

CN_REGISTER_OP(scatter_nd, ScatterParam)
    .describe("Scatters `data` into a zero array of `shape` at N-dimensional `indices` (M, Y...).")
    .inputs({"data", "indices"})
    .outputs({"output"})
    .infer_shape(ScatterShape)
    .infer_type(IndexedType<ScatterParam>)
    .forward(ScatterForward)
    .backward(ScatterBackward)
    .backward_needs(Needs<ScatterParam>);
