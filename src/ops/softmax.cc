// softmax and log_softmax along one axis, with an optional temperature T:
//   softmax:     y = exp(x/T - max) / sum(exp(x/T - max))
//   log_softmax: y = x/T - max - log(sum(exp(x/T - max)))
// Backward reads only the output y:
//   softmax:     dx = y * (dy - sum(dy * y)) / T
//   log_softmax: dx = (dy - exp(y) * sum(dy)) / T
// use_length=True adds an input `length` (data's shape without the axis): only the first
// length[...] elements of each row take part; the rest output 0 and get no gradient (MXNet's
// masking). Lengths are clamped to [0, n] (MXNet reads past the row for a length > n).
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "kernels/index_util.h"
#include "kernels/softmax_kernel.h"

namespace {

enum { kData, kLength };

struct SoftmaxParam {
  int axis;
  std::optional<double> temperature;
  std::string dtype;
  bool use_length;
  static void Declare(cn::ParamDecl<SoftmaxParam>& d) {
    d.field("axis", &SoftmaxParam::axis, -1, "The axis along which to compute softmax.");
    d.field("temperature", &SoftmaxParam::temperature, "Temperature parameter in softmax.")
        .finite();
    d.field("dtype", &SoftmaxParam::dtype, std::string("None"),
            "Output dtype; only None (same as the input) is supported.");
    d.field("use_length", &SoftmaxParam::use_length, false,
            "Whether to use a length input masking each row after its length.");
  }
  double T() const {
    double t = temperature.value_or(1.0);
    if (!(t > 0)) throw cn::Error(cn::Msg("temperature must be positive, found ", t));
    return t;
  }
};

void InferShape(const SoftmaxParam& p, cn::ShapeContext& s) {
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  cn_ops::ViewAround(x, p.axis);  // validates the axis
  p.T();
  if (p.dtype != "None" && p.dtype != "'None'")
    throw cn::Error(
        cn::Msg("dtype='", p.dtype, "' is not supported; the output keeps the input dtype"));
  s.SetOutput(0, x);
  if (p.use_length) {
    std::vector<int64_t> rest = x.vec();
    rest.erase(rest.begin() + (p.axis < 0 ? p.axis + x.ndim : p.axis));
    if (rest.empty()) rest.push_back(1);
    s.SetInput(kLength, cn::Shape(rest));
  }
}

void InferType(const SoftmaxParam& p, std::vector<int>& in, std::vector<int>& out,
               std::vector<int>&) {
  out[0] = in[0];
  if (p.use_length && in[kLength] < 0) in[kLength] = CN_INT32;
}

std::vector<std::string> Inputs(const SoftmaxParam& p) {
  if (p.use_length) return {"data", "length"};
  return {"data"};
}

// Row lengths clamped to [0, n], one per (outer, inner) position.
std::vector<int64_t> Lengths(const cn::Tensor& len, int64_t n) {
  std::vector<int64_t> out(len.size());
  CN_INDEX_SWITCH(len.dtype, "input 'length'", IType, {
    const IType* raw = len.ptr<IType>();
    for (int64_t i = 0; i < len.size(); ++i) out[i] = cn_index::Clip(cn_index::ToIndex(raw[i]), n + 1);
  });
  return out;
}

// The masked forward: plain strided loops (a row's scratch keeps y aliasing x safe).
template <typename DType>
void MaskedForward(const cn::ForwardArgs& a, const cn_ops::AxisView& v, double t, bool log) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  std::vector<int64_t> len = Lengths(a.in[kLength], v.n);
  const DType* x = a.in[0].ptr<DType>();
  DType* y = a.out[0].ptr<DType>();
  std::vector<DType> row(v.n);
  for (int64_t j = 0; j < v.outer * v.inner; ++j) {
    int64_t base = (j / v.inner) * v.n * v.inner + j % v.inner, m = len[j];
    DType mx = -std::numeric_limits<DType>::infinity(), sum = 0;
    for (int64_t k = 0; k < m; ++k) mx = std::max(mx, x[base + k * v.inner]);
    for (int64_t k = 0; k < m; ++k) sum += (row[k] = std::exp((x[base + k * v.inner] - mx) / t));
    for (int64_t k = 0; k < v.n; ++k) {
      DType val = k >= m ? DType(0)
                  : log ? (x[base + k * v.inner] - mx) / DType(t) - std::log(sum) : row[k] / sum;
      cn::Store(&y[base + k * v.inner], req, val);
    }
  }
}

