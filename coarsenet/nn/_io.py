"""Parameter files in MXNet's binary NDArray format, through coarsenet.mxnet_format.

The two functions are the only place nn touches the file format."""
from __future__ import annotations

import numpy as np

from ..base import CoarsenetError


def _format():
    try:
        from .. import mxnet_format
    except ImportError:  # the format module lands separately; no other format is offered
        raise CoarsenetError("saving and loading parameters needs coarsenet.mxnet_format, "
                             "which this build lacks") from None
    return mxnet_format


def save_params(path, arrays: dict[str, np.ndarray]) -> None:
    _format().save_arrays(path, arrays)


def load_params(path) -> dict[str, np.ndarray]:
    loaded = _format().load_arrays(path)
    if not isinstance(loaded, dict):
        raise CoarsenetError(f"{path}: expected a file of named arrays (a .params file), "
                             "found unnamed arrays")
    return loaded
