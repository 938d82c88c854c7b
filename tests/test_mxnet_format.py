"""MXNet's NDArray-list (.params) format: files written by real MXNet 1.9.1 (tests/fixtures/mxnet,
made by make_fixtures.py), byte-exact round trips, every dtype, older layouts, and corrupt files,
which must fail quickly with a CoarsenetError that names the file."""
from __future__ import annotations

import os
import random
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import coarsenet as cn
from coarsenet import mxnet_format as mf

FIXTURES = Path(__file__).parent / "fixtures" / "mxnet"
sys.path.insert(0, str(FIXTURES))
from dtype_values import dtype_arrays  # noqa: E402  (the values make_fixtures.py saved)

PARAMS_FILES = sorted(FIXTURES.glob("*.params"))


def assert_same_arrays(got, expected) -> None:
    assert type(got) is type(expected)
    if isinstance(expected, dict):
        assert list(got) == list(expected)
        pairs = [(got[k], expected[k]) for k in expected]
    else:
        assert len(got) == len(expected)
        pairs = list(zip(got, expected))
    for g, e in pairs:
        g, e = np.asarray(g), np.asarray(e)
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_array_equal(g, e)


# ---------------------------------------------------------------- files written by MXNet


def test_mxnet_written_dtypes():
    loaded = cn.nd.load(FIXTURES / "dtypes.params")
    assert all(isinstance(v, cn.nd.NDArray) for v in loaded.values())
    assert_same_arrays({k: v.asnumpy() for k, v in loaded.items()}, dtype_arrays())


def test_mxnet_written_list_has_no_names():
    loaded = cn.nd.load(FIXTURES / "list.params")
    expected = dtype_arrays()
    assert_same_arrays([x.asnumpy() for x in loaded], [expected["f32"], expected["i64"]])


def test_checkpoint_names_carry_arg_and_aux_prefixes():
    names = list(cn.nd.load(FIXTURES / "mobilenet0.25-0000.params"))
    assert all(n.startswith(("arg:", "aux:")) for n in names)
    assert any(n.endswith("running_var") for n in names)


@pytest.mark.parametrize("path", PARAMS_FILES, ids=lambda p: p.name)
def test_round_trip_gives_identical_bytes(path, tmp_path):
    loaded = cn.nd.load(path)
    out = tmp_path / "copy.params"
    cn.nd.save(out, loaded)
    assert out.read_bytes() == path.read_bytes()
    assert_same_arrays(cn.nd.load(out), loaded)


def test_load_frombuffer():
    data = (FIXTURES / "dtypes.params").read_bytes()
    assert_same_arrays(cn.nd.load_frombuffer(data), cn.nd.load(FIXTURES / "dtypes.params"))


# ---------------------------------------------------------------- saving


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint8", "int32", "int8",
                                   "int64"])
def test_save_load_every_dtype(dtype, tmp_path):
    x = (np.arange(30).reshape(5, 6) * 3 - 20).astype(dtype)
    path = tmp_path / "x.params"
    cn.nd.save(path, {"x": cn.nd.array(x, dtype=dtype), "y": x[:0]})
    loaded = cn.nd.load(path)
    assert loaded["x"].dtype == np.dtype(dtype) and loaded["x"].shape == (5, 6)
    np.testing.assert_array_equal(loaded["x"].asnumpy(), x)
    assert loaded["y"].shape == (0, 6)


def test_save_single_array_list_and_non_contiguous(tmp_path):
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    cn.nd.save(tmp_path / "one.params", cn.nd.array(x))
    assert_same_arrays([a.asnumpy() for a in cn.nd.load(tmp_path / "one.params")], [x])
    cn.nd.save(tmp_path / "two.params", [x.T, x[:, ::2]])  # numpy views are copied contiguous
    assert_same_arrays([a.asnumpy() for a in cn.nd.load(tmp_path / "two.params")],
                       [np.ascontiguousarray(x.T), np.ascontiguousarray(x[:, ::2])])
    big_endian = x.astype(">f4")
    cn.nd.save(tmp_path / "be.params", [big_endian])
    assert_same_arrays([a.asnumpy() for a in cn.nd.load(tmp_path / "be.params")], [x])


