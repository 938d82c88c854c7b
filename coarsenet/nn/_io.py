"""Parameter files in MXNet's binary NDArray format, through coarsenet.mxnet_format.

The two functions are the only place nn touches the file format."""
from __future__ import annotations

import numpy as np

from .. import mxnet_format
from ..base import CoarsenetError


def save_params(path, arrays: dict[str, np.ndarray]) -> None:
    mxnet_format.save_arrays(path, arrays)


def load_params(path) -> dict[str, np.ndarray]:
    loaded = mxnet_format.load_arrays(path)
    if not isinstance(loaded, dict):
        raise CoarsenetError(f"{path}: expected a file of named arrays (a .params file), "
                             "found unnamed arrays")
    return loaded
