// Replicating ops: broadcast_to, broadcast_axis, broadcast_like, tile, repeat.
// Each is described by an "expansion": the input seen with some unit dims (`in`) and the output
// seen with the same number of dims (`out`), where in[k] is 1 or out[k]. The output is the input
// read with stride 0 along every stretched dim; e.g.
//   tile(x of (a, b), reps=(r, s)):  in (1, a, 1, b) -> out (r, a, s, b), stored as (r*a, s*b)
//   repeat(x of (a, b), repeats=r, axis=0):  in (a, 1, b) -> out (a, r, b), stored as (a*r, b)
// Forward is one strided gather. Backward sums dy over the stretched dims into dx (the reduction
// behind `sum`), reading only the output gradient; broadcast_like's rhs gets a zero gradient.
#include <optional>
#include <vector>

#include "kernels/strided_view.h"

namespace {

struct Expansion {
  std::vector<int64_t> in, out;
  cn::Shape result;  // the output's shape: `out`, possibly with neighbouring dims merged
};

Expansion Plain(const cn::Shape& x, const std::vector<int64_t>& out) {
  return {x.vec(), out, cn::Shape(out)};
}

// Checks that every in[k] is 1 or out[k]; `what` describes the op call in the error.
void CheckExpansion(const Expansion& e, const std::string& what) {
  for (size_t k = 0; k < e.in.size(); ++k) {
    if (e.out[k] <= 0)
      throw cn::Error(cn::Msg(what, ": target size ", e.out[k], " must be positive"));
    if (e.in[k] != 1 && e.in[k] != e.out[k])
      throw cn::Error(cn::Msg(what, ": dim ", k, " of size ", e.in[k],
                              " can only be broadcast if it is 1 or equals the target ",
                              e.out[k]));
  }
}

// The input read as the (dense) expanded output: stride 0 along stretched dims.
cn_view::View ExpandedView(const Expansion& e) {
  int64_t stride[CN_MAX_NDIM];
  cn::Shape in(e.in);
  cn_view::DenseStrides(in, stride);
  cn_view::View v;
  for (size_t k = 0; k < e.in.size(); ++k) v.Push(e.out[k], e.in[k] == 1 ? 0 : stride[k]);
  return v;
}

template <typename DType>
void ReduceExpanded(const Expansion& e, const DType* dy, DType* dx, int64_t dx_size, int32_t req) {
  if (req == CN_REQ_NULL) return;
  cn_view::ZeroForWrite(dx, dx_size, req);
  cn_view::View v = ExpandedView(e);
  if (v.size() == 0) return;
  v = v.Simplified();
  int64_t n = v.dims[v.ndim - 1];
  if (v.stride[v.ndim - 1] == 0 && n < 64) {
    // Short reduced rows (repeat along the last axis): a plain loop per row; rows may share a
    // dx element only if an outer dim is stretched too, and then the loop stays serial.
    bool distinct = true;
    for (int k = 0; k + 1 < v.ndim; ++k) distinct = distinct && v.stride[k] != 0;
    auto rows = [&](int64_t r0, int64_t r1) {
      for (int64_t row = r0; row < r1; ++row) {
        DType s = 0;
        for (int64_t i = 0; i < n; ++i) s += dy[row * n + i];
        dx[v.RowOffset(row)] += s;
      }
    };
    if (distinct)
      cn_elem::ChunkedRows(v.size() / n, n, rows);
    else
      rows(0, v.size() / n);
    return;
  }
  cn_elem::AccumulateRows(v.size() / n, n, v.stride[v.ndim - 1] == 0, dx, [&](int64_t row) {
    const DType* g = dy + row * n;
    return std::make_pair(v.RowOffset(row), [g](int64_t i) { return g[i]; });
  });
}

// Ops with one input: Expand(param, input shape).
template <typename P, Expansion (*Expand)(const P&, const cn::Shape&)>
struct Unary {
  static void Shape(const P& p, cn::ShapeContext& s) {
    cn::Shape x = s.in(0);
    if (x.known()) s.SetOutput(0, Expand(p, x).result);
  }
  static void Forward(const P& p, const cn::ForwardArgs& a) {
    cn_view::View v = ExpandedView(Expand(p, a.in[0].shape()));
    CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
      cn_view::Gather(v, a.in[0].ptr<DType>(), a.out[0].ptr<DType>(), a.req[0]);
    });
  }
  static void Backward(const P& p, const cn::BackwardArgs& a) {
    if (a.req[0] == CN_REQ_NULL) return;
    Expansion e = Expand(p, a.in_grad[0].shape());
    CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
      ReduceExpanded(e, a.out_grad[0].ptr<DType>(), a.in_grad[0].ptr<DType>(),
                     a.in_grad[0].size(), a.req[0]);
    });
  }
  static void Needs(const P&, cn::BackwardNeeds& n) { n.out_grad(0); }
};

