// Pad and Crop: grow or shrink the spatial axes (H, W) of NCHW images.
//   Pad(mode, pad_width, constant_value): pad_width = (before_0, after_0, ..., before_n, after_n)
//     with zeros for N and C, as MXNet requires. Output position o of a spatial axis of size d
//     reads input o - before, mapped into [0, d) by the mode: constant (outside: constant_value),
//     edge (clamp), reflect (mirror without repeating the edge, needs before, after < d).
//     Only the border columns go through that map; the interior of each row is a contiguous
//     copy. Backward adds each dy into the input position it was read from (edge and reflect
//     read some positions several times), so threads split planes, not rows.
//   Crop(num_args, offset, h_w, center_crop): the legacy crop of H and W: to h_w (one input) or to
//     the H and W of the second input `crop_like`, at offset (y, x) or centred. It is a strided
//     view: forward gathers, backward scatters dy into a zeroed dx; crop_like gets a zero
//     gradient. Both backward passes read only the output gradient.
#include <string>
#include <vector>

#include "kernels/strided_view.h"

namespace {

// ---------------------------------------------------------------- Pad

enum PadMode { kConstant, kEdge, kReflect };

struct PadParam {
  int mode;
  cn::Shape pad_width;
  double constant_value;
  static void Declare(cn::ParamDecl<PadParam>& d) {
    d.choice("mode", &PadParam::mode, {"constant", "edge", "reflect"}, "constant",
             "Padding type to use. \"constant\" pads with `constant_value`, \"edge\" pads using "
             "the edge values of the input array, \"reflect\" pads by reflecting values with "
             "respect to the edges.")
        .required();
    d.field("pad_width", &PadParam::pad_width, cn::Shape(),
            "Widths of the padding regions applied to the edges of each axis: (before_1, "
            "after_1, ..., before_N, after_N), zero for the first two axes.")
        .required()
        .at_least(0);
    d.field("constant_value", &PadParam::constant_value, 0.0,
            "The value used for padding when `mode` is \"constant\".");
  }
};

void CheckPad(const PadParam& p, const cn::Shape& x) {
  std::string what = cn::Msg("pad_width ", p.pad_width, " for input 'data' of shape ", x);
  // pad_width of a 5-D input has 10 entries, more than a Shape parameter holds.
  if (x.ndim != 4)
    throw cn::Error(cn::Msg("input 'data' must be 4-D (NCHW), found shape ", x,
                            " (5-D padding is not supported)"));
  if (p.pad_width.ndim != 2 * x.ndim)
    throw cn::Error(cn::Msg(what, ": expected ", 2 * x.ndim, " entries (before, after per axis)"));
  for (int k = 0; k < 4; ++k)
    if (p.pad_width[k] != 0)
      throw cn::Error(cn::Msg(what, ": the N and C axes cannot be padded (first four entries "
                              "must be 0)"));
  for (int k = 4; k < p.pad_width.ndim; ++k) {
    int64_t w = p.pad_width[k], d = x[k / 2];
    if (w < 0) throw cn::Error(cn::Msg(what, ": widths must not be negative"));
    if (p.mode == kReflect && w >= d)
      throw cn::Error(cn::Msg(what, ": reflect padding of axis ", k / 2, " needs widths below its"
                              " size ", d));
    // Edge padding copies the border values: an empty axis has none to copy (the fuzzer found
    // this read and wrote outside the arrays).
    if (p.mode == kEdge && w > 0 && d == 0)
      throw cn::Error(cn::Msg(what, ": edge padding of axis ", k / 2, " needs a non-empty axis"));
  }
}

void PadShape(const PadParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  CheckPad(p, x);
  cn::Shape y = x;
  for (int k = 2; k < x.ndim; ++k)
    y[k] = cn::AddDims(x[k], cn::AddDims(p.pad_width[2 * k], p.pad_width[2 * k + 1], "pad_width"),
                       "padded size");
  s.SetOutput(0, y);
}

// For each spatial axis, the input offset (index times stride) every output index reads, or -1
// for a constant pad.
std::vector<std::vector<int64_t>> PadSources(const PadParam& p, const cn::Shape& x) {
  std::vector<std::vector<int64_t>> maps;
  int64_t stride = 1;
  for (int k = x.ndim - 1; k >= 2; --k) {
    int64_t d = x[k], before = p.pad_width[2 * k], out = d + before + p.pad_width[2 * k + 1];
    std::vector<int64_t> m(out);
    for (int64_t o = 0; o < out; ++o) {
      int64_t i = o - before;
      if (i < 0 || i >= d) {
        if (p.mode == kConstant) i = -1;
        else if (p.mode == kEdge) i = i < 0 ? 0 : d - 1;
        else i = i < 0 ? -i : 2 * (d - 1) - i;
      }
      m[o] = i < 0 ? -1 : i * stride;
    }
    maps.insert(maps.begin(), m);
    stride *= d;
  }
  return maps;
}

// The padding of one image plane: the input row offset (or -1) of each output row, the input
// column (or -1) of each output column; columns [before, before + w) are the interior.
struct PlaneMap {
  std::vector<int64_t> rows, cols;  // PadSources for H and W
  int64_t before, w;                // left pad and input width
};

PlaneMap MakePlaneMap(const PadParam& p, const cn::Shape& x) {
  auto maps = PadSources(p, x);
  return {maps[0], maps[1], p.pad_width[6], x[3]};
}

void PadForward(const PadParam& p, const cn::ForwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  cn::Shape x = a.in[0].shape();
  CheckPad(p, x);
  PlaneMap m = MakePlaneMap(p, x);
  int64_t planes = x[0] * x[1], in_plane = x[2] * x[3], oh = m.rows.size(), ow = m.cols.size();
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    DType value = static_cast<DType>(p.constant_value);
    cn_elem::ChunkedRows(planes * oh, ow, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        DType* yr = a.out[0].ptr<DType>() + r * ow;
        if (m.rows[r % oh] < 0) {  // a constant row
          for (int64_t o = 0; o < ow; ++o) cn::Store(&yr[o], req, value);
          continue;
        }
        const DType* xr = a.in[0].ptr<DType>() + r / oh * in_plane + m.rows[r % oh];
        for (int64_t o = 0; o < ow; ++o) {
          if (o == m.before) o += m.w;  // the interior, below
          if (o < ow) cn::Store(&yr[o], req, m.cols[o] < 0 ? value : xr[m.cols[o]]);
        }
        DType* yi = yr + m.before;
        if (req == CN_REQ_ADD) {
          for (int64_t i = 0; i < m.w; ++i) yi[i] += xr[i];
        } else {
          for (int64_t i = 0; i < m.w; ++i) yi[i] = xr[i];
        }
      }
    });
  });
}

