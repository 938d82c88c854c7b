"""Symbolic graphs, MXNet 1.x style: `cn.sym.Variable`, every registered op as `cn.sym.<Op>`,
arithmetic, grouping, shape/type inference, JSON, and binding to an Executor.

A Symbol is a list of output entries of a Graph (see coarsenet.graph). The op functions are
generated from the registry (no per-op code) and regenerated when a plugin library adds ops.
"""
from __future__ import annotations

import copy as _copy
import sys
import warnings

import numpy as np

from . import attribute as _attribute
from . import binary_dispatch as _binary_dispatch
from . import bind as _bind
from . import ops as _ops
from . import sym_functions as _sym_functions
from .base import CoarsenetError, attr_str, dtype_code
from .context import check_usable
from .graph import OP, VARIABLE, Entry, Graph, Node
from .graph_json import graph_from_json, graph_to_json, save_text_atomic
from .passes.infer_shape import infer_shape as _infer_shape
from .passes.infer_type import infer_type as _infer_type


class NameManager:
    """Automatic node names: the lower-cased op name plus a per-name counter (fullyconnected0)."""

    _counters: dict = {}

    @classmethod
    def get(cls, name: str | None, hint: str) -> str:
        if name:
            return name
        n = cls._counters.get(hint, 0)
        cls._counters[hint] = n + 1
        return f"{hint}{n}"


