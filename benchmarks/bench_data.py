"""Data-path throughput, side by side in one run (prints figures; asserts nothing).

  python benchmarks/bench_data.py [--images 256] [--threads 2] [--mxnet /work/mxvenv/bin/python]

1. ImageRecordIter, 224x224 random crop + mirror + normalize from ~500x375 JPEGs: coarsenet vs
   MXNet 1.9.1's ImageRecordIter on the same .rec with the same thread count (MXNet runs in a
   subprocess from its own venv; skipped with a message when that python is missing).
2. Overlap: a loop that "trains" for a fixed time per batch (time.sleep stands in for compute
   that releases the GIL) over the iterator vs over in-memory arrays.
3. gluon DataLoader on an ImageFolderDataset with the standard transforms, num_workers 0 vs 2,
   and MXNet's Gluon DataLoader on the same folder (torchvision is not installed in this
   environment, so PyTorch's DataLoader with torchvision transforms is not compared).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from coarsenet.gluon.data.vision import transforms as T

import coarsenet as cn
from coarsenet import recordio

MEAN = (123.68, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)

MX_ITER = r"""
import sys, time, mxnet as mx
rec, n, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 224, 224), batch_size=32,
    rand_crop=True, rand_mirror=True, mean_r=123.68, mean_g=116.28, mean_b=103.53,
    std_r=58.395, std_g=57.12, std_b=57.375, preprocess_threads=threads, shuffle=False)
for b in it: b.data[0].wait_to_read()  # warm-up epoch
it.reset(); t = time.time(); seen = 0
for b in it:
    b.data[0].wait_to_read(); seen += 32 - b.pad