// ---------------------------------------------------------------- broadcast_to

struct BroadcastToParam {
  cn::Shape shape;
  static void Declare(cn::ParamDecl<BroadcastToParam>& d) {
    d.field("shape", &BroadcastToParam::shape, cn::Shape{},
            "The shape of the desired array. We can set the dim to zero if it's same as the "
            "original. E.g `A = broadcast_to(B, shape=(10, 0, 0))` has the same meaning as "
            "`A = broadcast_axis(B, axis=0, size=10)`.");
  }
};

Expansion BroadcastToExpand(const BroadcastToParam& p, const cn::Shape& x) {
  std::string what = cn::Msg("cannot broadcast input 'data' of shape ", x, " to ", p.shape);
  if (p.shape.ndim != x.ndim)
    throw cn::Error(cn::Msg(what, ": shape must have one entry per input dim"));
  std::vector<int64_t> out = p.shape.vec();
  for (int k = 0; k < x.ndim; ++k)
    if (out[k] == 0) out[k] = x[k];
  Expansion e = Plain(x, out);
  CheckExpansion(e, what);
  return e;
}

// ---------------------------------------------------------------- broadcast_axis

struct BroadcastAxisParam {
  cn::Shape axis, size;
  static void Declare(cn::ParamDecl<BroadcastAxisParam>& d) {
    d.field("axis", &BroadcastAxisParam::axis, cn::Shape{},
            "The axes to perform the broadcasting.");
    d.field("size", &BroadcastAxisParam::size, cn::Shape{},
            "Target sizes of the broadcasting axes.");
  }
};

Expansion BroadcastAxisExpand(const BroadcastAxisParam& p, const cn::Shape& x) {
  std::string what = cn::Msg("cannot broadcast input 'data' of shape ", x, " along axis ",
                             p.axis, " to size ", p.size);
  if (p.axis.ndim != p.size.ndim)
    throw cn::Error(cn::Msg(what, ": axis and size must have the same length"));
  std::vector<int64_t> out = x.vec();
  for (int i = 0; i < p.axis.ndim; ++i) {
    int64_t a = p.axis[i];
    if (a < -x.ndim || a >= x.ndim) throw cn::Error(cn::Msg(what, ": axis ", a, " out of range"));
    if (a < 0) a += x.ndim;
    if (x[a] != 1) throw cn::Error(cn::Msg(what, ": axis ", a, " has size ", x[a], ", not 1"));
    out[a] = p.size[i];
  }
  Expansion e = Plain(x, out);
  CheckExpansion(e, what);
  return e;
}

// ---------------------------------------------------------------- tile

struct TileParam {
  cn::Shape reps;
  static void Declare(cn::ParamDecl<TileParam>& d) {
    d.field("reps", &TileParam::reps, cn::Shape{},
            "The number of times for repeating the tensor a. Each dim size of reps must be a "
            "positive integer. If reps has length d, the result will have dimension of "
            "max(d, a.ndim); If a.ndim < d, a is promoted to be d-dimensional by prepending "
            "new axes. If a.ndim > d, reps is promoted to a.ndim by pre-pending 1's to it.")
        .required()
        .at_least(0);
  }
};

