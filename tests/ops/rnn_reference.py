"""A plain NumPy RNN (step by step, no fusion) for the fused RNN op's tests, written from the
equations (MXNet's packed layout and gate order), independent of the C++ kernels."""
import numpy as np

GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def unpack(params, mode, num_layers, input_size, state_size, bidirectional=False,
           projection_size=None):
    """Splits MXNet's packed vector into {(layer, dir): dict(wx, wh, [wr], bx, bh)}."""
    g, h = GATES[mode], state_size
    ho = projection_size or h
    dirs = 2 if bidirectional else 1
    out, pos = {}, 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        v = params[pos:pos + n].reshape(shape)
        pos += n
        return v

    for layer in range(num_layers):
        ni = input_size if layer == 0 else dirs * ho
        for d in range(dirs):
            w = {"wx": take(g * h, ni), "wh": take(g * h, ho)}
            if projection_size:
                w["wr"] = take(ho, h)
            out[layer, d] = w
    for layer in range(num_layers):
        for d in range(dirs):
            out[layer, d]["bx"] = take(g * h)
            out[layer, d]["bh"] = take(g * h)
    assert pos == params.size, (pos, params.size)
    return out


def step(mode, w, x, h, c, clip):
    hh = w["bh"] + h @ w["wh"].T
    a = x @ w["wx"].T + w["bx"]
    n = w["wx"].shape[0] // GATES[mode]
    if mode == "lstm":
        i, f, g, o = (a[:, k * n:(k + 1) * n] + hh[:, k * n:(k + 1) * n] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        if clip is not None:
            c = np.clip(c, *clip)
        h = sigmoid(o) * np.tanh(c)
        if "wr" in w:
            h = h @ w["wr"].T
        return h, c
    if mode == "gru":
        r = sigmoid(a[:, :n] + hh[:, :n])
        z = sigmoid(a[:, n:2 * n] + hh[:, n:2 * n])
        cand = np.tanh(a[:, 2 * n:] + r * hh[:, 2 * n:])
        return (1 - z) * cand + z * h, c
    pre = a + hh
    return (np.maximum(pre, 0) if mode == "rnn_relu" else np.tanh(pre)), c


def rnn_ref(data, params, state, *rest, state_size, num_layers, mode, bidirectional=False,
            state_outputs=False, projection_size=None, lstm_state_clip_min=None,
            lstm_state_clip_max=None, use_sequence_length=False, p=0.0, **_):
    rest = list(rest)
    cell = rest.pop(0) if mode == "lstm" else None
    lens = rest.pop(0).astype(int) if use_sequence_length else None
    T, N, I = data.shape
    dirs = 2 if bidirectional else 1
    clip = None if lstm_state_clip_min is None else (lstm_state_clip_min, lstm_state_clip_max)
    w = unpack(params, mode, num_layers, I, state_size, bidirectional, projection_size)
    x = data
    hy, cy = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            h, c = state[k].copy(), None if cell is None else cell[k].copy()
            y = np.zeros((T, N, h.shape[1]))
            for t in (range(T - 1, -1, -1) if d else range(T)):
                hn, cn = step(mode, w[layer, d], x[t], h, c, clip)
                live = np.ones(N, bool) if lens is None else t < lens
                h = np.where(live[:, None], hn, h)
                if c is not None:
                    c = np.where(live[:, None], cn, c)
                y[t] = np.where(live[:, None], hn, 0)
            outs.append(y)
            hy.append(h)
            cy.append(c)
        x = np.concatenate(outs, axis=2)
    if not state_outputs:
        return x
    if mode == "lstm":
        return x, np.stack(hy), np.stack(cy)
    return x, np.stack(hy)


def param_count(mode, num_layers, input_size, state_size, bidirectional=False,
                projection_size=None):
    g, h = GATES[mode], state_size
    ho = projection_size or h
    dirs = 2 if bidirectional else 1
    n = 0
    for layer in range(num_layers):
        ni = input_size if layer == 0 else dirs * ho
        n += dirs * (g * h * ni + g * h * ho + (ho * h if projection_size else 0) + 2 * g * h)
    return n
