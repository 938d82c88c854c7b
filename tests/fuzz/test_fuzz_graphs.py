"""Random graphs trained one step with and without mirror: equal, finite gradients and aux
states, in subprocess batches (see harness.py and graph_cases.py)."""
from harness import base_seed, case_count, run_cases


def test_random_graphs_mirror_equals_plain():
    n = case_count(ci=60, long=2000)
    first = base_seed() * 1_000_000
    report = run_cases("graph_cases:case", list(range(first, first + n)), batch=60, timeout=300)
    print(report.summary())
    assert not report.failures, "\n".join(str(f) for f in report.failures[:20])
    assert report.passed == report.cases  # every generated graph is valid and must run
