"""The chain of blocks a mirror plan works on, and the graph an operation sequence of
mirror_chain describes.

Blocks. The forward nodes in topological order are cut after every articulation node (a node
whose output is the only value crossing that position): block i is the run of nodes after the
previous cut up to and including cut node a[i]; the last block is whatever follows the last
cut (the loss). Nodes of block i read only block i's nodes, a[i-1] and variables. When there
are more blocks than the DP should handle, neighbouring blocks are merged into groups of
about equal bytes (a group is solved as one block: exact over the groups).

Graph. Every forward operation of the sequence on block i makes a fresh generation of copies
(`Node.recompute_of`) of the block's nodes, reading the current provider of a[i-1]; operations
of the forward pass itself use the originals. The backward nodes of block i read the
generation its "Fall" operation made. Copies nobody reads vanish (the graph is rebuilt from
its heads); the schedule pass places each copy right before its first reader, which runs the
sequence in order. Nodes that must stay (graph outputs, force_mirroring="False") are never
copied; nodes with force_mirroring="True" are read by backward as a copy even from the forward
pass's generation.
"""
from __future__ import annotations

from ..graph import BACKWARD, BackwardCall, Entry, Graph, Node


class Chain:
    def __init__(self, fwd: list, articulation: list, out_bytes: dict, kept_bytes: dict,
                 flops: dict, max_blocks: int, merge: bool = True):
        """kept_bytes[n]: the bytes of n's outputs that backward reads (what keeping the
        block's internals holds); out_bytes[n]: all its outputs."""
        # A cut after a node whose output backward does not read (an add before its ReLU)
        # would let the model count that output as held by the block (Rotor's a-bar includes
        # a) when the planner frees it at once: such a block is merged with the next one
        # (merge=False: cut at every articulation point).
        cuts = [p for p, a in enumerate(articulation)
                if a and p < len(fwd) - 1 and (kept_bytes[fwd[p]] > 0 or not merge)]
        blocks, start = [], 0
        for p in cuts:
            blocks.append(fwd[start:p + 1])
            start = p + 1
        blocks.append(fwd[start:])
        if len(blocks) > max_blocks:  # merge neighbours, keeping the last block alone
            total = sum(out_bytes[n] for b in blocks[:-1] for n in b)
            per, merged, acc = total / (max_blocks - 1), [[]], 0.0
            for b in blocks[:-1]:
                if merged[-1] and acc >= per * len(merged):
                    merged.append([])
                merged[-1] += b
                acc += sum(out_bytes[n] for n in b)
            blocks = merged + [blocks[-1]]
        self.blocks = blocks
        self.out = [b[-1] for b in blocks]  # a[i]; the last block's is unused
        self.block_of = {n: i for i, b in enumerate(blocks) for n in b}
        self.uf = [sum(flops[n] for n in b) for b in blocks]
        self.wa = [out_bytes[b[-1]] for b in blocks]
        self.wabar = [max(sum(kept_bytes[n] for n in b[:-1]) + out_bytes[b[-1]], 1)
                      for b in blocks]
        # Backward of block i: its internals, the gradient arriving for a[i], the one it
        # makes for a[i-1], and one internal gradient in flight.
        self.mb = [self.wabar[i] + self.wa[i] + (self.wa[i - 1] if i else 0)
                   + max(out_bytes[n] for n in b) for i, b in enumerate(blocks)]


def build(graph: Graph, nh: int, rest: list, chain: Chain, ops: list, keep: set, force: set,
          shapes: dict, dtypes: dict):
    """(graph, shapes, dtypes, copies) for the operation sequence `ops`."""
    provider: dict = {}  # i -> node currently holding a[i]
    maps: dict = {}      # i -> {forward node: the node backward of block i reads}
    copies: list = []

    def copy(node, local):
        c = Node(node.kind, f"{node.name}_recompute{len(copies)}", op=node.op,
                 inputs=[_map(e, local) for e in node.inputs], params=node.params,
                 attrs=node.attrs, recompute_of=node)
        copies.append(c)
        return c

    for op in ops:
        if op[0] == "B":
            continue
        kind, i, first = op
        local = {} if i == 0 else {chain.out[i - 1]: provider[i - 1]}
        for n in chain.blocks[i]:
            local[n] = n if first or n in keep else copy(n, local)
        provider[i] = local[chain.out[i]]
        if kind == "Fall":
            if first and force:
                for n in chain.blocks[i]:
                    if n in force:
                        local[n] = copy(n, local)
            maps[i] = local

    rebuilt: dict = {}

    def m(e, local):
        if e is None:
            return e
        if e.node in rebuilt:
            return Entry(rebuilt[e.node], e.index)
        if e.node not in local and e.node in chain.block_of:
            local = maps.get(chain.block_of[e.node], {})
        return _map(e, local)

    for node in rest:
        local = {}
        if node.kind == BACKWARD and node.backward.forward in chain.block_of:
            local = maps.get(chain.block_of[node.backward.forward], {})
        alias = {i: m(e, local) for i, e in node.alias.items()}
        if node.kind == BACKWARD:
            c = node.backward
            call = BackwardCall(c.forward, [m(e, local) for e in c.out_grads],
                                [m(e, local) for e in c.inputs],
                                [m(e, local) for e in c.outputs], list(c.req))
            new = Node(BACKWARD, node.name, op=node.op, inputs=[m(e, local) for e in node.inputs],
                       attrs=node.attrs, backward=call, alias=alias)
        else:
            new = Node(node.kind, node.name, op=node.op, inputs=[m(e, local) for e in node.inputs],
                       params=node.params, attrs=node.attrs, alias=alias,
                       recompute_of=node.recompute_of)
        rebuilt[node] = new
    heads = list(graph.heads[:nh]) + [m(e, {}) for e in graph.heads[nh:]]
    new_shapes, new_dtypes = dict(shapes), dict(dtypes)
    pairs = [(c.recompute_of, c) for c in copies] + list(rebuilt.items())
    for old, new in pairs:
        for j in range(old.num_outputs):
            src = Entry(old, j)
            if src in shapes:
                new_shapes[Entry(new, j)] = shapes[src]
            if src in dtypes:
                new_dtypes[Entry(new, j)] = dtypes[src]
    return Graph(heads), new_shapes, new_dtypes


def _map(e, local):
    if e is None or e.node not in local:
        return e
    return Entry(local[e.node], e.index)
