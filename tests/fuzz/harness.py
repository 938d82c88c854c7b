"""Seeded fuzzing in subprocess batches: a crash or a hang is one failed case, not a dead run.

A fuzz target is a plain function `case(seed: int) -> str | None` in an importable module
in this folder (`"ops_cases:case"`). It builds its case from `seed` alone (so any failure replays with
`python tests/fuzz/harness.py <target> <seed>`), runs it, and either returns (the case passed;
it may return a short description), raises `coarsenet.CoarsenetError` (bad input rejected
cleanly: a pass), or raises anything else (a failure: a non-CoarsenetError escape, or an
AssertionError from the target's own checks such as "NaN from finite input").

`run_cases` runs the seeds in worker subprocesses of `batch` cases each. A worker prints one line
per case before starting it, so when the process dies from a signal, exits early, or exceeds the
batch timeout, the case it was running is the one reported, and the remaining seeds continue in
a fresh worker. Other fuzz suites (files, threads) reuse this module with their own targets.

Case counts: COARSENET_FUZZ_LONG=1 switches the suites to their long
offline sizes; COARSENET_FUZZ_CASES=N sets the count directly; COARSENET_FUZZ_SEED offsets seeds.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


def long_mode() -> bool:
    return os.environ.get("COARSENET_FUZZ_LONG", "") not in ("", "0")


def case_count(ci: int, long: int) -> int:
    """How many cases a suite runs: `ci` normally, `long` in long mode, or COARSENET_FUZZ_CASES."""
    forced = os.environ.get("COARSENET_FUZZ_CASES")
    if forced:
        return int(forced)
    return long if long_mode() else ci


def base_seed() -> int:
    return int(os.environ.get("COARSENET_FUZZ_SEED", "0"))


@dataclass
class Failure:
    seed: int
    kind: str  # "exception", "crash", "hang"
    detail: str

    def __str__(self) -> str:
        return f"seed {self.seed}: {self.kind}: {self.detail}"


@dataclass
class Report:
    target: str
    cases: int = 0
    passed: int = 0
    rejected: int = 0  # cases that ended in a clean CoarsenetError
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{self.target}: {self.cases} cases, {self.passed} ran, {self.rejected} rejected "
                f"with CoarsenetError, {len(self.failures)} failures in {self.seconds:.1f} s")


def _resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _worker(target: str, seeds: list[int]) -> None:
    """Runs the cases of one batch in this process, one JSON line per case on stdout."""
    from coarsenet import CoarsenetError

    fn = _resolve(target)
    out = sys.stdout
    for seed in seeds:
        out.write(json.dumps({"start": seed}) + "\n")
        out.flush()
        try:
            fn(seed)
            result = {"seed": seed, "status": "pass"}
        except CoarsenetError:
            result = {"seed": seed, "status": "rejected"}
        except BaseException as e:  # noqa: BLE001 - every other escape is what we look for
            result = {"seed": seed, "status": "fail",
                      "detail": f"{type(e).__name__}: {str(e)[:600]}"}
        out.write(json.dumps(result) + "\n")
        out.flush()
    out.write(json.dumps({"done": True}) + "\n")
    out.flush()


def run_cases(target: str, seeds: list[int], *, batch: int = 200,
              timeout: float = 120.0) -> Report:
    """Runs `target` on every seed in subprocess batches; see the module docstring."""
    report = Report(target)
    start = time.monotonic()
    pending = list(seeds)
    import coarsenet  # the workers import the same coarsenet as this process

    env = dict(os.environ)
    paths = [str(HERE), str(Path(coarsenet.__file__).resolve().parents[1])]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    while pending:
        chunk, pending = pending[:batch], pending[batch:]
        cmd = [sys.executable, str(HERE / "harness.py"), "--worker", target,
               *map(str, chunk)]
        try:
            proc = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True,
                                  check=False, timeout=timeout)
            stdout, rc, hung = proc.stdout, proc.returncode, False
            stderr = proc.stderr
        except subprocess.TimeoutExpired as e:
            stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            stderr = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
            rc, hung = None, True
        finished, current, done = set(), None, False
        for line in stdout.splitlines():
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue  # a target's own prints
            if "start" in msg:
                current = msg["start"]
            elif "status" in msg:
                finished.add(msg["seed"])
                current = None
                report.cases += 1
                if msg["status"] == "pass":
                    report.passed += 1
                elif msg["status"] == "rejected":
                    report.rejected += 1
                else:
                    report.failures.append(Failure(msg["seed"], "exception", msg["detail"]))
            elif msg.get("done"):
                done = True
        if done and rc == 0:
            continue
        # The worker died or hung: blame the case it was running, retry the rest.
        if current is not None:
            report.cases += 1
            kind = "hang" if hung else "crash"
            detail = (f"worker {'timed out' if hung else f'exited with {rc}'}; "
                      f"stderr tail: {stderr[-400:]!r}")
            report.failures.append(Failure(current, kind, detail))
            finished.add(current)
        else:  # died before its first case, or after its last (at exit)
            report.failures.append(Failure(chunk[0] if not finished else chunk[-1], "crash",
                                           f"worker exited with {rc} outside any case: "
                                           f"{stderr[-400:]!r}"))
            finished.update(chunk)
        pending = [s for s in chunk if s not in finished] + pending
    report.seconds = time.monotonic() - start
    return report


def replay(target: str, seed: int):
    """Runs one case in this process (for debugging a reported seed)."""
    return _resolve(target)(seed)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], [int(s) for s in sys.argv[3:]])
    elif len(sys.argv) == 3:
        print(replay(sys.argv[1], int(sys.argv[2])))
    elif len(sys.argv) == 4:  # target first_seed count: run a range and print the report
        first, count = int(sys.argv[2]), int(sys.argv[3])
        rep = run_cases(sys.argv[1], list(range(first, first + count)), batch=500, timeout=60)
        print(rep.summary())
        for f in rep.failures:
            print(f)
    else:
        sys.exit("usage: python -m tests.fuzz.harness TARGET SEED | TARGET FIRST COUNT")
