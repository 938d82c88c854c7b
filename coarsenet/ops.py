"""The op registry as Python sees it: names, docs, typed params, flags and parsed instances.

Every op, built in or loaded from a plugin library, is described by the C++ registry; nothing
here is specific to one op.
"""
from __future__ import annotations

import builtins
from dataclasses import dataclass

from . import _core
from .base import CoarsenetError, attr_str

# Op flags (CN_FLAG_* in c_api.h), exported by _core.
NONDETERMINISTIC = _core.FLAG_NONDETERMINISTIC
UPDATES_AUX = _core.FLAG_UPDATES_AUX
EXPENSIVE = _core.FLAG_EXPENSIVE
NO_GRAD = _core.FLAG_NO_GRAD
LOSS = _core.FLAG_LOSS


@dataclass(frozen=True)
class ParamInfo:
    name: str
    type: str
    default: str | None
    required: bool
    doc: str


@dataclass(frozen=True)
class OpInfo:
    name: str
    doc: str
    library: str
    flags: int
    params: tuple[ParamInfo, ...]
    onnx_domain: str = ""  # a user op's declared ONNX mapping (SDK .onnx(domain, op_type))
    onnx_op_type: str = ""

    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def docstring(self) -> str:
        lines = [self.doc or self.name, "", "Parameters", "----------"]
        for p in self.params:
            default = "required" if p.required else f"default={p.default}"
            lines.append(f"{p.name} : {p.type}, {default}")
            lines.append(f"    {p.doc}")
        return "\n".join(lines)


def list() -> builtins.list[str]:  # noqa: A001 - the MXNet-style name users look for
    """Names of every registered op (built-in and loaded)."""
    return _core.list_ops()


_info_cache: dict[str, OpInfo] = {}


def info(name: str) -> OpInfo:
    """Doc, params and flags of one op; raises CoarsenetError for an unknown name."""
    cached = _info_cache.get(name)
    if cached is None:
        raw = _core.op_info(name)
        params = tuple(ParamInfo(**p) for p in raw["params"])
        cached = OpInfo(raw["name"], raw["doc"], raw["library"], raw["flags"], params,
                        raw["onnx_domain"], raw["onnx_op_type"])
        _info_cache[name] = cached
    return cached


_instance_cache: dict[tuple, _core.Op] = {}
_INSTANCE_CACHE_LIMIT = 4096


def make(name: str, attrs: dict | None = None) -> _core.Op:
    """A parsed op instance for these attributes (values may be Python values or MXNet strings).

    Instances are immutable and cached, so repeated imperative calls parse their params once.
    """
    items = tuple((k, attr_str(v)) for k, v in (attrs or {}).items())
    key = (name, items)
    op = _instance_cache.get(key)
    if op is None:
        op = _core.Op(name, dict(items))
        if len(_instance_cache) >= _INSTANCE_CACHE_LIMIT:
            _instance_cache.clear()
        _instance_cache[key] = op
    return op


def positional_params(op_name: str, args: tuple, is_input, kwargs: dict) -> tuple:
    """MXNet's positional form `clip(x, 0, 6)`, `Pooling(x, (2, 2))`: the leading inputs stay
    positional, the values after them become the op's params in declared order (into kwargs).
    Returns the inputs."""
    n = 0
    while n < len(args) and is_input(args[n]):
        n += 1
    if n == len(args):
        return args
    names = [p for p in info(op_name).param_names() if p != "num_args"]
    extra = args[n:]
    if len(extra) > len(names):
        raise CoarsenetError(f"{op_name}: {len(extra)} positional parameters given after the "
                             f"inputs, but the op has only {len(names)}: {', '.join(names)}")
    for name, value in zip(names, extra):
        if is_input(value):
            raise CoarsenetError(f"{op_name}: inputs must come before parameters; found an "
                                 f"input in the place of parameter '{name}'")
        if name in kwargs:
            raise CoarsenetError(f"{op_name}: parameter '{name}' given twice (positionally "
                                 "and by keyword)")
        kwargs[name] = value
    return args[:n]


def install_functions(module, make_function) -> None:
    """Adds (or refreshes) module.<op> = make_function(op) for every registered op, as cn.nd and
    cn.sym expose them, named and documented as the op; names the module defines itself are
    left alone."""
    for op_name in list():
        existing = getattr(module, op_name, None)
        if existing is None or getattr(existing, "_generated", False):
            fn = make_function(op_name)
            fn.__name__ = fn.__qualname__ = op_name
            fn.__doc__ = info(op_name).docstring()
            fn._generated = True
            setattr(module, op_name, fn)


# Callbacks run when a plugin library adds ops (cn.nd and cn.sym regenerate their functions);
# the front ends register here, below them, so the registry never imports them.
_ops_added_hooks: builtins.list = []


def on_ops_added(hook) -> None:
    """Registers hook() to run after a library adds ops (sdk.load_op_library)."""
    _ops_added_hooks.append(hook)


def ops_added() -> None:
    for hook in _ops_added_hooks:
        hook()
