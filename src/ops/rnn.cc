// RNN: MXNet's fused recurrent op (vanilla ReLU/tanh, LSTM with optional projection and state
// clipping, GRU), layout TNC, all layers and directions in one node with MXNet's packed
// `parameters` vector. See rnn_kernel.h for the layout, the gate equations and the kernels.
//   inputs: data (T, N, I), parameters (P,), state (L*D, N, Hout), [state_cell (L*D, N, H)],
//           [sequence_length (N,)]
//   outputs: output (T, N, D*Hout), [state, [statecell]] when state_outputs, then the hidden
//           `reserve` (what backward reads: gates, states before each step, inter-layer inputs).
// Dropout between layers (p, training only) draws from the call's seed, so backward and a mirror
// recomputation redraw the same mask instead of storing it.
#include <cmath>
#include <optional>
#include <vector>

#include "coarsenet/op.h"
#include "rnn_backward.h"

namespace {

struct RNNParam {
  int64_t state_size, num_layers;
  bool bidirectional, state_outputs, lstm_state_clip_nan, use_sequence_length, recompute;
  int mode;
  float p;
  std::optional<int64_t> projection_size;
  std::optional<double> lstm_state_clip_min, lstm_state_clip_max;
  static void Declare(cn::ParamDecl<RNNParam>& d) {
    d.field("state_size", &RNNParam::state_size, 0, "Size of the state of each layer.").required();
    d.field("num_layers", &RNNParam::num_layers, 0, "Number of stacked layers.").required();
    d.field("bidirectional", &RNNParam::bidirectional, false, "Whether to run both directions.");
    d.choice("mode", &RNNParam::mode, {"rnn_relu", "rnn_tanh", "lstm", "gru"}, "lstm",
             "The type of RNN to compute.").required();
    d.field("p", &RNNParam::p, 0.0f, "Dropout rate on the outputs of each layer but the last.");
    d.field("state_outputs", &RNNParam::state_outputs, false, "Whether to output the final states.");
    d.field("projection_size", &RNNParam::projection_size, "LSTM projection size (LSTMP).");
    d.field("lstm_state_clip_min", &RNNParam::lstm_state_clip_min, "Minimum LSTM cell state.");
    d.field("lstm_state_clip_max", &RNNParam::lstm_state_clip_max, "Maximum LSTM cell state.");
    d.field("lstm_state_clip_nan", &RNNParam::lstm_state_clip_nan, false,
            "Whether a NaN cell state becomes lstm_state_clip_min.");
    d.field("use_sequence_length", &RNNParam::use_sequence_length, false,
            "Whether the input `sequence_length` gives each batch row's valid length.");
    d.field("recompute", &RNNParam::recompute, false,
            "Keep only the states at about sqrt(T) step checkpoints and recompute each segment's "
            "gates during backward (set by the mirror pass; not an MXNet parameter).");
  }
};

enum { kData, kParams, kState };

int CellIndex(const RNNParam& p) { return p.mode == rnn::kLstm ? 3 : -1; }
int SeqIndex(const RNNParam& p) { return p.mode == rnn::kLstm ? 4 : 3; }
int NumVisible(const RNNParam& p) {
  return p.state_outputs ? (p.mode == rnn::kLstm ? 3 : 2) : 1;
}

void Validate(const RNNParam& p) {
  if (p.state_size <= 0) throw cn::Error(cn::Msg("state_size must be positive, found ", p.state_size));
  if (p.num_layers <= 0) throw cn::Error(cn::Msg("num_layers must be positive, found ", p.num_layers));
  if (!(p.p >= 0 && p.p < 1)) throw cn::Error(cn::Msg("p must be in [0, 1), found ", p.p));
  if (p.projection_size) {
    if (p.mode != rnn::kLstm)
      throw cn::Error("projection_size is only supported with mode='lstm'");
    if (*p.projection_size <= 0 || *p.projection_size >= p.state_size)
      throw cn::Error(cn::Msg("projection_size must be in [1, state_size), found ",
                              *p.projection_size, " with state_size ", p.state_size));
  }
  if (p.lstm_state_clip_min.has_value() != p.lstm_state_clip_max.has_value())
    throw cn::Error("lstm_state_clip_min and lstm_state_clip_max must be given together");
  if (p.lstm_state_clip_min && !(*p.lstm_state_clip_min <= *p.lstm_state_clip_max))
    throw cn::Error(cn::Msg("lstm_state_clip_min (", *p.lstm_state_clip_min,
                            ") must not exceed lstm_state_clip_max (", *p.lstm_state_clip_max, ")"));
}

rnn::Geom MakeGeom(const RNNParam& p, const cn::Shape& x) {
  rnn::Geom g;
  g.mode = p.mode;
  g.T = x[0], g.N = x[1], g.I = x[2];
  g.H = p.state_size;
  g.proj = p.projection_size.has_value();
  g.HO = g.proj ? *p.projection_size : g.H;
  g.L = p.num_layers;
  g.D = p.bidirectional ? 2 : 1;
  g.G = p.mode == rnn::kLstm ? 4 : (p.mode == rnn::kGru ? 3 : 1);
  g.clip = p.mode == rnn::kLstm && p.lstm_state_clip_min.has_value();
  g.clip_nan = p.lstm_state_clip_nan;
  g.recompute = p.recompute;
  if (g.clip) g.cmin = *p.lstm_state_clip_min, g.cmax = *p.lstm_state_clip_max;
  return g;
}

std::vector<std::string> InputNames(const RNNParam& p) {
  std::vector<std::string> n{"data", "parameters", "state"};
  if (p.mode == rnn::kLstm) n.push_back("state_cell");
  if (p.use_sequence_length) n.push_back("sequence_length");
  return n;
}

std::vector<std::string> OutputNames(const RNNParam& p) {
  std::vector<std::string> n{"output"};
  if (p.state_outputs) {
    n.push_back("state");
    if (p.mode == rnn::kLstm) n.push_back("statecell");
  }
  n.push_back("reserve");
  return n;
}

void InferShape(const RNNParam& p, cn::ShapeContext& s) {
  Validate(p);
  cn::Shape x = s.in(kData);
  if (!x.known()) return;
  if (x.ndim != 3) throw cn::Error(cn::Msg("input 'data' expected 3 dims (T, N, C), found shape ", x));
  rnn::Geom g = MakeGeom(p, x);
  s.SetInput(kParams, cn::Shape{g.NumParams()});
  s.SetInput(kState, cn::Shape{g.L * g.D, g.N, g.HO});
  if (CellIndex(p) >= 0) s.SetInput(CellIndex(p), cn::Shape{g.L * g.D, g.N, g.H});
  if (p.use_sequence_length) s.SetInput(SeqIndex(p), cn::Shape{g.N});
  s.SetOutput(0, cn::Shape{g.T, g.N, g.D * g.HO});
  if (p.state_outputs) {
    s.SetOutput(1, cn::Shape{g.L * g.D, g.N, g.HO});
    if (p.mode == rnn::kLstm) s.SetOutput(2, cn::Shape{g.L * g.D, g.N, g.H});
  }
  s.SetOutput(NumVisible(p), cn::Shape{g.ReserveSize()});
}

void InferType(const RNNParam& p, std::vector<int>& in, std::vector<int>& out, std::vector<int>&) {
  int t = in[kData] >= 0 ? in[kData] : in[kParams];
  if (t < 0) return;
  int n = static_cast<int>(in.size());
  for (int i = 0; i < n; ++i) {
    if (p.use_sequence_length && i == SeqIndex(p)) {
      if (in[i] < 0) in[i] = t;
      continue;
    }
    if (in[i] >= 0 && in[i] != t)
      throw cn::Error(cn::Msg("input ", i, " expected dtype ", cn::DTypeName(t), ", found ",
                              cn::DTypeName(in[i])));
    in[i] = t;
  }
  for (auto& o : out) o = t;
}

// Valid steps per batch row, checked to be whole numbers in [0, T].
std::vector<int64_t> SequenceLengths(const RNNParam& p, const rnn::Geom& g, const cn::Tensor& t) {
  std::vector<int64_t> len(g.N);
  for (int64_t b = 0; b < g.N; ++b) {
    double v;
    switch (t.dtype) {
      case CN_FLOAT32: v = t.ptr<float>()[b]; break;
      case CN_FLOAT64: v = t.ptr<double>()[b]; break;
      case CN_INT32: v = t.ptr<int32_t>()[b]; break;
      case CN_INT64: v = static_cast<double>(t.ptr<int64_t>()[b]); break;
      default:
        throw cn::Error(cn::Msg("input 'sequence_length' expected float32, float64, int32 or "
                                "int64, found ", cn::DTypeName(t.dtype)));
    }
    if (!(v >= 0 && v <= static_cast<double>(g.T)) || v != std::floor(v))
      throw cn::Error(cn::Msg("sequence_length[", b, "] must be a whole number in [0, ", g.T,
                              "], found ", v));
    len[b] = static_cast<int64_t>(v);
  }
  return len;
}

// Inverted dropout between layers; layer l's draws start at a layer-specific counter.
template <typename DType>
void DropoutMask(const rnn::Geom& g, float p, uint64_t seed, int64_t l, DType* v) {
  const int64_t n = g.TN() * g.D * g.HO;
  const uint64_t threshold = static_cast<uint64_t>(std::ceil((1.0 - p) * 9007199254740992.0));
  const DType scale = static_cast<DType>(1.0 / (1.0 - p));
  const uint64_t base = static_cast<uint64_t>(l) * static_cast<uint64_t>(n);
  cn::ParallelFor(n, 1 << 13, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      v[i] *= (cn::RandomBits(seed, base + i) >> 11) < threshold ? scale : DType(0);
  });
}

