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

import ast
import json
import math

from . import ops as _ops
from .atomic_file import write_atomic
from .base import CODE_TO_DTYPE, CoarsenetError
from .graph import OP, VARIABLE, Entry, Graph, Node

MXNET_VERSION = 10901


def graph_to_json(graph: Graph) -> str:
    """The graph in MXNet's JSON, byte for byte as MXNet 1.x (dmlc's JSON writer) lays it out."""
    nodes = graph.nodes
    index = {node: i for i, node in enumerate(nodes)}
    w = _DmlcWriter()
    w.begin("{", True)
    w.key("nodes")
    w.begin("[", True)
    row_ptr = [0]
    for node in nodes:
        if node.kind not in (VARIABLE, OP):
            raise CoarsenetError(f"cannot save node '{node.name}' ({node.op_label}): only forward "
                                 "graphs are saved")
        w.item()
        w.begin("{", True)
        w.key_value("op", node.op_label)
        w.key_value("name", node.name)
        attrs = {**node.params, **node.attrs}
        if attrs:
            w.key("attrs")
            w.begin("{", len(attrs) > 1)
            for k in sorted(attrs):
                w.key_value(k, attrs[k])
            w.end("}")
        source = node.source or {}
        versions = source.get("versions") or [0] * len(node.inputs)
        w.key("inputs")
        w.entries([(index[e.node], e.index, v) for e, v in zip(node.inputs, versions)])
        w.end("}")
        row_ptr.append(row_ptr[-1] + source.get("num_outputs", node.num_outputs))
    w.end("]")
    w.key("arg_nodes")
    w.ints([i for i, n in enumerate(nodes) if n.kind == VARIABLE])
    w.key("node_row_ptr")
    w.ints(row_ptr)
    w.key("heads")
    w.entries([(index[e.node], e.index, 0) for e in graph.heads])
    w.key("attrs")
    w.begin("{", False)
    w.key("mxnet_version")
    w.raw(f'["int", {MXNET_VERSION}]')
    w.end("}")
    w.end("}")
    return w.text()


class _DmlcWriter:
    """dmlc::JSONWriter's layout: ", " then a newline and two spaces per level inside multi-line
    scopes; maps are multi-line when they hold more than one item, arrays when they hold more
    than ten (or non-scalar items); entries [node, index, version] are always one line."""

    def __init__(self):
        self._out: list = []
        self._multi: list = []
        self._count: list = []

    def _separator(self) -> None:
        if not self._multi or self._multi[-1]:
            self._out.append("\n" + "  " * len(self._multi))

    def begin(self, bracket: str, multi_line: bool) -> None:
        self._out.append(bracket)
        self._multi.append(multi_line)
        self._count.append(0)

    def end(self, bracket: str) -> None:
        multi, count = self._multi.pop(), self._count.pop()
        if multi and count:
            self._separator()
        self._out.append(bracket)

    def item(self) -> None:
        if self._count[-1]:
            self._out.append(", ")
        self._separator()
        self._count[-1] += 1

    def key(self, name: str) -> None:
        self.item()
        self._out.append(json.dumps(name, ensure_ascii=False) + ": ")

    def key_value(self, name: str, value: str) -> None:
        self.key(name)
        self._out.append(json.dumps(value, ensure_ascii=False))

    def raw(self, text: str) -> None:
        self._out.append(text)

    def ints(self, values: list) -> None:
        self.begin("[", len(values) > 10)
        for v in values:
            self.item()
            self._out.append(str(v))
        self.end("]")

    def entries(self, values: list) -> None:
        self.begin("[", len(values) > 10)
        for v in values:
            self.item()
            self._out.append("[" + ", ".join(str(x) for x in v) + "]")
        self.end("]")

    def text(self) -> str:
        return "".join(self._out)


def save_text_atomic(path, text: str) -> None:
    """Writes the whole text or nothing (see atomic_file)."""
    write_atomic(path, lambda f: f.write(text), binary=False)