@pytest.mark.parametrize("data, message", [
    ({"x": np.zeros((), np.float32)}, "0-d"),
    ({"x": np.ones(3, dtype=bool)}, "dtype bool"),
    ({"x": np.ones(3, dtype=np.complex64)}, "dtype complex64"),
    ({1: np.ones(3, dtype=np.float32)}, "names must be str"),
    ({"x": [1.0, 2.0]}, "must be an NDArray"),
])
def test_save_rejects_what_the_format_cannot_hold(data, message, tmp_path):
    path = tmp_path / "x.params"
    path.write_bytes(b"previous")
    with pytest.raises(cn.CoarsenetError, match=message) as info:
        cn.nd.save(path, data)
    assert str(path) in str(info.value)
    assert path.read_bytes() == b"previous"  # untouched, and no temporary file left behind
    assert os.listdir(tmp_path) == ["x.params"]


def test_save_is_atomic_and_keeps_usual_permissions(tmp_path):
    path = tmp_path / "x.params"
    cn.nd.save(path, {"a": np.ones(4, dtype=np.float32)})
    cn.nd.save(path, {"a": np.zeros(4, dtype=np.float32)})
    assert os.listdir(tmp_path) == ["x.params"]
    np.testing.assert_array_equal(cn.nd.load(path)["a"].asnumpy(), np.zeros(4))
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_save_to_missing_directory_fails_clearly(tmp_path):
    with pytest.raises(cn.CoarsenetError, match="cannot write"):
        cn.nd.save(tmp_path / "no" / "such" / "x.params", [np.ones(2, np.float32)])


# ---------------------------------------------------------------- older layouts


def list_file(records: list[bytes], names: list[bytes] | None = None) -> bytes:
    names = names or []
    out = struct.pack("<QQQ", 0x112, 0, len(records)) + b"".join(records)
    out += struct.pack("<Q", len(names))
    return out + b"".join(struct.pack("<Q", len(n)) + n for n in names)


def v2_record(shape, code=0, data=None, stype=0, magic=0xF993FAC9, dtype=np.float32) -> bytes:
    data = np.arange(int(np.prod(shape)), dtype=dtype) if data is None else data
    head = struct.pack(f"<Iii{len(shape)}qiii", magic, stype, len(shape), *shape, 1, 0, code)
    return head + data.tobytes()


def test_version1_and_legacy_layouts_load():
    v1 = struct.pack("<Ii2qiii", 0xF993FAC8, 2, 2, 3, 1, 0, 0) + np.arange(6, dtype="<f4").tobytes()
    legacy = struct.pack("<I2Iiii", 2, 3, 2, 2, 0, 6) + np.arange(6, dtype="<i8").tobytes()
    loaded = cn.nd.load_frombuffer(list_file([v1, legacy], [b"v1", b"legacy"]))
    np.testing.assert_array_equal(loaded["v1"].asnumpy(), np.arange(6).reshape(2, 3))
    assert loaded["legacy"].dtype == np.int64
    np.testing.assert_array_equal(loaded["legacy"].asnumpy(), np.arange(6).reshape(3, 2))


def test_arrays_saved_from_a_gpu_load_to_the_cpu():
    gpu = struct.pack("<Iii2qiii", 0xF993FAC9, 0, 2, 2, 2, 2, 1, 0) + np.ones(4, "<f4").tobytes()
    (x,) = cn.nd.load_frombuffer(list_file([gpu]))
    np.testing.assert_array_equal(x.asnumpy(), np.ones((2, 2)))


def test_version3_scalar_loads():
    v3 = struct.pack("<Iiiiii", 0xF993FACA, 0, 0, 1, 0, 1) + np.float64(2.5).tobytes()
    (x,) = cn.nd.load_frombuffer(list_file([v3]))
    assert x.shape == () and x.asscalar() == 2.5


