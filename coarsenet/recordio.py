"""MXNet's RecordIO files (`.rec` + `.idx`), byte-compatible with MXNet 1.9.1 / dmlc-core.

Format of one record (all integers little-endian uint32):
    magic 0xced7230a | lrec | payload | zero padding to a multiple of 4 bytes
lrec packs a 3-bit continuation flag (bits 29..31) and a 29-bit length (bits 0..28), so one part
holds < 2^29 bytes. The writer splits a payload wherever the magic itself appears at a 4-byte
aligned offset inside it (flag 1 = first part, 2 = middle, 3 = last, 0 = whole record); the
magic word is dropped there and the reader puts it back between parts. That keeps the magic a
reliable resync marker. The `.idx` file is text: one "key<TAB>byte offset" line per record.

Image records (`pack`/`unpack`) start with the IRHeader struct 'IfQQ' (flag, label, id, id2); a
flag > 0 means `flag` float32 labels follow the header and `label` is unused.
"""
from __future__ import annotations

import numbers
import os
import struct
from collections import namedtuple

import numpy as np

from .base import CoarsenetError

_MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", _MAGIC)
_LEN_MASK = (1 << 29) - 1
_IR_FORMAT = "IfQQ"
_IR_SIZE = struct.calcsize(_IR_FORMAT)

IRHeader = namedtuple("HEADER", ["flag", "label", "id", "id2"])
IRHeader.__doc__ = "Image record header: flag (label count, 0 = scalar), label, id, id2."


def _pad4(n: int) -> int:
    return (n + 3) & ~3


