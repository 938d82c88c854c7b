"""RecordIO against files written by real MXNet 1.9.1 (tests/fixtures/mxnet/recordio)."""
import os
import shutil

import numpy as np
import pytest

from coarsenet import recordio
from coarsenet.base import CoarsenetError

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "mxnet", "recordio")
MAGIC = (0xCED7230A).to_bytes(4, "little")


def expected_records():
    """The records make_recordio.py wrote with MXNet (packed here by coarsenet's pack)."""
    out = []
    for i, name in enumerate(["img0.jpg", "img1.jpg", "img2.jpg", "img3.png"]):
        with open(os.path.join(FIX, name), "rb") as f:
            img = f.read()
        label = float(i) if i % 2 == 0 else [i, 0.5, -1.25]
        out.append((i, recordio.pack(recordio.IRHeader(0, label, 1000 + i, 7), img)))
    out.append((10, MAGIC + b"abc" + MAGIC + b"defg" + MAGIC))
    out.append((11, b"1234" + MAGIC + b"5678" + MAGIC + MAGIC + b"9"))
    out.append((12, b""))
    out.append((13, b"x" * 5))
    return out


def test_read_mxnet_written_file():
    recs = expected_records()
    r = recordio.MXIndexedRecordIO(os.path.join(FIX, "mx.idx"), os.path.join(FIX, "mx.rec"), "r")
    assert r.keys == [k for k, _ in recs]
    for k, rec in reversed(recs):  # random access
        assert r.read_idx(k) == rec
    seq = recordio.MXRecordIO(os.path.join(FIX, "mx.rec"), "r")
    for _, rec in recs:
        assert seq.read() == rec
    assert seq.read() is None
    seq.reset()
    assert seq.read() == recs[0][1]


def test_write_is_byte_identical_to_mxnet(tmp_path):
    w = recordio.MXIndexedRecordIO(tmp_path / "a.idx", tmp_path / "a.rec", "w")
    for k, rec in expected_records():
        w.write_idx(k, rec)
    w.close()
    for ext in ("rec", "idx"):
        with open(tmp_path / f"a.{ext}", "rb") as a, open(os.path.join(FIX, f"mx.{ext}"), "rb") as b:
            assert a.read() == b.read()


def test_unpack_headers_and_images():
    r = recordio.MXIndexedRecordIO(os.path.join(FIX, "mx.idx"), os.path.join(FIX, "mx.rec"), "r")
    h, _ = recordio.unpack(r.read_idx(0))
    assert h.flag == 0 and h.label == 0.0 and h.id == 1000 and h.id2 == 7
    h, _ = recordio.unpack_img(r.read_idx(1))
    np.testing.assert_array_equal(h.label, np.array([1, 0.5, -1.25], np.float32))
    assert h.flag == 3 and h.id == 1001
    for i in range(4):
        _, bgr = recordio.unpack_img(r.read_idx(i))
        mx_rgb = np.load(os.path.join(FIX, f"mx_decoded_{i}.npy"), allow_pickle=False)
        assert bgr.shape == mx_rgb.shape
        # JPEG decoders may differ by rounding in the IDCT/upsampling; PNG is exact.
        tol = 0 if i == 3 else 8
        assert np.abs(bgr[:, :, ::-1].astype(int) - mx_rgb).max() <= tol


def test_pack_img_round_trip():
    img = (np.arange(8 * 6 * 3) % 251).astype(np.uint8).reshape(8, 6, 3)
    s = recordio.pack_img(recordio.IRHeader(0, 3.0, 5, 0), img, img_fmt=".png")
    h, back = recordio.unpack_img(s)
    assert h.label == 3.0 and h.id == 5
    np.testing.assert_array_equal(back, img)


def _corrupt(tmp_path, mutate):
    with open(os.path.join(FIX, "mx.rec"), "rb") as f:
        data = bytearray(f.read())
    data = mutate(data)
    p = tmp_path / "bad.rec"
    p.write_bytes(bytes(data))
    return recordio.MXRecordIO(p, "r")


def test_bad_magic_names_file_and_offset(tmp_path):
    def m(d):
        d[880] ^= 0xFF
        return d
    r = _corrupt(tmp_path, m)
    r.read()
    with pytest.raises(CoarsenetError, match=r"bad\.rec.*bad magic.*offset 880"):
        r.read()


def test_truncated_and_huge_length(tmp_path):
    r = _corrupt(tmp_path, lambda d: d[:900])
    r.read()
    with pytest.raises(CoarsenetError, match=r"bad\.rec: truncated record at offset 880"):
        r.read()

    def huge(d):  # length field 2^29-1: must be refused before any allocation
        d[4:8] = (0x1FFFFFFF).to_bytes(4, "little")
        return d
    with pytest.raises(CoarsenetError, match="offset 0"):
        _corrupt(tmp_path, huge).read()
    r = _corrupt(tmp_path, lambda d: d[:3080])  # inside a multi-part record
    for _ in range(4):
        r.read()
    with pytest.raises(CoarsenetError, match="offset 3072"):
        r.read()


def test_bad_index_and_open_errors(tmp_path):
    shutil.copy(os.path.join(FIX, "mx.rec"), tmp_path / "x.rec")
    (tmp_path / "x.idx").write_text("0\t0\n1\tnot-a-number\n")
    with pytest.raises(CoarsenetError, match=r"x\.idx line 2"):
        recordio.MXIndexedRecordIO(tmp_path / "x.idx", tmp_path / "x.rec", "r")
    (tmp_path / "x.idx").write_text("0\t999999\n")
    with pytest.raises(CoarsenetError, match="outside"):
        recordio.MXIndexedRecordIO(tmp_path / "x.idx", tmp_path / "x.rec", "r")
    with pytest.raises(CoarsenetError, match="cannot open"):
        recordio.MXRecordIO(tmp_path / "missing.rec", "r")
    with pytest.raises(CoarsenetError, match="shorter"):
        recordio.unpack(b"abc")
    with pytest.raises(CoarsenetError, match="cannot decode"):
        recordio.unpack_img(recordio.pack(recordio.IRHeader(0, 1.0, 0, 0), b"notanimage"))