// Rows of one plane may read the same input row (edge, reflect), so threads split planes.
void PadBackward(const PadParam& p, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  cn::Shape x = a.in_grad[0].shape();
  PlaneMap m = MakePlaneMap(p, x);
  int64_t planes = x[0] * x[1], in_plane = x[2] * x[3], oh = m.rows.size(), ow = m.cols.size();
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    cn_view::ZeroForWrite(a.in_grad[0].ptr<DType>(), x.size(), req);
    cn_elem::ChunkedRows(planes, oh * ow, [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl) {
        for (int64_t row = 0; row < oh; ++row) {
          if (m.rows[row] < 0) continue;
          const DType* g = a.out_grad[0].ptr<DType>() + (pl * oh + row) * ow;
          DType* dxr = a.in_grad[0].ptr<DType>() + pl * in_plane + m.rows[row];
          for (int64_t o = 0; o < ow; ++o) {
            if (o == m.before) o += m.w;
            if (o < ow && m.cols[o] >= 0) dxr[m.cols[o]] += g[o];
          }
          for (int64_t i = 0; i < m.w; ++i) dxr[i] += g[m.before + i];
        }
      }
    });
  });
}

// ---------------------------------------------------------------- Crop

struct CropParam {
  int num_args;
  cn::Shape offset, h_w;
  bool center_crop;
  static void Declare(cn::ParamDecl<CropParam>& d) {
    d.field("num_args", &CropParam::num_args, 0,
            "Number of inputs for crop: 1 crops to h_w, 2 crops to the height and width of the "
            "second input (crop_like).")
        .required()
        .range(1, 2);
    d.field("offset", &CropParam::offset, cn::Shape{0, 0}, "crop offset coordinate: (y, x)")
        .at_least(0);
    d.field("h_w", &CropParam::h_w, cn::Shape{0, 0}, "crop height and width: (h, w)")
        .at_least(0);
    d.field("center_crop", &CropParam::center_crop, false,
            "If set to true, then it will use be the center_crop, or it will crop using the "
            "shape of crop_like");
  }
};

