"""The fused RNN op against PyTorch's nn.LSTM / nn.GRU, side by side in one run (same thread
count, 2 by default). Prints figures; asserts nothing about time.

    python benchmarks/bench_rnn.py [--threads 2] [--repeat 9] [--long]

Cases (the issue's): 2-layer LSTM and GRU, input 512, hidden 512, seq 35, batch 32, forward +
backward and inference; --long adds seq 2000, hidden 256, batch 16 (LSTM, 1 layer), where the
reserve (what backward keeps) is reported too, and the planned arena and time of a bound
executor without mirror and with mirror="auto" (the op's in-op sqrt(T) recomputation). Both sides use float32 and equal weights; the
outputs are compared so a wrong kernel cannot look fast.

PyTorch's CPU nn.LSTM runs oneDNN's fused LSTM primitive (aten::mkldnn_rnn_layer and its backward;
with torch.backends.mkldnn.enabled = False it is ~25% slower), which packs the weights once per
call and runs its own JIT GEMM near the core's peak; nn.GRU has no oneDNN path (per-step addmm
and separate elementwise ops), hence the different ratios of the two cases.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import coarsenet as cn


def packed(module, layers):
    ws, bs = [], []
    for layer in range(layers):
        sfx = f"_l{layer}"
        ws += [getattr(module, f"weight_ih{sfx}"), getattr(module, f"weight_hh{sfx}")]
        bs += [getattr(module, f"bias_ih{sfx}"), getattr(module, f"bias_hh{sfx}")]
    return np.concatenate([p.detach().numpy().ravel() for p in ws + bs]).astype(np.float32)


def paired_times(ours, theirs, repeat, *more):
    """Alternating runs, so a change in machine load hits both sides alike. Returns, per
    function, (min wall time, min CPU time of this process): on a shared machine the minimum is
    the run least disturbed, and CPU time leaves out time spent descheduled."""
    fns = (ours, theirs) + more
    for fn in fns:
        fn()
    wall = [[] for _ in fns]
    cpu = [[] for _ in fns]
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    return [(min(w), min(c)) for w, c in zip(wall, cpu)]


def case(torch, mode, T, N, I, H, L, repeat):
    rng = np.random.default_rng(0)
    cls = torch.nn.LSTM if mode == "lstm" else torch.nn.GRU
    m = cls(I, H, num_layers=L)
    x = rng.uniform(-1, 1, (T, N, I)).astype(np.float32)
    h0 = np.zeros((L, N, H), np.float32)
    inputs = [x, packed(m, L), h0] + ([h0.copy()] if mode == "lstm" else [])
    op = cn.ops.make("RNN", {"mode": mode, "state_size": H, "num_layers": L})
    outs = op.invoke(inputs, [], True, 0)
    xt = torch.from_numpy(x).requires_grad_(True)
    ref = m(xt)[0]
    err = float(np.abs(outs[0] - ref.detach().numpy()).max())
    head = np.ones(outs[0].shape, np.float32)
    grads = [np.zeros(a.shape, np.float32) for a in inputs]

    def cn_train():
        o = op.invoke(inputs, [], True, 0)
        op.backward([head, np.zeros(o[1].shape, np.float32)], inputs, o, grads,
                    [1] * len(inputs), [], is_train=True, seed=0)

    def torch_train():
        m.zero_grad()
        xt.grad = None
        m(xt)[0].sum().backward()

    def cn_infer():
        op.invoke(inputs, [], False, 0)

    def torch_infer():
        with torch.no_grad():
            m(xt)

    def torch_infer_plain():  # without oneDNN: per-step addmm and separate elementwise ops
        torch.backends.mkldnn.enabled = False
        try:
            with torch.no_grad():
                m(xt)
        finally:
            torch.backends.mkldnn.enabled = True

    name = f"{mode} L{L} T{T} N{N} H{H}"
    train = paired_times(cn_train, torch_train, repeat)
    infer = paired_times(cn_infer, torch_infer, repeat, torch_infer_plain)
    rows = [(f"{name} fwd+bwd", *train), (f"{name} inference", *infer[:2]),
            (f"{name} inference vs torch without oneDNN", infer[0], infer[2])]
    return rows, err, outs[-1].nbytes


def mirror_case(T, N, I, H, repeat):
    """Planned arena and forward+backward time of one bound LSTM, without and with mirror."""
    out = cn.sym.RNN(cn.sym.Variable("data"), cn.sym.Variable("rnn_parameters"),
                     cn.sym.Variable("rnn_state"), cn.sym.Variable("rnn_state_cell"),
                     mode="lstm", state_size=H, num_layers=1, name="rnn")
    exs = []
    for mirror in (None, "auto"):
        ex = out.simple_bind(cn.cpu(), mirror=mirror, data=(T, N, I))
        rng = np.random.default_rng(0)  # the same values in both executors
        for a in ex.arg_dict.values():
            a[:] = rng.uniform(-0.1, 0.1, a.shape)
        exs.append(ex)

    def steps(ex):
        def step():
            ex.forward(is_train=True)
            ex.backward()
        return step

    (t0, c0), (t1, c1) = paired_times(steps(exs[0]), steps(exs[1]), repeat)
    m0, m1 = (ex.memory_stats()["planned_bytes"] for ex in exs)
    grads = [ex.grad_dict["rnn_parameters"].asnumpy() for ex in exs]
    print(f"lstm L1 T{T} N{N} H{H} planned arena: no mirror {m0 / 2**20:.1f} MiB, "
          f"{t0 * 1e3:.0f} ms; mirror=auto {m1 / 2**20:.1f} MiB ({m1 / m0:.3f}x), "
          f"{t1 * 1e3:.0f} ms (time {t1 / t0:.2f}x, CPU time {c1 / c0:.2f}x); gradients "
          f"bitwise equal: {bool(np.array_equal(grads[0], grads[1]))}")


def main():
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--long", action="store_true")
    args = parser.parse_args()
    cn.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    cases = [("lstm", 35, 32, 512, 512, 2), ("gru", 35, 32, 512, 512, 2)]
    if args.long:
        cases.append(("lstm", 2000, 16, 256, 256, 1))
    print(f"threads {args.threads}, min of {args.repeat} alternated runs, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; ratio = coarsenet / torch")
    print(f"{'case':58s} {'coarsenet ms':>12s} {'torch ms':>9s} {'ratio':>6s} {'CPU ratio':>9s}")
    for mode, T, N, I, H, L in cases:
        rows, err, reserve = case(torch, mode, T, N, I, H, L, args.repeat)
        for name, (ours, ours_cpu), (theirs, theirs_cpu) in rows:
            print(f"{name:58s} {ours * 1e3:12.1f} {theirs * 1e3:9.1f} {ours / theirs:6.2f} "
                  f"{ours_cpu / theirs_cpu:9.2f}")
        print(f"{'':58s} max |output - torch| {err:.2e}; reserve kept for backward "
              f"{reserve / 2**20:.1f} MiB")
    if args.long:
        mirror_case(2000, 16, 256, 256, args.repeat)


if __name__ == "__main__":
    main()
