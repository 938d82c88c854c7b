"""gluon.rnn.RNN / LSTM / GRU: multi-layer recurrent layers that run as ONE fused `RNN` op.

Parameters have MXNet's names ({l|r}{layer}_{i2h|h2h|h2r}_{weight|bias}, under the layer's
prefix, e.g. lstm0_l0_i2h_weight), so MXNet export()/save_parameters files load. The forward
flattens and concatenates them in MXNet's packed order (all weights, then all biases) and calls
F.RNN, imperatively or traced into a graph by hybridize(); the exported graph has MXNet's shape
(Reshape -> Concat -> RNN).
"""
from __future__ import annotations

from ... import ndarray as _nd
from ...base import CoarsenetError
from ..block import HybridBlock
from ..shape_trace import ShapeOnly

_GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


class _RNNLayer(HybridBlock):
    def __init__(self, hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                 i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                 h2h_bias_initializer, mode, projection_size=None, h2r_weight_initializer=None,
                 lstm_state_clip_min=None, lstm_state_clip_max=None, lstm_state_clip_nan=False,
                 dtype="float32", use_sequence_length=False, **kwargs):
        super().__init__(**kwargs)
        if layout not in ("TNC", "NTC"):
            raise CoarsenetError(f"{type(self).__name__}: layout must be 'TNC' or 'NTC', "
                                 f"found {layout!r}")
        self._hidden_size, self._num_layers, self._layout = hidden_size, num_layers, layout
        self._dropout, self._dir, self._mode = dropout, 2 if bidirectional else 1, mode
        self._input_size, self._projection_size = input_size, projection_size
        self._clip = (lstm_state_clip_min, lstm_state_clip_max, lstm_state_clip_nan)
        self._use_sequence_length = use_sequence_length
        self._gates = _GATES[mode]
        ng, nh = self._gates, hidden_size
        nr = projection_size or hidden_size
        self._names = []
        ni = input_size
        for i in range(num_layers):
            for j in ["l", "r"][: self._dir]:
                self._reg(f"{j}{i}_i2h_weight", (ng * nh, ni), i2h_weight_initializer, dtype)
                self._reg(f"{j}{i}_h2h_weight", (ng * nh, nr), h2h_weight_initializer, dtype)
                self._reg(f"{j}{i}_i2h_bias", (ng * nh,), i2h_bias_initializer, dtype)
                self._reg(f"{j}{i}_h2h_bias", (ng * nh,), h2h_bias_initializer, dtype)
                if projection_size:
                    self._reg(f"{j}{i}_h2r_weight", (nr, nh), h2r_weight_initializer, dtype)
            ni = nr * self._dir

    def _reg(self, name, shape, init, dtype):
        p = self.params.get(name, shape=shape, init=init, dtype=dtype, allow_deferred_init=True)
        setattr(self, name, p)
        self._names.append(name)

    def _packed_order(self):
        """MXNet's order: weights (i2h, h2h, h2r) per layer and direction, then biases."""
        dirs = ["l", "r"][: self._dir]
        order = []
        for kind in ("weight", "bias"):
            for i in range(self._num_layers):
                for j in dirs:
                    for g in ("i2h", "h2h", "h2r"):
                        if g == "h2r" and (kind == "bias" or not self._projection_size):
                            continue
                        order.append(f"{j}{i}_{g}_{kind}")
        return order

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self._input_size or None} -> {self._hidden_size}, "
                f"{self._layout}, num_layers={self._num_layers}"
                f"{', bidirectional' if self._dir == 2 else ''})")

    def state_info(self, batch_size=0):
        nr = self._projection_size or self._hidden_size
        info = [{"shape": (self._num_layers * self._dir, batch_size, nr), "__layout__": "LNC"}]
        if self._mode == "lstm":
            info.append({"shape": (self._num_layers * self._dir, batch_size, self._hidden_size),
                         "__layout__": "LNC"})
        return info

    def begin_state(self, batch_size=0, func=None, **kwargs):
        """Initial states (zeros by default): a list of arrays of state_info's shapes."""
        func = func or _nd.zeros
        kwargs.pop("ctx", None)
        return [func(shape=info["shape"], **kwargs) for info in self.state_info(batch_size)]

    def _infer_input_size(self, x_shape):
        if self._input_size:
            return
        ni = x_shape[-1] if x_shape is not None else 0
        for j in ["l", "r"][: self._dir]:
            p = self.params.get(f"{j}0_i2h_weight")
            if ni and not p._shape_known():
                p.shape = (p.shape[0], ni)
                self._input_size = ni

    def forward(self, inputs, states=None, sequence_length=None):
        self._infer_input_size(getattr(inputs, "shape", None))
        skip_states = states is None
        if skip_states and isinstance(inputs, (_nd.NDArray, ShapeOnly)):
            batch = inputs.shape[self._layout.find("N")]
            states = self.begin_state(batch, dtype=getattr(inputs, "dtype", "float32"))
            if isinstance(inputs, ShapeOnly):
                states = [ShapeOnly(s.shape) for s in states]
        elif skip_states:  # traced inside a hybridized parent: zeros shaped from the data
            states = None
        if isinstance(states, (_nd.NDArray, ShapeOnly)) or (
                states is not None and not isinstance(states, (list, tuple))):
            states = [states]
        if self._use_sequence_length and sequence_length is None:
            raise CoarsenetError(f"{self.name}: use_sequence_length=True needs sequence_length")
        extra = list(states or [])
        if self._use_sequence_length:
            extra.append(sequence_length)
        out = super().forward(inputs, *extra)
        out = list(out) if isinstance(out, (list, tuple)) else [out]
        return out[0] if skip_states else (out[0], out[1:])

    def hybrid_forward(self, F, inputs, *args, **params):
        n_states = 2 if self._mode == "lstm" else 1
        states = list(args[:n_states]) if args and len(args) >= n_states else None
        seq = args[-1] if self._use_sequence_length else None
        x = F.swapaxes(inputs, dim1=0, dim2=1) if self._layout == "NTC" else inputs
        if states is None:
            states = [self._zero_state(F, x, info) for info in self.state_info()]
        flat = [F.reshape(params[n], shape=(-1,)) for n in self._packed_order()]
        packed = F.Concat(*flat, dim=0, num_args=len(flat))
        kw = {"state_size": self._hidden_size, "num_layers": self._num_layers,
                  "bidirectional": self._dir == 2, "mode": self._mode, "p": self._dropout,
                  "state_outputs": True}
        if self._projection_size:
            kw["projection_size"] = self._projection_size
        if self._clip[0] is not None:
            kw.update(lstm_state_clip_min=self._clip[0], lstm_state_clip_max=self._clip[1],
                      lstm_state_clip_nan=self._clip[2])
        ins = [x, packed] + states
        if self._use_sequence_length:
            kw["use_sequence_length"] = True
            ins.append(seq)
        out = F.RNN(*ins, **kw)
        out = [out[i] for i in range(1 + n_states)]
        if self._layout == "NTC":
            out[0] = F.swapaxes(out[0], dim1=0, dim2=1)
        return tuple(out)

    def _zero_state(self, F, x, info):
        """Zeros of info's shape with x's batch size, built from x so graphs need no batch."""
        lnc = info["shape"]
        one = F.sum(F.zeros_like(F.slice_axis(x, axis=0, begin=0, end=1)), axis=2,
                    keepdims=True)  # (1, N, 1)
        return F.tile(one, reps=(lnc[0], 1, lnc[2]))


