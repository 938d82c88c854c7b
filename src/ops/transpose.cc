// transpose and SwapAxis: permute the axes of an array.
//   transpose(axes): y.shape[k] = x.shape[axes[k]], y[i_0, ..., i_n-1] = x at index i_k on axis
//     axes[k]; axes=() reverses the axes (a matrix transpose for 2-D input).
//   SwapAxis(dim1, dim2): the permutation that exchanges two axes.
// Forward gathers x through a permuted-stride view; backward gathers dy through the inverse
// permutation, so it reads only the output gradient.
#include <vector>

#include "kernels/strided_view.h"

namespace {

int NormalizeAxis(int64_t axis, int ndim, const char* what) {
  if (axis < -ndim || axis >= ndim)
    throw cn::Error(cn::Msg(what, " ", axis, " is out of range for input 'data' with ", ndim,
                            " dims"));
  return static_cast<int>(axis < 0 ? axis + ndim : axis);
}

// The view of x (shape `x`) that reads it in the order of the permuted output.
cn_view::View PermutedView(const cn::Shape& x, const std::vector<int>& perm) {
  int64_t stride[CN_MAX_NDIM];
  cn_view::DenseStrides(x, stride);
  cn_view::View v;
  for (int axis : perm) v.Push(x[axis], stride[axis]);
  return v;
}

cn::Shape Permuted(const cn::Shape& x, const std::vector<int>& perm) {
  std::vector<int64_t> dims;
  for (int axis : perm) dims.push_back(x[axis]);
  return cn::Shape(dims);
}

template <typename P, std::vector<int> (*Perm)(const P&, int)>
void PermuteShape(const P& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (x.known()) s.SetOutput(0, Permuted(x, Perm(p, x.ndim)));
}

template <typename P, std::vector<int> (*Perm)(const P&, int)>
void PermuteForward(const P& p, const cn::ForwardArgs& a) {
  cn::Shape x = a.in[0].shape();
  cn_view::View v = PermutedView(x, Perm(p, x.ndim));
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    cn_view::Gather(v, a.in[0].ptr<DType>(), a.out[0].ptr<DType>(), a.req[0]);
  });
}

// dx is dy permuted back: a gather with the inverse permutation (gathers, unlike scatters, have
// a cache-tiled path).
template <typename P, std::vector<int> (*Perm)(const P&, int)>
void PermuteBackward(const P& p, const cn::BackwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  cn::Shape x = a.in_grad[0].shape();
  std::vector<int> perm = Perm(p, x.ndim), inverse(perm.size());
  for (size_t k = 0; k < perm.size(); ++k) inverse[perm[k]] = static_cast<int>(k);
  cn_view::View v = PermutedView(a.out_grad[0].shape(), inverse);
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    cn_view::Gather(v, a.out_grad[0].ptr<DType>(), a.in_grad[0].ptr<DType>(), a.req[0]);
  });
}

template <typename P>
void NeedsOutGrad(const P&, cn::BackwardNeeds& n) { n.out_grad(0); }

// ---------------------------------------------------------------- transpose

struct TransposeParam {
  cn::Shape axes;
  static void Declare(cn::ParamDecl<TransposeParam>& d) {
    d.field("axes", &TransposeParam::axes, cn::Shape{},
            "Target axis order. By default the axes will be inverted.");
  }
};

std::vector<int> TransposePerm(const TransposeParam& p, int ndim) {
  std::vector<int> perm;
  if (!p.axes.known() || p.axes.ndim == 0) {
    for (int k = ndim - 1; k >= 0; --k) perm.push_back(k);
    return perm;
  }
  if (p.axes.ndim != ndim)
    throw cn::Error(cn::Msg("axes ", p.axes, " must list each of the ", ndim,
                            " axes of input 'data' once"));
  std::vector<bool> seen(ndim, false);
  for (int k = 0; k < ndim; ++k) {
    int axis = NormalizeAxis(p.axes[k], ndim, "axis");
    if (seen[axis])
      throw cn::Error(cn::Msg("axes ", p.axes, " lists axis ", axis, " twice"));
    seen[axis] = true;
    perm.push_back(axis);
  }
  return perm;
}

// ---------------------------------------------------------------- SwapAxis

struct SwapAxisParam {
  int dim1, dim2;
  static void Declare(cn::ParamDecl<SwapAxisParam>& d) {
    d.field("dim1", &SwapAxisParam::dim1, 0, "the first axis to be swapped.");
    d.field("dim2", &SwapAxisParam::dim2, 0, "the second axis to be swapped.");
  }
};

std::vector<int> SwapPerm(const SwapAxisParam& p, int ndim) {
  int a = NormalizeAxis(p.dim1, ndim, "dim1"), b = NormalizeAxis(p.dim2, ndim, "dim2");
  std::vector<int> perm;
  for (int k = 0; k < ndim; ++k) perm.push_back(k);
  std::swap(perm[a], perm[b]);
  return perm;
}

}  // namespace

CN_REGISTER_OP(transpose, TransposeParam)
    .describe("Permutes the dimensions of an array; axes=() reverses them.")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(PermuteShape<TransposeParam, TransposePerm>)
    .forward(PermuteForward<TransposeParam, TransposePerm>)
    .backward(PermuteBackward<TransposeParam, TransposePerm>)
    .backward_needs(NeedsOutGrad<TransposeParam>);

CN_REGISTER_OP(SwapAxis, SwapAxisParam)
    .describe("Interchanges two axes of an array.")
    .alias("swapaxes")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(PermuteShape<SwapAxisParam, SwapPerm>)
    .forward(PermuteForward<SwapAxisParam, SwapPerm>)
    .backward(PermuteBackward<SwapAxisParam, SwapPerm>)
    .backward_needs(NeedsOutGrad<SwapAxisParam>);