std::vector<std::string> CropInputs(const CropParam& p) {
  if (p.num_args == 1) return {"data"};
  if (p.num_args == 2) return {"data", "crop_like"};
  throw cn::Error(cn::Msg("num_args must be 1 or 2, found ", p.num_args));
}

// The crop window (y, x, h, w) of data shape x, given the target h, w.
cn_view::View CropView(const CropParam& p, const cn::Shape& x, int64_t h, int64_t w) {
  if (x.ndim != 4) throw cn::Error(cn::Msg("input 'data' must be 4-D (NCHW), found shape ", x));
  if (p.offset.ndim != 2 || p.h_w.ndim != 2)
    throw cn::Error(cn::Msg("offset ", p.offset, " and h_w ", p.h_w, " must have two entries"));
  if (h <= 0 || w <= 0)
    throw cn::Error(cn::Msg("crop size (", h, ", ", w, ") must be positive; give h_w or a "
                            "second input"));
  int64_t y0 = p.center_crop ? (x[2] - h) / 2 : p.offset[0];
  int64_t x0 = p.center_crop ? (x[3] - w) / 2 : p.offset[1];
  // Compared as x - h so an offset near 2^63 cannot wrap the sum past the check.
  if (y0 < 0 || x0 < 0 || y0 > x[2] - h || x0 > x[3] - w)
    throw cn::Error(cn::Msg("crop window at (", y0, ", ", x0, ") of size (", h, ", ", w,
                            ") does not fit input 'data' of shape ", x));
  cn_view::View v;
  v.base = y0 * x[3] + x0;
  v.Push(x[0], x[1] * x[2] * x[3]);
  v.Push(x[1], x[2] * x[3]);
  v.Push(h, x[3]);
  v.Push(w, 1);
  return v;
}

void CropShape(const CropParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  int64_t h = p.h_w.ndim == 2 ? p.h_w[0] : 0, w = p.h_w.ndim == 2 ? p.h_w[1] : 0;
  if (p.num_args == 2) {
    cn::Shape like = s.in(1);
    if (!like.known()) return;
    if (like.ndim != 4)
      throw cn::Error(cn::Msg("input 'crop_like' must be 4-D (NCHW), found shape ", like));
    h = like[2];
    w = like[3];
  }
  CropView(p, x, h, w);
  s.SetOutput(0, cn::Shape{x[0], x[1], h, w});
}

void CropForward(const CropParam& p, const cn::ForwardArgs& a) {
  const cn::Tensor& y = a.out[0];
  cn_view::View v = CropView(p, a.in[0].shape(), y.dim(2), y.dim(3));
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    cn_view::Gather(v, a.in[0].ptr<DType>(), y.ptr<DType>(), a.req[0]);
  });
}

void CropBackward(const CropParam& p, const cn::BackwardArgs& a) {
  const cn::Tensor& dy = a.out_grad[0];
  CN_FLOAT_SWITCH(dy.dtype, DType, {
    if (a.req[0] != CN_REQ_NULL) {
      cn::Shape x = a.in_grad[0].shape();
      DType* dx = a.in_grad[0].ptr<DType>();
      cn_view::ZeroForWrite(dx, x.size(), a.req[0]);
      cn_view::Scatter(CropView(p, x, dy.dim(2), dy.dim(3)), dy.ptr<DType>(), dx,
                       a.req[0] == CN_REQ_ADD ? CN_REQ_ADD : CN_REQ_WRITE);
    }
    if (p.num_args == 2 && a.req[1] != CN_REQ_NULL)
      cn_view::ZeroForWrite(a.in_grad[1].ptr<DType>(), a.in_grad[1].size(), a.req[1]);
  });
}

template <typename P>
void NeedsOutGrad(const P&, cn::BackwardNeeds& n) { n.out_grad(0); }

}  // namespace

CN_REGISTER_OP(Pad, PadParam)
    .describe("Pads H and W of an NCHW array with a constant, its edge values or its "
              "reflection.")
    .alias("pad")
    .inputs({"data"})
    .outputs({"output"})
    .infer_shape(PadShape)
    .forward(PadForward)
    .backward(PadBackward)
    .backward_needs(NeedsOutGrad<PadParam>);

CN_REGISTER_OP(Crop, CropParam)
    .describe("Crops H and W of an NCHW array to h_w or to the size of a second input "
              "(deprecated in MXNet in favour of slice).")
    .inputs(CropInputs)
    .outputs({"output"})
    .infer_shape(CropShape)
    .forward(CropForward)
    .backward(CropBackward)
    .backward_needs(NeedsOutGrad<CropParam>);
