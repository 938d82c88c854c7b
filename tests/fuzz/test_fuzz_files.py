"""File-mutation fuzzing: mutated -symbol.json and .params files (bit flips, inserted, deleted,
duplicated and truncated bytes, extreme numbers, JSON values of the wrong type) load, bind and
run forward, or fail with a CoarsenetError; nothing else (no other exception type, no crash, no
hang). Each batch runs in its own process (fuzz_files_worker.py), so a crash fails the batch.

CI runs 3,000 seeded cases. The offline pass runs 100,000:
    COARSENET_FUZZ_LONG=1 pytest tests/fuzz/test_fuzz_files.py
    python tests/fuzz/test_fuzz_files.py --long        (prints the outcome counts)
COARSENET_FUZZ_SEED picks another seed; a failing case replays alone with
    python tests/fuzz/fuzz_files_worker.py SEED CASE 1
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

WORKER = pathlib.Path(__file__).with_name("fuzz_files_worker.py")
ROOT = WORKER.parent.parent.parent
LONG = os.environ.get("COARSENET_FUZZ_LONG", "") not in ("", "0")
SEED = int(os.environ.get("COARSENET_FUZZ_SEED", "19"))
CASES = 100_000 if LONG else 3_000
BATCH = 500
BATCH_TIMEOUT_S = 300  # a batch takes seconds; the worker itself stops a case hung for 30 s


def run_batch(seed: int, first: int, count: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    # The checkout's coarsenet first, as pytest's own imports see it.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, str(WORKER), str(seed), str(first), str(count)],
                          capture_output=True, text=True, timeout=BATCH_TIMEOUT_S, env=env,
                          check=False)


@pytest.mark.parametrize("first", range(0, CASES, BATCH))
def test_mutated_files_fail_cleanly(first):
    result = run_batch(SEED, first, min(BATCH, CASES - first))
    report = result.stdout[-6000:] + result.stderr[-2500:]
    assert result.returncode == 0, f"batch from case {first} (seed {SEED}):\n{report}"
    assert " 0 escapes" in result.stdout, report


def main(argv) -> int:
    cases = 100_000 if "--long" in argv else CASES
    failed = 0
    for first in range(0, cases, BATCH):
        result = run_batch(SEED, first, min(BATCH, cases - first))
        lines = (result.stdout + result.stderr).strip().splitlines()
        done = [line for line in lines if line.startswith("done ")]
        print(f"cases {first}..{first + BATCH - 1}: rc {result.returncode}; "
              + (done[-1] if done else "no summary"), flush=True)
        if result.returncode != 0:
            failed += 1
            print("\n".join(lines[-40:]), flush=True)
    print(f"{cases} cases, seed {SEED}: {failed} failing batches")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
