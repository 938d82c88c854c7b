"""NDArrayIter edge cases and metrics against hand-computed values."""
import numpy as np
import pytest

from coarsenet import io, metric
from coarsenet.testing import expect_error


def labels_of(it):
    return [(b.label[0].asnumpy().tolist(), b.pad) for b in it]


def test_pad_discard_roll_over():
    x, y = np.arange(10).reshape(5, 2), np.arange(5)
    it = io.NDArrayIter(x, y, batch_size=2, last_batch_handle="pad")
    assert labels_of(it) == [([0, 1], 0), ([2, 3], 0), ([4, 0], 1)]
    it = io.NDArrayIter(x, y, batch_size=2, last_batch_handle="discard")
    assert labels_of(it) == [([0, 1], 0), ([2, 3], 0)]
    it = io.NDArrayIter(x, y, batch_size=2, last_batch_handle="roll_over")
    assert labels_of(it) == [([0, 1], 0), ([2, 3], 0)]
    it.reset()
    assert labels_of(it)[0] == ([4, 0], 0)


def test_shuffle_covers_every_sample_and_names():
    x = {"a": np.arange(6), "b": np.arange(6) * 10}
    it = io.NDArrayIter(x, np.arange(6), batch_size=3, shuffle=True, seed=1)
    seen = []
    for batch in it:
        a, b = (d.asnumpy() for d in batch.data)
        np.testing.assert_array_equal(b, a * 10)
        seen += a.tolist()
    assert sorted(seen) == list(range(6))
    assert [d.name for d in it.provide_data] == ["a", "b"]
    assert it.provide_label[0] == io.DataDesc("softmax_label", (3,), np.float32)


def test_sharding_by_parts():
    parts = [io.NDArrayIter(np.arange(8), batch_size=2, num_parts=2, part_index=i) for i in (0, 1)]
    firsts = [next(iter(p)).data[0].asnumpy().tolist() for p in parts]
    assert firsts == [[0, 1], [4, 5]]


def test_iterator_errors():
    expect_error(lambda: io.NDArrayIter(np.zeros((4, 2)), np.zeros(3)), "same number of samples")
    expect_error(lambda: io.NDArrayIter(np.zeros((0, 2))), "empty")
    expect_error(lambda: io.NDArrayIter(np.zeros((4, 2)), last_batch_handle="x"), "'x'")
    expect_error(lambda: io.NDArrayIter(np.zeros((4, 2)), batch_size=0), "batch_size")


def test_metrics():
    pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    label = np.array([1, 1, 1])
    acc = metric.create("acc")
    acc.update([label], [pred])
    assert acc.get() == ("accuracy", pytest.approx(2 / 3))
    ce = metric.CrossEntropy()
    ce.update([label], [pred])
    assert ce.get()[1] == pytest.approx(-np.mean(np.log([0.9, 0.2, 0.7])))
    top = metric.TopKAccuracy(top_k=2)
    top.update([label], [pred])
    assert top.get()[1] == 1.0
    mse = metric.MSE()
    mse.update([np.array([1.0, 2.0])], [np.array([1.5, 2.0])])
    assert mse.get()[1] == pytest.approx(0.125)
    comp = metric.create(["acc", "mse"])
    assert [n for n, _ in comp.get_name_value()] == ["accuracy", "mse"]
    expect_error(lambda: metric.create("nope"), "nope")
    expect_error(lambda: acc.update([label], [pred[:2]]), "batch size")
    expect_error(lambda: ce.update([np.array([0, 5, 1])], [pred]), "labels")
