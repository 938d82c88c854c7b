"""Inter-op parallelism: stages of independent ops run concurrently (executor.py, Program).

The results must be the same bits with it on or off and for any thread count, and the memory
plan must never give two ops of one stage the same bytes.
"""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet.model_zoo.inception_bn import inception_bn
from coarsenet.passes import plan_memory, schedule
from coarsenet.passes.plan_memory import concurrency_conflicts
from coarsenet.passes.schedule import Schedule


@pytest.fixture
def threads():
    before = cn.get_num_threads()
    yield cn.set_num_threads
    cn.set_num_threads(before)


def _bind(net, monkeypatch, inter_op, batch=2, **shapes):
    monkeypatch.setenv("COARSENET_INTER_OP", "1" if inter_op else "0")
    exe = net.simple_bind(**shapes)
    rng = np.random.RandomState(0)
    for name in sorted(exe.arg_dict):
        a = exe.arg_dict[name]
        a[:] = rng.uniform(-0.5, 0.5, a.shape).astype(a.dtype)
    if "softmax_label" in exe.arg_dict:
        exe.arg_dict["softmax_label"][:] = np.arange(batch) % 10
    return exe


def _train_results(exe, steps=2):
    for _ in range(steps):
        exe.forward(is_train=True)
        exe.backward()
    return ([o.asnumpy().copy() for o in exe.outputs]
            + [g.asnumpy().copy() for g in exe.grad_arrays if g is not None]
            + [a.asnumpy().copy() for a in exe.aux_arrays])


def test_inception_same_bits_on_off_and_thread_counts(monkeypatch, threads):
    # 8 steps: a stage runs its calls all on one thread each (3 runs), all alone (2), then as
    # planned from the times measured and all alone in turn (Program::RunStage): every way must
    # give the same bits.
    net = inception_bn(10, 2)
    ref = None
    for inter_op in (False, True):
        for n in (1, 2, 3):
            threads(n)
            exe = _bind(net, monkeypatch, inter_op, data=(2, 3, 16, 16), softmax_label=(2,))
            assert exe.inter_op == inter_op
            got = _train_results(exe, steps=8)
            if inter_op and n > 1:
                _check_stage_plans(exe)
            if ref is None:
                ref = got
                continue
            for a, b in zip(ref, got):
                assert a.dtype == b.dtype and np.array_equal(a, b), (inter_op, n)


def _check_stage_plans(exe):
    """Every concurrent stage has measured times and a plan that runs each call once."""
    one, alone = exe._program.stage_times()
    for b, e in exe._sched.stages():
        if e - b < 2:
            continue
        assert all(one[k] > 0 and alone[k] > 0 for k in range(b, e))
        run_alone, bins, plan_wall, alone_wall = exe._program.stage_plan(b)
        planned = list(run_alone) + [k for b_ in bins for k in b_]
        assert sorted(planned) == list(range(b, e))
        assert all(bins) and plan_wall > 0 and alone_wall > 0


def _lpt(costs, threads):
    load = [0.0] * min(threads, len(costs))
    for c in sorted(costs, reverse=True):
        load[load.index(min(load))] += c
    return max(load, default=0.0)


def test_stage_planner_chooses_alone_or_bins_by_measured_scaling():
    from coarsenet import _core

    # Calls that halve alone on 2 threads: three of them cannot pair evenly, so one runs alone.
    run_alone, bins, est = _core.plan_stage([20.0, 20.0, 20.0], [10.0, 10.0, 10.0], 2)
    assert est == pytest.approx(30.0) and len(run_alone) >= 1
    # Calls that barely gain from a second thread: all at once, one thread each.
    run_alone, bins, est = _core.plan_stage([5.0] * 4, [4.5] * 4, 2)
    assert run_alone == [] and sorted(map(len, bins)) == [2, 2] and est == pytest.approx(10.0)
    # A well-scaling large call alone, the poorly scaling small ones paired.
    run_alone, bins, est = _core.plan_stage([40.0, 8.0, 8.0], [20.0, 7.0, 7.0], 2)
    assert run_alone == [0] and sorted(map(sorted, bins)) == [[1], [2]]
    assert est == pytest.approx(28.0)
    # Never worse than all alone (inter-op off) or all in bins; each call exactly once.
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, t = int(rng.integers(2, 13)), int(rng.integers(2, 5))
        one = rng.uniform(0.1, 10.0, n)
        alone = one / rng.uniform(0.8, t, n)
        run_alone, bins, est = _core.plan_stage(list(one), list(alone), t)
        assert sorted(list(run_alone) + [k for b in bins for k in b]) == list(range(n))
        assert len(bins) <= t and all(bins)
        assert est <= min(alone.sum(), _lpt(list(one), t)) + 1e-9
        want = alone[list(run_alone)].sum() + max((one[b].sum() for b in bins), default=0.0)
        assert est == pytest.approx(want)
    with pytest.raises(ValueError, match="equal lengths"):
        _core.plan_stage([1.0], [1.0, 2.0], 2)


