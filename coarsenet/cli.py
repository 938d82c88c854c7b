"""The command line: `python -m coarsenet train` (the main job) and `python -m coarsenet summary`."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

import numpy as np

from .base import CoarsenetError

_TRAIN_MODELS = ("mlp", "lenet", "resnet20", "lstm_lm")  # lstm_lm: see lm_train.py
# Settings that reach >= 97% validation accuracy on the bundled digits within the time budget.
_DEFAULTS = {"mlp": (20, 0.05), "lenet": (10, 0.05), "resnet20": (10, 0.05)}
_OPTIMIZERS = ("sgd", "nag", "adam", "adamw", "rmsprop")


class _DefaultsShown(argparse.HelpFormatter):
    """--help shows each option's default, except where there is none to show."""

    def _get_help_string(self, action):
        text = action.help or ""
        shown = not any(action.default is v for v in (None, False, argparse.SUPPRESS))
        if shown and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="coarsenet", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model on the bundled digits or your own .npz",
                       formatter_class=_DefaultsShown)
    per_model = ", ".join(f"{m} {v[0]}" for m, v in _DEFAULTS.items())
    t.add_argument("--model", default="lenet", help=f"{', '.join(_TRAIN_MODELS)} (tuned for "
                   "the digits) or any cn.model_zoo symbol, e.g. resnet18")
    t.add_argument("--epochs", type=int, default=None,
                   help=f"default per model: {per_model}, others 10")
    t.add_argument("--batch-size", type=int, default=32, help="samples per step")
    t.add_argument("--lr", type=float, default=None, help="learning rate; default per model: "
                   + ", ".join(f"{m} {v[1]}" for m, v in _DEFAULTS.items()) + ", others 0.05")
    t.add_argument("--optimizer", default="sgd", choices=_OPTIMIZERS, help="the update rule")
    t.add_argument("--momentum", type=float, default=0.9, help="for sgd and nag")
    t.add_argument("--wd", type=float, default=1e-4, help="weight decay")
    t.add_argument("--mirror", default=None,
                   help="recompute activations in backward: 'auto' or a byte budget")
    t.add_argument("--data", default=None, help=".npz with arrays x (N, C, H, W) and y (N,), "
                   "an image folder (one sub-folder per class) or a .rec file")
    t.add_argument("--data-shape", default="3,32,32", help="C,H,W for --data folder/.rec")
    t.add_argument("--val-fraction", type=float, default=0.2,
                   help="share of the data held out for validation")
    t.add_argument("--out", default="checkpoints/model",
                   help="checkpoint prefix; an existing directory gets DIR/model")
    t.add_argument("--seed", type=int, default=0, help="seeds the split, init and shuffling")
    t.add_argument("--kvstore", default="local", choices=("local", "dist_sync"),
                   help="dist_sync runs under mpiexec")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    from .im2rec import add_parser as _add_im2rec
    _add_im2rec(sub)
    s = sub.add_parser("summary", help="print a model's layer table")
    s.add_argument("--model", required=True)
    s.add_argument("--shape", required=True, help="input shape, e.g. 1,3,224,224")
    s.add_argument("--num-classes", type=int, default=1000)
    r = sub.add_parser("run", help="run an unchanged MXNet 1.x script with mxnet = coarsenet")
    r.add_argument("script")
    r.add_argument("script_args", nargs=argparse.REMAINDER)
    return p


