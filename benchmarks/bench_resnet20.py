"""Images/s of CIFAR ResNet-20 training (forward + backward + SGD momentum), coarsenet's executor
vs PyTorch eager in the same run, 2 threads each. Prints figures; asserts nothing.

    PYTHONPATH=. python benchmarks/bench_resnet20.py [--batch 128] [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import coarsenet as cn  # noqa: E402
from bench_models import alternate  # noqa: E402
from models_common import SGDMomentum, init_executor, torch_resnet20  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cn.set_num_threads(2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, size=args.batch).astype(np.float32)
    sym = cn.model_zoo.get_symbol("resnet20", num_classes=10)
    exe = sym.simple_bind(data=x.shape, softmax_label=y.shape)
    init_executor(exe)
    exe.arg_dict["data"][:] = x
    exe.arg_dict["softmax_label"][:] = y
    sgd = SGDMomentum(exe)

    def cn_step():
        exe.forward(is_train=True)
        exe.backward()
        sgd.step()

    fns = {"coarsenet": cn_step}
    try:
        import torch

        torch.set_num_threads(2)
        model = torch_resnet20()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()

        def torch_step():
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(xt), yt).backward()
            opt.step()

        fns["PyTorch"] = torch_step
    except ImportError:
        print("PyTorch not installed: coarsenet only")
    times = alternate(fns, args.repeat)
    print(f"CIFAR ResNet-20 training, batch {args.batch}, 2 threads, median of {args.repeat}")
    for name, t in times.items():
        print(f"  {name:10s} {t * 1e3:8.1f} ms/step  {args.batch / t:8.1f} images/s")
    if "PyTorch" in times:
        print(f"  time ratio coarsenet / PyTorch: {times['coarsenet'] / times['PyTorch']:.2f}")


if __name__ == "__main__":
    main()