def test_inception_towers_share_a_stage(monkeypatch):
    exe = _bind(inception_bn(10, 1), monkeypatch, True, data=(2, 3, 8, 8), softmax_label=(2,))
    sched = exe._sched
    stage = {n.name: sched.stage_of[k] for k, n in enumerate(sched.order)}
    towers = ["in1_1x1_conv", "in1_3x3r_conv", "in1_d3x3r_conv", "in1_pool"]
    assert len({stage[t] for t in towers}) == 1
    assert sched.num_stages < len(sched.order)
    off = _bind(inception_bn(10, 1), monkeypatch, False, data=(2, 3, 8, 8), softmax_label=(2,))
    assert off._sched.num_stages == len(off._sched.order) and not off.inter_op


def test_shared_weight_gradients_accumulate_deterministically(monkeypatch, threads):
    """Two branches use one weight: their gradient contributions add into one buffer, so the
    writers must never share a stage (and the sum order is the sequential one)."""
    x = cn.sym.Variable("data")
    w = cn.sym.Variable("w")
    branches = [cn.sym.FullyConnected(cn.sym.relu(x * (k + 1)), weight=w, num_hidden=5,
                                      no_bias=True, name=f"fc{k}") for k in range(4)]
    net = cn.sym.MakeLoss(cn.sym.sum(cn.sym.add_n(*branches) ** 2))
    results = []
    for inter_op in (False, True):
        threads(2)
        exe = _bind(net, monkeypatch, inter_op, data=(3, 7), w=(5, 7))
        results.append(_train_results(exe))
        if inter_op:
            sched = exe._sched
            assert concurrency_conflicts(sched, exe._plan) == []
            assert any(b - a > 1 for a, b in sched.stages())
    for a, b in zip(*results):
        assert np.array_equal(a, b)
    exe_ref = _bind(net, monkeypatch, False, data=(3, 7), w=(5, 7))
    xv, wv = exe_ref.arg_dict["data"].asnumpy(), exe_ref.arg_dict["w"].asnumpy()
    ks = np.arange(1, 5)[:, None, None]
    y = sum(np.maximum(xv * k, 0) @ wv.T for k in ks[:, 0, 0])
    want = sum(2 * y.T @ np.maximum(xv * k, 0) for k in ks[:, 0, 0])
    np.testing.assert_allclose(results[1][-1], want, rtol=1e-4)


def test_checker_catches_bytes_shared_within_a_stage(monkeypatch):
    """A plan made for the sequential order reuses freed bytes between ops the staged
    schedule would run together: the checker must find that, and bind must refuse it."""
    exe = _bind(inception_bn(10, 1), monkeypatch, True, data=(2, 3, 8, 8), softmax_label=(2,))
    staged = exe._sched
    assert concurrency_conflicts(staged, exe._plan) == []
    sequential = Schedule(staged.order, staged.num_forward)  # same order, one op per step
    seq_plan = plan_memory(exe._graph, sequential, exe._shapes, exe._dtypes,
                           {e: k for e, k in exe._plan.external.items()
                            if isinstance(k, tuple)})
    assert concurrency_conflicts(staged, seq_plan) != []

    import coarsenet.passes.pipeline as pipeline

    real = pipeline.plan_memory

    def sequential_plan(graph, sched, *args):
        return real(graph, Schedule(sched.order, sched.num_forward), *args)

    monkeypatch.setattr(pipeline, "plan_memory", sequential_plan)
    with pytest.raises(cn.CoarsenetError, match="may run concurrently"):
        _bind(inception_bn(10, 1), monkeypatch, True, data=(2, 3, 8, 8), softmax_label=(2,))


