"""The fixed-point traversal shape and type inference share (NNVM's InferAttr): one loop over
the graph, parameterised by a per-attribute rule.

Every sweep visits the nodes in graph order: a variable with `like` (head gradients, zeros)
copies its entry's value; an op node runs the attribute's op rule, which may fill unknown
inputs (FullyConnected's weight from data) as well as outputs; a backward node gives each
input gradient the value of the forward input it is the gradient of. A value filled for a
variable reaches that variable's other readers on the next sweep, so sweeps repeat until
nothing changes. Known values never change: an op rule disagreeing with one is an error naming
the node, the slot and both values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..base import CoarsenetError
from ..graph import BACKWARD, OP, VARIABLE, Entry, Graph

MAX_SWEEPS = 100


@dataclass(frozen=True)
class AttrRule:
    what: str                      # "shape" / "type": named in errors
    noun: str                      # "shape" / "dtype": the value's name in errors
    unknown: Any                   # the value stored for "not known yet" (None, -1)
    known: Callable[[Any], bool]   # whether a stored or inferred value is known
    # (node, input values, aux values) -> (inputs, outputs, aux values); unknown where unknown
    op_rule: Callable[[Any, list, list], tuple]
    normalize: Callable[[Any], Any] = lambda v: v   # an op rule's value as stored
    show: Callable[[Any], Any] = lambda v: v        # a stored value in errors


def infer_attr(graph: Graph, values: dict, rule: AttrRule) -> dict:
    """Runs `rule` over `graph` to a fixed point, filling `values` (Entry -> value) in place;
    returns it."""
    for _ in range(MAX_SWEEPS):
        if not _sweep(graph, values, rule):
            break
    return values


def _sweep(graph: Graph, values: dict, rule: AttrRule) -> bool:
    unknown, changed = rule.unknown, False
    for node in graph.nodes:
        if node.kind == VARIABLE:
            out = Entry(node, 0)
            if node.like is not None and not rule.known(values.get(out, unknown)):
                value = values.get(node.like, unknown)
                if rule.known(value):
                    values[out] = value
                    changed = True
        elif node.kind == OP:
            changed |= _infer_op(node, values, rule)
        elif node.kind == BACKWARD:
            for i, e in enumerate(node.backward.forward.data_inputs()):
                out, value = Entry(node, i), values.get(e, unknown)
                if not rule.known(values.get(out, unknown)) and rule.known(value):
                    values[out] = value
                    changed = True
    return changed


def _infer_op(node, values: dict, rule: AttrRule) -> bool:
    unknown, n_in = rule.unknown, node.num_inputs
    try:
        ins, outs, auxs = rule.op_rule(node, [values.get(e, unknown) for e in node.inputs[:n_in]],
                                       [values.get(e, unknown) for e in node.inputs[n_in:]])
    except CoarsenetError as err:
        raise CoarsenetError(f"{rule.what} inference failed at node '{node.name}': {err}") \
            from None
    changed = False
    names = list(node.op.input_names) + list(node.op.aux_names)
    for e, inferred, slot in zip(node.inputs, list(ins) + list(auxs), names):
        if not rule.known(inferred):
            continue
        inferred = rule.normalize(inferred)
        current = values.get(e, unknown)
        if not rule.known(current):
            values[e] = inferred
            changed = True
        elif current != inferred:
            raise CoarsenetError(
                f"{rule.what} inference failed at node '{node.name}' ({node.op.name}): input "
                f"'{slot}' (from '{e.node.name}') has {rule.noun} {rule.show(current)}, but the "
                f"op expects {rule.show(inferred)}")
    for j, inferred in enumerate(outs):
        out = Entry(node, j)
        if rule.known(inferred) and not rule.known(values.get(out, unknown)):
            values[out] = rule.normalize(inferred)
            changed = True
    return changed