// Axes repeated more than once become a (reps, size) pair; the others stay one dim.
Expansion TileExpand(const TileParam& p, const cn::Shape& x) {
  int nd = std::max(x.ndim, p.reps.ndim);
  Expansion e;
  std::vector<int64_t> result;
  for (int k = 0; k < nd; ++k) {
    int64_t d = k < nd - x.ndim ? 1 : x[k - (nd - x.ndim)];
    int64_t r = k < nd - p.reps.ndim ? 1 : p.reps[k - (nd - p.reps.ndim)];
    if (r <= 0)
      throw cn::Error(cn::Msg("reps ", p.reps, " must hold positive counts, found ", r));
    if (r > 1) {
      e.in.push_back(1);
      e.out.push_back(r);
    }
    e.in.push_back(d);
    e.out.push_back(d);
    result.push_back(cn::MulDims(r, d, "tile: reps times the input size"));
  }
  if (e.in.size() > CN_MAX_NDIM)
    throw cn::Error(cn::Msg("tile of input 'data' of shape ", x, " by reps ", p.reps,
                            " needs more than ", CN_MAX_NDIM, " internal dims; not supported"));
  e.result = cn::Shape(result);
  return e;
}

// ---------------------------------------------------------------- repeat

struct RepeatParam {
  int repeats;
  std::optional<int64_t> axis;
  static void Declare(cn::ParamDecl<RepeatParam>& d) {
    d.field("repeats", &RepeatParam::repeats, 0, "The number of repetitions for each element.")
        .required()
        .at_least(0);
    d.field("axis", &RepeatParam::axis, "The axis along which to repeat values. The negative "
            "numbers are interpreted counting from the backward. By default, use the flattened "
            "input array, and return a flat output array.");
  }
};

Expansion RepeatExpand(const RepeatParam& p, const cn::Shape& x) {
  if (p.repeats <= 0)
    throw cn::Error(cn::Msg("repeats must be positive, found ", p.repeats));
  if (!p.axis) {
    int64_t n = x.size();
    return {{n, 1}, {n, p.repeats}, cn::Shape{cn::MulDims(n, p.repeats, "repeat: output size")}};
  }
  int64_t a = *p.axis;
  if (a < -x.ndim || a >= x.ndim)
    throw cn::Error(cn::Msg("axis ", a, " is out of range for input 'data' of shape ", x));
  if (a < 0) a += x.ndim;
  if (x.ndim + 1 > CN_MAX_NDIM)
    throw cn::Error(cn::Msg("repeat along an axis supports at most ", CN_MAX_NDIM - 1, " dims"));
  Expansion e{x.vec(), x.vec(), x};
  e.in.insert(e.in.begin() + a + 1, 1);
  e.out.insert(e.out.begin() + a + 1, p.repeats);
  e.result[static_cast<int>(a)] =
      cn::MulDims(e.result[static_cast<int>(a)], p.repeats, "repeat: output size");
  return e;
}

// ---------------------------------------------------------------- broadcast_like

struct BroadcastLikeParam {
  cn::Shape lhs_axes, rhs_axes;
  static void Declare(cn::ParamDecl<BroadcastLikeParam>& d) {
    d.field("lhs_axes", &BroadcastLikeParam::lhs_axes, cn::Shape(),
            "Axes to perform broadcast on in the first input array");
    d.field("rhs_axes", &BroadcastLikeParam::rhs_axes, cn::Shape(),
            "Axes to copy from the second input array");
  }
};

Expansion LikeExpand(const BroadcastLikeParam& p, const cn::Shape& l, const cn::Shape& r) {
  std::string what = cn::Msg("cannot broadcast input 'lhs' of shape ", l, " like 'rhs' of shape ",
                             r);
  std::vector<int64_t> out = l.vec();
  if (!p.lhs_axes.known() || !p.rhs_axes.known()) {
    if (l.ndim != r.ndim) throw cn::Error(cn::Msg(what, ": they differ in the number of dims"));
    for (int k = 0; k < l.ndim; ++k)
      if (r[k] != 0) out[k] = r[k];
  } else {
    if (p.lhs_axes.ndim != p.rhs_axes.ndim)
      throw cn::Error(cn::Msg(what, ": lhs_axes ", p.lhs_axes, " and rhs_axes ", p.rhs_axes,
                              " must have the same length"));
    for (int i = 0; i < p.lhs_axes.ndim; ++i) {
      int64_t a = p.lhs_axes[i], b = p.rhs_axes[i];
      if (a < -l.ndim || a >= l.ndim || b < -r.ndim || b >= r.ndim)
        throw cn::Error(cn::Msg(what, ": axes ", a, " / ", b, " out of range"));
      out[a < 0 ? a + l.ndim : a] = r[b < 0 ? b + r.ndim : b];
    }
  }
  Expansion e = Plain(l, out);
  CheckExpansion(e, what);
  return e;
}

