"""mx.profiler: executor and imperative calls timed per op, written as a Chrome trace and as
MXNet's aggregate table; nothing recorded (and the single C++ loop kept) when off."""
import json

import numpy as np
import pytest

import coarsenet as mx
from coarsenet import profiler


@pytest.fixture(autouse=True)
def _stopped():
    yield
    profiler.set_state("stop")
    profiler.pause()
    profiler.resume()
    profiler.dumps(reset=True)
    profiler.state.events, profiler.state.instants = [], []


def _executor():
    x = mx.sym.Variable("x")
    y = mx.sym.Activation(mx.sym.FullyConnected(x, num_hidden=4, name="fc"), act_type="relu")
    return y.simple_bind(x=(2, 3))


def test_records_executor_and_imperative_ops(tmp_path):
    path = tmp_path / "trace.json"
    profiler.set_config(filename=str(path), profile_all=True, aggregate_stats=True)
    exe = _executor()
    profiler.set_state("run")
    exe.forward(is_train=True)
    exe.backward()
    a = mx.nd.ones((3, 3))
    (a + 1).sum()
    profiler.set_state("stop")
    exe.forward()  # after stop: not recorded
    table = profiler.dumps()
    assert "Profile Statistics:" in table and "operator\n=================" in table
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()
            if line and line.split()[0] in ("FullyConnected", "Activation", "_plus_scalar",
                                            "sum", "_backward_FullyConnected")}
    assert rows["FullyConnected"][0] == "1" and rows["Activation"][0] == "1"
    assert rows["_plus_scalar"][0] == "1" and rows["sum"][0] == "1"
    assert "Memory: cpu/0" in table  # profile_memory (from profile_all): output bytes
    profiler.dump()
    trace = json.loads(path.read_text())
    ops = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    names = [e["name"] for e in ops]
    assert names[:2] == ["FullyConnected", "Activation"]
    assert {"_plus_scalar", "sum"} <= set(names)
    fc = ops[0]
    assert fc["dur"] >= 0 and fc["args"]["bytes"] == 2 * 4 * 4
    assert all(b["ts"] >= a["ts"] for a, b in zip(ops, ops[1:]))
    assert profiler.state.events == []  # dump(finished=True) emptied the trace ...
    assert "FullyConnected" in profiler.dumps(reset=True)  # ... not the table (as MXNet)
    assert "FullyConnected" not in profiler.dumps()  # reset=True emptied that


def test_pause_and_resume():
    profiler.set_config(profile_imperative=True, profile_symbolic=True, aggregate_stats=True)
    profiler.set_state("run")
    mx.nd.ones((2,)) + 1
    profiler.pause()
    mx.nd.ones((2,)) * 3
    profiler.resume()
    mx.nd.ones((2,)) - 1
    profiler.set_state("stop")
    table = profiler.dumps(reset=True)
    assert "_plus_scalar" in table and "_minus_scalar" in table
    assert "_mul_scalar" not in table


def test_json_format_and_sorting():
    profiler.set_config(profile_imperative=True)
    profiler.set_state("run")
    for _ in range(3):
        mx.nd.ones((2,)) + 1
    profiler.set_state("stop")
    stats = json.loads(profiler.dumps(format="json", sort_by="count"))
    assert stats["Time"]["operator"]["_plus_scalar"]["Count"] == 3
    with pytest.raises(mx.CoarsenetError, match="sort_by"):
        profiler.dumps(sort_by="nope")
    with pytest.raises(mx.CoarsenetError, match="unknown options"):
        profiler.set_config(not_an_option=1)
    with pytest.raises(mx.CoarsenetError, match="'run' or 'stop'"):
        profiler.set_state("go")


def test_off_means_the_usual_single_loop(monkeypatch):
    exe = _executor()

    def fail(*args, **kwargs):
        raise AssertionError("the per-op path ran while the profiler is off")

    monkeypatch.setattr(profiler, "run_program", fail)
    exe.forward(is_train=True)
    exe.backward()
    assert mx.nd.hooks.replay is None and type(mx.nd.hooks).replay is None
    assert profiler.state.events == [] and profiler.state.aggregate == {}


def test_results_are_the_same_when_profiled():
    exe = _executor()
    exe.arg_dict["x"][:] = np.arange(6, dtype=np.float32).reshape(2, 3)
    exe.arg_dict["fc_weight"][:] = 0.1
    plain = exe.forward()[0].asnumpy().copy()
    profiler.set_config(profile_all=True)
    profiler.set_state("run")
    profiled = exe.forward()[0].asnumpy().copy()
    r = mx.nd.random.uniform(shape=(5,))  # a random op keeps its seeded draw
    profiler.set_state("stop")
    np.testing.assert_array_equal(plain, profiled)
    assert r.shape == (5,)


def test_gluon_training_step_records_forward_and_backward():
    net = mx.gluon.nn.Dense(3, in_units=4)
    net.initialize()
    profiler.set_config(profile_all=True, aggregate_stats=True)
    x = mx.nd.ones((2, 4))
    profiler.set_state("run")
    with mx.autograd.record():
        loss = net(x).sum()
    loss.backward()
    profiler.set_state("stop")
    table = profiler.dumps()
    assert "FullyConnected" in table and "_backward_FullyConnected" in table
    assert "_backward_sum" in table


def test_domains_tasks_counters_and_markers(tmp_path):
    path = tmp_path / "t.json"
    profiler.set_config(filename=str(path), profile_all=True, aggregate_stats=True)
    domain = profiler.Domain("mydomain")
    task = domain.new_task("load")
    counter = domain.new_counter("queue", 5)
    profiler.set_state("run")
    with task:
        mx.nd.ones((2,)) + 1
    frame = profiler.Frame(domain, "step")
    frame.start()
    frame.stop()
    counter += 3
    counter.decrement()
    domain.new_marker("here").mark("global")
    profiler.set_state("stop")
    task.start()
    task.stop()  # not running: not recorded
    table = profiler.dumps()
    section = table[table.index("mydomain\n"):]
    assert "load" in section and "step" in section
    assert [ln.split()[1] for ln in section.splitlines() if ln.startswith("load")] == ["1"]
    profiler.dump()
    events = json.loads(path.read_text())["traceEvents"]
    counts = [e["args"]["queue"] for e in events if e["ph"] == "C"]
    assert counts == [8, 7]  # the initial 5 was set before the profiler ran
    assert any(e["ph"] == "i" and e["name"] == "here" and e["s"] == "g" for e in events)
    with pytest.raises(mx.CoarsenetError, match="stop\\(\\) without start"):
        profiler.Event("e").stop()
