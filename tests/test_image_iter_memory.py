"""ImageRecordIter streams a .rec in memory bounded by prefetch x batch, whatever the file size.

Runs benchmarks/bench_stream.py's measure() in fresh processes over a 50 MB and a 200 MB file
(256 KiB records): the peak RSS growth over a pass must not follow the file size (an iterator
that kept what it read would grow by >= 150 MB more on the larger file).
"""
import os
import runpy
import sys

import pytest

BENCH = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "bench_stream.py")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads VmHWM from /proc (Linux only)")


def test_peak_rss_growth_is_independent_of_file_size(tmp_path):
    ns = runpy.run_path(BENCH)
    batch, prefetch, threads, rec_kb = 4, 2, 2, 256
    growth = {}
    for mb in (50, 200):
        path = str(tmp_path / f"s{mb}.rec")
        n = ns["write_rec"](path, mb << 20, rec_kb << 10)
        r = ns["measure_in_child"](path, batch, prefetch, threads)
        assert r["records"] == n  # every record was read
        growth[mb] = r["peak_growth_mb"]
        os.remove(path)
    # what may be in flight: queued batches, the one being made, and the raw records and
    # decoded images of each worker; plus allocator slack
    in_flight_mb = (prefetch + 2) * batch * rec_kb / 1024 + 24
    assert growth[50] < in_flight_mb and growth[200] < in_flight_mb, growth
    assert growth[200] - growth[50] < 12, growth
