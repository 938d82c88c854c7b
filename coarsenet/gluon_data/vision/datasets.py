"""MNIST, FashionMNIST, CIFAR10 and CIFAR100 from their standard distribution files in root=.
coarsenet does not download (it runs offline): a missing file raises an error naming every file
to place in root. Samples are (HxWxC uint8 NDArray, int32 label), as MXNet's."""
from __future__ import annotations

import os

import numpy as np

from ...base import CoarsenetError
from ...io_iters import read_idx
from ...ndarray import NDArray
from ..dataset import Dataset


def _need(root, names, what):
    paths = [os.path.join(root, n) for n in names]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise CoarsenetError(f"{what}: missing {', '.join(missing)}; coarsenet does not "
                             f"download datasets: place these files in root={root}")
    return paths


class _Arrays(Dataset):
    def __init__(self, transform):
        self._transform = transform

    def __len__(self):
        return len(self._label)

    def __getitem__(self, idx):
        img, lab = NDArray(self._data[idx]), self._label[idx]
        return self._transform(img, lab) if self._transform is not None else (img, lab)


class MNIST(_Arrays):
    _train_files = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    _test_files = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    _name = "MNIST"
    _default_root = os.path.join("~", ".mxnet", "datasets", "mnist")

    def __init__(self, root=None, train=True, transform=None):
        super().__init__(transform)
        root = os.path.expanduser(root or self._default_root)
        names = self._train_files if train else self._test_files
        # Accept the uncompressed files too (as distributed by some mirrors).
        if not os.path.exists(os.path.join(root, names[0])) and os.path.exists(
                os.path.join(root, names[0][:-3])):
            names = tuple(n[:-3] for n in names)
        img_path, lab_path = _need(root, names, self._name)
        data, label = read_idx(img_path), read_idx(lab_path)
        if data.ndim != 3 or label.shape != (data.shape[0],):
            raise CoarsenetError(f"{self._name}: {img_path} {data.shape} and {lab_path} "
                                 f"{label.shape} do not match")
        self._data, self._label = data[:, :, :, None], label.astype(np.int32)


class FashionMNIST(MNIST):
    _name = "FashionMNIST"
    _default_root = os.path.join("~", ".mxnet", "datasets", "fashion-mnist")


class CIFAR10(_Arrays):
    """The binary version: cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin in root."""

    _dir, _label_bytes = "cifar-10-batches-bin", 1

    def __init__(self, root=None, train=True, transform=None):
        super().__init__(transform)
        root = os.path.expanduser(root or os.path.join("~", ".mxnet", "datasets", "cifar10"))
        paths = _need(root, [os.path.join(self._dir, n) for n in self._names(train)],
                      type(self).__name__)
        rows = []
        width = self._label_bytes + 3072
        for p in paths:
            raw = np.fromfile(p, np.uint8)
            if raw.size % width:
                raise CoarsenetError(f"{type(self).__name__}: {p} has {raw.size} bytes, not a "
                                     f"multiple of the {width}-byte record")
            rows.append(raw.reshape(-1, width))
        rows = np.concatenate(rows)
        self._label = self._pick_label(rows[:, :self._label_bytes]).astype(np.int32)
        self._data = rows[:, self._label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)

    @staticmethod
    def _names(train):
        return [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]

    def _pick_label(self, lab):
        return lab[:, 0]


class CIFAR100(CIFAR10):
    """cifar-100-binary/{train,test}.bin; fine_label picks the 100-class label."""

    _dir, _label_bytes = "cifar-100-binary", 2

    def __init__(self, root=None, fine_label=False, train=True, transform=None):
        self._fine = fine_label
        super().__init__(root or os.path.join("~", ".mxnet", "datasets", "cifar100"), train,
                         transform)

    @staticmethod
    def _names(train):
        return ["train.bin" if train else "test.bin"]

    def _pick_label(self, lab):
        return lab[:, 1 if self._fine else 0]