def test_a_chain_has_no_concurrent_stage():
    x = cn.sym.Variable("x")
    net = cn.sym.tanh(cn.sym.relu(cn.sym.sigmoid(x)))
    graph = net._graph()
    sched = schedule(graph, concurrent=True)
    assert sched.stage_of == list(range(len(sched.order)))


def test_an_op_failing_inside_a_concurrent_stage_raises(monkeypatch, threads):
    """The error of an op run on a pool thread comes back as the usual CoarsenetError."""
    threads(2)
    x = cn.sym.Variable("data")
    heads = [cn.sym.SoftmaxOutput(cn.sym.FullyConnected(x, num_hidden=4, name=f"fc{k}"),
                                  cn.sym.Variable(f"label{k}"), name=f"sm{k}") for k in range(2)]
    net = cn.sym.Group(heads)
    monkeypatch.setenv("COARSENET_INTER_OP", "1")
    exe = net.simple_bind(data=(3, 5), label0=(3,), label1=(3,))
    sched = exe._sched
    stage = {n.name: sched.stage_of[k] for k, n in enumerate(sched.order)}
    backward = [k for k, n in enumerate(sched.order) if n.kind == "backward"
                and n.backward.forward.name in ("sm0", "sm1")]
    assert len({sched.stage_of[k] for k in backward}) == 1 and stage
    for steps in (0, 6):  # in the first runs of the stage (exploring) and as planned
        for _ in range(steps):
            exe.arg_dict["label1"][:] = 1
            exe.forward(is_train=True)
            exe.backward()
        exe.arg_dict["label1"][:] = 7  # not a class index: SoftmaxOutput's backward refuses it
        exe.forward(is_train=True)
        with pytest.raises(cn.CoarsenetError, match="label 7"):
            exe.backward()
    exe.arg_dict["label1"][:] = 1
    exe.forward(is_train=True)
    exe.backward()  # the program still runs after the failure


def test_dropout_draws_the_same_numbers_with_stages(monkeypatch, threads):
    """Random seeds are keyed by the sequential forward order, not the staged one."""
    threads(2)
    x = cn.sym.Variable("data")
    branches = [cn.sym.Dropout(cn.sym.FullyConnected(x, num_hidden=6, name=f"fc{k}"), p=0.5,
                               name=f"drop{k}") for k in range(3)]
    net = cn.sym.MakeLoss(cn.sym.sum(cn.sym.Concat(*branches, dim=1) ** 2))
    results = []
    for inter_op in (False, True):
        cn.random.seed(5)
        exe = _bind(net, monkeypatch, inter_op, data=(4, 5))
        if inter_op:
            assert exe._sched.num_stages < len(exe._sched.order)
        results.append(_train_results(exe))
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_stage_cost_counts_pooling_windows_and_backward(monkeypatch):
    # The stage cost proxy: a 3x3 pooling over 80 channels took 3x the time of a 1x1
    # convolution 80->16 on the same map, so it must not look cheaper (node_flops counted it
    # as 1/30 of it); a backward call costs twice its forward.
    from coarsenet.passes.schedule import stage_cost

    exe = _bind(inception_bn(10, 2), monkeypatch, True, batch=4, data=(4, 3, 32, 32),
                softmax_label=(4,))
    by_name = {(n.op_label, n.name): stage_cost(n, exe._shapes) for n in exe._sched.order}
    pool = by_name[("Pooling", "in2_pool")]
    conv = by_name[("Convolution", "in2_1x1_conv")]
    assert 1.5 * conv < pool < 6 * conv
    assert by_name[("_backward_Pooling", "in2_pool_backward")] == pytest.approx(2 * pool, 1e-3)
