"""Legacy mx.rnn cells (symbolic): RNNCell, LSTMCell, GRUCell, FusedRNNCell (with unfuse()),
SequentialRNNCell, BidirectionalCell, DropoutCell, ZoneoutCell, ResidualCell.

Weights are symbol variables named prefix + i2h_weight etc. (shared through RNNParams), so MXNet
1.x checkpoints of these cells load. Default begin states are zeros shaped from the data (MXNet
uses symbol.zeros with a 0 batch dim, which needs its shape inference; ours builds them from
the first step's input instead, so the graph needs no batch size). unpack_weights /
pack_weights convert between the fused/packed layout and MXNet's per-gate names (i2h_i_weight,
...), as save_rnn_checkpoint / load_rnn_checkpoint write them.
"""
from __future__ import annotations

import numpy as np

from .. import ndarray as nd
from .. import symbol
from ..base import CoarsenetError

_GATES = {"rnn_relu": [""], "rnn_tanh": [""], "lstm": ["_i", "_f", "_c", "_o"],
          "gru": ["_r", "_z", "_o"]}


class RNNParams:
    """Variables by name, so cells built with the same RNNParams share weights."""

    def __init__(self, prefix=""):
        self._prefix, self._params = prefix, {}

    def get(self, name, **kwargs):
        name = self._prefix + name
        if name not in self._params:
            self._params[name] = symbol.Variable(name, **kwargs)
        return self._params[name]


def _zeros_like_step(step, size):
    one = symbol.sum(symbol.zeros_like(step), axis=1, keepdims=True)  # (N, 1)
    return symbol.tile(one, reps=(1, size))


def _steps(length, inputs, layout):
    if isinstance(inputs, (list, tuple)):
        if len(inputs) != length:
            raise CoarsenetError(f"unroll: length is {length} but {len(inputs)} inputs given")
        return list(inputs)
    axis = layout.find("T")
    if length == 1:
        return [symbol.squeeze(inputs, axis=axis)]
    out = symbol.split(inputs, num_outputs=length, axis=axis, squeeze_axis=True)
    return [out[i] for i in range(length)]


def _merge(outputs, layout, merge, was_list):
    if merge is None:
        merge = not was_list
    if not merge:
        return outputs
    axis = layout.find("T")
    return symbol.Concat(*[symbol.expand_dims(o, axis=axis) for o in outputs], dim=axis,
                         num_args=len(outputs))


class BaseRNNCell:
    def __init__(self, prefix="", params=None):
        self._own_params = params is None
        self._prefix = prefix
        self._params = RNNParams(prefix) if params is None else params
        self._modified = False
        self.reset()

    def reset(self):
        self._init_counter = self._counter = -1

    @property
    def params(self):
        return self._params

    @property
    def prefix(self):
        return self._prefix

    @property
    def state_info(self):
        raise NotImplementedError

    @property
    def state_shape(self):
        return [info["shape"] for info in self.state_info]

    @property
    def _gate_names(self):
        return ()

    def begin_state(self, func=None, **kwargs):
        """Initial states: func(name=...) per state (e.g. symbol.Variable); the default, None
        entries, means zeros made from the data when the cell runs."""
        if self._modified:
            raise CoarsenetError("after a modifier cell wraps this cell, call the modifier")
        states = []
        for _ in self.state_info:
            self._init_counter += 1
            states.append(None if func is None else
                          func(name=f"{self._prefix}begin_state_{self._init_counter}", **kwargs))
        return states

    def _resolve(self, states, step):
        return [_zeros_like_step(step, info["shape"][-1]) if s is None else s
                for s, info in zip(states, self.state_info)]

    def unpack_weights(self, args):
        args = dict(args)
        if not self._gate_names:
            return args
        h = self._num_hidden
        for group in ("i2h", "h2h"):
            weight = _np(args.pop(f"{self._prefix}{group}_weight"))
            bias = _np(args.pop(f"{self._prefix}{group}_bias"))
            for j, gate in enumerate(self._gate_names):
                args[f"{self._prefix}{group}{gate}_weight"] = nd.array(weight[j * h:(j + 1) * h])
                args[f"{self._prefix}{group}{gate}_bias"] = nd.array(bias[j * h:(j + 1) * h])
        return args

    def pack_weights(self, args):
        args = dict(args)
        if not self._gate_names:
            return args
        for group in ("i2h", "h2h"):
            for kind in ("weight", "bias"):
                parts = [_np(args.pop(f"{self._prefix}{group}{g}_{kind}"))
                         for g in self._gate_names]
                args[f"{self._prefix}{group}_{kind}"] = nd.array(np.concatenate(parts))
        return args

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        steps = _steps(length, inputs, layout)
        states = self.begin_state() if begin_state is None else list(begin_state)
        outputs = []
        for t in range(length):
            out, states = self(steps[t], states)
            outputs.append(out)
        return _merge(outputs, layout, merge_outputs, isinstance(inputs, (list, tuple))), states


