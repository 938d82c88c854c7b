"""MXNet checkpoints: `prefix-symbol.json` (the graph) + `prefix-EPOCH.params` (the weights).

The params file is an MXNet NDArray file whose names carry the role of each array: `arg:NAME`
for learnable arguments, `aux:NAME` for auxiliary states (BatchNorm running statistics). Files
written here load in MXNet 1.x and the other way round.
"""
from __future__ import annotations

from . import ndarray as nd
from .base import CoarsenetError


def _params_path(prefix: str, epoch: int) -> str:
    return f"{prefix}-{int(epoch):04d}.params"


def load_params(prefix: str, epoch: int) -> tuple[dict, dict]:
    """(arg_params, aux_params) from `prefix-EPOCH.params`."""
    path = _params_path(prefix, epoch)
    saved = nd.load(path)
    if not saved:  # an empty file: MXNet warns and returns nothing, so do we (quietly)
        return {}, {}
    if not isinstance(saved, dict):
        raise CoarsenetError(f"{path}: expected named arrays ('arg:NAME', 'aux:NAME'), found an "
                             f"unnamed list of {len(saved)} arrays")
    arg_params, aux_params = {}, {}
    for key, value in saved.items():
        role, sep, name = key.partition(":")
        if not sep or role not in ("arg", "aux"):
            raise CoarsenetError(f"{path}: expected array names prefixed 'arg:' or 'aux:', "
                                 f"found '{key}'")
        (arg_params if role == "arg" else aux_params)[name] = value
    return arg_params, aux_params


def load_checkpoint(prefix: str, epoch: int):
    """(symbol, arg_params, aux_params) from `prefix-symbol.json` and `prefix-EPOCH.params`."""
    from . import symbol  # the graph layer imports ndarray; load it only when needed

    sym = symbol.load(f"{prefix}-symbol.json")
    arg_params, aux_params = load_params(prefix, epoch)
    return sym, arg_params, aux_params


def save_checkpoint(prefix: str, epoch: int, symbol, arg_params: dict, aux_params: dict,
                    remove_amp_cast: bool = True) -> None:
    """Writes `prefix-symbol.json` (unless symbol is None) and `prefix-EPOCH.params`.

    `remove_amp_cast` is accepted for MXNet compatibility; coarsenet graphs hold no AMP casts."""
    if symbol is not None:
        symbol.save(f"{prefix}-symbol.json")
    saved = {f"arg:{k}": v for k, v in arg_params.items()}
    saved.update({f"aux:{k}": v for k, v in aux_params.items()})
    nd.save(_params_path(prefix, epoch), saved)