class Symbol:
    """Outputs of a graph. Build with cn.sym.Variable and cn.sym.<Op>."""

    def __init__(self, heads):
        self._heads = list(heads)

    # ---------------------------------------------------------------- structure
    def _graph(self) -> Graph:
        return Graph(self._heads)

    @property
    def name(self) -> str | None:
        return self._heads[0].node.name if len(self._heads) == 1 else None

    def list_arguments(self) -> list:
        graph = self._graph()
        aux = set(graph.aux_variables())
        return [n.name for n in graph.variables() if n not in aux]

    def list_auxiliary_states(self) -> list:
        return [n.name for n in self._graph().aux_variables()]

    def list_inputs(self) -> list:
        return [n.name for n in self._graph().variables()]

    def list_outputs(self) -> list:
        return [_output_name(e) for e in self._heads]

    def get_internals(self) -> Symbol:
        heads = []
        for node in self._graph().nodes:
            visible = 1 if node.kind == VARIABLE else node.op.num_visible_outputs
            heads.extend(Entry(node, j) for j in range(visible))
        return Symbol(heads)

    def get_children(self) -> Symbol | None:
        node = self._single("get_children").node
        return Symbol(node.inputs) if node.inputs else None

    def __getitem__(self, index) -> Symbol:
        if isinstance(index, str):
            names = self.list_outputs()
            if index not in names:
                raise CoarsenetError(f"symbol has no output named '{index}'; outputs: "
                                     f"{', '.join(names)}")
            index = names.index(index)
        if not -len(self._heads) <= index < len(self._heads):
            raise IndexError(f"symbol has {len(self._heads)} outputs, index {index} is out of range")
        return Symbol([self._heads[index]])

    def __len__(self) -> int:
        return len(self._heads)

    def __iter__(self):
        return (Symbol([h]) for h in self._heads)

    def _single(self, what: str) -> Entry:
        if len(self._heads) != 1:
            raise CoarsenetError(f"{what} needs a symbol with one output, this one has "
                                 f"{len(self._heads)} ({', '.join(self.list_outputs())})")
        return self._heads[0]

    def __repr__(self) -> str:
        if len(self._heads) == 1:
            return f"<Symbol {self.name}>"
        return f"<Symbol group [{', '.join(self.list_outputs())}]>"

    # ---------------------------------------------------------------- attributes
    def attr(self, key: str):
        node = self._single("attr").node
        if key in _attribute.HIDDEN_KEYS and key not in node.attrs:
            key = f"__{key}__"  # stored as MXNet stores them
        return node.attrs.get(key, node.params.get(key))

    def list_attr(self) -> dict:
        node = self._single("list_attr").node
        return _attribute.with_plain_names({**node.params, **node.attrs})

    def attr_dict(self) -> dict:
        result = {}
        for node in self._graph().nodes:
            attrs = {**node.params, **node.attrs}
            if attrs:
                result[node.name] = _attribute.with_plain_names(attrs)
        return result

    def _set_attr(self, **kwargs) -> None:
        node = self._single("_set_attr").node
        for key, value in kwargs.items():
            hidden = key in _attribute.HIDDEN_KEYS  # stored as __key__, as MXNet does
            node.attrs[f"__{key}__" if hidden else key] = attr_str(value)

    # ---------------------------------------------------------------- copy and compose
    def __copy__(self) -> Symbol:
        return self._clone({})

    def __deepcopy__(self, memo) -> Symbol:
        return self._clone({})

    def _clone(self, replace: dict) -> Symbol:
        """A copy of the graph; variables named in `replace` become those entries."""
        mapping: dict = {}
        for node in self._graph().nodes:
            if node.kind == VARIABLE and node.name in replace:
                continue
            new = _copy.copy(node)
            new.params, new.attrs = dict(node.params), dict(node.attrs)
            new.inputs = [_remap(e, mapping, replace) for e in node.inputs]
            mapping[node] = new
        return Symbol([_remap(e, mapping, replace) for e in self._heads])

    def __call__(self, *args, **kwargs) -> Symbol:
        """Composes: variables of this symbol are replaced by the given symbols (positionally in
        list_arguments order, or by name). `name=` is accepted for MXNet compatibility."""
        kwargs.pop("name", None)
        arguments = self.list_arguments()
        replace = {}
        for name, value in list(zip(arguments, args)) + list(kwargs.items()):
            if not isinstance(value, Symbol):
                raise CoarsenetError(f"compose: argument '{name}' must be a Symbol")
            if name not in arguments:
                raise CoarsenetError(f"compose: symbol has no argument '{name}'; arguments: "
                                     f"{', '.join(arguments)}")
            replace[name] = value._single(f"compose argument '{name}'")
        return self._clone(replace)

    # ---------------------------------------------------------------- inference
    def infer_shape(self, *args, **kwargs):
        """(arg_shapes, out_shapes, aux_shapes) in list order; (None, None, None) with a
        warning if some shape stays unknown (as MXNet)."""
        arg, out, aux = self.infer_shape_partial(*args, **kwargs)
        if any(s is None for s in arg + out + aux):
            unknown = [n for n, s in zip(self.list_arguments(), arg) if s is None]
            warnings.warn(f"cannot infer the shapes of: {', '.join(unknown) or 'some outputs'}",
                          stacklevel=2)
            return None, None, None
        return arg, out, aux

    def infer_shape_partial(self, *args, **kwargs):
        known = self._known(args, kwargs, "infer_shape")
        graph = self._graph()
        shapes = _infer_shape(graph, known)
        return self._split(graph, shapes)

    def infer_type(self, *args, **kwargs):
        """(arg_types, out_types, aux_types) as numpy dtypes; unknown ones are None."""
        known = self._known(args, kwargs, "infer_type")
        graph = self._graph()
        types = _infer_type(graph, known)
        arg, out, aux = self._split(graph, types)
        if any(t is None for t in arg + out + aux):
            return None, None, None
        return [t.type for t in arg], [t.type for t in out], [t.type for t in aux]

    def _known(self, args, kwargs, what) -> dict:
        arguments = self.list_arguments()
        if len(args) > len(arguments):
            raise CoarsenetError(f"{what}: {len(args)} positional values for {len(arguments)} "
                                 "arguments")
        known = {n: v for n, v in zip(arguments, args) if v is not None}
        inputs = set(self.list_inputs())
        for name, value in kwargs.items():
            if name not in inputs:
                raise CoarsenetError(f"{what}: symbol has no input '{name}'; inputs: "
                                     f"{', '.join(self.list_inputs())}")
            known[name] = value
        return known

    def _split(self, graph, values):
        aux_nodes = graph.aux_variables()
        aux_set = set(aux_nodes)
        arg = [values.get(Entry(n, 0)) for n in graph.variables() if n not in aux_set]
        aux = [values.get(Entry(n, 0)) for n in aux_nodes]
        return arg, [values.get(e) for e in self._heads], aux

    # ---------------------------------------------------------------- files
    def tojson(self) -> str:
        return graph_to_json(self._graph())

    def save(self, fname, remove_amp_cast=True) -> None:
        save_text_atomic(fname, self.tojson())

    # ---------------------------------------------------------------- binding
    def simple_bind(self, ctx=None, grad_req="write", type_dict=None, mirror=None,
                    stype_dict=None, group2ctx=None, shared_arg_names=None, shared_exec=None,
                    shared_buffer=None, **shapes):
        """Infers shapes and dtypes from the given input shapes, allocates arguments, gradients
        (grad_req 'write' / 'add' / 'null', or per name) and aux states, and binds. The MXNet
        device and sharing arguments are accepted and ignored (one host device, one arena)."""
        check_usable(ctx)
        return _bind.simple_bind(self, grad_req=grad_req, type_dict=type_dict, mirror=mirror,
                           shapes=shapes)

    def bind(self, ctx=None, args=None, args_grad=None, grad_req="write", aux_states=None,
             mirror=None, **kwargs):
        """Binds to the given arrays (list in list_arguments order, or dict); they are used in
        place, not copied. Arguments without a gradient array get grad_req 'null'."""
        check_usable(ctx)
        return _bind.bind(self, args, args_grad, grad_req, aux_states, mirror=mirror)

    # ---------------------------------------------------------------- arithmetic
    # Node names as MXNet's operators make them (`a + b` is _plus0, `x * 2` is _mulscalar0), so
    # sym.get_internals()['_plus12_output'] finds the same node in both.
    def _arith(self, other, same_op, scalar_op, reverse_scalar_op=None, reverse=False):
        if isinstance(other, Symbol):
            a, b = (other, self) if reverse else (self, other)
            return _invoke(same_op, [a, b], {}, hint=_ARITH_HINTS[same_op])
        if isinstance(other, (int, float, np.number)):
            name = reverse_scalar_op if reverse else scalar_op
            return _invoke(name, [self], {"scalar": float(other)},
                           hint=name.replace("_scalar", "scalar"))
        return NotImplemented

    def __add__(self, o):
        return self._arith(o, "elemwise_add", "_plus_scalar")

    def __radd__(self, o):
        return self._arith(o, "elemwise_add", "_plus_scalar", "_plus_scalar", reverse=True)

    def __sub__(self, o):
        return self._arith(o, "elemwise_sub", "_minus_scalar")

    def __rsub__(self, o):
        return self._arith(o, "elemwise_sub", "_minus_scalar", "_rminus_scalar", reverse=True)

    def __mul__(self, o):
        return self._arith(o, "elemwise_mul", "_mul_scalar")

    def __rmul__(self, o):
        return self._arith(o, "elemwise_mul", "_mul_scalar", "_mul_scalar", reverse=True)

    def __truediv__(self, o):
        return self._arith(o, "elemwise_div", "_div_scalar")

    def __rtruediv__(self, o):
        return self._arith(o, "elemwise_div", "_div_scalar", "_rdiv_scalar", reverse=True)

    def __neg__(self):
        return _invoke("_mul_scalar", [self], {"scalar": -1.0}, hint="_mulscalar")

    def __pow__(self, o):
        if isinstance(o, (int, float, np.number)):  # MXNet's name: _powerscalar0
            return _invoke("_power_scalar", [self], {"scalar": float(o)}, hint="_powerscalar")
        return power(self, o)

    def __rpow__(self, o):
        return power(o, self)