template <typename DType>
void ForwardImpl(const RNNParam& p, const cn::ForwardArgs& a) {
  const rnn::Geom g = MakeGeom(p, a.in[kData].shape());
  const int nv = NumVisible(p);
  for (int j = 0; j <= nv; ++j)
    if (a.req[j] == CN_REQ_ADD) throw cn::Error("req=add on an output is not supported");
  std::vector<int64_t> lens;
  if (p.use_sequence_length) lens = SequenceLengths(p, g, a.in[SeqIndex(p)]);
  const int64_t* len = p.use_sequence_length ? lens.data() : nullptr;
  const DType* w = a.in[kParams].ptr<DType>();
  const DType* h0 = a.in[kState].ptr<DType>();
  const DType* c0 = CellIndex(p) >= 0 ? a.in[CellIndex(p)].ptr<DType>() : nullptr;
  DType* res = a.out[nv].ptr<DType>();
  DType* hy = p.state_outputs && a.req[1] != CN_REQ_NULL ? a.out[1].ptr<DType>() : nullptr;
  DType* cy = p.state_outputs && g.lstm() && a.req[2] != CN_REQ_NULL ? a.out[2].ptr<DType>() : nullptr;
  const bool drop = a.ctx.is_train && p.p > 0;
  for (int64_t l = 0; l < g.L; ++l) {
    const DType* x = l == 0 ? a.in[kData].ptr<DType>() : res + g.LayerOut(l - 1);
    DType* y = l + 1 == g.L ? a.out[0].ptr<DType>() : res + g.LayerOut(l);
    for (int64_t d = 0; d < g.D; ++d) {
      const int64_t k = l * g.D + d;
      rnn::ForwardDir<DType>(g, w, x, len, h0 + k * g.N * g.HO, c0 ? c0 + k * g.N * g.H : nullptr,
                             y, res, l, d, static_cast<DType*>(a.workspace),
                             hy ? hy + k * g.N * g.HO : nullptr, cy ? cy + k * g.N * g.H : nullptr);
    }
    if (drop && l + 1 < g.L) DropoutMask(g, p.p, a.ctx.seed, l, y);
  }
}

