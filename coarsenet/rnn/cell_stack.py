"""Legacy mx.rnn containers and the fused cell: SequentialRNNCell, BidirectionalCell,
DropoutCell, ZoneoutCell, ResidualCell, FusedRNNCell (one RNN op; unfuse() gives the equivalent
stack of step cells whose weights pack_weights/unpack_weights convert)."""
from __future__ import annotations

import numpy as np

from .. import ndarray as nd
from .. import symbol
from ..base import CoarsenetError
from .rnn_cell import _GATES, BaseRNNCell, GRUCell, LSTMCell, RNNCell, _merge, _np, _steps


class _CellGroup(BaseRNNCell):
    """A cell made of the cells in self._cells: their states, one after another, and their
    weights packed and unpacked in turn."""

    @property
    def state_info(self):
        return [i for c in self._cells for i in c.state_info]

    def begin_state(self, **kwargs):
        return [s for c in self._cells for s in c.begin_state(**kwargs)]

    def unpack_weights(self, args):
        for c in self._cells:
            args = c.unpack_weights(args)
        return args

    def pack_weights(self, args):
        for c in self._cells:
            args = c.pack_weights(args)
        return args


class SequentialRNNCell(_CellGroup):
    def __init__(self, params=None):
        super().__init__("", params)
        self._cells = []

    def add(self, cell):
        self._cells.append(cell)

    def __call__(self, inputs, states):
        pos, out_states = 0, []
        for cell in self._cells:
            n = len(cell.state_info)
            inputs, new = cell(inputs, states[pos:pos + n])
            pos += n
            out_states += new
        return inputs, out_states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        states = self.begin_state() if begin_state is None else list(begin_state)
        was_list, pos, out_states = isinstance(inputs, (list, tuple)), 0, []
        for k, cell in enumerate(self._cells):
            n = len(cell.state_info)
            last = k == len(self._cells) - 1
            inputs, new = cell.unroll(length, inputs, states[pos:pos + n], layout,
                                      merge_outputs if last else None)
            pos += n
            out_states += new
        if isinstance(inputs, list):
            inputs = _merge(inputs, layout, merge_outputs, was_list)
        return inputs, out_states


class DropoutCell(BaseRNNCell):
    def __init__(self, dropout, prefix="dropout_", params=None):
        super().__init__(prefix, params)
        self._dropout = dropout

    @property
    def state_info(self):
        return []

    def __call__(self, inputs, states):
        if self._dropout > 0:
            inputs = symbol.Dropout(inputs, p=self._dropout)
        return inputs, states


class ModifierCell(BaseRNNCell):
    def __init__(self, base_cell):
        base_cell._modified = True
        super().__init__(base_cell.prefix + self._alias, base_cell.params)
        self.base_cell = base_cell

    @property
    def state_info(self):
        return self.base_cell.state_info

    def begin_state(self, **kwargs):
        self.base_cell._modified = False
        try:
            return self.base_cell.begin_state(**kwargs)
        finally:
            self.base_cell._modified = True

    def unpack_weights(self, args):
        return self.base_cell.unpack_weights(args)

    def pack_weights(self, args):
        return self.base_cell.pack_weights(args)


class ZoneoutCell(ModifierCell):
    _alias = "zoneout"

    def __init__(self, base_cell, zoneout_outputs=0.0, zoneout_states=0.0):
        super().__init__(base_cell)
        self._p_out, self._p_state = zoneout_outputs, zoneout_states
        self._prev = None

    def reset(self):
        super().reset()
        self._prev = None

    def __call__(self, inputs, states):
        states = self.base_cell._resolve(states, inputs)
        out, new = self.base_cell(inputs, states)

        def keep(p, like):
            return symbol.Dropout(symbol.ones_like(like), p=p)

        prev = self._prev if self._prev is not None else symbol.zeros_like(out)
        if self._p_out:
            out = symbol.where(keep(self._p_out, out), out, prev)
        if self._p_state:
            new = [symbol.where(keep(self._p_state, n), n, s) for n, s in zip(new, states)]
        self._prev = out
        return out, new


class ResidualCell(ModifierCell):
    _alias = "residual"

    def __call__(self, inputs, states):
        out, new = self.base_cell(inputs, states)
        return out + inputs, new


class BidirectionalCell(_CellGroup):
    def __init__(self, l_cell, r_cell, params=None, output_prefix="bi_"):
        super().__init__("", params)
        self._cells, self._output_prefix = [l_cell, r_cell], output_prefix

    def __call__(self, inputs, states):
        raise CoarsenetError("BidirectionalCell cannot be stepped; use unroll")

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        steps = _steps(length, inputs, layout)
        states = self.begin_state() if begin_state is None else list(begin_state)
        lc, rc = self._cells
        n = len(lc.state_info)
        lo, ls = lc.unroll(length, steps, states[:n], layout, False)
        ro, rs = rc.unroll(length, steps[::-1], states[n:], layout, False)
        outs = [symbol.Concat(a, b, dim=1, num_args=2) for a, b in zip(lo, ro[::-1])]
        return _merge(outs, layout, merge_outputs, isinstance(inputs, (list, tuple))), ls + rs