def _remap(e: Entry, mapping: dict, replace: dict) -> Entry:
    if e.node.kind == VARIABLE and e.node.name in replace:
        return replace[e.node.name]
    return Entry(mapping[e.node], e.index)


def _output_name(e: Entry) -> str:
    node = e.node
    if node.kind == VARIABLE:
        return node.name
    return f"{node.name}_{node.op.output_names[e.index]}"


# -------------------------------------------------------------------- constructors


def Variable(name: str, attr=None, shape=None, lr_mult=None, wd_mult=None, dtype=None,  # noqa: N802
             init=None, stype=None, **kwargs) -> Symbol:
    """A placeholder for an argument or auxiliary state; shape, dtype, init, lr_mult and wd_mult
    are stored as MXNet's hidden attributes (__shape__, __dtype__, ...)."""
    if not isinstance(name, str) or not name:
        raise CoarsenetError("Variable needs a non-empty string name")
    attrs = {k: attr_str(v) for k, v in _attribute.current_attrs(attr).items()}
    if shape is not None:
        attrs["__shape__"] = attr_str(tuple(int(d) for d in shape))
    if lr_mult is not None:
        attrs["__lr_mult__"] = str(float(lr_mult))
    if wd_mult is not None:
        attrs["__wd_mult__"] = str(float(wd_mult))
    if dtype is not None:
        attrs["__dtype__"] = str(dtype_code(dtype))
    if init is not None:
        attrs["__init__"] = init if isinstance(init, str) else (
            init.dumps() if hasattr(init, "dumps") else str(init))
    if stype is not None:
        attrs["__storage_type__"] = str(stype)
    for key, value in kwargs.items():
        attrs[f"__{key}__"] = attr_str(value)
    return Symbol([Entry(Node(VARIABLE, name, attrs=attrs), 0)])


