// SequenceReverse (MXNet): reverses a (T, N, ...) sequence along time, per batch row only its
// first sequence_length[n] steps when use_sequence_length (the steps after them stay in place,
// as MXNet does). BidirectionalCell.unroll(valid_length=...) runs its right-to-left cell on this.
//   inputs: data (T, N, ...), [sequence_length (N,)]; output: the same shape as data.
// Backward: the gradient is reversed the same way (the map is a permutation per row); the
// lengths get no gradient.
#include <cmath>
#include <cstring>
#include <vector>

#include "coarsenet/op.h"

namespace {

struct SequenceReverseParam {
  bool use_sequence_length;
  int axis;
  static void Declare(cn::ParamDecl<SequenceReverseParam>& d) {
    d.field("use_sequence_length", &SequenceReverseParam::use_sequence_length, false,
            "Whether the input `sequence_length` gives each batch row's valid length.");
    d.field("axis", &SequenceReverseParam::axis, 0, "The time axis; only 0 is supported.");
  }
};

std::vector<std::string> InputNames(const SequenceReverseParam& p) {
  if (p.use_sequence_length) return {"data", "sequence_length"};
  return {"data"};
}

void InferShape(const SequenceReverseParam& p, cn::ShapeContext& s) {
  if (p.axis != 0) throw cn::Error(cn::Msg("axis must be 0 (as in MXNet), found ", p.axis));
  cn::Shape x = s.in(0);
  if (!x.known()) return;
  if (x.ndim < 2)
    throw cn::Error(cn::Msg("input 'data' expected at least 2 dims (T, N, ...), found shape ", x));
  if (p.use_sequence_length) {
    cn::Shape len = s.in(1);
    if (len.known() && len != cn::Shape{x[1]})
      throw cn::Error(cn::Msg("input 'sequence_length' expected shape ", cn::Shape{x[1]},
                              ", found ", len));
    s.SetInput(1, cn::Shape{x[1]});
  }
  s.SetOutput(0, x);
}

void InferType(const SequenceReverseParam& p, std::vector<int>& in, std::vector<int>& out,
               std::vector<int>&) {
  if (p.use_sequence_length && in[1] < 0) in[1] = in[0];
  out[0] = in[0];
}

// Valid steps per batch row, checked to be whole numbers in [0, T].
std::vector<int64_t> Lengths(const SequenceReverseParam& p, const cn::Tensor& data,
                             const cn::Tensor* len) {
  const int64_t T = data.shape()[0], N = data.shape()[1];
  std::vector<int64_t> out(N, T);
  if (!p.use_sequence_length) return out;
  for (int64_t b = 0; b < N; ++b) {
    double v;
    switch (len->dtype) {
      case CN_FLOAT32: v = len->ptr<float>()[b]; break;
      case CN_FLOAT64: v = len->ptr<double>()[b]; break;
      case CN_INT32: v = len->ptr<int32_t>()[b]; break;
      case CN_INT64: v = static_cast<double>(len->ptr<int64_t>()[b]); break;
      default:
        throw cn::Error(cn::Msg("input 'sequence_length' expected float32, float64, int32 or "
                                "int64, found ", cn::DTypeName(len->dtype)));
    }
    if (!(v >= 0 && v <= static_cast<double>(T)) || v != std::floor(v))
      throw cn::Error(cn::Msg("sequence_length[", b, "] must be a whole number in [0, ", T,
                              "], found ", v));
    out[b] = static_cast<int64_t>(v);
  }
  return out;
}

// dst[t, b] = src[len_b - 1 - t, b] for t < len_b, src[t, b] after (stored with req).
template <typename DType>
void Reverse(const std::vector<int64_t>& len, const cn::Shape& x, const DType* src, DType* dst,
             int32_t req) {
  const int64_t T = x[0], N = x[1], C = x.prod(2, x.ndim);
  cn::ParallelFor(T * N, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t t = r / N, b = r % N;
      const int64_t from = t < len[b] ? len[b] - 1 - t : t;
      const DType* s = src + (from * N + b) * C;
      DType* d = dst + r * C;
      for (int64_t c = 0; c < C; ++c) cn::Store(&d[c], req, s[c]);
    }
  });
}

void Forward(const SequenceReverseParam& p, const cn::ForwardArgs& a) {
  if (a.req[0] == CN_REQ_NULL) return;
  const auto len = Lengths(p, a.in[0], p.use_sequence_length ? &a.in[1] : nullptr);
  CN_FLOAT_SWITCH(a.in[0].dtype, DType, {
    Reverse<DType>(len, a.in[0].shape(), a.in[0].ptr<DType>(), a.out[0].ptr<DType>(), a.req[0]);
  });
}

void Backward(const SequenceReverseParam& p, const cn::BackwardArgs& a) {
  if (p.use_sequence_length && a.req[1] == CN_REQ_WRITE) {
    const cn::Tensor& t = a.in_grad[1];
    std::memset(t.data, 0, t.size() * cn::DTypeSize(t.dtype));
  }
  if (a.req[0] == CN_REQ_NULL) return;
  const auto len = Lengths(p, a.out_grad[0], p.use_sequence_length ? &a.in[1] : nullptr);
  CN_FLOAT_SWITCH(a.out_grad[0].dtype, DType, {
    Reverse<DType>(len, a.out_grad[0].shape(), a.out_grad[0].ptr<DType>(),
                   a.in_grad[0].ptr<DType>(), a.req[0]);
  });
}

void Needs(const SequenceReverseParam& p, cn::BackwardNeeds& n) {
  if (p.use_sequence_length) n.input(1);
  n.out_grad(0);
}

}  // namespace

CN_REGISTER_OP(SequenceReverse, SequenceReverseParam)
    .describe("Reverses a (T, N, ...) sequence along time; with use_sequence_length only the "
              "first sequence_length[n] steps of each batch row.")
    .inputs(InputNames)
    .outputs({"output"})
    .infer_shape(InferShape)
    .infer_type(InferType)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs);
