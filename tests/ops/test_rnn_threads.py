"""The fused RNN op gives the same bits for any thread count: its per-step work is cut into unit
blocks whose boundaries depend only on the hidden size (each block the same single-threaded
GEMM whoever runs it), and its larger GEMMs are split along 16-aligned columns, which keeps each
element's sum in the same order. Outputs, final states and every gradient are compared at 1, 2
and 3 threads, with and without recompute."""
import numpy as np
import pytest
from test_rnn_recompute import forward_backward, inputs_for

import coarsenet as cn

CASES = [
    # mode, T, N, I, H, L, bidirectional, projection, sequence lengths
    ("lstm", 7, 16, 40, 160, 2, True, None, None),  # 3 unit blocks: 64, 64, 32
    ("gru", 6, 9, 24, 130, 1, True, None, [6, 2, 5, 6, 1, 0, 3, 6, 4]),
    ("rnn_tanh", 5, 8, 16, 200, 2, False, None, None),
    ("lstm", 5, 12, 20, 96, 1, False, 40, [5, 3, 1, 5, 2, 4, 5, 5, 1, 2, 3, 4]),
]


@pytest.mark.parametrize("recompute", [False, True], ids=["keep", "recompute"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-H{c[4]}-P{c[7]}")
def test_same_bits_for_any_thread_count(case, dtype, recompute):
    mode, T, N, I, H, L, bidi, proj, seq = case
    inputs = inputs_for(mode, T, N, I, H, L, bidi, proj, seq, dtype, np.random.default_rng(H))
    params = dict(mode=mode, state_size=H, num_layers=L, bidirectional=bidi, state_outputs=True,
                  use_sequence_length=seq is not None, recompute=recompute)
    if proj:
        params["projection_size"] = proj
    before = cn.thread_info()["num_threads"]
    results = []
    try:
        for threads in (1, 2, 3):
            cn.set_num_threads(threads)
            results.append(forward_backward(params, inputs, 1, seed=5))
    finally:
        cn.set_num_threads(before)
    visible = cn.ops.make("RNN", params).num_visible_outputs
    (outs1, grads1) = results[0]
    for threads, (outs, grads) in zip((2, 3), results[1:]):
        for i in range(visible):
            assert np.array_equal(outs[i], outs1[i]), f"output {i} differs at {threads} threads"
        for i, (a, b) in enumerate(zip(grads, grads1)):
            assert np.array_equal(a, b), f"gradient of input {i} differs at {threads} threads"
