"""gluon.rnn cells: one time step per call, `unroll` over a sequence (MXNet 1.x names and
parameter names: {prefix}i2h_weight, h2h_weight, i2h_bias, h2h_bias).

A cell call is cell(inputs, states) -> (output, new_states). Hybrid cells run their step through
HybridBlock (imperative, or one traced graph per step after hybridize()); states travel as
extra positional inputs so the traced graph has inputs data0 (x), data1.. (states) as in MXNet.
unroll with valid_length keeps each row's state at its last valid step and zeroes its outputs
past the end, with masks clip(valid_length - t, 0, 1) (so it also works on symbols).
"""
from __future__ import annotations

from ... import ndarray as _nd
from ...base import CoarsenetError
from ..block import Block, HybridBlock
from ..shape_trace import ShapeOnly


def _namespace(x):
    if isinstance(x, (list, tuple)):
        x = x[0]
    if isinstance(x, _nd.NDArray):
        return _nd
    from ... import symbol

    if isinstance(x, symbol.Symbol):
        return symbol
    raise CoarsenetError(f"unroll: inputs must be NDArrays or Symbols, found {type(x).__name__}")


def _steps(F, inputs, length, layout):
    """Per-step (N, C) inputs from a (T, N, C)/(N, T, C) tensor or a list of steps."""
    if isinstance(inputs, (list, tuple)):
        if len(inputs) != length:
            raise CoarsenetError(f"unroll: length is {length} but {len(inputs)} inputs were given")
        return list(inputs)
    axis = layout.find("T")
    if F is _nd and inputs.shape[axis] != length:
        raise CoarsenetError(f"unroll: length is {length} but the input has {inputs.shape[axis]} "
                             f"steps on axis {axis} (layout {layout})")
    if length == 1:
        return [F.squeeze(inputs, axis=axis)]
    out = F.split(inputs, num_outputs=length, axis=axis, squeeze_axis=True)
    return [out[i] for i in range(length)]


class RecurrentCell(Block):
    """Base of all cells: state_info, begin_state, unroll."""

    _alias = None  # MXNet's default-prefix name ('lstm' for LSTMCell); None: the class name

    def __init__(self, prefix=None, params=None):
        if prefix is None and self._alias:  # lstm0_, as MXNet names cells (not lstmcell0_)
            from ..block import _BlockScope

            prefix, _ = _BlockScope.create(None, None, self._alias)
            scope = _BlockScope.current
            if scope is not None:
                prefix = prefix[len(scope.block.prefix):]
        super().__init__(prefix, params)
        self.reset()

    def reset(self) -> None:
        """Resets per-unroll state (ZoneoutCell's previous output) here and in child cells."""
        for child in getattr(self, "_children", {}).values():
            if isinstance(child, RecurrentCell):
                child.reset()

    def state_info(self, batch_size=0):
        raise NotImplementedError(f"{type(self).__name__} must define state_info")

    def begin_state(self, batch_size=0, func=None, **kwargs):
        """Initial states, zeros by default: one array per state_info entry."""
        func = func or _nd.zeros
        kwargs.pop("ctx", None)
        return [func(shape=info["shape"], **kwargs) for info in self.state_info(batch_size)]

    def _zero_states(self, F, step):
        if F is _nd:
            return self.begin_state(step.shape[0], dtype=step.dtype)
        one = F.sum(F.zeros_like(step), axis=1, keepdims=True)  # (N, 1) zeros shaped by data
        return [F.tile(one, reps=(1, info["shape"][1])) for info in self.state_info()]

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None,
               valid_length=None):
        """Runs the cell over `length` steps; returns (outputs, final states). outputs are a
        list of (N, C) steps, or one tensor in `layout` when merge_outputs (default: merged
        iff the inputs were one tensor)."""
        self.reset()
        F = _namespace(inputs)
        steps = _steps(F, inputs, length, layout)
        states = list(begin_state) if begin_state is not None else self._zero_states(F, steps[0])
        outputs = []
        for t in range(length):
            out, new_states = self(steps[t], states)
            if valid_length is not None:
                m = F.reshape(F.clip(valid_length - t, a_min=0, a_max=1), shape=(-1, 1))
                out = F.broadcast_mul(out, m)
                new_states = [F.broadcast_mul(n, m) + F.broadcast_mul(s, 1 - m)
                              for n, s in zip(new_states, states)]
            outputs.append(out)
            states = new_states
        if merge_outputs is None:
            merge_outputs = not isinstance(inputs, (list, tuple))
        if merge_outputs:
            axis = layout.find("T")
            outputs = F.Concat(*[F.expand_dims(o, axis=axis) for o in outputs], dim=axis,
                               num_args=length)
        return outputs, states

    def __call__(self, inputs, states):
        return self.forward(inputs, states)


