"""Streaming a large .rec through ImageRecordIter in bounded memory (prints figures, asserts nothing).

  python benchmarks/bench_stream.py [--mb 10240] [--batch 32] [--prefetch 4] [--threads 2]
                                    [--dir /tmp] [--record-kb 1024]

Writes a synthetic .rec of the requested size, then reads it once in a fresh process and reports
the peak RSS growth over the whole pass (VmHWM after a reset, minus the RSS after the first
batch) against the file size. Each record is a 64x64 PNG carrying a private ancillary chunk of
~record-kb KiB that decoders skip: the file's bytes all pass through the reader, the unpacker
and the decoder's chunk parser, while decode time stays small, so a 10 GB pass takes minutes,
not hours (JPEG decode speed is bench_data.py's subject). tests/test_image_iter_memory.py runs
the same measure() on 50 MB and 200 MB files and asserts the growth does not follow the size.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np


def record_png(record_bytes: int, seed: int = 0) -> bytes:
    """A 64x64 RGB noise PNG padded to about record_bytes with a private 'prVt' chunk."""
    from PIL import Image
    b = io.BytesIO()
    Image.fromarray(np.random.RandomState(seed).randint(0, 256, (64, 64, 3)).astype(np.uint8)
                    ).save(b, "PNG")
    png = b.getvalue()
    extra = max(0, record_bytes - len(png) - 12)
    body = np.random.RandomState(seed + 1).bytes(extra)
    chunk = struct.pack(">I", extra) + b"prVt" + body + struct.pack(
        ">I", zlib.crc32(b"prVt" + body) & 0xFFFFFFFF)
    return png[:33] + chunk + png[33:]  # after the 8-byte signature and the IHDR chunk


def write_rec(path: str, total_bytes: int, record_bytes: int = 1 << 20) -> int:
    """Writes records until the file holds total_bytes; returns the record count."""
    from coarsenet import recordio
    png = record_png(record_bytes)
    w = recordio.MXRecordIO(path, "w")
    n = 0
    while n * (len(png) + 32) < total_bytes:
        w.write(recordio.pack(recordio.IRHeader(0, float(n % 10), n, 0), png))
        n += 1
    w.close()
    return n


def _status(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024.0  # MiB
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure(path: str, batch: int = 32, prefetch: int = 4, threads: int = 2) -> dict:
    """One pass over path; RSS figures in MiB. Run it in a fresh process for clean numbers."""
    import coarsenet as cn
    it = cn.io.ImageRecordIter(path, (3, 32, 32), batch, preprocess_threads=threads,
                               prefetch_buffer=prefetch)
    it.next()  # warm: threads started, the queue filled once, allocator pools in use
    base = _status("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        hwm = True
    except OSError:  # not allowed here: sample the RSS after every batch instead
        hwm = False
    t, seen, peak = time.time(), batch, base
    for b in it:
        seen += batch - b.pad
        if not hwm:
            peak = max(peak, _status("VmRSS"))
    secs = time.time() - t
    it.close()
    if hwm:
        peak = _status("VmHWM")
    return {"file_mb": os.path.getsize(path) / 2**20, "records": seen, "seconds": secs,
            "mb_per_s": os.path.getsize(path) / 2**20 / max(secs, 1e-9),
            "rss_base_mb": base, "peak_growth_mb": peak - base, "exact_peak": hwm,
            "batch_mb": batch * 3 * 32 * 32 * 4 / 2**20}


MEASURE = ("import json, runpy, sys; ns = runpy.run_path(sys.argv[1]); "
           "print(json.dumps(ns['measure'](sys.argv[2], *map(int, sys.argv[3:]))))")


def measure_in_child(path: str, batch: int, prefetch: int, threads: int, env=None) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, os.path.abspath(__file__), path,
                          str(batch), str(prefetch), str(threads)], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, nargs="+", default=[10240])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--prefetch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--record-kb", type=int, default=1024)
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        for mb in a.mb:
            path = os.path.join(d, f"stream_{mb}.rec")
            t = time.time()
            sys.path.insert(0, root)
            n = write_rec(path, mb << 20, a.record_kb << 10)
            print(f"wrote {mb} MB ({n} records) in {time.time() - t:.0f} s", flush=True)
            r = measure_in_child(path, a.batch, a.prefetch, a.threads, env)
            print(f"{r['file_mb']:.0f} MB, {r['records']} records: {r['seconds']:.0f} s "
                  f"({r['mb_per_s']:.0f} MB/s); RSS after first batch {r['rss_base_mb']:.0f} MB, "
                  f"peak growth over the pass {r['peak_growth_mb']:.1f} MB (batch "
                  f"{r['batch_mb']:.2f} MB, prefetch {a.prefetch}, threads {a.threads})",
                  flush=True)
            os.remove(path)


if __name__ == "__main__":
    main()