# ---------------------------------------------------------------- corrupt files


def expect_error(data: bytes, *fragments: str) -> None:
    with pytest.raises(cn.CoarsenetError) as info:
        mf.load_arrays(data, name="bad.params")
    message = str(info.value)
    assert "bad.params" in message
    for fragment in fragments:
        assert fragment in message, message


def test_truncated_at_every_position_fails():
    data = (FIXTURES / "dtypes.params").read_bytes()
    start = time.perf_counter()
    for n in range(len(data)):
        expect_error(data[:n], "remain")
    assert time.perf_counter() - start < 10


def test_wrong_file_magic():
    expect_error(b"\x13\x01" + b"\0" * 30, "expected file magic 0x112", "found 0x113")
    expect_error(b"PK\x03\x04 this is a zip file", "file magic")


def test_array_count_larger_than_file():
    expect_error(struct.pack("<QQQ", 0x112, 0, 2 ** 64 - 1) + b"\0" * 64, "array count")


def test_bad_array_magic_and_ndim():
    expect_error(list_file([struct.pack("<I", 0xDEADBEEF) + b"\0" * 40]),
                 "array magic", "0xDEADBEEF")
    expect_error(list_file([struct.pack("<Iii", 0xF993FAC9, 0, 1000) + b"\0" * 40]),
                 "ndim", "1000")
    expect_error(list_file([struct.pack("<Iii", 0xF993FAC9, 0, -5) + b"\0" * 40]), "ndim", "-5")


def test_dims_whose_product_overflows_int64():
    huge = struct.pack("<Iii3qiii", 0xF993FAC9, 0, 3, 2 ** 62, 2 ** 62, 16, 1, 0, 0)
    expect_error(list_file([huge + b"\0" * 64]), "larger than any array")


def test_zero_size_shape_with_huge_dims():
    record = struct.pack("<Iii3qiii", 0xF993FAC9, 0, 3, 0, 2 ** 62, 2 ** 62, 1, 0, 0)
    expect_error(list_file([record]), "larger than any array")


def test_negative_dimension():
    record = struct.pack("<Iii2qiii", 0xF993FAC9, 0, 2, 4, -3, 1, 0, 0) + b"\0" * 64
    expect_error(list_file([record]), "negative dimension")


def test_data_larger_than_file():
    record = v2_record((1000, 1000), data=np.zeros(10, np.float32))
    expect_error(list_file([record]), "4000000 bytes")


def test_unsupported_storage_type_and_dtype():
    expect_error(list_file([v2_record((2,), stype=1)]), "storage type 1 (row_sparse)")
    expect_error(list_file([v2_record((2,), stype=2)]), "storage type 2 (csr)")
    expect_error(list_file([v2_record((2,), code=7, dtype=np.uint8)]), "7 (bool)")
    expect_error(list_file([v2_record((2,), code=99)]), "dtype flag", "99")


def test_none_array_is_reported():
    expect_error(list_file([struct.pack("<Iii", 0xF993FAC9, 0, 0)]), "none")


def test_bad_names():
    rec = v2_record((2,))
    expect_error(list_file([rec], [b"\xff\xfeabc"]), "UTF-8")
    expect_error(list_file([rec, rec], [b"a", b"a"]), "more than once")
    expect_error(list_file([rec, rec], [b"a"]), "expected 0 or 2 names")
    bad_length = list_file([rec])[:-8] + struct.pack("<QQ", 1, 2 ** 63) + b"abc"
    expect_error(bad_length, "name 0", "remain")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(cn.CoarsenetError, match="cannot read"):
        cn.nd.load(tmp_path / "missing.params")
    with pytest.raises(cn.CoarsenetError, match="cannot read"):
        cn.nd.load(tmp_path)


