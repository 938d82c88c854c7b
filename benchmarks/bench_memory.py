"""Memory benchmark: the executor's plan for CIFAR ResNet-18 (batch 32) and the peak RSS a
training step adds, coarsenet vs PyTorch, each measured in a fresh subprocess.

    PYTHONPATH=. python benchmarks/bench_memory.py [--batch 32]

planned/naive: arena bytes over the bytes every activation, gradient and workspace would take
in its own buffer (target <= 0.5). Peak RSS growth: after the model, its gradients buffers and
the batch exist, the kernel's peak-RSS counter is reset (/proc/self/clear_refs) and two training
steps run; growth = new peak - RSS before. Prints figures, never asserts.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MB = 1024.0 * 1024.0


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child_coarsenet(batch: int, mirror) -> dict:
    import coarsenet as cn
    from models_common import SGDMomentum, cifar_batch, train_executor

    cn.set_num_threads(2)
    x, y = cifar_batch(batch)
    exe = train_executor(batch, mirror=mirror)
    opt = SGDMomentum(exe)
    for g in exe.grad_dict.values():  # gradients exist before the step in both frameworks
        g.asnumpy()[:] = 0
    before = _status("VmRSS")
    reset = _reset_peak()
    for _ in range(2):
        exe.forward(is_train=True, data=x, softmax_label=y)
        exe.backward()
        opt.step()
    return {"before": before, "peak": _status("VmHWM"), "reset": reset,
            "stats": exe.memory_stats()}


def child_torch(batch: int) -> dict:
    import torch
    import torch.nn.functional as F
    from models_common import cifar_batch, torch_resnet18

    torch.set_num_threads(2)
    x, y = cifar_batch(batch)
    model = torch_resnet18()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    before = _status("VmRSS")
    reset = _reset_peak()
    for _ in range(2):
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(model(xt), yt).backward()
        opt.step()
    return {"before": before, "peak": _status("VmHWM"), "reset": reset}


def run_child(kind: str, batch: int, mirror=None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--batch", str(batch)]
    if mirror is not None:
        cmd += ["--mirror", str(mirror)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--child", choices=["coarsenet", "torch"])
    parser.add_argument("--mirror", default=None)
    args = parser.parse_args()
    if args.child == "coarsenet":
        print(json.dumps(child_coarsenet(args.batch, args.mirror)))
        return
    if args.child == "torch":
        print(json.dumps(child_torch(args.batch)))
        return
    cn_result = run_child("coarsenet", args.batch)
    stats = cn_result["stats"]
    print(f"ResNet-18 CIFAR batch {args.batch}: executor memory plan (training)")
    for key in ("naive_bytes", "planned_bytes", "param_bytes", "grad_bytes", "workspace_bytes"):
        print(f"  {key:16s}: {stats[key] / MB:8.1f} MB")
    print(f"  inplace_count   : {stats['inplace_count']}   reused_count: {stats['reused_count']}")
    print(f"  planned / naive : {stats['planned_bytes'] / stats['naive_bytes']:.3f}"
          "   (target <= 0.5)")
    results = {"coarsenet": cn_result}
    try:
        results["PyTorch"] = run_child("torch", args.batch)
    except subprocess.CalledProcessError as err:
        print(f"PyTorch run failed: {err.stderr[-500:]}")
    print("Peak RSS growth of a training step (fresh subprocess each)")
    for name, r in results.items():
        growth = (r["peak"] - r["before"]) / MB
        note = "" if r["reset"] else " (peak counter not resettable: includes setup)"
        print(f"  {name:10s}: {growth:8.1f} MB{note}")
    if "PyTorch" in results:
        g_cn = results["coarsenet"]["peak"] - results["coarsenet"]["before"]
        g_pt = results["PyTorch"]["peak"] - results["PyTorch"]["before"]
        print(f"  ratio coarsenet / PyTorch: {g_cn / max(g_pt, 1):.2f}")


if __name__ == "__main__":
    main()
