"""`python -m coarsenet train --model lstm_lm [--data text.txt]`: a character-level LSTM
language model on a text file (default: the bundled public-domain Gettysburg Address), printing
training and validation perplexity per epoch."""
from __future__ import annotations

import os
import time

import numpy as np

from .base import CoarsenetError

SEQ_LEN = 32
DEFAULTS = (30, 1.0)  # epochs, learning rate (SGD, momentum, gradient clipping)


def windows(ids, seq_len: int, stride: int):
    """(n, seq_len) inputs starting every `stride` ids, and their next-id labels."""
    starts = np.arange(0, len(ids) - seq_len, stride)
    x = np.stack([ids[i:i + seq_len] for i in starts])
    return x, np.stack([ids[i + 1:i + seq_len + 1] for i in starts])


def char_batches(text: str, seq_len: int, val_fraction: float):
    """Ids of every character; the last val_fraction of the text is held out. Training windows
    overlap (a new one every seq_len // 4 characters) so a short text still gives many."""
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    ids = np.array([index[c] for c in text], dtype=np.float32)
    split = int(len(ids) * (1 - val_fraction))
    if split <= seq_len or len(ids) - split <= seq_len:
        raise CoarsenetError(f"the text has {len(ids)} characters, too few for training and "
                             f"validation sequences of {seq_len}")
    return (vocab, windows(ids[:split], seq_len, max(1, seq_len // 4)),
            windows(ids[split:], seq_len, seq_len))


def _perplexity(mod, it, metric, train: bool):
    metric.reset()
    it.reset()
    for batch in it:
        mod.forward(batch, is_train=train)
        if train:
            mod.backward()
            mod.update()
        keep = batch.data[0].shape[0] - batch.pad
        out = mod.get_outputs()[0].asnumpy()[: keep * SEQ_LEN]
        metric.update([batch.label[0].asnumpy()[:keep]], [out])
    return metric.get()[1]


def train_lm(args) -> dict:
    import coarsenet as cn

    from .datasets import load_text

    if not 0 < args.val_fraction < 1:
        raise CoarsenetError(f"--val-fraction must lie in (0, 1), found {args.val_fraction}")
    cn.random.seed(args.seed)
    np.random.seed(args.seed)
    text = load_text(args.data)
    vocab, (xt, yt), (xv, yv) = char_batches(text, SEQ_LEN, args.val_fraction)
    batch = min(args.batch_size, len(xt))
    epochs = args.epochs or DEFAULTS[0]
    lr = args.lr or DEFAULTS[1]
    sym = cn.model_zoo.get_symbol("lstm_lm", num_classes=len(vocab), seq_len=SEQ_LEN)
    train_it = cn.io.NDArrayIter(xt, yt, batch, shuffle=True, last_batch_handle="discard",
                                 seed=args.seed)
    # the same batch size (padded) as training: one bound executor
    val_it = cn.io.NDArrayIter(xv, yv, batch, last_batch_handle="pad")
    mod = cn.mod.Module(sym)
    mod.bind(train_it.provide_data, train_it.provide_label)
    mod.init_params(cn.init.Uniform(0.1))
    params = {"learning_rate": lr, "wd": args.wd, "clip_gradient": 5.0,
              "rescale_grad": 1.0 / (batch * SEQ_LEN)}  # gradients averaged over tokens
    if args.optimizer in ("sgd", "nag"):
        params["momentum"] = args.momentum
    mod.init_optimizer(optimizer=args.optimizer, optimizer_params=params)
    metric = cn.metric.Perplexity(None)
    print(f"training lstm_lm on {len(text)} characters ({len(vocab)} symbols), "
          f"{len(xt)} sequences of {SEQ_LEN} ({len(xv)} held out), {epochs} epochs, "
          f"batch {batch}, {args.optimizer} lr={lr}")
    history, start = [], time.time()
    for epoch in range(epochs):
        t0 = time.time()
        train_ppl = _perplexity(mod, train_it, metric, train=True)
        val_ppl = _perplexity(mod, val_it, metric, train=False)
        history.append({"epoch": epoch, "train_ppl": train_ppl, "val_ppl": val_ppl,
                        "time": time.time() - t0})
        print(f"epoch {epoch + 1:3d}/{epochs}  train-perplexity {train_ppl:.3f}  "
              f"val-perplexity {val_ppl:.3f}  time {history[-1]['time']:.2f}s", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    mod.save_checkpoint(args.out, epochs)
    print(f"done in {time.time() - start:.1f}s; validation perplexity {history[-1]['val_ppl']:.3f}"
          f" (vocabulary {len(vocab)}); checkpoint {args.out}-symbol.json")
    return {"history": history, "val_ppl": history[-1]["val_ppl"], "vocab": vocab}