def test_fuzzed_files_fail_only_with_coarsenet_error():
    """Random corruption of valid files: random bytes, extreme 4/8-byte values (magics, counts,
    2**63...) written over fields, deleted and inserted bytes. Each file parses or raises
    CoarsenetError, quickly."""
    originals = [(FIXTURES / f).read_bytes() for f in ("lenet-0000.params", "dtypes.params")]
    extremes = [0, 1, 7, 32, 33, 0x112, 0xF993FAC8, 0xF993FAC9, 0xF993FACA, 2 ** 31,
                2 ** 32 - 1, 2 ** 62, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1]
    rng = random.Random(1234)
    start = time.perf_counter()
    outcomes = {"ok": 0, "error": 0}
    for _ in range(600):
        data = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 4)):
            # Most fields live in the first few hundred bytes of each array record.
            pos = rng.randrange(min(len(data), 512) if rng.random() < 0.6 else len(data))
            kind = rng.random()
            if kind < 0.4:
                data[pos] = rng.randrange(256)
            elif kind < 0.8:
                width = rng.choice([4, 8])
                value = rng.choice(extremes) % 2 ** (8 * width)
                data[pos:pos + width] = value.to_bytes(width, "little")
            elif kind < 0.9:
                del data[pos:pos + rng.randint(1, 16)]
            else:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        try:
            mf.load_arrays(bytes(data), name="fuzz.params")
            outcomes["ok"] += 1
        except cn.CoarsenetError as e:
            assert "fuzz.params" in str(e)
            outcomes["error"] += 1
    assert time.perf_counter() - start < 20
    assert outcomes["ok"] and outcomes["error"]


# ---------------------------------------------------------------- checkpoint params


def test_load_params_splits_arg_and_aux():
    arg, aux = cn.model.load_params(str(FIXTURES / "resnet18_v1"), 0)
    assert "resnetv10_conv0_weight" in arg and "resnetv10_batchnorm0_running_mean" in aux
    assert not set(arg) & set(aux)
    assert all(isinstance(v, cn.nd.NDArray) for v in [*arg.values(), *aux.values()])


def test_save_checkpoint_params_match_mxnet(tmp_path):
    # LeNet was written by MXNet's save_checkpoint: same order (args, then aux), same bytes.
    arg, aux = cn.model.load_params(str(FIXTURES / "lenet"), 0)
    cn.model.save_checkpoint(str(tmp_path / "lenet"), 0, None, arg, aux)
    assert (tmp_path / "lenet-0000.params").read_bytes() == \
        (FIXTURES / "lenet-0000.params").read_bytes()
    assert os.listdir(tmp_path) == ["lenet-0000.params"]  # no symbol given, none written
    # Gluon's export interleaves args and aux states; the content survives the round trip.
    arg, aux = cn.model.load_params(str(FIXTURES / "mobilenet0.25"), 0)
    cn.model.save_checkpoint(str(tmp_path / "m"), 7, None, arg, aux)
    arg2, aux2 = cn.model.load_params(str(tmp_path / "m"), 7)
    assert_same_arrays({k: v.asnumpy() for k, v in arg2.items()},
                       {k: v.asnumpy() for k, v in arg.items()})
    assert_same_arrays({k: v.asnumpy() for k, v in aux2.items()},
                       {k: v.asnumpy() for k, v in aux.items()})


def test_load_params_rejects_unprefixed_names(tmp_path):
    cn.nd.save(tmp_path / "x-0003.params", {"weight": np.ones(2, np.float32)})
    with pytest.raises(cn.CoarsenetError, match="prefixed 'arg:' or 'aux:', found 'weight'"):
        cn.model.load_params(str(tmp_path / "x"), 3)
    cn.nd.save(tmp_path / "e-0000.params", [])
    assert cn.model.load_params(str(tmp_path / "e"), 0) == ({}, {})


def test_trailing_bytes_are_an_error(tmp_path):
    """Two files concatenated must not load as the first one alone."""
    path = tmp_path / "x.params"
    cn.nd.save(path, {"a": np.ones(2, np.float32)})
    one = path.read_bytes()
    path.write_bytes(one + one)
    with pytest.raises(cn.CoarsenetError, match=rf"found {len(one)} more bytes") as info:
        cn.nd.load(path)
    assert str(path) in str(info.value)
