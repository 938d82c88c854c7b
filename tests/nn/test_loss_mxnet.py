"""Gluon losses of issue 13 against REAL MXNet 1.9.1 (fixtures from
tests/fixtures/mxnet/gluon13/make_gluon13.py): loss values and the gradient of their sum with
respect to the prediction, in float32 as MXNet computes them; plus float64 numeric gradients."""
import json
from pathlib import Path

import numpy as np
import pytest

import coarsenet as cn
from coarsenet import autograd, gluon
from coarsenet.testing import assert_close, numeric_gradient

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "mxnet" / "gluon13"
META = json.loads((FIX / "losses.json").read_text())
ARR = np.load(FIX / "losses.npz", allow_pickle=False)


def _run(case: str, dtype=np.float32, hybridize=False, inputs=None):
    m = META[case]
    loss_fn = getattr(gluon.loss, m["class"])(**m["kwargs"])
    if hybridize:
        loss_fn.hybridize()
    raw = inputs or [ARR[f"{case}/in{i}"] for i in range(m["n_inputs"])]
    args = [cn.nd.array(a, dtype=dtype) for a in raw]
    args[0].attach_grad()
    extra = [cn.nd.array(ARR[f"{case}/{k}"], dtype=dtype) if f"{case}/{k}" in ARR else None
             for k in m["extra"]]
    while extra and extra[-1] is None:
        extra.pop()
    with autograd.record():
        out = loss_fn(*args, *extra)
    out.backward()
    return out.asnumpy(), args[0].grad.asnumpy()


@pytest.mark.parametrize("case", sorted(META))
def test_loss_matches_mxnet(case):
    out, grad = _run(case)
    assert out.shape == ARR[f"{case}/out"].shape, case
    assert_close(out, ARR[f"{case}/out"], 2e-5, 2e-5, f"{case} value")
    assert_close(grad, ARR[f"{case}/grad"], 2e-4, 2e-5, f"{case} gradient")


@pytest.mark.parametrize("case", ["sbce_pos_weight", "huber_rho", "cosine", "ctc_lengths",
                                  "triplet", "kldiv_logits"])
def test_loss_hybridized_matches_imperative(case):
    out, grad = _run(case)
    out_h, grad_h = _run(case, hybridize=True)
    assert_close(out_h, out, 1e-6, 1e-6, f"{case} hybridized value")
    assert_close(grad_h, grad, 1e-6, 1e-6, f"{case} hybridized gradient")


@pytest.mark.parametrize("case", ["sbce", "sbce_from_sigmoid_pw", "l1", "kldiv_logits",
                                  "huber_rho", "hinge", "sq_hinge", "logistic_binary",
                                  "triplet", "cosine_margin", "ctc_ntc", "ctc_lengths"])
def test_loss_gradient_float64_numeric(case):
    m = META[case]
    raw = [ARR[f"{case}/in{i}"].astype(np.float64) for i in range(m["n_inputs"])]
    _, grad = _run(case, np.float64, inputs=raw)

    def total():
        out, _ = _run(case, np.float64, inputs=raw)
        return float(out.sum())

    numeric, mask = numeric_gradient(total, raw[0])
    assert_close(grad[mask], numeric[mask], 1e-5, 1e-7, f"{case} float64 gradient")


def test_ctc_op_blank_first_matches_mxnet():
    f = np.load(FIX / "ctc_first.npz", allow_pickle=False)
    for dtype in (np.float32, np.float64):
        x = cn.nd.array(f["data"], dtype=dtype)
        x.attach_grad()
        with autograd.record():
            out = cn.nd.CTCLoss(x, cn.nd.array(f["label"], dtype=dtype), blank_label="first")
        out.backward(cn.nd.array(f["head"], dtype=dtype))
        assert_close(out.asnumpy(), f["out"], 1e-5, 1e-5, "CTCLoss value")
        assert_close(x.grad.asnumpy(), f["grad"], 1e-4, 1e-5, "CTCLoss gradient")


def test_ctc_matches_torch_random_lengths():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    T, N, C, L = 12, 5, 6, 4
    x = rng.standard_normal((T, N, C))
    lab_len = rng.integers(0, L + 1, N)
    data_len = rng.integers(2 * L + 1, T + 1, N)
    lab = rng.integers(0, C - 1, (N, L)).astype(np.float64)  # blank last: classes 0..C-2
    xd = cn.nd.array(x, dtype=np.float64)
    xd.attach_grad()
    with autograd.record():
        out = cn.nd.CTCLoss(xd, cn.nd.array(lab, dtype=np.float64),
                            cn.nd.array(data_len, dtype=np.float64),
                            cn.nd.array(lab_len, dtype=np.float64), use_data_lengths=True,
                            use_label_lengths=True, blank_label="last")
    out.backward()
    xt = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.ctc_loss(xt.log_softmax(2), torch.tensor(lab).long(),
                                       torch.tensor(data_len), torch.tensor(lab_len),
                                       blank=C - 1, reduction="none")
    ref.sum().backward()
    assert_close(out.asnumpy(), ref.detach().numpy(), 1e-10, 1e-10, "CTC vs torch value")
    assert_close(xd.grad.asnumpy(), xt.grad.numpy(), 1e-9, 1e-10, "CTC vs torch gradient")


def test_ctc_impossible_label_is_inf_with_zero_gradient():
    x = cn.nd.array(np.zeros((2, 1, 3)))
    x.attach_grad()
    with autograd.record():
        out = cn.nd.CTCLoss(x, cn.nd.array([[1, 1]]), blank_label="first")  # needs 3 frames
    out.backward()
    assert np.isinf(out.asnumpy()[0]) and not np.any(x.grad.asnumpy())


@pytest.mark.parametrize("label, lengths, message", [
    ([[1, 7]], None, "not a class"),
    ([[1, 2]], [5], "label_lengths"),
])
def test_ctc_bad_labels_name_the_problem(label, lengths, message):
    x = cn.nd.array(np.zeros((4, 1, 3)))
    extra = [cn.nd.array(lengths)] if lengths is not None else []
    with pytest.raises(cn.base.CoarsenetError, match=message):
        cn.nd.CTCLoss(x, cn.nd.array(label), *extra, use_label_lengths=bool(extra),
                      blank_label="first").asnumpy()


def test_ctc_check_op_float64():
    label = np.array([[1, 2, 0], [2, 2, 1]], np.float64)
    cn.testing.check_op("CTCLoss", inputs=[np.random.default_rng(0).standard_normal((6, 2, 3)),
                                           label],
                        params=dict(blank_label="first"), ref=lambda x, lab, **_: _np_ctc(x, lab),
                        grad_inputs=[0])


def _np_ctc_paths(x, lab):
    """Brute force: sum over every alignment path (tiny sizes only), blank = 0, pad = 0."""
    import itertools
    T, N, C = x.shape
    y = np.exp(x - x.max(2, keepdims=True))
    y /= y.sum(2, keepdims=True)
    out = np.zeros(N)
    for n in range(N):
        target = [int(v) for v in lab[n] if v != 0]
        p = 0.0
        for path in itertools.product(range(C), repeat=T):
            collapsed = [k for i, k in enumerate(path) if k != 0 and (i == 0 or path[i - 1] != k)]
            if collapsed == target:
                p += np.prod([y[t, n, path[t]] for t in range(T)])
        out[n] = -np.log(p)
    return out, y


def _np_ctc(x, lab):
    return _np_ctc_paths(x, lab)[0]