void LikeShape(const BroadcastLikeParam& p, cn::ShapeContext& s) {
  cn::Shape l = s.in(0), r = s.in(1);
  if (l.known() && r.known()) s.SetOutput(0, LikeExpand(p, l, r).result);
}

void LikeForward(const BroadcastLikeParam& p, const cn::ForwardArgs& a) {
  cn_view::View v = ExpandedView(LikeExpand(p, a.in[0].shape(), a.in[1].shape()));
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    cn_view::Gather(v, a.in[0].ptr<DType>(), a.out[0].ptr<DType>(), a.req[0]);
  });
}

// The expansion follows from the shapes of dx and dy alone, so rhs need not be kept.
void LikeBackward(const BroadcastLikeParam&, const cn::BackwardArgs& a) {
  cn::Shape dy = a.out_grad[0].shape();
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    if (a.req[0] != CN_REQ_NULL) {
      Expansion e = Plain(a.in_grad[0].shape(), dy.vec());
      ReduceExpanded(e, a.out_grad[0].ptr<DType>(), a.in_grad[0].ptr<DType>(),
                     a.in_grad[0].size(), a.req[0]);
    }
    if (a.req[1] != CN_REQ_NULL)
      cn_view::ZeroForWrite(a.in_grad[1].ptr<DType>(), a.in_grad[1].size(), a.req[1]);
  });
}

void LikeNeeds(const BroadcastLikeParam&, cn::BackwardNeeds& n) { n.out_grad(0); }

using BroadcastTo = Unary<BroadcastToParam, BroadcastToExpand>;
using BroadcastAxis = Unary<BroadcastAxisParam, BroadcastAxisExpand>;
using Tile = Unary<TileParam, TileExpand>;
using Repeat = Unary<RepeatParam, RepeatExpand>;

}  // namespace

CN_REGISTER_OP(broadcast_to, BroadcastToParam)
    .describe("Broadcasts the input array to a new shape (a dim of 0 keeps the input's size).")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(BroadcastTo::Shape)
    .forward(BroadcastTo::Forward)
    .backward(BroadcastTo::Backward)
    .backward_needs(BroadcastTo::Needs);

CN_REGISTER_OP(broadcast_axis, BroadcastAxisParam)
    .describe("Broadcasts the input array over particular axes (each of size 1).")
    .alias("broadcast_axes")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(BroadcastAxis::Shape)
    .forward(BroadcastAxis::Forward)
    .backward(BroadcastAxis::Backward)
    .backward_needs(BroadcastAxis::Needs);

CN_REGISTER_OP(broadcast_like, BroadcastLikeParam)
    .describe("Broadcasts lhs to have the same shape as rhs (or only the axes lhs_axes to the "
              "sizes of rhs's rhs_axes).")
    .inputs({"lhs", "rhs"})
    .outputs({"output"})
    .infer_shape(LikeShape)
    .forward(LikeForward)
    .backward(LikeBackward)
    .backward_needs(LikeNeeds);

CN_REGISTER_OP(tile, TileParam)
    .describe("Repeats the whole array multiple times along each axis (reps).")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(Tile::Shape)
    .forward(Tile::Forward)
    .backward(Tile::Backward)
    .backward_needs(Tile::Needs);

CN_REGISTER_OP(repeat, RepeatParam)
    .describe("Repeats each element of an array `repeats` times along `axis` (or of the "
              "flattened array when axis=None).")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(Repeat::Shape)
    .forward(Repeat::Forward)
    .backward(Repeat::Backward)
    .backward_needs(Repeat::Needs);