template <bool kLog, typename DType>
void MaskedBackward(const SoftmaxParam& p, const cn::BackwardArgs& a) {
  if (a.req[kLength] == CN_REQ_WRITE || a.req[kLength] == CN_REQ_INPLACE) {
    const cn::Tensor& g = a.in_grad[kLength];
    std::memset(g.data, 0, g.size() * cn::DTypeSize(g.dtype));
  }
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  cn_ops::AxisView v = cn_ops::ViewAround(a.out[0].shape(), p.axis);
  std::vector<int64_t> len = Lengths(a.in[kLength], v.n);
  const DType* y = a.out[0].ptr<DType>();
  const DType* dy = a.out_grad[0].ptr<DType>();
  DType* dx = a.in_grad[0].ptr<DType>();
  const DType inv_t = static_cast<DType>(1.0 / p.T());
  for (int64_t j = 0; j < v.outer * v.inner; ++j) {
    int64_t base = (j / v.inner) * v.n * v.inner + j % v.inner, m = len[j];
    DType dot = 0;
    for (int64_t k = 0; k < m; ++k) {
      int64_t at = base + k * v.inner;
      dot += kLog ? dy[at] : dy[at] * y[at];
    }
    for (int64_t k = 0; k < v.n; ++k) {
      int64_t at = base + k * v.inner;
      DType g = k >= m ? DType(0) : kLog ? dy[at] - std::exp(y[at]) * dot : y[at] * (dy[at] - dot);
      cn::Store(&dx[at], req, g * inv_t);
    }
  }
}

template <bool kLog>
void Forward(const SoftmaxParam& p, const cn::ForwardArgs& a) {
  cn_ops::AxisView v = cn_ops::ViewAround(a.in[0].shape(), p.axis);
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    if (p.use_length) return MaskedForward<DType>(a, v, p.T(), kLog);
    cn_ops::SoftmaxForward(a.in[0].ptr<DType>(), a.out[0].ptr<DType>(), v, p.T(), kLog, a.req[0]);
  });
}

// Gradient of one contiguous row (inner == 1); dx may alias dy (the reduction runs first).
template <bool kLog, typename DType>
void BackwardRow(const DType* y, const DType* dy, DType* dx, int64_t n, DType inv_t, int32_t req) {
  DType dot = 0;
#pragma omp simd reduction(+ : dot)
  for (int64_t k = 0; k < n; ++k) dot += kLog ? dy[k] : dy[k] * y[k];
  for (int64_t k = 0; k < n; ++k) {
    DType g = kLog ? dy[k] - cn_fast::Exp(y[k]) * dot : y[k] * (dy[k] - dot);
    cn::Store(&dx[k], req, g * inv_t);
  }
}

// dx may alias dy: each inner column's reduction is done before any of it is overwritten.
template <bool kLog, typename DType>
void BackwardImpl(const SoftmaxParam& p, const cn::BackwardArgs& a) {
  int32_t req = a.req[0];
  if (req == CN_REQ_NULL) return;
  cn_ops::AxisView v = cn_ops::ViewAround(a.out[0].shape(), p.axis);
  const DType* y = a.out[0].ptr<DType>();
  const DType* dy = a.out_grad[0].ptr<DType>();
  DType* dx = a.in_grad[0].ptr<DType>();
  const DType inv_t = static_cast<DType>(1.0 / p.T());
  cn::ParallelFor(v.outer, std::max<int64_t>(1, 4096 / std::max<int64_t>(v.n * v.inner, 1)),
                  [&](int64_t o0, int64_t o1) {
    std::vector<DType> dot(v.inner);
    for (int64_t o = o0; o < o1; ++o) {
      int64_t base = o * v.n * v.inner;
      if (v.inner == 1) {
        BackwardRow<kLog>(y + base, dy + base, dx + base, v.n, inv_t, req);
        continue;
      }
      std::fill(dot.begin(), dot.end(), DType(0));
      for (int64_t k = 0; k < v.n; ++k)
        for (int64_t i = 0; i < v.inner; ++i) {
          int64_t at = base + k * v.inner + i;
          dot[i] += kLog ? dy[at] : dy[at] * y[at];
        }
      for (int64_t k = 0; k < v.n; ++k)
        for (int64_t i = 0; i < v.inner; ++i) {
          int64_t at = base + k * v.inner + i;
          DType g = kLog ? dy[at] - cn_fast::Exp(y[at]) * dot[i] : y[at] * (dy[at] - dot[i]);
          cn::Store(&dx[at], req, g * inv_t);
        }
    }
  });
}

template <bool kLog>
void Backward(const SoftmaxParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.out[0].dtype, DType, {
    if (p.use_length) return MaskedBackward<kLog, DType>(p, a);
    BackwardImpl<kLog, DType>(p, a);
  });
}

void Needs(const SoftmaxParam& p, cn::BackwardNeeds& n) {
  n.output(0).out_grad(0);
  if (p.use_length) n.input(kLength);
}

}  // namespace

CN_REGISTER_OP(softmax, SoftmaxParam)
    .describe("Applies the softmax function along `axis`: exp(x/T) / sum(exp(x/T)).")
    .inputs(Inputs)
    .outputs({"output"})
    .infer_shape(InferShape)
    .infer_type(InferType)
    .forward(Forward<false>)
    .backward(Backward<false>)
    .backward_needs(Needs)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});

CN_REGISTER_OP(log_softmax, SoftmaxParam)
    .describe("Computes the log of softmax along `axis`: x/T - log(sum(exp(x/T))).")
    .inputs(Inputs)
    .outputs({"output"})
    .infer_shape(InferShape)
    .infer_type(InferType)
    .forward(Forward<true>)
    .backward(Backward<true>)
    .backward_needs(Needs)
    .inplace({{0, 0}})
    .backward_inplace({{0, 0}});
