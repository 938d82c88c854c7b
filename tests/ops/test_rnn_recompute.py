"""The fused RNN op's in-op recomputation (`recompute`, set by the mirror pass): it keeps only the
state at about sqrt(T) step checkpoints and re-runs each segment's forward during backward. Its
gradients must be bitwise those of the path that keeps every step (both run the same segment
GEMMs), its reserve ~sqrt(T) times smaller, and numeric gradients must hold."""
import numpy as np
import pytest
from rnn_reference import rnn_ref
from test_rnn import shapes

import coarsenet as cn
from coarsenet.testing import check_op


def inputs_for(mode, T, N, I, H, L, bidirectional, proj, seq, dtype, rng):
    sh = shapes(mode, T, N, I, H, L, bidirectional, proj, seq is not None)
    ins = [rng.uniform(-1, 1, s).astype(dtype) for s in sh]
    if seq is not None:
        ins[-1] = np.array(seq, dtype=dtype)
    return ins


def forward_backward(params, inputs, req, seed, is_train=True):
    op = cn.ops.make("RNN", params)
    outs = op.invoke(inputs, [], is_train, seed)
    rng = np.random.default_rng(7)
    heads = [rng.uniform(-1, 1, o.shape).astype(o.dtype) for o in outs[:op.num_visible_outputs]]
    heads.append(np.zeros(outs[-1].shape, outs[-1].dtype))  # the hidden reserve's (unread)
    grads = [np.full(a.shape, 0.25, a.dtype) for a in inputs]
    op.backward(heads, inputs, outs, grads, [req] * len(inputs), [], is_train=is_train, seed=seed)
    return outs, grads


