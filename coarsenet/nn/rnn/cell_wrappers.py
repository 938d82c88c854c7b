"""gluon.rnn container and modifier cells: SequentialRNNCell, HybridSequentialRNNCell,
DropoutCell, ZoneoutCell, ResidualCell, BidirectionalCell (MXNet 1.x semantics)."""
from __future__ import annotations

from ...base import CoarsenetError
from .rnn_cell import HybridRecurrentCell, RecurrentCell, _namespace, _steps


class SequentialRNNCell(RecurrentCell):
    """Cells stacked: each step runs them in order; states are their states concatenated."""

    def add(self, cell) -> None:
        self.register_child(cell)

    def __len__(self) -> int:
        return len(self._children)

    def __getitem__(self, i):
        return list(self._children.values())[i]

    def state_info(self, batch_size=0):
        return [info for c in self._children.values() for info in c.state_info(batch_size)]

    def begin_state(self, batch_size=0, func=None, **kwargs):
        return [s for c in self._children.values() for s in c.begin_state(batch_size, func,
                                                                           **kwargs)]

    def _zero_states(self, F, step):
        return [s for c in self._children.values() for s in c._zero_states(F, step)]

    def forward(self, inputs, states):
        pos, next_states = 0, []
        for cell in self._children.values():
            n = len(cell.state_info())
            inputs, new = cell(inputs, states[pos:pos + n])
            pos += n
            next_states += list(new)
        return inputs, next_states


class HybridSequentialRNNCell(SequentialRNNCell, HybridRecurrentCell):
    """SequentialRNNCell of hybrid cells; hybridize() hybridizes each cell's step."""

    forward = SequentialRNNCell.forward

    def hybridize(self, active: bool = True, **kwargs) -> None:
        for c in self._children.values():
            c.hybridize(active, **kwargs)


class DropoutCell(HybridRecurrentCell):
    """Dropout on the step's output (training only); no states."""

    def __init__(self, rate, axes=(), **kwargs):
        super().__init__(**kwargs)
        self._rate, self._axes = rate, tuple(axes)

    def state_info(self, batch_size=0):
        return []

    def _zero_states(self, F, step):
        return []

    def hybrid_forward(self, F, x):
        if self._rate > 0:
            x = F.Dropout(x, p=self._rate, axes=self._axes) if self._axes else \
                F.Dropout(x, p=self._rate)
        return (x,)


class _ModifierCell(RecurrentCell):
    def __init__(self, base_cell):
        super().__init__(prefix=base_cell.prefix + self._modifier, params=None)
        self.base_cell = base_cell

    def state_info(self, batch_size=0):
        return self.base_cell.state_info(batch_size)

    def begin_state(self, batch_size=0, func=None, **kwargs):
        return self.base_cell.begin_state(batch_size, func, **kwargs)

    def _zero_states(self, F, step):
        return self.base_cell._zero_states(F, step)


class ResidualCell(_ModifierCell):
    """output = base_cell(x) + x."""

    _modifier = "residual"

    def forward(self, inputs, states):
        out, new = self.base_cell(inputs, states)
        return out + inputs, new


class ZoneoutCell(_ModifierCell):
    """Zoneout: in training each output / state unit keeps its previous value with probability
    zoneout_outputs / zoneout_states (masks from Dropout, so seeded); inference is the base."""

    _modifier = "zoneout"

    def __init__(self, base_cell, zoneout_outputs=0.0, zoneout_states=0.0):
        super().__init__(base_cell)
        self._p_out, self._p_state = zoneout_outputs, zoneout_states
        self._prev_output = None

    def reset(self) -> None:
        super().reset()
        self._prev_output = None

    def forward(self, inputs, states):
        F = _namespace(inputs)
        out, new = self.base_cell(inputs, states)

        def keep(p, like):  # nonzero where the new value is taken
            return F.Dropout(F.ones_like(like), p=p)

        prev = self._prev_output if self._prev_output is not None else F.zeros_like(out)
        if self._p_out:
            out = F.where(keep(self._p_out, out), out, prev)
        if self._p_state:
            new = [F.where(keep(self._p_state, n), n, s) for n, s in zip(new, states)]
        self._prev_output = out
        return out, list(new)


def _reverse(F, steps, valid_length):
    """The list of (N, C) steps reversed in time; with valid_length, per row only its first
    valid_length steps (the later ones stay in place)."""
    if valid_length is None:
        return steps[::-1]
    stacked = F.Concat(*[F.expand_dims(s, axis=0) for s in steps], dim=0, num_args=len(steps))
    rev = F.SequenceReverse(stacked, valid_length, use_sequence_length=True)
    if len(steps) == 1:
        return [F.squeeze(rev, axis=0)]
    out = F.split(rev, num_outputs=len(steps), axis=0, squeeze_axis=True)
    return [out[i] for i in range(len(steps))]


class BidirectionalCell(RecurrentCell):
    """Runs l_cell forward and r_cell backward over the sequence; outputs concatenated on the
    feature axis, states l_cell's then r_cell's. Only unroll (a single step has no meaning)."""

    def __init__(self, l_cell, r_cell, output_prefix="bi_"):
        super().__init__(prefix="", params=None)
        self.register_child(l_cell, "l_cell")
        self.register_child(r_cell, "r_cell")
        self._output_prefix = output_prefix

    def _cells(self):
        return list(self._children.values())

    def state_info(self, batch_size=0):
        return [i for c in self._cells() for i in c.state_info(batch_size)]

    def begin_state(self, batch_size=0, func=None, **kwargs):
        return [s for c in self._cells() for s in c.begin_state(batch_size, func, **kwargs)]

    def forward(self, inputs, states):
        raise CoarsenetError("BidirectionalCell cannot be stepped; use unroll")

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None,
               valid_length=None):
        """With valid_length (N,), as MXNet: the right cell runs over each row's first
        valid_length steps reversed (SequenceReverse), both cells keep a row's state past its
        end and its outputs there are zeros."""
        self.reset()
        F = _namespace(inputs)
        steps = _steps(F, inputs, length, layout)
        l_cell, r_cell = self._cells()
        if begin_state is None:
            begin_state = l_cell._zero_states(F, steps[0]) + r_cell._zero_states(F, steps[0])
        n_l = len(l_cell.state_info())
        l_out, l_states = l_cell.unroll(length, steps, begin_state[:n_l], layout, False,
                                        valid_length)
        r_out, r_states = r_cell.unroll(length, _reverse(F, steps, valid_length),
                                        begin_state[n_l:], layout, False, valid_length)
        outputs = [F.Concat(a, b, dim=1, num_args=2)
                   for a, b in zip(l_out, _reverse(F, r_out, valid_length))]
        if merge_outputs is None:
            merge_outputs = not isinstance(inputs, (list, tuple))
        if merge_outputs:
            axis = layout.find("T")
            outputs = F.Concat(*[F.expand_dims(o, axis=axis) for o in outputs], dim=axis,
                               num_args=length)
        return outputs, list(l_states) + list(r_states)
