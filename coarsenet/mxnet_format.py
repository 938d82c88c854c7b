"""MXNet's binary NDArray-list format (`.params` files, `mx.nd.save` / `mx.nd.load`).

Layout, little-endian:
    u64 0x112 (list magic), u64 0 (reserved), u64 count, count arrays,
    u64 name count (0 or count), each name as u64 length + UTF-8 bytes.
One dense array, version 2 (what MXNet 1.x writes):
    u32 0xF993FAC9, i32 storage type (0 = dense), i32 ndim, i64 dims[ndim],
    i32 dev_type, i32 dev_id, i32 dtype flag, raw data.
Older files are read too: version 1 (u32 0xF993FAC8, no storage type) and the legacy layout with
no magic, whose first u32 is ndim and whose dims are u32. An ndim of 0 marks an empty ("none")
array with nothing after the shape; version 3 (0xF993FACA, numpy shape semantics) uses -1 for
that and 0 for a scalar.

The reader trusts nothing: every count and length is checked against the bytes left in the file
before anything is allocated or read, so a corrupt or hostile file fails with a CoarsenetError
naming the file, the field, what was expected and what was found. Array data goes straight from
the file into a freshly allocated numpy array (no per-element Python, no intermediate copy).
"""
from __future__ import annotations

import io
import os
import struct
import sys

import numpy as np

from .atomic_file import write_atomic
from .base import CODE_TO_DTYPE, CoarsenetError, dtype_code

LIST_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA
DENSE = 0
CPU_DEV_TYPE = 1
# MXNet caps tensors at 32 dimensions; a larger ndim can only be corruption.
MAX_NDIM = 32
_STORAGE_NAMES = {1: "row_sparse", 2: "csr", -1: "undefined"}
# Files are little-endian; on such a host arrays are read straight into their final dtype.
_LITTLE_ENDIAN_HOST = sys.byteorder == "little"
_MXNET_DTYPE_NAMES = {7: "bool", 8: "int16", 9: "uint16", 10: "uint32", 11: "uint64",
                      12: "bfloat16"}


class _Reader:
    """Reads fields from a binary stream of known size, checking each against what is left."""

    def __init__(self, stream, size: int, name: str):
        self.stream, self.size, self.name, self.pos = stream, size, name, 0

    def fail(self, message: str) -> CoarsenetError:
        return CoarsenetError(f"{self.name}: not a valid MXNet NDArray file: {message} "
                              f"(at byte {self.pos} of {self.size})")

    @property
    def left(self) -> int:
        return self.size - self.pos

    def need(self, nbytes: int, what: str) -> None:
        if nbytes > self.left:
            raise self.fail(f"{what} needs {nbytes} bytes but only {self.left} remain")

    def bytes(self, nbytes: int, what: str) -> bytes:
        self.need(nbytes, what)
        data = self.stream.read(nbytes)
        if len(data) != nbytes:  # the file shrank while we read it
            raise self.fail(f"{what}: expected {nbytes} bytes, read {len(data)}")
        self.pos += nbytes
        return data

    def scalar(self, fmt: str, what: str):
        return struct.unpack("<" + fmt, self.bytes(struct.calcsize(fmt), what))[0]

    def into(self, array: np.ndarray, what: str) -> None:
        """Fills `array` from the stream without an intermediate bytes object."""
        view = memoryview(array).cast("B") if array.size else memoryview(b"")
        self.need(view.nbytes, what)
        got = self.stream.readinto(view) if view.nbytes else 0
        if got != view.nbytes:
            raise self.fail(f"{what}: expected {view.nbytes} bytes, read {got}")
        self.pos += view.nbytes


