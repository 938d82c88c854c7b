"""One batch of thread fuzz cases, run in its own process by test_fuzz_threads.py.

    python tests/fuzz/fuzz_threads_worker.py SEED FIRST COUNT THREADS

Case i is a random task seeded by (SEED, i): an imperative op chain recorded (or not) with
backward, a Gluon net with BatchNorm in training or inference mode, a bound executor's forward and
backward, or a .params save and load. Every case is first run alone in the main thread; then
THREADS threads run all cases at once in shuffled orders, and each result must equal the
single-threaded one exactly. Mismatches and exceptions print "MISMATCH"/"ESCAPE" and exit 1; a
crash or hang (faulthandler stops the process after BATCH_TIMEOUT_S) fails the batch.
"""
from __future__ import annotations

import faulthandler
import os
import sys
import tempfile
import threading
import traceback

import numpy as np

import coarsenet as cn
from coarsenet import autograd

BATCH_TIMEOUT_S = 240
UNARY = ["relu", "tanh", "sigmoid", "abs", "square", "negative"]


def imperative(rng, directory, index):
    shape = (int(rng.integers(1, 5)), int(rng.integers(1, 7)))
    x = cn.nd.array(rng.uniform(-1, 1, shape))
    w = cn.nd.array(rng.uniform(-1, 1, (3, shape[1])))
    record = rng.random() < 0.6
    ops = [UNARY[int(k)] for k in rng.integers(0, len(UNARY), int(rng.integers(1, 5)))]
    if record:
        x.attach_grad()
        w.attach_grad()
    with autograd.record() if record else _null():
        y = cn.nd.FullyConnected(x, w, num_hidden=3, no_bias=True)
        for op in ops:
            y = getattr(cn.nd, op)(y)
        out = cn.nd.softmax(y).sum() if rng.random() < 0.5 else y.sum()
    results = [out.asnumpy(), np.array(autograd.is_recording())]
    if record:
        out.backward()
        results += [x.grad.asnumpy(), w.grad.asnumpy()]
    return results


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def gluon_net(rng, directory, index):
    net = cn.nn.Sequential()
    net.add(cn.nn.Dense(int(rng.integers(2, 6)), activation="relu"), cn.nn.BatchNorm(),
            cn.nn.Dense(2))
    net.initialize(cn.init.Constant(0.1) if rng.random() < 0.5 else cn.init.One())
    x = cn.nd.array(rng.uniform(-1, 1, (4, 3)).astype(np.float32))
    if rng.random() < 0.5:
        with autograd.record():  # training mode: batch statistics, running stats updated
            loss = net(x).sum()
        loss.backward()
        results = [loss.asnumpy()]
    else:
        results = [net(x).asnumpy(), np.array(autograd.is_training())]
    return results + [p.data().asnumpy() for p in net.collect_params().values()]


def executor(rng, directory, index):
    data = cn.sym.Variable("data")
    hidden = int(rng.integers(1, 6))
    net = cn.sym.Activation(cn.sym.FullyConnected(data, num_hidden=hidden, name="fc1"),
                            act_type=str(rng.choice(["tanh", "relu", "sigmoid"])))
    net = cn.sym.SoftmaxOutput(cn.sym.FullyConnected(net, num_hidden=3, name="fc2"), name="sm")
    batch = int(rng.integers(1, 5))
    exe = net.simple_bind(cn.cpu(), data=(batch, 4), sm_label=(batch,))
    for name, arr in exe.arg_dict.items():
        arr[:] = rng.uniform(-1, 1, arr.shape) if name != "sm_label" else \
            rng.integers(0, 3, arr.shape)
    exe.forward(is_train=True)
    exe.backward()
    return [exe.outputs[0].asnumpy()] + [g.asnumpy() for g in exe.grad_arrays if g is not None]


def save_load(rng, directory, index):
    arrays = {f"arg:a{k}": cn.nd.array(rng.uniform(-1, 1, (int(rng.integers(0, 4)), 3)))
              for k in range(int(rng.integers(1, 4)))}
    path = os.path.join(directory, f"case{index}-{threading.get_ident()}.params")
    cn.nd.save(path, arrays)
    loaded = cn.nd.load(path)
    os.remove(path)
    return [loaded[k].asnumpy() for k in sorted(loaded)]


TASKS = [imperative, gluon_net, executor, save_load]


def run_case(seed, index, directory):
    rng = np.random.default_rng([seed, index])
    task = TASKS[int(rng.integers(0, len(TASKS)))]
    return task.__name__, task(rng, directory, index)


def main(argv) -> int:
    seed, first, count, threads = (int(v) for v in argv[1:5])
    faulthandler.dump_traceback_later(BATCH_TIMEOUT_S, exit=True)
    cases = range(first, first + count)
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        expected = {i: run_case(seed, i, tmp) for i in cases}
        barrier = threading.Barrier(threads)

        def worker(t):
            order = list(cases)
            np.random.default_rng([seed, t, 7]).shuffle(order)
            barrier.wait()
            for i in order:
                try:
                    name, got = run_case(seed, i, tmp)
                    want = expected[i][1]
                    if len(got) != len(want) or not all(
                            a.shape == b.shape and np.array_equal(a, b) for a, b in zip(got, want)):
                        problems.append(f"MISMATCH case {i} ({name}) in thread {t}")
                except BaseException as e:  # noqa: BLE001  reported below
                    problems.append(f"ESCAPE case {i} in thread {t}: {type(e).__name__}: {e}\n"
                                    + traceback.format_exc()[-1500:])

        pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
    faulthandler.cancel_dump_traceback_later()
    for p in problems[:20]:
        print(p, flush=True)
    kinds = {}
    for name, _ in expected.values():
        kinds[name] = kinds.get(name, 0) + 1
    print(f"done {count} cases x {threads} threads, {len(problems)} problems ({kinds})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
