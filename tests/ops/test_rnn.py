"""The fused RNN op: NumPy reference + numeric gradients for every mode and option, and equality
with PyTorch's nn.LSTM / nn.GRU / nn.RNN with the weights copied over."""
import numpy as np
import pytest
from rnn_reference import param_count, rnn_ref

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def shapes(mode, T, N, I, H, L=1, bidirectional=False, projection_size=None, seq=False):
    dirs = 2 if bidirectional else 1
    ho = projection_size or H
    s = [(T, N, I), (param_count(mode, L, I, H, bidirectional, projection_size),),
         (L * dirs, N, ho)]
    if mode == "lstm":
        s.append((L * dirs, N, H))
    if seq:
        s.append((N,))
    return s


def run_case(mode, T=3, N=2, I=3, H=4, L=1, bidirectional=False, projection_size=None,
             seq=None, **extra):
    params = dict(mode=mode, state_size=H, num_layers=L, bidirectional=bidirectional,
                  state_outputs=True, **extra)
    if projection_size:
        params["projection_size"] = projection_size
    sh = shapes(mode, T, N, I, H, L, bidirectional, projection_size, seq is not None)
    rng = np.random.default_rng(1)
    inputs = [rng.uniform(-1, 1, s) for s in sh]
    grad_inputs = list(range(len(sh)))
    if seq is not None:
        params["use_sequence_length"] = True
        inputs[-1] = np.array(seq, dtype=np.float64)
        grad_inputs.pop()
    return check_op("RNN", inputs=inputs, params=params, ref=rnn_ref, grad_inputs=grad_inputs,
                    grad_rtol=1e-4, grad_atol=1e-6, max_points=120)


@pytest.mark.parametrize("mode", ["rnn_relu", "rnn_tanh", "lstm", "gru"])
def test_one_layer(mode):
    run_case(mode)


@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])
def test_two_layers_bidirectional(mode):
    run_case(mode, L=2, bidirectional=True)


def test_lstm_projection():
    run_case("lstm", L=2, H=5, projection_size=3)
    run_case("lstm", bidirectional=True, H=5, projection_size=2)


@pytest.mark.parametrize("mode", ["rnn_relu", "lstm", "gru"])
def test_sequence_length(mode):
    run_case(mode, T=4, N=3, L=2, bidirectional=True, seq=[4, 2, 1])


def test_lstm_state_clip():
    run_case("lstm", lstm_state_clip_min=-0.3, lstm_state_clip_max=0.35)


def test_without_state_outputs_only_output_is_visible():
    op = cn.ops.make("RNN", {"mode": "gru", "state_size": 4, "num_layers": 1})
    assert op.num_visible_outputs == 1
    ins, outs, _ = op.infer_shape([(5, 2, 3), None, None])
    assert ins == [(5, 2, 3), (param_count("gru", 1, 3, 4),), (1, 2, 4)]
    assert outs[0] == (5, 2, 4)


def test_dropout_between_layers_is_seeded():
    rng = np.random.default_rng(0)
    sh = shapes("lstm", 4, 3, 3, 5, L=2)
    inputs = [rng.uniform(-1, 1, s) for s in sh]
    op = cn.ops.make("RNN", {"mode": "lstm", "state_size": 5, "num_layers": 2, "p": 0.5})
    a = op.invoke(inputs, [], True, 7)[0]
    b = op.invoke(inputs, [], True, 7)[0]
    c = op.invoke(inputs, [], True, 8)[0]
    plain = op.invoke(inputs, [], False, 7)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c) and not np.allclose(a, plain)
    np.testing.assert_allclose(plain, rnn_ref(*inputs, mode="lstm", state_size=5, num_layers=2),
                               rtol=1e-10, atol=1e-12)


def test_dropout_gradient_matches_numeric():
    # The mask comes from the seed, so backward redraws it; numeric gradients use the same seed.
    rng = np.random.default_rng(3)
    sh = shapes("gru", 3, 2, 3, 4, L=2)
    inputs = [rng.uniform(-1, 1, s) for s in sh]
    check_op("RNN", inputs=inputs, params={"mode": "gru", "state_size": 4, "num_layers": 2, "p": 0.4},
             is_train=True, seed=5, max_points=80)


def test_bad_inputs_name_the_op():
    x = cn.nd.ones((3, 2, 4))
    expect_error(lambda: cn.nd.RNN(x, cn.nd.ones(7), cn.nd.ones((1, 2, 4)), mode="gru",
                                   state_size=4, num_layers=1), "RNN", "parameters", "(7,)")
    expect_error(lambda: cn.nd.RNN(x, cn.nd.ones(1), cn.nd.ones(1), mode="gru", state_size=0,
                                   num_layers=1), "RNN", "state_size")
    expect_error(lambda: cn.nd.RNN(x, cn.nd.ones(1), cn.nd.ones(1), mode="gru", state_size=4,
                                   num_layers=1, projection_size=2), "RNN", "projection_size")
    expect_error(lambda: cn.nd.RNN(x, cn.nd.ones(1), cn.nd.ones(1), cn.nd.ones(1), mode="lstm",
                                   state_size=4, num_layers=1, lstm_state_clip_min=0),
                 "RNN", "together")
    expect_error(lambda: cn.nd.RNN(x, cn.nd.ones(1), cn.nd.ones(1), mode="lsm", state_size=4,
                                   num_layers=1), "RNN", "lsm")
    n = param_count("gru", 1, 4, 4)
    expect_error(lambda: cn.nd.RNN(x, cn.nd.ones(n), cn.nd.ones((1, 2, 4)), cn.nd.array([3, 9]),
                                   mode="gru", state_size=4, num_layers=1,
                                   use_sequence_length=True), "RNN", "sequence_length[1]", "9")