var = Variable


def Group(symbols) -> Symbol:  # noqa: N802
    """One symbol whose outputs are the outputs of all given symbols, in order."""
    heads = []
    for s in symbols:
        if not isinstance(s, Symbol):
            raise CoarsenetError(f"Group takes Symbols, found {type(s).__name__}")
        heads.extend(s._heads)
    return Symbol(heads)


def load_json(json_str: str) -> Symbol:
    return Symbol(graph_from_json(json_str).heads)


def load(fname) -> Symbol:
    try:
        with open(fname, "rb") as f:  # bytes: graph_from_json reports bad UTF-8 by position
            text = f.read()
    except OSError as err:
        raise CoarsenetError(f"cannot read symbol file '{fname}': {err}") from None
    return Symbol(graph_from_json(text, source=f"symbol file '{fname}'").heads)


# -------------------------------------------------------------------- generated op functions


_ARITH_HINTS = {"elemwise_add": "_plus", "elemwise_sub": "_minus", "elemwise_mul": "_mul",
                "elemwise_div": "_div"}


def _invoke(op_name: str, inputs: list, params: dict, name=None, attr=None,
            named: dict | None = None, hint: str | None = None) -> Symbol:
    # None means "not given", except for a param whose default is not None (topk's axis=-1:
    # axis=None there flattens, as in MXNet).
    keeps_none = {p.name for p in _ops.info(op_name).params
                  if "None" in p.type and p.default not in (None, "None")}
    params = {k: v for k, v in params.items() if v is not None or k in keeps_none}
    if "num_args" in _ops.info(op_name).param_names() and "num_args" not in params:
        params["num_args"] = len(inputs)
    op = _ops.make(op_name, params)
    name = NameManager.get(name, hint or op_name.lower())
    slots = list(op.input_names) + list(op.aux_names)
    if len(inputs) > len(slots):
        raise CoarsenetError(f"{op_name} '{name}': {len(inputs)} inputs given, it takes "
                             f"{len(slots)} ({', '.join(slots)})")
    entries = [s._single(f"input {i} of {op_name} '{name}'") for i, s in enumerate(inputs)]
    entries += [None] * (len(slots) - len(entries))
    for key, value in (named or {}).items():
        if key not in slots:
            raise CoarsenetError(f"{op_name} '{name}': unknown input '{key}'; inputs: "
                                 f"{', '.join(slots)}")
        entries[slots.index(key)] = value._single(f"input '{key}' of {op_name} '{name}'")
    attrs = {k: attr_str(v) for k, v in _attribute.current_attrs(attr).items()}  # AttrScope
    params = {k: attr_str(v) for k, v in params.items()}
    for i, e in enumerate(entries):
        if e is None:
            # As MXNet, a variable made for a missing input carries the op's attributes (so a
            # layer's __lr_mult__ reaches its weight and bias).
            entries[i] = Entry(Node(VARIABLE, f"{name}_{slots[i]}", attrs={**params, **attrs}), 0)
    node = Node(OP, name, op=op, inputs=entries, params=params, attrs=attrs)
    return Symbol([Entry(node, j) for j in range(op.num_visible_outputs)])


def _install_op_functions() -> None:
    """The generated functions cn.sym.<op>(...) (sym_functions.py), given Symbol and _invoke."""
    _sym_functions.install(sys.modules[__name__], Symbol, _invoke)


_install_op_functions()
_ops.on_ops_added(_install_op_functions)  # again when a plugin library adds ops


# Two symbols take the elementwise op (shapes are not known yet), as in MXNet.
maximum, minimum, power = _binary_dispatch.make_functions(Symbol, _invoke, lambda a, b: None,
                                                          "symbols")
_binary_dispatch.install_extra(globals(), Symbol, _invoke, lambda a, b: None, "symbols")


def arange(start, stop=None, step=1.0, repeat=1, infer_range=False, name=None, dtype=None,
           ctx=None, attr=None) -> Symbol:
    """MXNet's sym.arange: values start, start + step, ... below stop (stop=None: range over
    [0, start)), each repeated `repeat` times; the `_arange` op (no inputs)."""
    if infer_range:
        raise CoarsenetError("sym.arange: infer_range=True (a length taken from the graph) is "
                             "not implemented; give stop")
    if stop is None:
        start, stop = 0, start
    params = {"start": float(start), "stop": float(stop), "step": float(step),
              "repeat": int(repeat), "dtype": "None" if dtype is None else np.dtype(dtype).name}
    return _invoke("_arange", [], params, name=name, attr=attr)