def _read_shape(r: _Reader, magic: int, index: int) -> tuple[int, ...] | None:
    """The shape of array `index`, or None for an empty ("none") array."""
    what = f"array {index}"
    if magic in (V1_MAGIC, V2_MAGIC, V3_MAGIC):
        ndim = r.scalar("i", f"{what} ndim")
        item, fmt = 8, "q"
    else:  # legacy: the word already read was ndim, dims are u32
        ndim, item, fmt = magic, 4, "I"
    none_ndim = -1 if magic == V3_MAGIC else 0
    if ndim == none_ndim:
        return None
    if ndim < 0 or ndim > MAX_NDIM:
        if magic not in (V1_MAGIC, V2_MAGIC, V3_MAGIC):
            raise r.fail(f"{what}: expected array magic 0x{V2_MAGIC:X} (or 0x{V1_MAGIC:X}, or a "
                         f"legacy ndim <= {MAX_NDIM}), found 0x{magic:X}")
        raise r.fail(f"{what}: expected ndim between 0 and {MAX_NDIM}, found {ndim}")
    dims = struct.unpack(f"<{ndim}{fmt}", r.bytes(ndim * item, f"{what} shape"))
    if any(d < 0 for d in dims):
        raise r.fail(f"{what}: shape {dims} has a negative dimension")
    return dims


def _read_array(r: _Reader, index: int) -> np.ndarray:
    what = f"array {index}"
    magic = r.scalar("I", f"{what} magic")
    if magic in (V2_MAGIC, V3_MAGIC):
        stype = r.scalar("i", f"{what} storage type")
        if stype != DENSE:
            kind = _STORAGE_NAMES.get(stype, "unknown")
            raise r.fail(f"{what}: storage type {stype} ({kind}) is not supported; coarsenet "
                         "reads dense arrays (storage type 0) only")
    shape = _read_shape(r, magic, index)
    if shape is None:
        raise r.fail(f"{what} is an empty (none) NDArray, which coarsenet cannot represent")
    r.scalar("i", f"{what} device type")  # saved from any device, loaded to the CPU
    r.scalar("i", f"{what} device id")
    code = r.scalar("i", f"{what} dtype flag")
    if code not in CODE_TO_DTYPE:
        known = ", ".join(f"{c} ({d})" for c, d in CODE_TO_DTYPE.items())
        found = f"{code} ({_MXNET_DTYPE_NAMES[code]})" if code in _MXNET_DTYPE_NAMES else code
        raise r.fail(f"{what}: expected a dtype flag among {known}, found {found}")
    dtype = CODE_TO_DTYPE[code]
    # Python ints do not overflow: compare the exact byte count with what is left before
    # allocating, so a corrupt shape cannot ask for a huge array. numpy also refuses shapes
    # whose nonzero dims overflow even when another dim is 0, e.g. (0, 2**62, 2**62).
    count, extent = 1, 1
    for d in shape:
        count, extent = count * d, extent * max(d, 1)
    if extent * dtype.itemsize >= 2**63:
        raise r.fail(f"{what}: shape {shape} is larger than any array can be")
    r.need(count * dtype.itemsize, f"{what} data of shape {shape} and dtype {dtype}")
    try:
        array = np.empty(shape, dtype=dtype if _LITTLE_ENDIAN_HOST else dtype.newbyteorder("<"))
    except (ValueError, MemoryError) as e:
        raise r.fail(f"{what}: cannot allocate shape {shape} of {dtype}: {e}") from None
    r.into(array, f"{what} data")
    return array if _LITTLE_ENDIAN_HOST else array.astype(dtype)