void Forward(const RNNParam& p, const cn::ForwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, { ForwardImpl<DType>(p, a); });
}

template <typename DType>
void BackwardImpl(const RNNParam& p, const cn::BackwardArgs& a) {
  const rnn::Geom g = MakeGeom(p, a.in[kData].shape());
  const int nv = NumVisible(p);
  std::vector<int64_t> lens;
  if (p.use_sequence_length) lens = SequenceLengths(p, g, a.in[SeqIndex(p)]);
  const int64_t* len = p.use_sequence_length ? lens.data() : nullptr;
  const DType* w = a.in[kParams].ptr<DType>();
  const DType* res = a.out[nv].ptr<DType>();
  const DType* dhy = p.state_outputs ? a.out_grad[1].ptr<DType>() : nullptr;
  const DType* dcy = p.state_outputs && g.lstm() ? a.out_grad[2].ptr<DType>() : nullptr;
  const int ci = CellIndex(p);
  DType* ws = static_cast<DType*>(a.workspace);
  DType* dir_ws = ws + g.InterLayerBuffers() * g.TN() * g.D * g.HO;
  DType* bufs[2] = {ws, ws + g.TN() * g.D * g.HO};  // dY of the layer below, ping-ponged
  const DType* dY = a.out_grad[0].ptr<DType>();
  for (int64_t l = g.L - 1; l >= 0; --l) {
    const DType* x = l == 0 ? a.in[kData].ptr<DType>() : res + g.LayerOut(l - 1);
    DType* dx = nullptr;
    bool add_x = false;
    if (l > 0) {
      dx = bufs[(g.L - 1 - l) % 2];
    } else if (a.req[kData] != CN_REQ_NULL) {
      dx = a.in_grad[kData].ptr<DType>();
      add_x = a.req[kData] == CN_REQ_ADD;
    }
    for (int64_t d = 0; d < g.D; ++d) {
      const int64_t k = l * g.D + d;
      rnn::DirGrads<DType> o;
      o.dx = dx;
      o.beta_x = (d > 0 || add_x) ? DType(1) : DType(0);
      o.req_state = a.req[kState];
      if (o.req_state != CN_REQ_NULL) o.dh0 = a.in_grad[kState].ptr<DType>() + k * g.N * g.HO;
      if (ci >= 0 && a.req[ci] != CN_REQ_NULL) {
        o.req_cell = a.req[ci];
        o.dc0 = a.in_grad[ci].ptr<DType>() + k * g.N * g.H;
      }
      o.req_w = a.req[kParams];
      if (o.req_w != CN_REQ_NULL) o.dw = a.in_grad[kParams].ptr<DType>();
      rnn::BackwardDir<DType>(g, w, x, len, dY, res, l, d, dhy ? dhy + k * g.N * g.HO : nullptr,
                              dcy ? dcy + k * g.N * g.H : nullptr, dir_ws, o);
    }
    if (l > 0) {
      if (a.ctx.is_train && p.p > 0) DropoutMask(g, p.p, a.ctx.seed, l - 1, dx);
      dY = dx;
    }
  }
  if (p.use_sequence_length && a.req[SeqIndex(p)] == CN_REQ_WRITE) {
    const cn::Tensor& t = a.in_grad[SeqIndex(p)];  // lengths are not differentiable
    std::memset(t.data, 0, t.size() * cn::DTypeSize(t.dtype));
  }
}

