"""mx.AttrScope: attributes given to every symbol created inside a `with` block.

    with mx.AttrScope(ctx_group="stage1", lr_mult="0.1"):
        fc = mx.sym.FullyConnected(data, num_hidden=8)   # fc.attr("ctx_group") == "stage1"

Scopes nest (inner values win); attributes passed explicitly (attr=) win over the scope's.
Per thread, as in MXNet.
"""
from __future__ import annotations

import threading

from .base import CoarsenetError

# Keys MXNet stores as `__key__` (the form its graph passes read) and lists under both names.
HIDDEN_KEYS = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage",
               "profiler_scope")


class AttrScope:
    _current = threading.local()

    def __init__(self, **kwargs):
        for key, value in kwargs.items():
            if not isinstance(value, str):
                raise CoarsenetError(f"AttrScope: attribute '{key}' must be a string, found "
                                     f"{type(value).__name__} ({value!r})")
        self._attr = dict(kwargs)
        self._old_scope = None

    def get(self, attr=None) -> dict:
        """The scope's attributes updated with `attr` (a new dict)."""
        if not self._attr:
            return dict(attr) if attr else {}
        merged = dict(self._attr)
        if attr:
            merged.update(attr)
        return merged

    @staticmethod
    def current() -> AttrScope:
        scope = getattr(AttrScope._current, "value", None)
        if scope is None:
            scope = AttrScope._current.value = AttrScope()
        return scope

    def __enter__(self):
        self._old_scope = AttrScope.current()
        merged = dict(self._old_scope._attr)
        merged.update(self._attr)
        self._attr = merged
        AttrScope._current.value = self
        return self

    def __exit__(self, *exc):
        AttrScope._current.value = self._old_scope


def current_attrs(attr=None) -> dict:
    """The attributes a symbol made now gets: the active scope's, updated with `attr`; the
    hidden keys (lr_mult, ctx_group, ...) under their stored name `__key__`."""
    scope = getattr(AttrScope._current, "value", None)
    merged = scope.get(attr) if scope is not None and scope._attr else (attr or {})
    if not merged:
        return {}
    return {(f"__{k}__" if k in HIDDEN_KEYS else k): v for k, v in merged.items()}


def with_plain_names(attrs: dict) -> dict:
    """attrs plus each stored hidden key under its plain name too (MXNet's list_attr)."""
    extra = {k[2:-2]: v for k, v in attrs.items()
             if k.startswith("__") and k.endswith("__") and k[2:-2] in HIDDEN_KEYS}
    return {**attrs, **extra} if extra else attrs