class RNN(_RNNLayer):
    """Elman RNN with tanh or ReLU: h' = act(W_ih x + b_ih + W_hh h + b_hh)."""

    def __init__(self, hidden_size, num_layers=1, activation="relu", layout="TNC", dropout=0,
                 bidirectional=False, i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros", input_size=0,
                 dtype="float32", **kwargs):
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                         i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                         h2h_bias_initializer, "rnn_" + activation, dtype=dtype, **kwargs)


class LSTM(_RNNLayer):
    """LSTM (gates i, f, g, o), optionally with a projection (LSTMP) and cell-state clipping."""

    def __init__(self, hidden_size, num_layers=1, layout="TNC", dropout=0, bidirectional=False,
                 input_size=0, i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros",
                 projection_size=None, h2r_weight_initializer=None, state_clip_min=None,
                 state_clip_max=None, state_clip_nan=False, dtype="float32", **kwargs):
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                         i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                         h2h_bias_initializer, "lstm", projection_size, h2r_weight_initializer,
                         state_clip_min, state_clip_max, state_clip_nan, dtype, **kwargs)


class GRU(_RNNLayer):
    """GRU with MXNet's (and cuDNN's) reset-after form: n = tanh(W_in x + b_in +
    r * (W_hn h + b_hn)), h' = (1 - z) n + z h."""

    def __init__(self, hidden_size, num_layers=1, layout="TNC", dropout=0, bidirectional=False,
                 input_size=0, i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros", dtype="float32",
                 **kwargs):
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                         i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                         h2h_bias_initializer, "gru", dtype=dtype, **kwargs)