def _read_names(r: _Reader, n_arrays: int) -> list[str]:
    count = r.scalar("Q", "name count")
    if count not in (0, n_arrays):
        raise r.fail(f"expected 0 or {n_arrays} names (one per array), found {count}")
    names = []
    for i in range(count):
        length = r.scalar("Q", f"name {i} length")
        raw = r.bytes(length, f"name {i}")
        try:
            names.append(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise r.fail(f"name {i} is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    return names


def _read_list(r: _Reader) -> list[np.ndarray] | dict[str, np.ndarray]:
    magic = r.scalar("Q", "file magic")
    if magic != LIST_MAGIC:
        raise r.fail(f"expected file magic 0x{LIST_MAGIC:X}, found 0x{magic:X}")
    r.scalar("Q", "reserved field")
    count = r.scalar("Q", "array count")
    # The smallest array record (legacy layout, shape (0,)) takes 20 bytes.
    r.need(count * 20, f"array count {count} (at least 20 bytes per array)")
    arrays = [_read_array(r, i) for i in range(count)]
    names = _read_names(r, count)
    if r.left:  # e.g. two files concatenated: loading only the first would hide the second
        raise r.fail(f"expected the end of the file after {count} arrays and their names, "
                     f"found {r.left} more bytes")
    if not names:
        return arrays
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise r.fail(f"name '{dup}' appears more than once")
    return dict(zip(names, arrays))


def load_arrays(source, name: str | None = None):
    """Numpy arrays from an MXNet NDArray file (path) or buffer (bytes-like): a dict if the file
    names its arrays, else a list."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        buffer = memoryview(source).cast("B")
        return _read_list(_Reader(io.BytesIO(buffer), buffer.nbytes, name or "<buffer>"))
    path = os.fspath(source)
    try:
        with open(path, "rb") as f:
            return _read_list(_Reader(f, os.fstat(f.fileno()).st_size, name or path))
    except OSError as e:
        raise CoarsenetError(f"{path}: cannot read NDArray file: {e.strerror}") from None


# ---------------------------------------------------------------- writing


def _as_named_list(data, where: str) -> tuple[list[np.ndarray], list[str]]:
    if isinstance(data, dict):
        names, values = list(data.keys()), list(data.values())
        for key in names:
            if not isinstance(key, str):
                raise CoarsenetError(
                    f"{where}: array names must be str, found {type(key).__name__}")
    elif isinstance(data, (list, tuple)):
        names, values = [], list(data)
    else:
        names, values = [], [data]
    arrays = []
    for i, v in enumerate(values):
        a = v.asnumpy() if hasattr(v, "asnumpy") else v
        if not isinstance(a, np.ndarray):
            label = f"'{names[i]}'" if names else str(i)
            raise CoarsenetError(f"{where}: array {label} must be an NDArray or numpy array, "
                                 f"found {type(v).__name__}")
        arrays.append(a)
    return arrays, names


def _array_header(a: np.ndarray, label: str, where: str) -> bytes:
    if a.ndim == 0:
        raise CoarsenetError(f"{where}: array {label} has shape (); MXNet 1.x files cannot store "
                             "0-d arrays, reshape it to (1,)")
    try:
        code = dtype_code(a.dtype.newbyteorder("="))  # any byte order: written little-endian
    except CoarsenetError as e:
        raise CoarsenetError(f"{where}: array {label}: {e}") from None
    return struct.pack(f"<Iii{a.ndim}qiii", V2_MAGIC, DENSE, a.ndim, *a.shape,
                       CPU_DEV_TYPE, 0, code)


def _write_list(f, arrays: list[np.ndarray], names: list[str], where: str) -> None:
    f.write(struct.pack("<QQQ", LIST_MAGIC, 0, len(arrays)))
    for i, a in enumerate(arrays):
        f.write(_array_header(a, f"'{names[i]}'" if names else str(i), where))
        data = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        f.write(memoryview(data).cast("B") if data.size else b"")
    f.write(struct.pack("<Q", len(names)))
    for name in names:
        raw = name.encode("utf-8")
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)


def save_arrays(path, data) -> None:
    """Writes arrays (dict name -> array, list, or one array) in MXNet's NDArray file format.

    The file appears complete or not at all: it is written to a temporary file in the same
    directory and renamed over `path`."""
    path = os.fspath(path)
    arrays, names = _as_named_list(data, path)
    for i, a in enumerate(arrays):  # validate everything before touching the disk
        _array_header(a, f"'{names[i]}'" if names else str(i), path)
    try:
        write_atomic(path, lambda f: _write_list(f, arrays, names, path), binary=True)
    except OSError as e:
        raise CoarsenetError(f"{path}: cannot write NDArray file: {e.strerror or e}") from None


def save_to_bytes(data) -> bytes:
    """The bytes `save_arrays` would write."""
    arrays, names = _as_named_list(data, "<buffer>")
    buffer = io.BytesIO()
    _write_list(buffer, arrays, names, "<buffer>")
    return buffer.getvalue()