def _load_data(args):
    from .datasets import load_digits, load_npz

    if args.data and (os.path.isdir(args.data) or args.data.endswith(".rec")):
        from .image.load import load_images, parse_shape
        x, y = load_images(args.data, parse_shape(args.data_shape))
    else:
        x, y = load_npz(args.data) if args.data else load_digits()
    if x.ndim == 2:  # flat features: one channel, one row
        x = x.reshape(len(x), 1, 1, -1)
    if x.ndim != 4:
        raise CoarsenetError(f"{args.data}: expected x of shape (N, C, H, W) or (N, features), "
                             f"found {x.shape}")
    if not 0 < args.val_fraction < 1:
        raise CoarsenetError(f"--val-fraction must lie in (0, 1), found {args.val_fraction}")
    order = np.random.default_rng(args.seed).permutation(len(x))
    n_val = max(1, int(len(x) * args.val_fraction))
    val, train = order[:n_val], order[n_val:]
    if len(train) < args.batch_size:
        raise CoarsenetError(f"{len(train)} training samples make no batch of {args.batch_size}")
    return x[train], y[train], x[val], y[val]


def _parse_mirror(value):
    if value is None or value == "auto":
        return value
    try:
        budget = float(value)
    except ValueError:
        budget = float("nan")
    if not (np.isfinite(budget) and budget >= 1):
        raise CoarsenetError(f"--mirror must be 'auto' or a byte budget >= 1, found '{value}'")
    return int(budget)


def _check_options(args) -> None:
    """Every option is checked before any work, so a typo never costs a training run."""
    def need(ok, option, expected, found):
        if not ok:
            raise CoarsenetError(f"{option} must be {expected}, found {found}")

    finite = np.isfinite
    need(args.epochs is None or args.epochs >= 1, "--epochs", "an integer >= 1", args.epochs)
    need(args.batch_size >= 1, "--batch-size", "an integer >= 1", args.batch_size)
    need(args.lr is None or (finite(args.lr) and args.lr > 0), "--lr", "a finite number > 0",
         args.lr)
    need(finite(args.momentum) and 0 <= args.momentum < 1, "--momentum", "in [0, 1)",
         args.momentum)
    need(finite(args.wd) and args.wd >= 0, "--wd", "a finite number >= 0", args.wd)
    need(0 < args.val_fraction < 1, "--val-fraction", "in (0, 1)", args.val_fraction)
    args.mirror = _parse_mirror(args.mirror)
    if args.model != "lstm_lm":
        from . import model_zoo

        try:
            model_zoo.get_symbol(args.model, num_classes=2)
        except CoarsenetError as e:
            raise CoarsenetError(f"--model: {e}") from None
    if args.data is not None and not os.path.exists(args.data):
        raise CoarsenetError(f"--data: no such file or folder '{args.data}'")
    args.out = _writable_prefix(args.out)


def _writable_prefix(out: str) -> str:
    """The checkpoint prefix, made sure to be writable now rather than after training. An
    existing directory means 'write inside it' (prefix DIR/model)."""
    if os.path.isdir(out):
        out = os.path.join(out, "model")
    folder = os.path.dirname(os.path.abspath(out))
    try:
        os.makedirs(folder, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".coarsenet-write-test-")
        probe.close()
    except OSError as e:
        raise CoarsenetError(f"--out: cannot write checkpoints to '{folder}': "
                             f"{e.strerror or e}") from None
    return out


def _planned_memory_line(sym, mirror, data_shape, batch_size) -> str:
    """'--mirror' shows what it buys: the planned arena with and without it."""
    shapes = {"data": (batch_size,) + tuple(data_shape), "softmax_label": (batch_size,)}
    plain = sym.simple_bind(**shapes).memory_stats()["planned_bytes"]
    mirrored = sym.simple_bind(mirror=mirror, **shapes).memory_stats()["planned_bytes"]
    return (f"planned memory: {plain / 2**20:.1f} MiB without mirror, "
            f"{mirrored / 2**20:.1f} MiB with --mirror {mirror} ({plain / mirrored:.1f}x less)")


