"""`nd.linalg` and `sym.linalg`: MXNet's linalg namespace (`mx.nd.linalg.gemm2(a, b)`) over the
registered `_linalg_*` ops; each name forwards to the generated op function of that front end,
looked up at call time so ops loaded later are found too. Also MXNet's `nd.onehot_encode(indices,
out)`, which fills `out` in place."""
from __future__ import annotations

import types

_NAMES = ("gemm", "gemm2", "potrf", "potri", "trsm", "trmm", "syrk", "sumlogdiag")


def _namespace(module, title: str) -> types.ModuleType:
    ns = types.ModuleType(f"{module.__name__}.linalg", f"MXNet's {title}.linalg functions.")

    def forward(name):
        def fn(*args, **kwargs):
            op = getattr(module, f"_linalg_{name}", None)
            if op is None:
                raise AttributeError(f"coarsenet does not implement mxnet.{title}.linalg.{name}")
            return op(*args, **kwargs)
        fn.__name__ = fn.__qualname__ = name
        return fn

    for name in _NAMES:
        if hasattr(module, f"_linalg_{name}"):
            setattr(ns, name, forward(name))
    return ns


def _onehot_encode(nd_module):
    generated = nd_module.onehot_encode

    def onehot_encode(indices, out):
        """MXNet's legacy form: fills `out` (N, K) with the one-hot rows of `indices` (N,) and
        returns it (`nd.onehot_encode(idx, out=arr)`, as MXNet's scripts call it)."""
        return generated(indices, out, out=out)
    return onehot_encode


def install() -> None:
    from . import ndarray, symbol

    for module, title in ((ndarray, "nd"), (symbol, "sym")):
        if not isinstance(getattr(module, "linalg", None), types.ModuleType):
            module.linalg = _namespace(module, title)
    # nd.onehot_encode writes into its second argument, like MXNet's (not a generated op call).
    if getattr(getattr(ndarray, "onehot_encode", None), "_generated", False):
        ndarray.onehot_encode = _onehot_encode(ndarray)
