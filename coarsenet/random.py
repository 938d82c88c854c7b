"""Seeds for the ops that draw random numbers (Dropout) and for coarsenet's own initializers.

Each op call gets its own seed from a counter, so a run is reproducible after `seed(n)`, and a
recomputation that passes the same seed to the op draws the same numbers.
"""
from __future__ import annotations

import itertools

import numpy as np

_state = {"base": 0, "counter": itertools.count(1)}
_numpy_rng = np.random.default_rng(0)


def seed(seed_value: int) -> None:
    """Seeds op randomness and coarsenet's numpy generator (used by initializers)."""
    global _numpy_rng
    _state["base"] = int(seed_value) * 0x9E3779B1
    _state["counter"] = itertools.count(1)
    _numpy_rng = np.random.default_rng(int(seed_value))


def next_seed() -> int:
    """A fresh 64-bit seed for one op call."""
    return (_state["base"] + next(_state["counter"]) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF


def numpy_rng() -> np.random.Generator:
    return _numpy_rng