def train(args) -> dict:
    import coarsenet as cn

    _check_options(args)
    if args.model == "lstm_lm":  # a text model: its own data and loop
        from .lm_train import train_lm

        return train_lm(args)

    kv = None
    if args.kvstore != "local":
        kv = cn.kvstore.create(args.kvstore)
    rank, parts = (kv.rank, kv.num_workers) if kv else (0, 1)
    cn.random.seed(args.seed)
    np.random.seed(args.seed)
    x_train, y_train, x_val, y_val = _load_data(args)
    num_classes = int(max(y_train.max(), y_val.max())) + 1
    epochs, lr = _DEFAULTS.get(args.model, (10, 0.05))
    epochs = epochs if args.epochs is None else args.epochs
    lr = lr if args.lr is None else args.lr
    sym = cn.model_zoo.get_symbol(args.model, num_classes=num_classes)
    train_iter = cn.io.NDArrayIter(x_train, y_train, args.batch_size, shuffle=True,
                                   last_batch_handle="discard", num_parts=parts, part_index=rank,
                                   seed=args.seed)
    val_iter = cn.io.NDArrayIter(x_val, y_val, args.batch_size)
    mod = cn.mod.Module(sym, mirror=args.mirror)
    opt_params = {"learning_rate": lr, "wd": args.wd}
    if args.optimizer in ("sgd", "nag"):
        opt_params["momentum"] = args.momentum
    if rank == 0:
        print(f"training {args.model} on {len(x_train)} samples ({len(x_val)} held out), "
              f"{epochs} epochs, batch {args.batch_size}, {args.optimizer} lr={lr}")
        if args.mirror is not None:
            print(_planned_memory_line(sym, args.mirror, x_train.shape[1:], args.batch_size))
    history = []

    def on_epoch_end(epoch, symbol, arg, aux):
        history.append({"epoch": epoch, "time": time.time() - epoch_start[0]})

    epoch_start = [time.time()]
    total_start = time.time()
    for epoch in range(epochs):
        epoch_start[0] = time.time()
        mod.fit(train_iter, eval_metric="acc", optimizer=args.optimizer,
                optimizer_params=opt_params, initializer=cn.init.Xavier(magnitude=2.0),
                kvstore=kv or "local", begin_epoch=epoch, num_epoch=epoch + 1,
                progress_bar=not args.no_progress and rank == 0,
                epoch_end_callback=on_epoch_end)
        train_acc = dict(mod.score(train_iter, "acc"))["accuracy"]
        val_acc = dict(mod.score(val_iter, "acc"))["accuracy"]
        history[-1].update(train_acc=train_acc, val_acc=val_acc)
        if rank == 0:
            print(f"epoch {epoch + 1:3d}/{epochs}  train-acc {train_acc:.4f}  "
                  f"val-acc {val_acc:.4f}  time {history[-1]['time']:.2f}s", flush=True)
    if rank == 0:
        mod.save_checkpoint(args.out, epochs)
        print(f"done in {time.time() - total_start:.1f}s; validation accuracy "
              f"{history[-1]['val_acc']:.4f}; checkpoint {args.out}-symbol.json and "
              f"{args.out}-{epochs:04d}.params")
    return {"history": history, "val_acc": history[-1]["val_acc"]}


def summary(args) -> None:
    import coarsenet as cn

    try:
        shape = tuple(int(s) for s in args.shape.split(","))
    except ValueError:
        raise CoarsenetError(f"--shape must be comma-separated integers, found '{args.shape}'") from None
    sym = cn.model_zoo.get_symbol(args.model, num_classes=args.num_classes)
    cn.viz.print_summary(sym, {"data": shape})


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":  # the script configures logging and reports its own errors
        from .compat import run_script

        if not os.path.isfile(args.script):
            print(f"coarsenet: error: run: script '{args.script}' not found", file=sys.stderr)
            return 2
        run_script(args.script, args.script_args)
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        if args.command == "train":
            train(args)
        elif args.command == "im2rec":
            from .im2rec import run
            run(args)
        else:
            summary(args)
    except CoarsenetError as e:
        print(f"coarsenet: error: {e}", file=sys.stderr)
        return 2
    return 0