def graph_from_json(text, source: str = "JSON graph") -> Graph:
    """text: str, or bytes (which must be UTF-8). Every defect of the file is a CoarsenetError
    naming `source` and the node or field; nothing else escapes (fuzzed in tests/fuzz)."""
    doc = _parse(text, source)
    limit = len(text) + _COUNT_SLACK
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list) \
            or not isinstance(doc.get("heads"), list):
        raise CoarsenetError(f"{source}: expected an object with 'nodes' and 'heads' lists")
    raw = doc["nodes"]
    _check_ops(raw, source)
    order = _topological(raw, source)
    row_counts = _row_counts(doc, len(raw))
    nodes: list = [None] * len(raw)
    for i in order:
        nodes[i] = _make_node(raw[i], i, nodes, source, row_counts, limit)
    heads = [_entry(h, nodes, len(raw), source, "heads") for h in doc["heads"]]
    return Graph(heads)


def _parse(text, source: str):
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as err:
            raise CoarsenetError(f"{source}: not UTF-8 text: byte {err.start} is "
                                 f"0x{err.object[err.start]:02x}") from None
    if not isinstance(text, str):
        raise CoarsenetError(f"{source}: expected JSON text, found {type(text).__name__}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise CoarsenetError(f"{source}: malformed JSON: {err}") from None
    except RecursionError:
        # The graph format nests four levels deep; a deeper document is not a graph file.
        raise CoarsenetError(f"{source}: JSON nested too deeply to be a graph") from None
    except ValueError as err:  # integer literals past Python's digit limit
        raise CoarsenetError(f"{source}: bad JSON value: {err}") from None


def _node_attrs(item: dict, i: int, source: str) -> dict:
    """Old files keep op params in "param" and user attributes in "attr"; new ones use "attrs".
    MXNet writes every key and value as a string; anything else is a damaged file."""
    merged = {}
    for key in ("attr", "param", "attrs"):
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise CoarsenetError(f"{source}: node {i} ('{item['name']}'): '{key}' must be an "
                                 f"object of strings, found {type(value).__name__}")
        for k, v in value.items():
            if not isinstance(v, str):
                raise CoarsenetError(f"{source}: node {i} ('{item['name']}'): {key}['{k}'] must "
                                     f"be a string, found {type(v).__name__} {_short(v)}")
        merged.update(value)
    return merged


def _short(value) -> str:
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 200 else "<huge int>"
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_counts(params: dict, n_inputs: int, where: str, source: str, limit: int) -> None:
    """Counts are checked before the op is made, since the op allocates one name per declared
    input or output: a 1.7 KB file declaring num_args=2000000000 would allocate gigabytes first.
    num_args must not exceed the inputs the node lists; num_outputs is bounded by the file's
    size (`limit`), so what loading allocates grows with the file, not with a number in it."""
    for key, bound in (("num_args", n_inputs), ("num_outputs", limit)):
        text = params.get(key)
        if text is None:
            continue
        try:
            declared = int(text.strip()) if len(text) < 32 else None
        except ValueError:
            continue  # not a number: the op's own parser reports it
        # Negative counts too: an int32 param given -2147483649 would wrap to 2147483647.
        if declared is None or not 0 <= declared <= bound:
            what = f"but the node lists {n_inputs} inputs" if key == "num_args" else \
                f"is not between 0 and what a {limit - _COUNT_SLACK}-character file can use"
            raise CoarsenetError(f"{source}: {where}: {key}={text[:40]} {what}")


_COUNT_SLACK = 4096


def _check_variable_attrs(attrs: dict, where: str, source: str) -> None:
    """__shape__ and __dtype__ are parsed at bind time; check them here so a damaged file fails
    at load, naming the node."""
    text = attrs.get("__shape__")
    if text is not None:
        try:
            shape = ast.literal_eval(text) if len(text) < 4096 else None
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            shape = None
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or \
                not all(_is_int(d) and 0 <= d < 2**63 for d in shape):
            raise CoarsenetError(f"{source}: {where}: __shape__ must be a tuple of non-negative "
                                 f"integers, found {_short(text)}")
    text = attrs.get("__dtype__")
    if text is not None:
        try:
            code = int(text.strip()) if len(text) < 32 else None
        except ValueError:
            code = None
        if code not in CODE_TO_DTYPE:
            raise CoarsenetError(f"{source}: {where}: __dtype__ must be one of MXNet's dtype codes "
                                 f"{sorted(CODE_TO_DTYPE)}, found {_short(text)}")
    for key in ("__lr_mult__", "__wd_mult__"):  # read by the optimizer at fit time
        text = attrs.get(key)
        if text is None:
            continue
        try:
            value = float(text) if len(text) < 64 else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise CoarsenetError(f"{source}: {where}: {key} must be a finite number, found "
                                 f"{_short(text)}")
    text = attrs.get("__init__")  # read by the initializer at init_params time
    # Only the '["name", {kwargs}]' form is checked: MXNet also writes bare names ('zeros').
    if text is not None and text.lstrip().startswith("["):
        from .initializer_base import _from_json  # the initializer imports the graph layer

        try:
            _from_json(text)
        except CoarsenetError as err:
            raise CoarsenetError(f"{source}: {where}: __init__: {err}") from None
        except RecursionError:
            raise CoarsenetError(f"{source}: {where}: __init__ is nested too deeply") from None


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
        if not isinstance(ref, list) or not 2 <= len(ref) <= 3 or not all(_is_int(v) for v in ref):
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
    if not isinstance(ref, list) or not 2 <= len(ref) <= 3 or \
            not all(_is_int(v) for v in ref) or not 0 <= ref[0] < n:
        raise CoarsenetError(f"{source}: {where} entry {ref!r} refers to no node")
    node = nodes[ref[0]]
    if not 0 <= ref[1] < node.num_outputs:
        raise CoarsenetError(f"{source}: {where} reads output {ref[1]} of node '{node.name}', "
                             f"which has {node.num_outputs} outputs")
    return Entry(node, ref[1])


def _source_facts(item: dict, recorded_outputs, op) -> dict | None:
    facts = {}
    versions = [ref[2] if len(ref) > 2 else 0 for ref in item.get("inputs", [])]
    if any(versions):
        facts["versions"] = versions
    if recorded_outputs is not None and recorded_outputs != len(op.output_names):
        facts["num_outputs"] = recorded_outputs
    return facts or None


def _row_counts(doc: dict, n: int) -> dict:
    """Node index -> output count recorded in node_row_ptr (absent or malformed: none)."""
    ptr = doc.get("node_row_ptr")
    if not isinstance(ptr, list) or len(ptr) != n + 1 or \
            not all(_is_int(v) for v in ptr):
        return {}
    return {i: ptr[i + 1] - ptr[i] for i in range(n)}


def _make_node(item: dict, i: int, nodes: list, source: str, row_counts: dict,
               limit: int) -> Node:
    name = item["name"]
    attrs = _node_attrs(item, i, source)
    hidden = {k: v for k, v in attrs.items() if k.startswith("__") and k.endswith("__")}
    where = f"node {i} ('{name}')"
    inputs = [_entry(ref, nodes, len(nodes), source, where) for ref in item.get("inputs", [])]
    if item["op"] == "null":
        if inputs:
            raise CoarsenetError(f"{source}: variable {where} must have no inputs")
        _check_variable_attrs(attrs, where, source)
        return Node(VARIABLE, name, attrs=attrs)
    params = {k: v for k, v in attrs.items() if k not in hidden}
    # Plain attributes some writers add that are not op params (MXNet's AttrScope/ctx_group).
    extra = {k: params.pop(k) for k in list(params) if k in ("ctx_group", "force_mirroring")}
    _check_counts(params, len(inputs), where, source, limit)
    try:
        op = _ops.make(item["op"], params)
    except CoarsenetError as err:
        raise CoarsenetError(f"{source}: {where}: {err}") from None
    expected = len(op.input_names) + len(op.aux_names)
    if len(inputs) != expected:
        names = ", ".join(list(op.input_names) + list(op.aux_names))
        raise CoarsenetError(f"{source}: {where} ({op.name}) has {len(inputs)} inputs, expected "
                             f"{expected} ({names})")
    return Node(OP, name, op=op, inputs=inputs, params=params, attrs={**hidden, **extra},
                source=_source_facts(item, row_counts.get(i), op))