# ------------------------------------------------------------------ PyTorch with copied weights

def torch_module(mode, I, H, L, bidirectional, proj):
    torch = pytest.importorskip("torch")
    kw = {"num_layers": L, "bidirectional": bidirectional}
    if mode == "lstm":
        return torch.nn.LSTM(I, H, proj_size=proj or 0, **kw)
    if mode == "gru":
        return torch.nn.GRU(I, H, **kw)
    return torch.nn.RNN(I, H, nonlinearity="relu" if mode == "rnn_relu" else "tanh", **kw)


def pack_torch(module, L, dirs):
    """MXNet's packed vector from a torch module: all weights (ih, hh, hr) per layer and
    direction, then all biases. Gate orders agree (LSTM i,f,g,o; GRU r,z,n)."""
    weights, biases = [], []
    for layer in range(L):
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            for name in ("weight_ih", "weight_hh", "weight_hr"):
                if hasattr(module, name + sfx):
                    weights.append(getattr(module, name + sfx).detach().numpy().ravel())
            biases += [getattr(module, f"bias_ih{sfx}").detach().numpy(),
                       getattr(module, f"bias_hh{sfx}").detach().numpy()]
    return np.concatenate(weights + biases)


@pytest.mark.parametrize("mode,L,bidirectional,proj", [
    ("lstm", 2, True, None), ("lstm", 2, False, 3), ("gru", 2, True, None),
    ("rnn_tanh", 1, True, None), ("rnn_relu", 2, False, None)])
def test_matches_pytorch(mode, L, bidirectional, proj):
    torch = pytest.importorskip("torch")
    T, N, I, H = 5, 3, 4, 6
    dirs = 2 if bidirectional else 1
    ho = proj or H
    torch.manual_seed(0)
    m = torch_module(mode, I, H, L, bidirectional, proj).double()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, N, I))
    h0 = rng.standard_normal((L * dirs, N, ho))
    c0 = rng.standard_normal((L * dirs, N, H))
    xt = torch.tensor(x, requires_grad=True)
    h0t, c0t = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    if mode == "lstm":
        yt, (hyt, cyt) = m(xt, (h0t, c0t))
    else:
        yt, hyt = m(xt, h0t)
    heads = [rng.standard_normal(tuple(v.shape)) for v in (yt, hyt)]
    loss = (yt * torch.tensor(heads[0])).sum() + (hyt * torch.tensor(heads[1])).sum()
    loss.backward()

    params = {"mode": mode, "state_size": H, "num_layers": L, "bidirectional": bidirectional,
                  "state_outputs": True}
    if proj:
        params["projection_size"] = proj
    op = cn.ops.make("RNN", params)
    w = pack_torch(m, L, dirs)
    inputs = [x, w, h0] + ([c0] if mode == "lstm" else [])
    outs = op.invoke(inputs, [], False, 0)
    np.testing.assert_allclose(outs[0], yt.detach().numpy(), rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(outs[1], hyt.detach().numpy(), rtol=1e-5, atol=1e-10)
    if mode == "lstm":
        np.testing.assert_allclose(outs[2], cyt.detach().numpy(), rtol=1e-5, atol=1e-10)

    out_grads = [heads[0], heads[1]] + ([np.zeros(c0.shape)] if mode == "lstm" else [])
    out_grads.append(np.zeros(outs[-1].shape))
    grads = [np.zeros(v.shape) for v in inputs]
    op.backward(out_grads, inputs, outs, grads, [1] * len(inputs), [], is_train=False, seed=0)
    torch_w = [p.grad for p in m.parameters()]
    assert all(g is not None for g in torch_w)
    wgrad = pack_torch_grads(m, L, dirs)
    np.testing.assert_allclose(grads[0], xt.grad.numpy(), rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(grads[1], wgrad, rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(grads[2], h0t.grad.numpy(), rtol=1e-5, atol=1e-10)
    if mode == "lstm":
        np.testing.assert_allclose(grads[3], c0t.grad.numpy(), rtol=1e-5, atol=1e-10)


def pack_torch_grads(module, L, dirs):
    class Grads:
        pass
    g = Grads()
    for name, p in module.named_parameters():
        setattr(g, name, p.grad)
    return pack_torch(g, L, dirs)
