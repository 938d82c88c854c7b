"""Small datasets shipped inside the package, so training works without a download."""
from __future__ import annotations

import gzip
import os

import numpy as np

from ..base import CoarsenetError

_HERE = os.path.dirname(os.path.abspath(__file__))


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The UCI handwritten digits (1797 images, 10 classes; see DIGITS_LICENSE.txt).

    Returns (images, labels): float32 images of shape (1797, 1, 8, 8) scaled to [0, 1] and
    float32 class labels 0..9.
    """
    path = os.path.join(_HERE, "digits.csv.gz")
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    if table.shape != (1797, 65):
        raise CoarsenetError(f"{path}: expected a 1797x65 table, found {table.shape}")
    images = (table[:, :64] / 16.0).reshape(-1, 1, 8, 8)
    return np.ascontiguousarray(images), table[:, 64].copy()


def load_npz(path: str) -> tuple[np.ndarray, np.ndarray]:
    """A user dataset: an .npz with arrays `x` (samples first) and `y` (one label per sample)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = {"x", "y"} - set(f.files)
            if missing:
                raise CoarsenetError(f"{path}: expected arrays 'x' and 'y', found {sorted(f.files)}")
            x, y = f["x"].astype(np.float32), f["y"].astype(np.float32)
    except (OSError, ValueError) as e:
        raise CoarsenetError(f"{path}: cannot read as .npz: {e}") from None
    if len(x) == 0:
        raise CoarsenetError(f"{path}: the dataset is empty")
    if len(x) != len(y):
        raise CoarsenetError(f"{path}: {len(x)} samples in 'x' but {len(y)} labels in 'y'")
    return x, y


def load_text(path: str | None = None) -> str:
    """A text corpus: the file at `path` (UTF-8), or the bundled Gettysburg Address (public
    domain; see GETTYSBURG_LICENSE.txt)."""
    path = path or os.path.join(_HERE, "gettysburg.txt")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise CoarsenetError(f"{path}: cannot read the text corpus: {e}") from None
    if len(text) < 2:
        raise CoarsenetError(f"{path}: the text corpus needs at least 2 characters, found "
                             f"{len(text)}")
    return text