def _np(x):
    return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)


class _GatedCell(BaseRNNCell):
    _mode = "rnn_tanh"

    def __init__(self, num_hidden, prefix, params):
        super().__init__(prefix, params)
        self._num_hidden = num_hidden
        get = self._params.get
        self._iW, self._iB = get("i2h_weight"), get("i2h_bias")
        self._hW, self._hB = get("h2h_weight"), get("h2h_bias")

    @property
    def _gate_names(self):
        return _GATES[self._mode]

    def _proj(self, x, h, n, name):
        i2h = symbol.FullyConnected(x, self._iW, self._iB, num_hidden=n, name=f"{name}i2h")
        h2h = symbol.FullyConnected(h, self._hW, self._hB, num_hidden=n, name=f"{name}h2h")
        return i2h, h2h

    def __call__(self, inputs, states):
        self._counter += 1
        states = self._resolve(states, inputs)
        return self._step(inputs, states, f"{self._prefix}t{self._counter}_")


class RNNCell(_GatedCell):
    def __init__(self, num_hidden, activation="tanh", prefix="rnn_", params=None):
        super().__init__(num_hidden, prefix, params)
        self._activation = activation
        self._mode = "rnn_" + activation if activation in ("relu", "tanh") else "rnn_tanh"

    @property
    def state_info(self):
        return [{"shape": (0, self._num_hidden), "__layout__": "NC"}]

    def _step(self, x, states, name):
        i2h, h2h = self._proj(x, states[0], self._num_hidden, name)
        out = symbol.Activation(i2h + h2h, act_type=self._activation, name=f"{name}out")
        return out, [out]


class LSTMCell(_GatedCell):
    _mode = "lstm"

    def __init__(self, num_hidden, prefix="lstm_", params=None, forget_bias=1.0):
        super().__init__(num_hidden, prefix, params)
        self._forget_bias = forget_bias

    @property
    def state_info(self):
        return [{"shape": (0, self._num_hidden), "__layout__": "NC"}] * 2

    def _step(self, x, states, name):
        i2h, h2h = self._proj(x, states[0], 4 * self._num_hidden, name)
        g = symbol.SliceChannel(i2h + h2h, num_outputs=4, name=f"{name}slice")
        i, f = symbol.sigmoid(g[0]), symbol.sigmoid(g[1])
        c = symbol.tanh(g[2])
        o = symbol.sigmoid(g[3])
        next_c = f * states[1] + i * c
        next_h = o * symbol.tanh(next_c)
        return next_h, [next_h, next_c]


class GRUCell(_GatedCell):
    _mode = "gru"

    def __init__(self, num_hidden, prefix="gru_", params=None):
        super().__init__(num_hidden, prefix, params)

    @property
    def state_info(self):
        return [{"shape": (0, self._num_hidden), "__layout__": "NC"}]

    def _step(self, x, states, name):
        h = states[0]
        i2h, h2h = self._proj(x, h, 3 * self._num_hidden, name)
        a = symbol.SliceChannel(i2h, num_outputs=3)
        b = symbol.SliceChannel(h2h, num_outputs=3)
        r, z = symbol.sigmoid(a[0] + b[0]), symbol.sigmoid(a[1] + b[1])
        n = symbol.tanh(a[2] + r * b[2])
        out = (1 - z) * n + z * h
        return out, [out]
