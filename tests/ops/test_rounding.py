import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op


def mx_round(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def mx_rint(x):
    lo, hi = np.floor(x), np.ceil(x)
    return np.where(x - lo <= hi - x, lo, hi)


REFS = {"round": mx_round, "rint": mx_rint, "floor": np.floor, "ceil": np.ceil,
        "trunc": np.trunc, "fix": np.fix, "logical_not": lambda x: (x == 0).astype(x.dtype)}


@pytest.mark.parametrize("name", sorted(REFS))
def test_rounding(name):
    def halves(i, shape, rng):  # exact halves and zeros, where the rules differ
        return rng.integers(-8, 9, size=shape) / 2.0
    check_op(name, [(4, 5)], {}, REFS[name], input_fn=halves)
    check_op(name, [(3, 3)], {}, REFS[name])


def test_round_is_half_away_from_zero():
    x = cn.nd.array([0.5, 1.5, 2.5, -0.5, -2.5])
    assert cn.nd.round(x).asnumpy().tolist() == [1, 2, 3, -1, -3]
    assert cn.nd.rint(x).asnumpy().tolist() == [0, 1, 2, -1, -3]
    assert x.round().asnumpy().tolist() == [1, 2, 3, -1, -3]  # the fluent method
