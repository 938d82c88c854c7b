"""SequenceReverse: NumPy reference + numeric gradients in float32/float64, MXNet 1.9.1's result
(fixture), and errors that name the op."""
import os

import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "mxnet", "rnn",
                       "bicell_valid-io.params")


def reverse_ref(data, lengths=None, use_sequence_length=False, **_):
    out = data.copy()
    T = data.shape[0]
    for b in range(data.shape[1]):
        n = int(lengths[b]) if use_sequence_length else T
        out[:n, b] = data[:n, b][::-1]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_with_lengths(dtype):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (5, 4, 2, 3)).astype(dtype)
    lengths = np.array([5, 0, 3, 1], dtype=dtype)
    check_op("SequenceReverse", inputs=[x, lengths], params={"use_sequence_length": True},
             ref=reverse_ref, grad_inputs=[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_without_lengths(dtype):
    check_op("SequenceReverse", shapes=[(4, 3, 2)], ref=reverse_ref,
             input_fn=lambda i, s, rng: rng.uniform(-1, 1, s).astype(dtype))


def test_equals_mxnet():
    io = cn.nd.load(FIXTURE)
    x = io["data"].asnumpy().transpose(1, 0, 2)  # the fixture's data is NTC
    out = cn.nd.SequenceReverse(cn.nd.array(x), io["valid_length"], use_sequence_length=True)
    np.testing.assert_array_equal(out.asnumpy(), io["reversed"].asnumpy())


def test_bad_inputs_name_the_op():
    x = cn.nd.ones((3, 2, 4))
    expect_error(lambda: cn.nd.SequenceReverse(x, cn.nd.array([1, 4]), use_sequence_length=True),
                 "SequenceReverse", "sequence_length", "4")
    expect_error(lambda: cn.nd.SequenceReverse(x, cn.nd.array([1, 2, 3]),
                                               use_sequence_length=True),
                 "SequenceReverse", "sequence_length", "(2,)")
    expect_error(lambda: cn.nd.SequenceReverse(x, axis=1), "SequenceReverse", "axis")