class MXRecordIO:
    """Sequential reader ('r') or writer ('w') of a RecordIO file."""

    def __init__(self, uri, flag: str):
        self.uri = str(uri)
        if flag not in ("r", "w"):
            raise CoarsenetError(f"RecordIO {self.uri}: flag must be 'r' or 'w', got {flag!r}")
        self.flag = flag
        self.writable = flag == "w"
        self.is_open = False
        self.open()

    def open(self) -> None:
        try:
            self._f = open(self.uri, "wb" if self.writable else "rb")  # noqa: SIM115
        except OSError as e:
            raise CoarsenetError(f"RecordIO {self.uri}: cannot open ({e.strerror})") from None
        self._size = 0 if self.writable else os.fstat(self._f.fileno()).st_size
        self.is_open = True

    def close(self) -> None:
        if self.is_open:
            self._f.close()
            self.is_open = False

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001,S110 - interpreter shutdown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def reset(self) -> None:
        """Back to the start of the file (reopens; a writer truncates, as MXNet)."""
        self.close()
        self.open()

    def tell(self) -> int:
        return self._f.tell()

    def _seek(self, pos: int) -> None:
        self._f.seek(pos)

    def write(self, buf) -> None:
        """Appends one record (bytes-like)."""
        if not self.writable:
            raise CoarsenetError(f"RecordIO {self.uri}: opened for reading, cannot write")
        data = bytes(buf)
        if len(data) > _LEN_MASK:
            raise CoarsenetError(f"RecordIO {self.uri}: record of {len(data)} bytes; MXNet's "
                                 f"format allows at most {_LEN_MASK} bytes per record")
        out = []
        start = 0
        # Split at every aligned occurrence of the magic inside the payload (see module doc).
        pos = data.find(_MAGIC_BYTES)
        while pos != -1:
            if pos % 4 == 0 and pos + 4 <= (len(data) // 4) * 4:
                cflag = 1 if start == 0 else 2
                out += [_MAGIC_BYTES, struct.pack("<I", (cflag << 29) | (pos - start)),
                        data[start:pos]]
                start = pos + 4
                pos = data.find(_MAGIC_BYTES, start)
            else:
                pos = data.find(_MAGIC_BYTES, pos + 1)
        cflag = 3 if start != 0 else 0
        tail = len(data) - start
        out += [_MAGIC_BYTES, struct.pack("<I", (cflag << 29) | tail), data[start:],
                b"\0" * (_pad4(len(data)) - len(data))]
        self._f.write(b"".join(out))

    def read(self) -> bytes | None:
        """The next record's bytes, or None at the end of the file."""
        if self.writable:
            raise CoarsenetError(f"RecordIO {self.uri}: opened for writing, cannot read")
        got = read_record_at(self._f.fileno(), self._size, self._f.tell(), self.uri)
        if got is None:
            return None
        self._f.seek(got[1])
        return got[0]


def _read_part(fd: int, size: int, offset: int, uri: str) -> tuple[int, bytes, int] | None:
    """(continuation flag, data, next offset) of the part at `offset`; None at end of file."""
    head = os.pread(fd, 8, offset)
    if not head:
        return None
    if len(head) < 8:
        raise CoarsenetError(f"RecordIO {uri}: truncated record header at offset {offset} "
                             f"({len(head)} of 8 bytes)")
    magic, lrec = struct.unpack("<II", head)
    if magic != _MAGIC:
        raise CoarsenetError(f"RecordIO {uri}: bad magic 0x{magic:08x} at offset {offset} "
                             f"(expected 0x{_MAGIC:08x}); not a RecordIO file or corrupt")
    cflag, length = lrec >> 29, lrec & _LEN_MASK
    if cflag > 3:
        raise CoarsenetError(f"RecordIO {uri}: bad continuation flag {cflag} at offset {offset}")
    # The declared length is checked against the file before anything is read or allocated.
    if offset + 8 + length > size:
        raise CoarsenetError(f"RecordIO {uri}: truncated record at offset {offset}: header "
                             f"says {length} bytes, file has {size - offset - 8} left")
    data = os.pread(fd, length, offset + 8)
    if len(data) != length:
        raise CoarsenetError(f"RecordIO {uri}: short read at offset {offset} (file changed?)")
    return cflag, data, offset + 8 + _pad4(length)


def read_record_at(fd: int, size: int, offset: int, uri: str) -> tuple[bytes, int] | None:
    """(record bytes, offset of the next record) for the record at `offset` of an open file
    of `size` bytes, or None at the end. Uses pread, so threads may share one descriptor."""
    part = _read_part(fd, size, offset, uri)
    if part is None:
        return None
    cflag, data, nxt = part
    if cflag == 0:
        return data, nxt
    if cflag != 1:
        raise CoarsenetError(f"RecordIO {uri}: record at offset {offset} starts with "
                             f"continuation flag {cflag} (expected 0 or 1)")
    parts = [data]
    while True:
        here = nxt
        part = _read_part(fd, size, here, uri)
        if part is None:
            raise CoarsenetError(f"RecordIO {uri}: record at offset {offset} is truncated "
                                 "(file ends inside a multi-part record)")
        cflag, data, nxt = part
        if cflag not in (2, 3):
            raise CoarsenetError(f"RecordIO {uri}: record at offset {offset}: part at {here} "
                                 f"has flag {cflag} (expected 2 or 3)")
        parts.append(data)
        if cflag == 3:
            return _MAGIC_BYTES.join(parts), nxt


def scan_offsets(uri) -> list[int]:
    """Start offsets of every record in a .rec file (reads only the 8-byte part headers)."""
    with open(uri, "rb") as f:
        fd, size = f.fileno(), os.fstat(f.fileno()).st_size
        offsets, pos, start = [], 0, None
        while pos < size:
            head = os.pread(fd, 8, pos)
            if len(head) < 8:
                raise CoarsenetError(f"RecordIO {uri}: truncated record header at offset {pos}")
            magic, lrec = struct.unpack("<II", head)
            if magic != _MAGIC:
                raise CoarsenetError(f"RecordIO {uri}: bad magic 0x{magic:08x} at offset {pos}")
            cflag, length = lrec >> 29, lrec & _LEN_MASK
            if pos + 8 + length > size:
                raise CoarsenetError(f"RecordIO {uri}: truncated record at offset {pos}")
            if cflag in (0, 1):
                start = pos
                offsets.append(start)
            pos += 8 + _pad4(length)
    return offsets


class MXIndexedRecordIO(MXRecordIO):
    """RecordIO with a text `.idx` file mapping keys to offsets, for random access."""

    def __init__(self, idx_path, uri, flag: str, key_type=int):
        self.idx_path = str(idx_path)
        self.key_type = key_type
        self.idx: dict = {}
        self.keys: list = []
        self._fidx = None
        super().__init__(uri, flag)

    def open(self) -> None:
        super().open()
        self.idx, self.keys = {}, []
        if self.writable:
            self._fidx = open(self.idx_path, "w")  # noqa: SIM115
            return
        try:
            with open(self.idx_path) as f:
                lines = f.readlines()
        except OSError as e:
            raise CoarsenetError(f"RecordIO index {self.idx_path}: cannot open "
                                 f"({e.strerror})") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            fields = line.strip().split("\t")
            try:
                key, pos = self.key_type(fields[0]), int(fields[1])
            except (ValueError, IndexError):
                raise CoarsenetError(f"RecordIO index {self.idx_path} line {n}: expected "
                                     f"'key<TAB>offset', found {line.strip()[:60]!r}") from None
            if not 0 <= pos < max(self._size, 1):
                raise CoarsenetError(f"RecordIO index {self.idx_path} line {n}: offset {pos} "
                                     f"outside {self.uri} ({self._size} bytes)")
            self.idx[key] = pos
            self.keys.append(key)

    def close(self) -> None:
        if self.is_open and self._fidx is not None:
            self._fidx.close()
            self._fidx = None
        super().close()

    def seek(self, idx) -> None:
        if self.writable:
            raise CoarsenetError(f"RecordIO {self.uri}: seek needs a reader")
        if idx not in self.idx:
            raise CoarsenetError(f"RecordIO index {self.idx_path}: no key {idx!r}")
        self._seek(self.idx[idx])

    def read_idx(self, idx) -> bytes:
        self.seek(idx)
        return self.read()

    def write_idx(self, idx, buf) -> None:
        key = self.key_type(idx)
        pos = self.tell()
        self.write(buf)
        self._fidx.write(f"{key}\t{pos}\n")
        self.idx[key] = pos
        self.keys.append(key)


def pack(header, s: bytes) -> bytes:
    """An image record: IRHeader (label a number or an array of float32 labels) + bytes."""
    header = IRHeader(*header)
    if isinstance(header.label, numbers.Number):
        header = header._replace(flag=0)
        prefix = b""
    else:
        label = np.asarray(header.label, dtype=np.float32).ravel()
        header = header._replace(flag=label.size, label=0)
        prefix = label.tobytes()
    return struct.pack(_IR_FORMAT, *header) + prefix + bytes(s)


def unpack(s: bytes):
    """(IRHeader, payload bytes) of an image record."""
    if len(s) < _IR_SIZE:
        raise CoarsenetError(f"image record: {len(s)} bytes, shorter than the {_IR_SIZE}-byte "
                             "IRHeader")
    header = IRHeader(*struct.unpack(_IR_FORMAT, s[:_IR_SIZE]))
    s = s[_IR_SIZE:]
    if header.flag > 0:
        if header.flag * 4 > len(s):
            raise CoarsenetError(f"image record: header declares {header.flag} labels "
                                 f"({header.flag * 4} bytes) but only {len(s)} bytes follow")
        header = header._replace(label=np.frombuffer(s, np.float32, header.flag).copy())
        s = s[header.flag * 4:]
    return header, s


def unpack_img(s: bytes, iscolor: int = -1):
    """(IRHeader, image) with the image as OpenCV would return it: HxWx3 BGR uint8 (HxW for
    grayscale), so code written for MXNet's cv2-based unpack_img keeps working."""
    from .image.core import _decode_array
    header, payload = unpack(s)
    img = _decode_array(payload, flag=0 if iscolor == 0 else 1, to_rgb=False,
                        keep_gray=iscolor < 0)
    return header, img


def pack_img(header, img, quality: int = 95, img_fmt: str = ".jpg") -> bytes:
    """pack() of an image array (BGR order as OpenCV, HxWx3 or HxW uint8) encoded as JPEG/PNG."""
    from .image.core import _encode_array
    return pack(header, _encode_array(np.asarray(img), quality, img_fmt, from_bgr=True))


def read_lst(path: str, who: str):
    """Rows of an MXNet .lst file (im2rec's image list): index<TAB>label(s)<TAB>relative path.
    Yields (index, [labels], path); a malformed line is a CoarsenetError naming `who`, the file
    and the line."""
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.strip().split("\t")
            if not line.strip():
                continue
            if len(parts) < 3:
                raise CoarsenetError(f"{who}: {path} line {n}: expected 'index<TAB>label<TAB>"
                                     f"path', found {line.strip()[:60]!r}")
            try:
                yield int(parts[0]), [float(x) for x in parts[1:-1]], parts[-1]
            except ValueError:
                raise CoarsenetError(f"{who}: {path} line {n}: bad index or label") from None
