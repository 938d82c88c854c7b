"""metric.Perplexity: exp of the mean negative log-likelihood, skipping ignore_label, as MXNet's."""
import numpy as np
import pytest

import coarsenet as cn


def test_perplexity_matches_the_formula_and_ignores_padding():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=(2, 3))  # (N, T, C)
    labels = np.array([[1, 0, 4], [2, 0, 0]])  # 0 is padding
    m = cn.metric.create("perplexity", ignore_label=0)
    m.update([cn.nd.array(labels)], [cn.nd.array(probs)])
    keep = labels != 0
    nll = -np.log(np.take_along_axis(probs, labels[..., None], -1)[..., 0][keep])
    assert m.get()[0] == "perplexity"
    assert np.isclose(m.get()[1], np.exp(nll.mean()))
    m.update([cn.nd.array(labels)], [cn.nd.array(probs)])  # two equal batches: same value
    assert np.isclose(m.get()[1], np.exp(nll.mean()))
    whole = cn.metric.Perplexity(None)
    whole.update([labels], [probs])
    all_nll = -np.log(np.take_along_axis(probs, labels[..., None], -1))
    assert np.isclose(whole.get()[1], np.exp(all_nll.mean()))


def test_perplexity_checks_labels():
    m = cn.metric.Perplexity(ignore_label=None)
    with pytest.raises(cn.base.CoarsenetError, match="perplexity"):
        m.update([np.array([7])], [np.ones((1, 3)) / 3])
    with pytest.raises(cn.base.CoarsenetError, match="labels for"):
        m.update([np.array([0, 1])], [np.ones((3, 3)) / 3])
