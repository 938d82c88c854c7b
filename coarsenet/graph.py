"""Graph IR shared by the symbol API, the passes and the executor.

A graph is a set of nodes reachable from its heads. A node is a variable (an argument, an
auxiliary state, or a buffer the executor fills: head gradients, zeros), an op call, or the
backward call of an op node. Values flow along entries `(node, output_index)`. Facts the passes
attach (shapes, dtypes, storage) are returned as separate maps keyed by entry or node, so a pass
never mutates the graph it was given.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

VARIABLE = "variable"
OP = "op"
BACKWARD = "backward"

# Roles of variable nodes.
ARG = "arg"              # a bound argument or auxiliary state (which one depends on the slot)
HEAD_GRAD = "head_grad"  # gradient of a graph output, filled by Executor.backward
ZEROS = "zeros"          # a gradient nobody produces but a backward reads: constant zeros


class Entry(NamedTuple):
    """Output `index` of `node`. Nodes hash by identity, so entries are cheap dict keys."""

    node: Node
    index: int

    def __repr__(self) -> str:
        return f"Entry({self.node.name}, {self.index})"


@dataclass(eq=False)
class BackwardCall:
    """What the backward call of forward node `forward` reads and how it writes.

    The lists are indexed like the forward op's outputs (`out_grads`, `outputs`) or inputs
    (`inputs`, `req`); an entry is None where backward_needs says the op does not read it.
    Output i of the backward node is the gradient of forward input i.
    """

    forward: Node
    out_grads: list
    inputs: list
    outputs: list
    req: list  # per forward data input: REQ_NULL / REQ_WRITE / REQ_ADD


_CREATED = itertools.count()


@dataclass(eq=False)
class Node:
    kind: str
    name: str
    op: object = None                  # a parsed _core.Op for OP and BACKWARD nodes
    inputs: list = field(default_factory=list)  # Entries read (OP: data inputs then aux)
    params: dict = field(default_factory=dict)  # op params as given, MXNet string form
    attrs: dict = field(default_factory=dict)   # other attributes (__shape__, __lr_mult__, ...)
    role: str = ARG                     # VARIABLE only
    like: Entry | None = None           # VARIABLE only: shape and dtype copied from this entry
    backward: BackwardCall | None = None  # BACKWARD only
    # Output index -> entry whose storage this output takes over (gradient accumulation: the
    # output adds into, or overwrites in place, the value of that entry).
    alias: dict = field(default_factory=dict)
    # OP only: the forward node this one recomputes during backward (mirror pass). It runs with
    # is_recompute set and the same random seed as the original.
    recompute_of: Node | None = None
    # What the file this node was loaded from recorded beyond the graph itself, written back
    # unchanged: "versions" of its input entries (MXNet bumps those of mutated aux states) and
    # "num_outputs" (MXNet's MKLDNN max-pooling recorded a second, workspace output).
    source: dict | None = None
    # Creation order: a traced segment's random ops were called in this order imperatively
    # (autograd.checkpoint gives them the seeds the imperative run would have drawn).
    seq: int = field(default_factory=lambda: next(_CREATED), repr=False)

    @property
    def is_variable(self) -> bool:
        return self.kind == VARIABLE

    @property
    def is_recompute(self) -> bool:
        return self.recompute_of is not None

    @property
    def num_inputs(self) -> int:
        """Data inputs of an op node (its aux states follow them in `inputs`)."""
        return len(self.op.input_names) if self.kind == OP else 0

    @property
    def num_outputs(self) -> int:
        if self.kind == VARIABLE:
            return 1
        if self.kind == OP:
            return len(self.op.output_names)
        return len(self.backward.forward.op.input_names)

    @property
    def op_label(self) -> str:
        if self.kind == VARIABLE:
            return "null"
        if self.kind == BACKWARD:
            return f"_backward_{self.op.name}"
        return self.op.name

    def data_inputs(self) -> list:
        return self.inputs[: self.num_inputs]

    def aux_inputs(self) -> list:
        return self.inputs[self.num_inputs:]

    def __repr__(self) -> str:
        return f"Node({self.op_label}, {self.name!r})"


class Graph:
    """Nodes reachable from `heads`, in a fixed topological order (inputs first)."""

    def __init__(self, heads: Iterable[Entry]):
        self.heads = list(heads)
        self._order = None

    @property
    def nodes(self) -> list:
        """Every node, depth-first post-order from the heads: inputs before their readers."""
        if self._order is None:
            self._order = topological_order(self.heads)
        return self._order

    def variables(self) -> list:
        return [n for n in self.nodes if n.is_variable]

    def readers(self) -> dict:
        """Entry -> number of reads by nodes of the graph (each input slot counts once)."""
        counts: dict = {}
        for node in self.nodes:
            for e in node.inputs:
                counts[e] = counts.get(e, 0) + 1
        return counts

    def aux_variables(self) -> list:
        """Variables that feed an auxiliary-state slot of some op, in graph order."""
        aux, seen = [], set()
        for node in self.nodes:
            if node.kind == OP:
                for e in node.aux_inputs():
                    if e.node not in seen:
                        seen.add(e.node)
                        aux.append(e.node)
        return aux


def topological_order(heads: Iterable[Entry]) -> list:
    """Depth-first post-order over inputs (iterative: deep graphs must not hit recursion limits)."""
    order, done, active = [], set(), set()
    for head in heads:
        if head.node in done:
            continue
        stack = [(head.node, 0)]
        active.add(head.node)
        while stack:
            node, i = stack[-1]
            if i < len(node.inputs):
                stack[-1] = (node, i + 1)
                child = node.inputs[i].node
                if child in done:
                    continue
                if child in active:
                    from .base import CoarsenetError

                    raise CoarsenetError(f"graph has a cycle through node '{child.name}'")
                active.add(child)
                stack.append((child, 0))
            else:
                stack.pop()
                active.discard(node)
                done.add(node)
                order.append(node)
    return order
