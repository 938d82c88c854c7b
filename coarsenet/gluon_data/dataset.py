"""MXNet's gluon.data datasets: Dataset and its views, ArrayDataset, SimpleDataset, and the
RecordIO / image-folder / image-list datasets (samples are (HxWxC uint8 NDArray, label))."""
from __future__ import annotations

import os

import numpy as np

from .. import recordio
from ..base import CoarsenetError
from ..image import _decode_array
from ..ndarray import NDArray


class Dataset:
    """Abstract dataset: __getitem__(i) and __len__()."""

    def __getitem__(self, idx):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    def transform(self, fn, lazy: bool = True) -> Dataset:
        """A dataset whose samples are fn(*sample) (fn(sample) for non-tuple samples)."""
        view = _LazyTransformDataset(self, fn)
        return view if lazy else SimpleDataset([view[i] for i in range(len(view))])

    def transform_first(self, fn, lazy: bool = True) -> Dataset:
        """Applies fn to the first element of each sample only (the data, not the label)."""
        def first(x, *rest):
            return (fn(x), *rest) if rest else fn(x)
        return self.transform(first, lazy)

    def filter(self, fn) -> Dataset:
        """The samples for which fn(sample) is true."""
        return _IndexedView(self, [i for i in range(len(self)) if fn(self[i])])

    def shard(self, num_shards: int, index: int) -> Dataset:
        """Contiguous shard `index` of `num_shards` (sizes differ by at most one)."""
        if not 0 <= index < num_shards:
            raise CoarsenetError(f"Dataset.shard: index must lie in [0, {num_shards}), got {index}")
        n = len(self)
        base, extra = divmod(n, num_shards)
        start = index * base + min(index, extra)
        return _IndexedView(self, range(start, start + base + (index < extra)))

    def take(self, count) -> Dataset:
        """The first `count` samples (all when count is None)."""
        n = len(self)
        return _IndexedView(self, range(n if count is None else min(count, n)))

    def sample(self, sampler) -> Dataset:
        return _IndexedView(self, list(sampler))


class _IndexedView(Dataset):
    def __init__(self, base, indices):
        self._base, self._indices = base, indices

    def __len__(self):
        return len(self._indices)

    def __getitem__(self, idx):
        return self._base[self._indices[idx]]


class _LazyTransformDataset(Dataset):
    def __init__(self, data, fn):
        self._data, self._fn = data, fn

    def __len__(self):
        return len(self._data)

    def __getitem__(self, idx):
        item = self._data[idx]
        return self._fn(*item) if isinstance(item, tuple) else self._fn(item)


class SimpleDataset(Dataset):
    """Wraps any sequence (list, array)."""

    def __init__(self, data):
        self._data = data

    def __len__(self):
        return len(self._data)

    def __getitem__(self, idx):
        return self._data[idx]


class ArrayDataset(Dataset):
    """Zips arrays of equal length: sample i is (a[i], b[i], ...) (a[i] alone for one array)."""

    def __init__(self, *args):
        if not args:
            raise CoarsenetError("ArrayDataset: needs at least one array")
        self._length = len(args[0])
        self._data = []
        for i, a in enumerate(args):
            if len(a) != self._length:
                raise CoarsenetError(f"ArrayDataset: array {i} has {len(a)} samples, array 0 "
                                     f"has {self._length}")
            self._data.append(a.asnumpy() if isinstance(a, NDArray) else a)

    def __len__(self):
        return self._length

    def __getitem__(self, idx):
        if len(self._data) == 1:
            return self._data[0][idx]
        return tuple(d[idx] for d in self._data)


class RecordFileDataset(Dataset):
    """Raw records of a .rec file with its .idx (same name, .idx extension)."""

    def __init__(self, filename):
        self.filename = str(filename)
        self.idx_file = os.path.splitext(self.filename)[0] + ".idx"
        r = recordio.MXIndexedRecordIO(self.idx_file, self.filename, "r")
        r.close()
        self._offsets = [r.idx[k] for k in r.keys]
        self._fd = None

    def __len__(self):
        return len(self._offsets)

    def _file(self):
        # Opened lazily, per process: a forked DataLoader worker gets its own descriptor use
        # through pread, which never moves a shared file position.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.filename, os.O_RDONLY)
            self._pid = os.getpid()
            self._size = os.fstat(self._fd).st_size
        return self._fd

    def __getitem__(self, idx):
        fd = self._file()
        got = recordio.read_record_at(fd, self._size, self._offsets[idx], self.filename)
        if got is None:
            raise CoarsenetError(f"RecordFileDataset {self.filename}: record {idx} missing")
        return got[0]

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_fd"] = None
        return d


class ImageRecordDataset(RecordFileDataset):
    """(image HxWxC uint8 NDArray, label) from an image .rec file."""

    def __init__(self, filename, flag: int = 1, transform=None):
        super().__init__(filename)
        self._flag, self._transform = flag, transform

    def __getitem__(self, idx):
        header, payload = recordio.unpack(super().__getitem__(idx))
        img = NDArray(_decode_array(payload, self._flag, what=f"ImageRecordDataset "
                                    f"{self.filename} record {idx}"))
        label = header.label
        if self._transform is not None:
            return self._transform(img, label)
        return img, label


_IMG_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".webp")


def _load_file(path, flag):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CoarsenetError(f"image file {path}: cannot open ({e.strerror})") from None
    return NDArray(_decode_array(data, flag, what=f"image file {path}"))


class ImageFolderDataset(Dataset):
    """root/<class name>/<image>: labels are class indices in sorted class-name order."""

    def __init__(self, root, flag: int = 1, transform=None):
        self._root = os.path.expanduser(str(root))
        self._flag, self._transform = flag, transform
        if not os.path.isdir(self._root):
            raise CoarsenetError(f"ImageFolderDataset: {self._root} is not a directory")
        self.synsets, self.items = [], []
        for folder in sorted(os.listdir(self._root)):
            path = os.path.join(self._root, folder)
            if not os.path.isdir(path):
                continue
            label = len(self.synsets)
            self.synsets.append(folder)
            for name in sorted(os.listdir(path)):
                if os.path.splitext(name)[1].lower() in _IMG_EXTS:
                    self.items.append((os.path.join(path, name), label))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        path, label = self.items[idx]
        img = _load_file(path, self._flag)
        return self._transform(img, label) if self._transform is not None else (img, label)


class ImageListDataset(Dataset):
    """Images listed in a .lst file (index<TAB>label(s)<TAB>path) or a list of
    (label, path) / [label..., path] entries, relative to root."""

    def __init__(self, root=".", imglist=None, flag: int = 1):
        self._root, self._flag = str(root), flag
        self.items = []
        if isinstance(imglist, str):
            from ..image.iter import _read_list
            for label, path in _read_list(imglist, 1):
                self.items.append((path, label[0] if label.size == 1 else label))
        elif imglist is not None:
            for entry in imglist:
                *labels, path = entry
                lab = np.asarray(labels, np.float32).ravel()
                self.items.append((path, float(lab[0]) if lab.size == 1 else lab))
        else:
            raise CoarsenetError("ImageListDataset: give imglist (a .lst path or a list)")

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        path, label = self.items[idx]
        return _load_file(os.path.join(self._root, path), self._flag), label