void Backward(const RNNParam& p, const cn::BackwardArgs& a) {
  CN_FLOAT_SWITCH(a.in[kData].dtype, DType, { BackwardImpl<DType>(p, a); });
}

// Backward reads data, the weights, the lengths and the reserve; the initial states are in the
// reserve (the state before each step), so they are not kept.
void Needs(const RNNParam& p, cn::BackwardNeeds& n) {
  n.input(kData).input(kParams).output(NumVisible(p));
  if (p.use_sequence_length) n.input(SeqIndex(p));
  for (int j = 0; j < NumVisible(p); ++j) n.out_grad(j);
}

size_t WorkspaceElems(const RNNParam& p, const std::vector<cn::Shape>& in,
                      const std::vector<cn::Shape>&, bool backward) {
  if (!in[kData].known() || in[kData].ndim != 3) return 0;
  rnn::Geom g = MakeGeom(p, in[kData]);
  return static_cast<size_t>(backward ? g.BackwardWorkspace() : g.ForwardWorkspace());
}

}  // namespace

CN_REGISTER_OP(RNN, RNNParam)
    .describe("Fused recurrent layers (rnn_relu, rnn_tanh, lstm, gru) over a TNC sequence with "
              "MXNet's packed parameter vector.")
    .inputs(InputNames)
    .outputs(OutputNames)
    .visible_outputs(NumVisible)
    .infer_shape(InferShape)
    .infer_type(InferType)
    .forward(Forward)
    .backward(Backward)
    .backward_needs(Needs)
    .workspace_elems(WorkspaceElems)
    .flags(CN_FLAG_EXPENSIVE | CN_FLAG_NONDETERMINISTIC);  // dropout between layers reads the seed
