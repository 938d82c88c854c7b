"""autograd.checkpoint through the planner: a traced segment runs as a mirror-planned executor
whose results equal the run without checkpoint (same seed: outputs, gradients, Dropout masks,
BatchNorm statistics), holding only the segment's inputs and outputs between forward and
backward."""
import gc
import tracemalloc

import numpy as np
import pytest

import coarsenet as cn
from coarsenet import autograd, nn
from coarsenet.autograd import checkpoint_planned as planned
from coarsenet.testing import assert_close


def arr(shape, seed=0):
    return cn.nd.array(np.random.default_rng(seed).uniform(-1, 1, shape), dtype=np.float64)


def make_net(dropout=0.5):
    cn.random.seed(3)
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(16, in_units=8), nn.Activation("relu"), nn.Dropout(dropout),
                nn.BatchNorm(in_channels=16), nn.Dense(16, in_units=16),
                nn.Activation("tanh"), nn.Dropout(0.3), nn.Dense(4, in_units=16))
    net.initialize()
    net.cast("float64")
    return net


class TwoBranches(nn.HybridBlock):
    """Two Dropouts called a, then b, but read b first: the graph's topological order is not
    the call order the seeds must follow."""

    def hybrid_forward(self, F, x):  # noqa: N803
        a = F.Dropout(x, p=0.5)
        b = F.Dropout(F.tanh(x), p=0.5)
        return F.elemwise_mul(b, F.exp(a))


def run(make, x_shape, checkpoint, mirror="min", call=None):
    net = make()
    x = arr(x_shape, 1)
    x.attach_grad()
    cn.random.seed(11)
    fn = call(net) if call else net
    with autograd.record():
        y = autograd.checkpoint(fn, x, mirror=mirror) if checkpoint else net(x)
    y.backward(cn.nd.array(np.random.default_rng(5).uniform(-1, 1, y.shape)))
    params = net.collect_params().values()
    got = [y.asnumpy(), x.grad.asnumpy()] + [
        (p.grad() if p.grad_req != "null" else p.data()).asnumpy() for p in params]
    return got, fn, x


@pytest.mark.parametrize("mirror", ["min", "auto", None])
def test_planned_checkpoint_equals_the_plain_run(mirror):
    """Float64, Dropout + BatchNorm: output, input and parameter gradients, and the running
    statistics (updated once) equal the run without checkpoint."""
    want, _, _ = run(make_net, (5, 8), False)
    got, net, x = run(make_net, (5, 8), True, mirror)
    assert len(got) == len(want) == 2 + 3 * 2 + 4  # y, x.grad, 3 Dense, BatchNorm's four
    for g, w in zip(got, want):
        assert_close(g, w, 1e-12, 1e-12, f"checkpoint(mirror={mirror!r})")
    stats = autograd.checkpoint_stats(net, x, mirror=mirror)
    if mirror is None:
        assert stats == []  # the imperative recomputation
        return
    assert autograd.checkpoint_reason(net, x, mirror=mirror) is None
    assert len(stats) == 1 and stats[0]["planned_bytes"] < stats[0]["naive_bytes"]
    if mirror == "min":
        assert stats[0]["recomputed_nodes"] > 0  # the backward's own recomputation is planned


def test_dropout_masks_follow_the_call_order():
    want, _, _ = run(TwoBranches, (6, 7), False)
    got, net, x = run(TwoBranches, (6, 7), True)
    assert autograd.checkpoint_reason(net, x) is None
    for g, w in zip(got, want):
        assert_close(g, w, 1e-12, 1e-12, "two Dropouts in branches")
    assert (got[0] == 0).any() and (got[0] != 0).any()  # the masks drop something


def test_a_fresh_lambda_reuses_the_trace():
    def call(net):
        return lambda a: net(a)

    want, _, _ = run(make_net, (5, 8), False)
    for _ in range(2):
        got, fn, x = run(make_net, (5, 8), True, call=call)
        for g, w in zip(got, want):
            assert_close(g, w, 1e-12, 1e-12, "checkpoint(lambda)")
    net = make_net()
    x = arr((5, 8), 1)
    x.attach_grad()
    before = len(planned._traces)
    for _ in range(3):
        with autograd.record():
            y = autograd.checkpoint(call(net), x)
        y.backward()
    assert len(planned._traces) == before + 1  # one trace for every fresh lambda
    assert len(autograd.checkpoint_stats(call(net), x)) == 1


def test_pending_segments_sharing_one_executor():
    """Two calls of the same segment before one backward: each backward re-runs from its own
    saved inputs and seeds."""
    def both(checkpoint):
        net = make_net()
        x1, x2 = arr((5, 8), 1), arr((5, 8), 2)
        for a in (x1, x2):
            a.attach_grad()
        cn.random.seed(4)
        f = (lambda a: autograd.checkpoint(net, a)) if checkpoint else net
        with autograd.record():
            y = f(x1) * f(x2)
        y.backward()
        return [y.asnumpy(), x1.grad.asnumpy(), x2.grad.asnumpy(),
                net[0].weight.grad().asnumpy()]

    for g, w in zip(both(True), both(False)):
        assert_close(g, w, 1e-12, 1e-12, "two pending segments")


