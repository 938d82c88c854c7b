"""Data-path throughput, side by side in one run (prints figures; asserts nothing).

  python benchmarks/bench_data.py [--images 256] [--threads 2] [--mxnet /work/mxvenv/bin/python]

1. ImageRecordIter, 224x224 random crop + mirror + normalize from ~500x375 JPEGs: coarsenet vs
   MXNet 1.9.1's ImageRecordIter on the same .rec with the same thread count (MXNet runs in a
   subprocess from its own venv; skipped with a message when that python is missing).
2. Overlap: real training steps (model-zoo ResNet-18 v1 and MobileNet 0.25, hybridized, SGD,
   batch 32 of 3x224x224, 4 classes) consuming a fresh ImageRecordIter (pipeline fill included,
   epochs reset as they end) vs the same steps over the same batches held in memory; runs
   alternate, best of --rounds. The loss is printed with what it is made of: the process CPU
   per batch of both loops (their difference is the decode threads' work, which competes with
   the step's compute threads for the same cores).
3. gluon DataLoader on an ImageFolderDataset with the standard transforms (RandomResizedCrop
   224, flip, ToTensor, Normalize), num_workers 0 vs 2; PyTorch's DataLoader (num_workers=2,
   persistent workers) over torchvision's ImageFolder with the equivalent torchvision transforms
   on the same folder, alternated with ours in this process; MXNet's Gluon DataLoader in a
   subprocess. PyTorch is optional: without torch/torchvision that comparison says so.
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


def train_step(model: str):
    """One SGD step of a model-zoo net on (data, label) NDArrays; returns the step function."""
    from coarsenet import autograd
    from coarsenet.gluon.model_zoo import vision

    cn.random.seed(0)
    net = getattr(vision, model)(classes=4)
    net.initialize(cn.initializer.Xavier())
    net.hybridize()
    trainer = cn.gluon.Trainer(net.collect_params(), "sgd", dict(learning_rate=0.01,
                                                                 momentum=0.9))
    loss_fn = cn.gluon.loss.SoftmaxCrossEntropyLoss()

    def step(x, y):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(x.shape[0])
        loss.wait_to_read()
    return step


def train_overlap(rec: str, threads: int, model: str, n: int, rounds: int) -> str:
    """The same n training steps over a fresh ImageRecordIter and over batches in memory."""
    step = train_step(model)
    it = cn_iter(rec, threads)
    held = [(b.data[0].copy(), b.label[0].copy()) for b in it]
    it.close()
    for x, y in held[:2]:  # warm-up: graph built, memory planned, weights touched
        step(x, y)

    def over_memory():
        for i in range(n):
            step(*held[i % len(held)])

    def over_iter():
        it = cn_iter(rec, threads)  # fresh: its pipeline fill is part of the figure
        done = 0
        while done < n:
            for b in it:
                step(b.data[0], b.label[0])
                done += 1
                if done == n:
                    break
            else:
                it.reset()
        it.close()

    best = {}
    for _ in range(rounds):
        for name, loop in (("mem", over_memory), ("iter", over_iter)):
            t, c = time.time(), time.process_time()
            loop()
            wall, cpu = time.time() - t, time.process_time() - c
            if name not in best or wall < best[name][0]:
                best[name] = (wall, cpu)
    (mw, mc), (iw, ic) = best["mem"], best["iter"]
    return (f"2. {model} train loop, {n} batches of 32x3x224x224: over ImageRecordIter "
            f"{iw / n * 1e3:.0f} ms/batch vs in-memory {mw / n * 1e3:.0f} ms/batch (loss "
            f"{100 * (iw / mw - 1):.1f}%); process CPU/batch {ic / n * 1e3:.0f} vs "
            f"{mc / n * 1e3:.0f} ms: decode adds {(ic - mc) / n * 1e3:.0f} CPU-ms/batch "
            f"= {100 * (ic - mc) / mc:.0f}% of the step's CPU, on {cn.get_num_threads()} "
            f"compute + {threads} decode threads")


def import_torchvision():
    """(torch, torchvision) or (None, why). PyPI's torchvision wheel is the CUDA build: next to
    torch+cpu its C extension (detection ops, video) cannot load, and the package's import then
    stops registering fake kernels for torchvision::nms/qnms. The transforms and ImageFolder
    used here are pure Python over PIL and torch, so those two schemas are declared (never
    called) and the import retried."""
    try:
        import torch
    except ImportError:
        return None, "torch not installed"
    try:
        import torchvision
        return torch, torchvision
    except ImportError:
        return None, "torchvision not installed"
    except RuntimeError as e:
        if "torchvision::" not in str(e):
            return None, f"torchvision import failed: {e}"
    for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
        del sys.modules[name]
    import_torchvision.lib = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        import_torchvision.lib.define(op + "(Tensor dets, Tensor scores, float iou_threshold) "
                                      "-> Tensor")
    import torchvision
    return torch, torchvision


def torch_loader(root: str, torch, torchvision):
    from torchvision import datasets, transforms as TV

    tf = TV.Compose([TV.RandomResizedCrop(224), TV.RandomHorizontalFlip(), TV.ToTensor(),
                     TV.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    return torch.utils.data.DataLoader(datasets.ImageFolder(root, tf), batch_size=32,
                                       num_workers=2, persistent_workers=True)


def _proc_cpu(pids) -> float:
    """CPU seconds of live processes (Linux /proc; 0 elsewhere)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def epoch_rate(loader) -> float:
    t, seen = time.time(), 0
    for x, _ in loader:
        seen += x.shape[0]
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
    ap.add_argument("--train-batches", type=int, default=12,
                    help="batches per training loop in part 2 (the MobileNet loop runs 4x)")
    ap.add_argument("--rounds", type=int, default=2, help="alternated repeats, best taken")
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

        it.close()
        for model, n in (("resnet18_v1", args.train_batches),
                         ("mobilenet0_25", 4 * args.train_batches)):
            print(train_overlap(rec, args.threads, model, n, args.rounds))

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
              f"{'n/a' if mx_dl is None else f'{mx_dl:.0f}'}")
        torch, tv = import_torchvision()
        if torch is None:
            print(f"3. PyTorch DataLoader: not compared ({tv})")
            return
        torch.set_num_threads(1)  # the main process only collects batches, as ours does
        ours = cn.gluon.data.DataLoader(ds, batch_size=32, num_workers=2)
        theirs = torch_loader(root, torch, tv)
        for loader in (ours, theirs):
            epoch_rate(loader)  # warm-up epoch: workers started
        best = {"ours": 0.0, "torch": 0.0}
        cpu = {"ours": 0.0, "torch": 0.0}
        for _ in range(max(3, args.rounds)):
            for name, loader in (("ours", ours), ("torch", theirs)):
                pids = ([w.pid for w in theirs._iterator._workers] if name == "torch"
                        else [w.pid for w in ours._pool.workers])
                c0 = time.process_time() + _proc_cpu(pids)
                best[name] = max(best[name], epoch_rate(loader))
                cpu[name] += time.process_time() + _proc_cpu(pids) - c0
        ours._close_pool()
        del theirs
        n = max(3, args.rounds) * args.images
        print(f"3. DataLoader(num_workers=2) images/s: coarsenet {best['ours']:.0f} vs PyTorch "
              f"{torch.__version__} + torchvision {tv.__version__} {best['torch']:.0f} (ratio "
              f"{best['ours'] / best['torch']:.2f}); CPU ms/image (main + workers) "
              f"{1e3 * cpu['ours'] / n:.1f} vs {1e3 * cpu['torch'] / n:.1f}")

if __name__ == "__main__":
    main()