CASES = [
    # mode, T, N, I, H, L, bidirectional, projection, sequence lengths, dropout
    ("lstm", 10, 3, 4, 5, 1, False, None, None, 0.0),
    ("lstm", 7, 2, 3, 4, 2, True, None, None, 0.3),
    ("gru", 9, 3, 3, 4, 2, True, None, [9, 4, 1], 0.0),
    ("rnn_relu", 5, 2, 3, 4, 1, False, None, None, 0.0),
    ("rnn_tanh", 11, 2, 3, 4, 3, False, None, None, 0.2),
    ("lstm", 8, 2, 3, 5, 2, True, 3, [8, 5], 0.0),
    # Large enough (N * 4H * H >= 2^20) for the per-step GEMMs to split across threads.
    ("lstm", 9, 16, 40, 160, 1, True, None, None, 0.0),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-T{c[1]}-L{c[5]}")
@pytest.mark.parametrize("req", [1, 2], ids=["write", "add"])
def test_gradients_bitwise_equal(case, dtype, req):
    mode, T, N, I, H, L, bidi, proj, seq, p = case
    rng = np.random.default_rng(T)
    inputs = inputs_for(mode, T, N, I, H, L, bidi, proj, seq, dtype, rng)
    params = dict(mode=mode, state_size=H, num_layers=L, bidirectional=bidi, state_outputs=True,
                  p=p, use_sequence_length=seq is not None)
    if proj:
        params["projection_size"] = proj
    plain_out, plain_grads = forward_backward(params, inputs, req, seed=11)
    re_out, re_grads = forward_backward({**params, "recompute": True}, inputs, req, seed=11)
    visible = cn.ops.make("RNN", params).num_visible_outputs
    for a, b in zip(plain_out[:visible], re_out[:visible]):
        np.testing.assert_array_equal(a, b)
    for k, (a, b) in enumerate(zip(plain_grads, re_grads)):
        if seq is not None and k == len(inputs) - 1:
            continue  # lengths: not differentiable
        assert np.array_equal(a, b), f"gradient of input {k} differs: {np.abs(a - b).max()}"
    # The reserve holds one checkpoint per segment instead of every step.
    assert re_out[-1].size < plain_out[-1].size


def test_reserve_and_workspace_shrink_like_sqrt_t():
    T, N, H = 400, 4, 8
    plain = cn.ops.make("RNN", {"mode": "lstm", "state_size": H, "num_layers": 1})
    re = cn.ops.make("RNN", {"mode": "lstm", "state_size": H, "num_layers": 1, "recompute": True})
    _, outs_p, _ = plain.infer_shape([(T, N, H), None, None, None])
    _, outs_r, _ = re.infer_shape([(T, N, H), None, None, None])
    # every step: gates 4H + h H + c before/after 2H; recompute: (h, c) at 20 checkpoints
    assert outs_p[-1] == (T * N * 7 * H,)
    assert outs_r[-1] == (20 * N * 2 * H,)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_numeric_gradients_with_recompute(mode):
    rng = np.random.default_rng(2)
    inputs = inputs_for(mode, 6, 2, 3, 4, 2, True, None, None, np.float64, rng)
    check_op("RNN", inputs=inputs, ref=rnn_ref, grad_rtol=1e-4, grad_atol=1e-6, max_points=100,
             params=dict(mode=mode, state_size=4, num_layers=2, bidirectional=True,
                         state_outputs=True, recompute=True))


def test_mirror_sets_recompute_and_gradients_match():
    T, N, I, H = 16, 3, 4, 6
    x = cn.sym.Variable("data")
    out = cn.sym.RNN(x, cn.sym.Variable("rnn_parameters"), cn.sym.Variable("rnn_state"),
                     cn.sym.Variable("rnn_state_cell"), mode="lstm", state_size=H, num_layers=2,
                     name="rnn")
    loss = out * out
    rng = np.random.default_rng(4)
    shapes_ = {"data": (T, N, I)}
    arg_shapes, _, _ = loss.infer_shape(**shapes_)
    args = {n: rng.uniform(-0.5, 0.5, s) for n, s in zip(loss.list_arguments(), arg_shapes)}
    head = rng.uniform(-1, 1, (T, N, H))
    results = {}
    for mirror in (None, "auto"):
        ex = loss.simple_bind(cn.cpu(), mirror=mirror, type_dict={n: np.float64 for n in args},
                              **shapes_)
        for n, v in args.items():
            ex.arg_dict[n][:] = v
        ex.forward(is_train=True)
        ex.backward(cn.nd.array(head))
        results[mirror] = ({n: g.asnumpy().copy() for n, g in ex.grad_dict.items()},
                           ex.memory_stats())
    (g0, m0), (g1, m1) = results[None], results["auto"]
    for n in g0:
        np.testing.assert_array_equal(g0[n], g1[n], err_msg=n)
    assert m1["planned_bytes"] < m0["planned_bytes"]


@pytest.mark.parametrize("mode,proj", [("lstm", None), ("gru", None), ("lstm", 64)])
def test_threaded_unit_blocks_equal_one_thread(mode, proj):
    # Large enough (N * 4H * H >= 2^20) that each step is split into blocks of hidden units
    # across 2 threads; the result must equal the single-block run and the NumPy reference.
    T, N, I, H = 3, 8, 5, 192
    rng = np.random.default_rng(9)
    inputs = inputs_for(mode, T, N, I, H, 1, True, proj, [3, 1, 0, 2, 3, 3, 1, 2], np.float64,
                        rng)
    params = dict(mode=mode, state_size=H, num_layers=1, bidirectional=True, state_outputs=True,
                  use_sequence_length=True)
    if proj:
        params["projection_size"] = proj
    before = cn.get_num_threads()
    try:
        cn.set_num_threads(1)
        one = forward_backward(params, inputs, 1, seed=0)
        cn.set_num_threads(2)
        two = forward_backward(params, inputs, 1, seed=0)
    finally:
        cn.set_num_threads(before)
    for a, b in zip(one[0][:3] + one[1][:-1], two[0][:3] + two[1][:-1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    ref = rnn_ref(*inputs, **params)
    np.testing.assert_allclose(two[0][0], ref[0] if isinstance(ref, (list, tuple)) else ref,
                               rtol=1e-10, atol=1e-12)


def test_fused_recompute_pass_sets_the_param_and_honours_force_mirroring():
    from coarsenet.passes.fused_recompute import fused_recompute

    out = cn.sym.RNN(cn.sym.Variable("data"), cn.sym.Variable("p"), cn.sym.Variable("s"),
                     mode="gru", state_size=4, num_layers=1, name="rnn")
    graph = out._graph()
    rnn_node = [n for n in graph.nodes if n.kind == "op"][0]
    new = fused_recompute(graph)
    copied = [n for n in new.nodes if n.kind == "op"][0]
    assert copied is not rnn_node and copied.params["recompute"] == "True"
    assert "recompute" not in rnn_node.params  # the input graph is not mutated
    assert {v.name for v in new.variables()} == {"data", "p", "s"}
    rnn_node.attrs["force_mirroring"] = "False"
    assert fused_recompute(graph) is graph