class HybridRecurrentCell(RecurrentCell, HybridBlock):
    """A cell whose step is hybrid_forward(F, x, *states, **params) -> (output, *states)."""

    def forward(self, inputs, states):
        if isinstance(states, (_nd.NDArray, ShapeOnly)):
            states = [states]
        out = HybridBlock.forward(self, inputs, *states)
        out = list(out) if isinstance(out, (list, tuple)) else [out]
        return out[0], out[1:]

    def _trace_symbol(self, x, *args):
        # A symbolic unroll calls the cell once per step: every step must read the SAME
        # parameter variables (one weight shared over time), so they are made once per cell.
        from ... import symbol

        if getattr(self, "_param_vars", None) is None:
            self._param_vars = {k: p.var() for k, p in self._reg_params.items()}
        return self.hybrid_forward(symbol, x, *args, **self._param_vars)


class _GatedCell(HybridRecurrentCell):
    def __init__(self, hidden_size, gates, i2h_weight_initializer, h2h_weight_initializer,
                 i2h_bias_initializer, h2h_bias_initializer, input_size, dtype="float32",
                 **kwargs):
        super().__init__(**kwargs)
        self._hidden_size, self._input_size = hidden_size, input_size
        n = gates * hidden_size
        get = self.params.get
        self.i2h_weight = get("i2h_weight", shape=(n, input_size), init=i2h_weight_initializer,
                              dtype=dtype, allow_deferred_init=True)
        self.h2h_weight = get("h2h_weight", shape=(n, hidden_size), init=h2h_weight_initializer,
                              dtype=dtype, allow_deferred_init=True)
        self.i2h_bias = get("i2h_bias", shape=(n,), init=i2h_bias_initializer, dtype=dtype,
                            allow_deferred_init=True)
        self.h2h_bias = get("h2h_bias", shape=(n,), init=h2h_bias_initializer, dtype=dtype,
                            allow_deferred_init=True)

    def _projections(self, F, x, h, i2h_weight, h2h_weight, i2h_bias, h2h_bias, n):
        i2h = F.FullyConnected(x, i2h_weight, i2h_bias, num_hidden=n)
        h2h = F.FullyConnected(h, h2h_weight, h2h_bias, num_hidden=n)
        return i2h, h2h

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._input_size or None} -> {self._hidden_size})"


class RNNCell(_GatedCell):
    """h' = activation(W_ih x + b_ih + W_hh h + b_hh)."""

    _alias = "rnn"

    def __init__(self, hidden_size, activation="tanh", i2h_weight_initializer=None,
                 h2h_weight_initializer=None, i2h_bias_initializer="zeros",
                 h2h_bias_initializer="zeros", input_size=0, **kwargs):
        super().__init__(hidden_size, 1, i2h_weight_initializer, h2h_weight_initializer,
                         i2h_bias_initializer, h2h_bias_initializer, input_size, **kwargs)
        self._activation = activation

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size, self._hidden_size), "__layout__": "NC"}]

    def hybrid_forward(self, F, x, h, **p):
        i2h, h2h = self._projections(F, x, h, n=self._hidden_size, **p)
        out = F.Activation(i2h + h2h, act_type=self._activation)
        return out, out


class LSTMCell(_GatedCell):
    """Gates i, f, g, o: c' = f c + i g, h' = o tanh(c')."""

    _alias = "lstm"

    def __init__(self, hidden_size, i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros", input_size=0,
                 activation="tanh", recurrent_activation="sigmoid", **kwargs):
        super().__init__(hidden_size, 4, i2h_weight_initializer, h2h_weight_initializer,
                         i2h_bias_initializer, h2h_bias_initializer, input_size, **kwargs)
        self._act, self._ract = activation, recurrent_activation

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size, self._hidden_size), "__layout__": "NC"}] * 2

    def hybrid_forward(self, F, x, h, c, **p):
        i2h, h2h = self._projections(F, x, h, n=4 * self._hidden_size, **p)
        g = F.SliceChannel(i2h + h2h, num_outputs=4, axis=1)
        i, f = F.Activation(g[0], act_type=self._ract), F.Activation(g[1], act_type=self._ract)
        cand, o = F.Activation(g[2], act_type=self._act), F.Activation(g[3], act_type=self._ract)
        c_new = f * c + i * cand
        h_new = o * F.Activation(c_new, act_type=self._act)
        return h_new, h_new, c_new


class GRUCell(_GatedCell):
    """Gates r, z, n with the reset gate after the recurrent matmul (MXNet's and cuDNN's form):
    n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h."""

    _alias = "gru"

    def __init__(self, hidden_size, i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros", input_size=0,
                 **kwargs):
        super().__init__(hidden_size, 3, i2h_weight_initializer, h2h_weight_initializer,
                         i2h_bias_initializer, h2h_bias_initializer, input_size, **kwargs)

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size, self._hidden_size), "__layout__": "NC"}]

    def hybrid_forward(self, F, x, h, **p):
        i2h, h2h = self._projections(F, x, h, n=3 * self._hidden_size, **p)
        a = F.SliceChannel(i2h, num_outputs=3, axis=1)
        b = F.SliceChannel(h2h, num_outputs=3, axis=1)
        r = F.Activation(a[0] + b[0], act_type="sigmoid")
        z = F.Activation(a[1] + b[1], act_type="sigmoid")
        n = F.Activation(a[2] + r * b[2], act_type="tanh")
        out = (1 - z) * n + z * h
        return out, out
