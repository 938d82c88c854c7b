"""gradient — requires: a forward Graph and the variables to differentiate (with their grad_req).
Provides: a Graph whose heads are the forward heads followed by the gradient entries, the
gradient entry of each variable, and the head-gradient variables the executor fills.

Walks the forward nodes in reverse and adds one backward node per op node that a gradient flows
through. A backward node reads only what the op's backward_needs names (so the memory planner can
free the rest after forward). When an entry has several readers, its gradient contributions are
summed without an extra buffer: the first backward writes the gradient, each later one adds into
the same storage (req = add, expressed as `Node.alias`); for an output that is also read inside
the graph this storage is the head-gradient buffer, which the executor refills every backward. NO_GRAD ops stop gradients, aux states
never get one, and LOSS ops read no head gradient.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import ops as _ops
from ..base import REQ_ADD, REQ_NULL, REQ_WRITE, CoarsenetError
from ..graph import BACKWARD, HEAD_GRAD, OP, VARIABLE, ZEROS, BackwardCall, Entry, Graph, Node



@dataclass
class GradientGraph:
    graph: Graph            # heads: forward heads, then the gradient entries in `grads` order
    num_forward_heads: int
    grads: dict             # variable Node -> gradient Entry (None: no gradient reaches it)
    head_grads: list        # per forward head: its HEAD_GRAD variable Node or None


def gradient(graph: Graph, wrt: dict) -> GradientGraph:
    """wrt: {variable Node: 'write' | 'add'}; variables not listed get no gradient."""
    needs = _entries_needing_grad(graph, wrt)
    grad_of: dict = {}
    head_grads = []
    for k, head in enumerate(graph.heads):
        # A head that is itself a variable keeps its own gradient buffer; the head gradient of
        # such an output is not propagated (it would have to be copied, not accumulated).
        if head not in needs or head in grad_of or head.node.kind == VARIABLE:
            head_grads.append(None)
            continue
        var = Node(VARIABLE, f"{head.node.name}_head_grad{k}", role=HEAD_GRAD, like=head)
        grad_of[head] = Entry(var, 0)
        head_grads.append(var)
    for node in reversed(graph.nodes):
        # Only nodes some gradient reaches: behind a BlockGrad every gradient would be zero.
        if node.kind == OP and any(Entry(node, j) in grad_of for j in range(node.num_outputs)):
            _add_backward(node, needs, wrt, grad_of)
    grads = {var: grad_of.get(Entry(var, 0)) for var in wrt}
    heads = list(graph.heads) + [g for g in grads.values() if g is not None]
    return GradientGraph(Graph(heads), len(graph.heads), grads, head_grads)


def _entries_needing_grad(graph: Graph, wrt: dict) -> set:
    needs = set()
    for node in graph.nodes:
        if node.kind == VARIABLE:
            if node in wrt:
                needs.add(Entry(node, 0))
        elif node.kind == OP and not node.op.flags & _ops.NO_GRAD:
            if any(e in needs for e in node.data_inputs()):
                needs.update(Entry(node, j) for j in range(node.num_outputs))
    return needs


def _add_backward(node: Node, needs: set, wrt: dict, grad_of: dict) -> None:
    op = node.op
    if op.flags & _ops.NO_GRAD:
        return
    data = node.data_inputs()
    if not any(e in needs for e in data):
        return
    if not op.has_backward:
        raise CoarsenetError(
            f"node '{node.name}' ({op.name}) has no backward, but a gradient must flow through "
            "it; wrap its input in BlockGrad or set grad_req='null' for the variables before it")
    out_grads = []
    for j in range(node.num_outputs):
        if not op.needs_out_grads[j]:
            out_grads.append(None)
            continue
        g = grad_of.get(Entry(node, j))
        if g is None:  # an output no gradient reaches (unused hidden output): read zeros
            zeros = Node(VARIABLE, f"{node.name}_{op.output_names[j]}_zero_grad", role=ZEROS,
                         like=Entry(node, j))
            g = Entry(zeros, 0)
        out_grads.append(g)
    inputs = [e if op.needs_inputs[i] else None for i, e in enumerate(data)]
    outputs = [Entry(node, j) if op.needs_outputs[j] else None for j in range(node.num_outputs)]
    req, alias, duplicates = [], {}, []
    seen = set()
    for i, e in enumerate(data):
        if e not in needs:
            req.append(REQ_NULL)
        elif e in seen:  # the same entry in two slots of one call: write apart, sum after
            req.append(REQ_WRITE)
            duplicates.append(i)
        elif e in grad_of:
            req.append(REQ_ADD)
            alias[i] = grad_of[e]
        else:
            req.append(REQ_ADD if e.node.kind == VARIABLE and wrt.get(e.node) == "add"
                       else REQ_WRITE)
        seen.add(e)
    call = BackwardCall(node, out_grads, inputs, outputs, req)
    reads = [e for e in out_grads + inputs + outputs if e is not None]
    bw = Node(BACKWARD, f"{node.name}_backward", op=op, backward=call,
              inputs=reads + list(alias.values()), alias=alias)
    for i, e in enumerate(data):
        if req[i] != REQ_NULL and i not in duplicates:
            grad_of[e] = Entry(bw, i)
    for i in duplicates:
        grad_of[data[i]] = _sum_into(grad_of[data[i]], Entry(bw, i), node.name)


def _sum_into(acc: Entry, extra: Entry, name: str) -> Entry:
    """acc + extra, written in place over acc's storage unless acc is a variable's buffer."""
    if "elemwise_add" not in _ops.list():
        raise CoarsenetError(
            f"node '{name}' reads the same entry twice; summing its gradients needs the op "
            "elemwise_add, which is not registered")
    add = Node(OP, f"{name}_grad_sum", op=_ops.make("elemwise_add"), inputs=[acc, extra],
               alias={} if acc.node.kind == VARIABLE else {0: acc})
    return Entry(add, 0)