class FusedRNNCell(BaseRNNCell):
    """All layers and directions as one RNN op over a packed `parameters` variable."""

    def __init__(self, num_hidden, num_layers=1, mode="lstm", bidirectional=False, dropout=0.0,
                 get_next_state=False, forget_bias=1.0, prefix=None, params=None):
        if mode not in _GATES:
            raise CoarsenetError(f"FusedRNNCell: mode must be one of {sorted(_GATES)}, found "
                                 f"{mode!r}")
        super().__init__(f"{mode}_" if prefix is None else prefix, params)
        self._num_hidden, self._num_layers, self._mode = num_hidden, num_layers, mode
        self._bidirectional, self._dropout = bidirectional, dropout
        self._get_next_state = get_next_state
        self._directions = ["l", "r"] if bidirectional else ["l"]
        self._parameter = self._params.get("parameters")

    @property
    def state_info(self):
        b = 2 if self._bidirectional else 1
        n = 2 if self._mode == "lstm" else 1
        return [{"shape": (b * self._num_layers, 0, self._num_hidden), "__layout__": "LNC"}] * n

    @property
    def _gate_names(self):
        return _GATES[self._mode]

    def _slices(self, num_input):
        """(name, offset, shape) of every per-gate piece of the packed vector (MXNet's names)."""
        h, b, out, p = self._num_hidden, len(self._directions), [], 0
        for kind in ("weight", "bias"):
            for layer in range(self._num_layers):
                ni = num_input if layer == 0 else b * h
                for d in self._directions:
                    for group, cols in (("i2h", ni), ("h2h", h)):
                        for gate in self._gate_names:
                            shape = (h, cols) if kind == "weight" else (h,)
                            out.append((f"{self._prefix}{d}{layer}_{group}{gate}_{kind}", p,
                                        shape))
                            p += int(np.prod(shape))
        return out, p

    def unpack_weights(self, args):
        args = dict(args)
        arr = _np(args.pop(self._parameter.name))
        b, m, h, L = len(self._directions), len(self._gate_names), self._num_hidden, \
            self._num_layers
        rest = (L - 1) * b * m * h * (b * h + h + 2)  # layers above the first
        num_input = (arr.size - rest) // (b * m * h) - h - 2
        slices, total = self._slices(num_input)
        if total != arr.size:
            raise CoarsenetError(f"FusedRNNCell.unpack_weights: '{self._parameter.name}' has "
                                 f"{arr.size} values, which fits no input size")
        for name, p, shape in slices:
            args[name] = nd.array(arr[p:p + int(np.prod(shape))].reshape(shape))
        return args

    def pack_weights(self, args):
        args = dict(args)
        w0 = _np(args[f"{self._prefix}l0_i2h{self._gate_names[0]}_weight"])
        slices, total = self._slices(w0.shape[1])
        arr = np.zeros(total, w0.dtype)
        for name, p, shape in slices:
            arr[p:p + int(np.prod(shape))] = _np(args.pop(name)).ravel()
        args[self._parameter.name] = nd.array(arr)
        return args

    def __call__(self, inputs, states):
        raise CoarsenetError("FusedRNNCell cannot be stepped; use unroll")

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        was_list = isinstance(inputs, (list, tuple))
        if was_list:
            inputs = symbol.Concat(*[symbol.expand_dims(x, axis=0) for x in inputs], dim=0,
                                   num_args=length)
        elif layout == "NTC":
            inputs = symbol.swapaxes(inputs, dim1=0, dim2=1)
        elif layout != "TNC":
            raise CoarsenetError(f"FusedRNNCell.unroll: unsupported layout {layout!r}")
        states = self.begin_state() if begin_state is None else list(begin_state)
        if any(s is None for s in states):
            step = symbol.squeeze(symbol.slice_axis(inputs, axis=0, begin=0, end=1), axis=0)
            one = symbol.sum(symbol.zeros_like(step), axis=1, keepdims=True)
            zero = symbol.tile(symbol.expand_dims(one, axis=0),
                               reps=(self.state_info[0]["shape"][0], 1, self._num_hidden))
            states = [zero if s is None else s for s in states]
        rnn = symbol.RNN(inputs, self._parameter, *states, state_size=self._num_hidden,
                         num_layers=self._num_layers, bidirectional=self._bidirectional,
                         p=self._dropout, state_outputs=self._get_next_state, mode=self._mode,
                         name=self._prefix + "rnn")
        n_states = len(states) if self._get_next_state else 0
        outputs = rnn[0] if n_states else rnn
        next_states = [rnn[i + 1] for i in range(n_states)]
        out_layout = "NTC" if was_list or layout == "NTC" else "TNC"
        if out_layout == "NTC":
            outputs = symbol.swapaxes(outputs, dim1=0, dim2=1)  # back to NTC
        if merge_outputs is False or (merge_outputs is None and was_list):
            outputs = _steps(length, outputs, out_layout)
        return outputs, next_states

    def unfuse(self):
        """The same network as a SequentialRNNCell of step cells (names prefix + l0_ ...)."""
        make = {"rnn_relu": lambda p: RNNCell(self._num_hidden, "relu", p),
                "rnn_tanh": lambda p: RNNCell(self._num_hidden, "tanh", p),
                "lstm": lambda p: LSTMCell(self._num_hidden, p),
                "gru": lambda p: GRUCell(self._num_hidden, p)}[self._mode]
        stack = SequentialRNNCell()
        for i in range(self._num_layers):
            if self._bidirectional:
                stack.add(BidirectionalCell(make(f"{self._prefix}l{i}_"),
                                            make(f"{self._prefix}r{i}_"),
                                            output_prefix=f"{self._prefix}bi_l{i}_"))
            else:
                stack.add(make(f"{self._prefix}l{i}_"))
            if self._dropout > 0 and i != self._num_layers - 1:
                stack.add(DropoutCell(self._dropout, prefix=f"{self._prefix}_dropout{i}_"))
        return stack
