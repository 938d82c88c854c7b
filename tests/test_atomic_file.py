"""Checkpoint files are written whole or not at all, and killed writers leave nothing behind."""
import os
import signal
import subprocess
import sys

import numpy as np

import coarsenet as cn
from coarsenet.atomic_file import write_atomic

KILLED_WRITER = """
import sys
from coarsenet.atomic_file import write_atomic

def write(f):
    f.write(b"partial")
    f.flush()
    print("writing", flush=True)
    import time
    time.sleep(60)  # killed here, mid-write

write_atomic(sys.argv[1], write, binary=True)
"""


def _kill_midway(path, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(cn.__file__)), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_a_killed_writer_leaves_the_old_file_and_its_temporary_is_removed_later(tmp_path):
    path = tmp_path / "model-0001.params"
    cn.nd.save(path, {"a": np.ones(3, np.float32)})
    for _ in range(3):
        _kill_midway(path, tmp_path)
    leftovers = [p for p in os.listdir(tmp_path) if p != path.name]
    # Each writer removed the temporaries of the writers killed before it: only the last one's
    # is left, and the old file is intact beside it.
    assert len(leftovers) == 1 and leftovers[0].startswith(".model-0001.params.tmp-")
    np.testing.assert_array_equal(cn.nd.load(path)["a"].asnumpy(), np.ones(3))
    cn.nd.save(path, {"a": np.zeros(3, np.float32)})  # the next save of that file cleans up
    assert os.listdir(tmp_path) == [path.name]


def test_a_live_writers_temporary_is_left_alone(tmp_path):
    path = tmp_path / "x.json"
    other = tmp_path / f".x.json.tmp-{os.getpid()}-abc"  # ours: alive
    other.write_text("in progress")
    write_atomic(path, lambda f: f.write("{}"), binary=False)
    assert other.exists() and path.read_text() == "{}"


def test_symbol_json_and_params_get_the_same_umask_permissions(tmp_path):
    data = cn.sym.Variable("data")
    net = cn.sym.FullyConnected(data, num_hidden=2, name="fc")
    old = os.umask(0o027)
    try:
        cn.model.save_checkpoint(str(tmp_path / "m"), 1, net,
                                 {"fc_weight": np.ones((2, 3), np.float32),
                                  "fc_bias": np.zeros(2, np.float32)}, {})
    finally:
        os.umask(old)
    modes = {p: (tmp_path / p).stat().st_mode & 0o777 for p in os.listdir(tmp_path)}
    assert modes == {"m-symbol.json": 0o640, "m-0001.params": 0o640}