print(seen / (time.time() - t))
"""

MX_LOADER = r"""
import sys, time, mxnet as mx
from mxnet.gluon.data import DataLoader
from mxnet.gluon.data.vision import ImageFolderDataset, transforms as T
root, workers = sys.argv[1], int(sys.argv[2])
tf = T.Compose([T.RandomResizedCrop(224), T.RandomFlipLeftRight(), T.ToTensor(),
                T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
dl = DataLoader(ImageFolderDataset(root).transform_first(tf), batch_size=32,
                num_workers=workers)
t = time.time(); seen = 0
for x, y in dl:
    x.wait_to_read(); seen += x.shape[0]
print(seen / (time.time() - t))
"""


def make_images(root: str, n: int) -> None:
    rng = np.random.RandomState(0)
    y, x = np.mgrid[0:375, 0:500]
    for i in range(n):
        cls = f"c{i % 4}"
        os.makedirs(os.path.join(root, cls), exist_ok=True)
        base = np.stack([(x + 3 * i) % 256, (y * 2 + i) % 256, (x + y) % 256], 2)
        img = np.clip(base + rng.randint(-25, 25, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(root, cls, f"{i}.jpg"), quality=90)


def make_rec(root: str, rec: str) -> None:
    w = recordio.MXIndexedRecordIO(rec[:-4] + ".idx", rec, "w")
    ds = cn.gluon.data.vision.ImageFolderDataset(root)
    for i, (path, label) in enumerate(ds.items):
        with open(path, "rb") as f:
            w.write_idx(i, recordio.pack(recordio.IRHeader(0, float(label), i, 0), f.read()))
    w.close()


def cn_iter(rec: str, threads: int):
    return cn.io.ImageRecordIter(rec, (3, 224, 224), 32, rand_crop=True, rand_mirror=True,
                                 mean_r=MEAN[0], mean_g=MEAN[1], mean_b=MEAN[2], std_r=STD[0],
                                 std_g=STD[1], std_b=STD[2], preprocess_threads=threads)


def _cpu(who) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def rate(it) -> float:
    t, seen = time.time(), 0
    for b in it:
        seen += 32 - b.pad
    return seen / (time.time() - t)


def run_mx(py, script, *args):
    if not os.path.exists(py):
        return None
    out = subprocess.run([py, "-c", script, *map(str, args)], capture_output=True, text=True,
                         check=False)
    if out.returncode:
        print("   MXNet run failed:", out.stderr.strip().splitlines()[-1:])
        return None
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mxnet", default="/work/mxvenv/bin/python")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root, rec = os.path.join(tmp, "imgs"), os.path.join(tmp, "data.rec")
        make_images(root, args.images)
        make_rec(root, rec)
        print(f"{args.images} JPEGs 500x375, .rec {os.path.getsize(rec) / 1e6:.1f} MB, "
              f"{args.threads} threads, {os.cpu_count()} cores (figures under the machine's "
              "current load)")
        it = cn_iter(rec, args.threads)
        rate(it)  # warm-up epoch
        it.reset()
        cn_rate = rate(it)
        mx_rate = run_mx(args.mxnet, MX_ITER, rec, args.images, args.threads)
        print(f"1. ImageRecordIter images/s: coarsenet {cn_rate:.0f}, MXNet 1.9.1 "
              f"{'n/a' if mx_rate is None else f'{mx_rate:.0f}'}"
              + ("" if mx_rate is None else f"  (ratio {cn_rate / mx_rate:.2f})"))

        step = 32 / cn_rate  # a compute step as long as decoding one batch
        it.reset()
        t = time.time()
        for _ in it:
            time.sleep(step)
        with_iter = time.time() - t
        batches = -(-args.images // 32)
        arrays = [np.zeros((32, 3, 224, 224), np.float32) for _ in range(batches)]
        t = time.time()
        for a in arrays:
            time.sleep(step)
            a.sum()
        in_mem = time.time() - t
        it.close()
        print(f"2. loop with {step * 1e3:.0f} ms/batch of GIL-free work: over ImageRecordIter "
              f"{with_iter:.2f}s vs in-memory {in_mem:.2f}s (loss "
              f"{100 * (with_iter / in_mem - 1):.0f}%)")

        tf = T.Compose([T.RandomResizedCrop(224), T.RandomFlipLeftRight(), T.ToTensor(),
                        T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
        ds = cn.gluon.data.vision.ImageFolderDataset(root).transform_first(tf)
        rates, cpu_ms = {}, {}
        for workers in (0, 2):
            m0, c0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
            dl = cn.gluon.data.DataLoader(ds, batch_size=32, num_workers=workers)
            warm = sum(x.shape[0] for x, _ in dl)  # first epoch: workers start, blocks made
            t, seen = time.time(), 0
            for x, _ in dl:
                seen += x.shape[0]
            rates[workers] = seen / (time.time() - t)  # second epoch only
            m1 = _cpu(resource.RUSAGE_SELF)
            dl._close_pool()  # a worker's CPU time is counted when it is reaped: both epochs
            cpu_ms[workers] = 1e3 * (m1 - m0 + _cpu(resource.RUSAGE_CHILDREN) - c0) / (
                seen + warm)
        # CPU time per image, all processes together: meaningful even on a loaded machine
        # (images/s there are not); its ratio bounds what 2 workers can gain on 2 idle cores
        print(f"3. DataLoader CPU ms/image (main + workers): workers=0 {cpu_ms[0]:.1f}, "
              f"workers=2 {cpu_ms[2]:.1f} (2 idle cores: at most "
              f"x{2 * cpu_ms[0] / cpu_ms[2]:.2f})")
        mx_dl = run_mx(args.mxnet, MX_LOADER, root, 2)
        print(f"3. DataLoader images/s: workers=0 {rates[0]:.0f}, workers=2 {rates[2]:.0f} "
              f"(x{rates[2] / rates[0]:.2f}); MXNet Gluon DataLoader workers=2 "
              f"{'n/a' if mx_dl is None else f'{mx_dl:.0f}'}; PyTorch: torchvision not "
              "installed, not compared")


if __name__ == "__main__":
    main()