def test_only_inputs_and_outputs_are_held_between_forward_and_backward():
    net = nn.HybridSequential()
    for _ in range(4):
        net.add(nn.Dense(256, in_units=256), nn.Activation("relu"))
    net.initialize()
    x = cn.nd.array(np.random.default_rng(1).uniform(-1, 1, (128, 256)).astype(np.float32))
    x.attach_grad()
    held = {}
    for name in ("warm-up", "checkpoint", "plain"):
        gc.collect()
        tracemalloc.start()
        with autograd.record():
            y = net(x) if name == "plain" else autograd.checkpoint(net, x)
        gc.collect()
        held[name] = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        y.backward()
    out = 128 * 256 * 4
    assert held["checkpoint"] < out + 16384, held  # the output and a little bookkeeping
    assert held["plain"] > 4 * out, held           # the tape keeps the activations
    (stats,) = autograd.checkpoint_stats(net, x)
    assert autograd.checkpoint_arena_bytes() >= stats["planned_bytes"] > 0


def test_segments_share_one_arena_sized_to_the_largest_plan():
    small, big = nn.Dense(4, in_units=8), nn.HybridSequential()
    big.add(nn.Dense(64, in_units=8), nn.Activation("relu"), nn.Dense(64, in_units=64))
    for b in (small, big):
        b.initialize()
    x = cn.nd.array(np.ones((32, 8), np.float32))
    x.attach_grad()
    for block in (small, big, small):
        with autograd.record():
            y = autograd.checkpoint(block, x)
        y.backward()
    sizes = [autograd.checkpoint_stats(b, x)[0]["arena_bytes"] for b in (small, big)]
    assert autograd.checkpoint_arena_bytes() >= max(sizes)
    arenas = [b._arena for e in planned._traces.values() if isinstance(e[0], planned._Trace)
              for b in (bb.exe for bb in e[0].bound.values()) if b is not None]
    current = [a for a in arenas if np.shares_memory(a, planned._thread_arena())]
    assert len(current) >= 2  # small was rebound onto big's arena


def test_untraceable_fn_falls_back_to_imperative_recomputation():
    x, w = arr((4, 3), 1), arr((5, 3), 2)
    for a in (x, w):
        a.attach_grad()

    def block(a):  # an nd op on a captured array: cannot be traced into a graph
        return cn.nd.FullyConnected(a, w, num_hidden=5, no_bias=True)

    with autograd.record():
        y = autograd.checkpoint(block, x)
    y.backward()
    assert "FullyConnected" in autograd.checkpoint_reason(block, x)
    assert_close(x.grad.asnumpy(), np.ones((4, 5)) @ w.asnumpy(), 1e-12, 1e-12, "fallback")


def test_a_failed_trace_runs_no_op_and_draws_no_seed():
    """fn's first op reads only a captured array: tracing stops before it runs, so the
    imperative fallback draws the same Dropout mask as the plain call."""
    x, w = arr((4, 3), 1), arr((4, 3), 2)
    x.attach_grad()

    def fn(a):
        return cn.nd.Dropout(w, p=0.5) * a

    outs = []
    for checkpoint in (True, False):
        cn.random.seed(7)
        with autograd.record():
            outs.append((autograd.checkpoint(fn, x) if checkpoint else fn(x)).asnumpy())
    assert "imperative op 'Dropout'" in autograd.checkpoint_reason(fn, x)
    assert_close(outs[0], outs[1], 0, 0, "same mask")


def test_step_seed_inverts_random_bits():
    rng = np.random.default_rng(0)
    for seed, key in zip(rng.integers(0, 2**63, 50), rng.integers(0, 1000, 50)):
        s = planned.step_seed_for(int(seed) * 2 + 1, int(key))
        assert planned.random_bits(s, int(key)) == int(seed) * 2 + 1


def test_gradient_of_a_variable_read_by_two_inplace_chains():
    """plan_memory regression (found through checkpoint): d/dx tanh(x) * exp(x) in an executor.
    The gradient of x is the sum of two branches; the root of that alias group had been given
    arena storage instead of the bound gradient array, losing one branch."""
    d = cn.sym.var("data")
    exe = cn.sym.elemwise_mul(cn.sym.tanh(d), cn.sym.exp(d)).simple_bind(
        data=(6, 7), type_dict={"data": np.float64})
    x = np.random.default_rng(1).uniform(-1, 1, (6, 7))
    og = np.random.default_rng(2).uniform(-1, 1, (6, 7))
    exe.forward(is_train=True, data=x)
    exe.backward([cn.nd.array(og, dtype=np.float64)])
    t = np.tanh(x)
    assert_close(exe.grad_dict["data"].asnumpy(), og * (1 - t * t + t) * np.exp(x), 1e-12,
                 1e-12, "two branches summed")


def test_an_infeasible_budget_is_an_error():
    net = make_net()
    x = arr((5, 8), 1)
    x.attach_grad()
    with autograd.record():
        with pytest.raises(cn.base.CoarsenetError, match="smallest feasible budget"):
            autograd.checkpoint(net, x, mirror=1)


def test_a_traceable_segment_inside_an_imperative_one():
    """The inner segment runs op by op inside the outer's collection and recomputation, so the
    outer replays its Dropout seeds: everything equals the plain run."""
    def go(checkpoint):
        net = make_net()
        x, w = arr((5, 8), 1), arr((5, 4), 2)
        x.attach_grad()
        cn.random.seed(9)

        def outer(a):  # reads a captured array: imperative
            inner = autograd.checkpoint(net, a) if checkpoint else net(a)
            return inner * cn.nd.Dropout(w, p=0.5)

        with autograd.record():
            y = autograd.checkpoint(outer, x) if checkpoint else outer(x)
        y.backward()
        return [y.asnumpy(), x.grad.asnumpy(), net[0].weight.grad().asnumpy()]

    for g, w in zip(go(True), go(False)):
        assert_close(g, w, 1e-12, 1e-12, "nested checkpoint")
