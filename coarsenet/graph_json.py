"""MXNet's JSON graph format (`prefix-symbol.json`), read and written.

    {"nodes": [{"op": "null", "name": "data", "inputs": []},
               {"op": "FullyConnected", "name": "fc1", "attrs": {"num_hidden": "10"},
                "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}, ...],
     "arg_nodes": [0, 1, 2], "node_row_ptr": [0, 1, 2, 3, 4], "heads": [[3, 0, 0]],
     "attrs": {"mxnet_version": ["int", 10901]}}

Attribute values are strings exactly as MXNet writes them. Keys that start and end with "__"
(`__shape__`, `__init__`, `__lr_mult__`, ...) are node attributes, not op params. Older files
use "param" or "attr" instead of "attrs" and may lack node_row_ptr; both are accepted.
"""
from __future__ import annotations

import json
import os
import tempfile

from . import ops as _ops
from .base import CoarsenetError
from .graph import OP, VARIABLE, Entry, Graph, Node

MXNET_VERSION = 10901


def graph_to_json(graph: Graph) -> str:
    nodes = graph.nodes
    index = {node: i for i, node in enumerate(nodes)}
    out_nodes, row_ptr = [], [0]
    for node in nodes:
        if node.kind not in (VARIABLE, OP):
            raise CoarsenetError(f"cannot save node '{node.name}' ({node.op_label}): only forward "
                                 "graphs are saved")
        item = {"op": node.op_label, "name": node.name}
        attrs = {**node.params, **node.attrs}
        if attrs:
            item["attrs"] = attrs
        item["inputs"] = [[index[e.node], e.index, 0] for e in node.inputs]
        out_nodes.append(item)
        row_ptr.append(row_ptr[-1] + node.num_outputs)
    doc = {
        "nodes": out_nodes,
        "arg_nodes": [i for i, n in enumerate(nodes) if n.kind == VARIABLE],
        "node_row_ptr": row_ptr,
        "heads": [[index[e.node], e.index, 0] for e in graph.heads],
        "attrs": {"mxnet_version": ["int", MXNET_VERSION]},
    }
    return json.dumps(doc, indent=2)


def save_text_atomic(path, text: str) -> None:
    """Writes to a temporary file in the same directory, then renames it over `path`, so a
    crash never leaves a half-written file."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def graph_from_json(text: str, source: str = "JSON graph") -> Graph:
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, TypeError) as err:
        raise CoarsenetError(f"{source}: malformed JSON: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list) \
            or not isinstance(doc.get("heads"), list):
        raise CoarsenetError(f"{source}: expected an object with 'nodes' and 'heads' lists")
    raw = doc["nodes"]
    _check_ops(raw, source)
    order = _topological(raw, source)
    nodes: list = [None] * len(raw)
    for i in order:
        nodes[i] = _make_node(raw[i], i, nodes, source)
    heads = [_entry(h, nodes, len(raw), source, "heads") for h in doc["heads"]]
    return Graph(heads)


def _node_attrs(item: dict) -> dict:
    """Old files keep op params in "param" and user attributes in "attr"; new ones use "attrs"."""
    merged = {}
    for key in ("attr", "param", "attrs"):
        if isinstance(item.get(key), dict):
            merged.update({str(k): str(v) for k, v in item[key].items()})
    return merged


def _check_ops(raw: list, source: str) -> None:
    known = set(_ops.list())
    unknown = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("op"), str) \
                or not isinstance(item.get("name"), str):
            raise CoarsenetError(f"{source}: node {i} needs string 'op' and 'name' fields")
        if item["op"] != "null" and item["op"] not in known and item["op"] not in unknown:
            unknown.append(item["op"])
    if unknown:
        raise CoarsenetError(f"{source}: unknown ops: {', '.join(unknown)} (not registered; "
                             "load the library that defines them with cn.load_op_library)")


def _inputs(item: dict, i: int, n: int, source: str) -> list:
    inputs = item.get("inputs", [])
    if not isinstance(inputs, list):
        raise CoarsenetError(f"{source}: node {i} ('{item['name']}'): 'inputs' must be a list")
    for ref in inputs:
        if not isinstance(ref, list) or len(ref) < 2 or not all(isinstance(v, int) for v in ref):
            raise CoarsenetError(f"{source}: node {i} ('{item['name']}'): input {ref!r} must be "
                                 "[node, output, version]")
        if not 0 <= ref[0] < n:
            raise CoarsenetError(f"{source}: node {i} ('{item['name']}') reads node {ref[0]}, "
                                 f"which does not exist (the graph has {n} nodes)")
    return inputs


def _topological(raw: list, source: str) -> list:
    """Node indices, inputs first (Kahn); raises on a cycle, naming nodes on it."""
    n = len(raw)
    deps = [[ref[0] for ref in _inputs(item, i, n, source)] for i, item in enumerate(raw)]
    pending = [len(set(d)) for d in deps]
    readers: list = [[] for _ in range(n)]
    for i, d in enumerate(deps):
        for j in set(d):
            readers[j].append(i)
    ready = [i for i in range(n) if pending[i] == 0]
    order = []
    while ready:
        i = ready.pop()
        order.append(i)
        for r in readers[i]:
            pending[r] -= 1
            if pending[r] == 0:
                ready.append(r)
    if len(order) < n:
        stuck = [raw[i]["name"] for i in range(n) if pending[i] > 0]
        raise CoarsenetError(f"{source}: the graph has a cycle through nodes: {', '.join(stuck)}")
    return order


def _entry(ref, nodes: list, n: int, source: str, where: str) -> Entry:
    if not isinstance(ref, list) or len(ref) < 2 or not 0 <= ref[0] < n:
        raise CoarsenetError(f"{source}: {where} entry {ref!r} refers to no node")
    node = nodes[ref[0]]
    if not 0 <= ref[1] < node.num_outputs:
        raise CoarsenetError(f"{source}: {where} reads output {ref[1]} of node '{node.name}', "
                             f"which has {node.num_outputs} outputs")
    return Entry(node, ref[1])


def _make_node(item: dict, i: int, nodes: list, source: str) -> Node:
    name = item["name"]
    attrs = _node_attrs(item)
    hidden = {k: v for k, v in attrs.items() if k.startswith("__") and k.endswith("__")}
    where = f"node {i} ('{name}')"
    inputs = [_entry(ref, nodes, len(nodes), source, where) for ref in item.get("inputs", [])]
    if item["op"] == "null":
        if inputs:
            raise CoarsenetError(f"{source}: variable {where} must have no inputs")
        return Node(VARIABLE, name, attrs=attrs)
    params = {k: v for k, v in attrs.items() if k not in hidden}
    # Plain attributes some writers add that are not op params (MXNet's AttrScope/ctx_group).
    extra = {k: params.pop(k) for k in list(params) if k in ("ctx_group", "force_mirroring")}
    try:
        op = _ops.make(item["op"], params)
    except CoarsenetError as err:
        raise CoarsenetError(f"{source}: {where}: {err}") from None
    expected = len(op.input_names) + len(op.aux_names)
    if len(inputs) != expected:
        names = ", ".join(list(op.input_names) + list(op.aux_names))
        raise CoarsenetError(f"{source}: {where} ({op.name}) has {len(inputs)} inputs, expected "
                             f"{expected} ({names})")
    return Node(OP, name, op=op, inputs=inputs, params=params, attrs={**hidden, **extra})
