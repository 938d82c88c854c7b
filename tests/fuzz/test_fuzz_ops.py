"""Op fuzzing over the registry, each batch of cases in a subprocess (see harness.py).

CI runs a few thousand seeded cases; COARSENET_FUZZ_LONG=1 runs 100k.
"""
import ops_cases
from harness import base_seed, case_count, run_cases


def _assert_clean(report):
    print(report.summary())
    assert not report.failures, report.summary() + "\n" + "\n".join(
        str(f) for f in report.failures[:30])


def test_every_op_handles_zero_size_axes():
    # Every registered op x every zero-size shape: a defined result or a CoarsenetError.
    report = run_cases("ops_cases:zero_case", list(range(ops_cases.zero_cases())), batch=400)
    _assert_clean(report)
    assert report.passed > 0.2 * report.cases  # most ops really run on empty inputs


def test_random_op_calls():
    n = case_count(ci=3000, long=100_000)
    first = base_seed() * 1_000_000
    report = run_cases("ops_cases:case", list(range(first, first + n)), batch=500,
                       timeout=300)
    _assert_clean(report)
    assert report.passed > 0.2 * report.cases  # params are not all rejected


def test_harness_reports_a_crash_as_one_failed_case():
    # A worker that dies mid-batch blames exactly the running case and the batch goes on.
    report = run_cases("selftest_cases:case", list(range(6)), batch=6, timeout=10)
    kinds = sorted((f.seed, f.kind) for f in report.failures)
    assert kinds == [(2, "crash"), (3, "exception"), (4, "hang")], report.failures
    assert report.cases == 6 and report.passed == 2 and report.rejected == 1
