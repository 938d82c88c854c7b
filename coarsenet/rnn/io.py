"""Legacy mx.rnn data helpers: encode_sentences (words -> ids) and BucketSentenceIter (batches
of equal-length padded sentences, one bucket length per batch, for BucketingModule), plus
save_rnn_checkpoint / load_rnn_checkpoint (checkpoints with cells' weights unpacked per gate)."""
from __future__ import annotations

import random

import numpy as np

from .. import ndarray as nd
from ..base import CoarsenetError
from ..io import DataBatch, DataDesc, DataIter


def encode_sentences(sentences, vocab=None, invalid_label=-1, invalid_key="\n", start_label=0,
                     unknown_token=None):
    """Sentences (lists of tokens) -> lists of ids, and the vocabulary. With a given vocab, an
    unknown token maps to unknown_token's id (added if missing) or is an error."""
    new_vocab = vocab is None
    vocab = {invalid_key: invalid_label} if new_vocab else dict(vocab)
    idx = max([start_label] + [v + 1 for v in vocab.values() if v != invalid_label])
    coded_all = []
    for sentence in sentences:
        coded = []
        for word in sentence:
            if word not in vocab:
                if not new_vocab and unknown_token is None:
                    raise CoarsenetError(f"encode_sentences: unknown token {word!r} (pass "
                                         "unknown_token= to map unknown tokens)")
                if not new_vocab:
                    word = unknown_token
                if word not in vocab:
                    if idx == invalid_label:
                        idx += 1
                    vocab[word] = idx
                    idx += 1
            coded.append(vocab[word])
        coded_all.append(coded)
    return coded_all, vocab


class BucketSentenceIter(DataIter):
    """Sentences grouped by the smallest bucket length that holds them (longer ones dropped),
    padded with invalid_label; the label is the sentence shifted left by one (next-token
    prediction). buckets=None: every length with at least batch_size sentences."""

    def __init__(self, sentences, batch_size, buckets=None, invalid_label=-1, data_name="data",
                 label_name="softmax_label", dtype="float32", layout="NT"):
        super().__init__(batch_size)
        if not buckets:
            counts = np.bincount([len(s) for s in sentences])
            buckets = [i for i, n in enumerate(counts) if n >= batch_size]
        buckets = sorted(buckets)
        if not buckets:
            raise CoarsenetError("BucketSentenceIter: no bucket (no length has batch_size "
                                 "sentences); pass buckets=")
        self.data = [[] for _ in buckets]
        self.ndiscard = 0
        for sentence in sentences:
            b = int(np.searchsorted(buckets, len(sentence)))
            if b == len(buckets):
                self.ndiscard += 1
                continue
            row = np.full(buckets[b], invalid_label, dtype=dtype)
            row[:len(sentence)] = sentence
            self.data[b].append(row)
        self.data = [np.asarray(rows, dtype=dtype).reshape(-1, buckets[i])
                     for i, rows in enumerate(self.data)]
        self.buckets, self.invalid_label, self.dtype = buckets, invalid_label, dtype
        self.data_name, self.label_name, self.layout = data_name, label_name, layout
        self.major_axis = layout.find("N")
        self.default_bucket_key = max(buckets)
        shape = self._shape(self.default_bucket_key)
        self.provide_data = [DataDesc(data_name, shape, np.dtype(dtype).type, layout)]
        self.provide_label = [DataDesc(label_name, shape, np.dtype(dtype).type, layout)]
        self.idx = [(i, j) for i, rows in enumerate(self.data)
                    for j in range(0, len(rows) - batch_size + 1, batch_size)]
        self.curr_idx = 0
        self.reset()

    def _shape(self, key):
        return (self.batch_size, key) if self.major_axis == 0 else (key, self.batch_size)

    def reset(self):
        self.curr_idx = 0
        random.shuffle(self.idx)
        for rows in self.data:
            np.random.shuffle(rows)

    def next(self):
        if self.curr_idx == len(self.idx):
            raise StopIteration
        i, j = self.idx[self.curr_idx]
        self.curr_idx += 1
        data = self.data[i][j:j + self.batch_size]
        label = np.full_like(data, self.invalid_label)
        label[:, :-1] = data[:, 1:]
        if self.major_axis == 1:
            data, label = data.T, label.T
        key = self.buckets[i]
        shape = self._shape(key)
        return DataBatch([nd.array(data)], [nd.array(label)], pad=0, bucket_key=key,
                         provide_data=[DataDesc(self.data_name, shape, np.dtype(self.dtype).type,
                                                self.layout)],
                         provide_label=[DataDesc(self.label_name, shape,
                                                 np.dtype(self.dtype).type, self.layout)])


def _cells(cells):
    return cells if isinstance(cells, (list, tuple)) else [cells]


def save_rnn_checkpoint(cells, prefix, epoch, symbol, arg_params, aux_params):
    """save_checkpoint with every cell's weights unpacked (per-gate names, as MXNet)."""
    from .. import model

    for cell in _cells(cells):
        arg_params = cell.unpack_weights(arg_params)
    model.save_checkpoint(prefix, epoch, symbol, arg_params, aux_params)


def load_rnn_checkpoint(cells, prefix, epoch):
    """load_checkpoint, then the cells pack their weights back: (symbol, arg, aux)."""
    from .. import model

    sym, arg, aux = model.load_checkpoint(prefix, epoch)
    for cell in _cells(cells):
        arg = cell.pack_weights(arg)
    return sym, arg, aux
