"""Thread fuzzing: random imperative chains (recorded or not), Gluon nets in training and
inference mode, executors and .params round trips, run by 4 threads at once in shuffled orders,
give exactly the results each case gives alone in one thread (fuzz_threads_worker.py). Each batch
runs in its own process, so a crash or hang fails it.

CI: 4 batches of 50 cases x 4 threads. Offline: COARSENET_FUZZ_LONG=1 (100 batches), or
    python tests/fuzz/test_fuzz_threads.py --long
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

WORKER = pathlib.Path(__file__).with_name("fuzz_threads_worker.py")
ROOT = WORKER.parent.parent.parent
LONG = os.environ.get("COARSENET_FUZZ_LONG", "") not in ("", "0")
SEED = int(os.environ.get("COARSENET_FUZZ_SEED", "19"))
BATCHES, CASES, THREADS = (100 if LONG else 4), 50, 4


def run_batch(seed: int, batch: int) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, str(WORKER), str(seed), str(batch * CASES),
                           str(CASES), str(THREADS)],
                          capture_output=True, text=True, timeout=300, env=env, check=False)


@pytest.mark.parametrize("batch", range(BATCHES))
def test_threads_match_one_thread(batch):
    result = run_batch(SEED, batch)
    report = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, f"batch {batch} (seed {SEED}):\n{report}"
    assert " 0 problems" in result.stdout, report


if __name__ == "__main__":
    failed = 0
    for b in range(100 if "--long" in sys.argv else BATCHES):
        r = run_batch(SEED, b)
        print(f"batch {b}: rc {r.returncode}; {(r.stdout + r.stderr).strip()[-300:]}", flush=True)
        failed += r.returncode != 0
    print(f"{failed} failing batches")
    sys.exit(1 if failed else 0)
