"""gluon.utils against REAL MXNet 1.9.1 (tests/fixtures/mxnet/gluon13/utils.npz) and offline
download behaviour."""
import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest

import coarsenet as cn
from coarsenet.base import CoarsenetError
from coarsenet.gluon import utils

FIX = np.load(Path(__file__).resolve().parents[1] / "fixtures" / "mxnet" / "gluon13" /
              "utils.npz", allow_pickle=False)


@pytest.mark.parametrize("axis, n", [(0, 3), (1, 2), (0, 9)])
def test_uneven_split_matches_mxnet(axis, n):
    parts = utils.split_data(cn.nd.array(FIX["data"]), n, batch_axis=axis, even_split=False)
    expected = sorted((k for k in FIX.files if k.startswith(f"split_{axis}_{n}/")),
                      key=lambda k: int(k.rsplit("/", 1)[1]))
    assert len(parts) == len(expected)
    for part, key in zip(parts, expected):
        np.testing.assert_array_equal(part.asnumpy(), FIX[key])


def test_even_split_and_load():
    x = np.arange(24.0).reshape(6, 4)
    parts = utils.split_and_load(x, [cn.cpu(0), cn.cpu(1), cn.cpu(2)])
    assert [p.shape for p in parts] == [(2, 4)] * 3
    np.testing.assert_array_equal(np.concatenate([p.asnumpy() for p in parts]), x)
    cols = utils.split_and_load(cn.nd.array(x), [cn.cpu(), cn.cpu()], batch_axis=1)
    np.testing.assert_array_equal(cols[1].asnumpy(), x[:, 2:])
    assert len(utils.split_and_load(x, [cn.cpu()])) == 1
    with pytest.raises(ValueError, match="evenly split"):
        utils.split_data(cn.nd.array(x), 4)


@pytest.mark.parametrize("max_norm", [1.0, 100.0])
def test_clip_global_norm_matches_mxnet(max_norm):
    arrays = [cn.nd.array(FIX[f"grads/{i}"]) for i in range(2)]
    norm = utils.clip_global_norm(arrays, max_norm)
    assert isinstance(norm, float)
    np.testing.assert_allclose(norm, FIX[f"clip_{max_norm}/norm"], rtol=1e-6)
    for i, a in enumerate(arrays):
        np.testing.assert_allclose(a.asnumpy(), FIX[f"clip_{max_norm}/{i}"], rtol=1e-6,
                                   atol=1e-7)


def test_clip_global_norm_warns_on_nan_and_returns_ndarray_unchecked():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        utils.clip_global_norm([cn.nd.array([np.nan, 1.0])], 1.0)
    assert any("nan or inf" in str(w.message) for w in caught)
    out = utils.clip_global_norm([cn.nd.array([3.0, 4.0])], 1.0, check_isfinite=False)
    assert isinstance(out, cn.nd.NDArray) and abs(out.asnumpy()[0] - 5.0) < 1e-6


def test_check_sha1_and_download_from_file_url(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"coarsenet" * 100)
    sha1 = hashlib.sha1(src.read_bytes()).hexdigest()
    assert utils.check_sha1(str(src), sha1) and not utils.check_sha1(str(src), "0" * 40)
    dest = tmp_path / "out"
    dest.mkdir()
    got = utils.download(src.as_uri(), path=str(dest), sha1_hash=sha1)
    assert Path(got) == dest / "src.bin" and Path(got).read_bytes() == src.read_bytes()
    with pytest.raises(CoarsenetError, match="SHA-1"):
        utils.download(src.as_uri(), path=str(tmp_path / "bad.bin"), sha1_hash="0" * 40,
                       retries=0)
    assert not (tmp_path / "bad.bin").exists()


def test_download_returns_at_once_when_present_and_names_url_offline(tmp_path):
    present = tmp_path / "model.params"
    present.write_bytes(b"weights")
    sha1 = hashlib.sha1(b"weights").hexdigest()
    url = "http://127.0.0.1:9/nowhere/model.params"  # discard port: refused at once
    assert utils.download(url, path=str(tmp_path), sha1_hash=sha1) == str(present)
    assert utils.download(url, path=str(present)) == str(present)
    with pytest.raises(CoarsenetError, match="127.0.0.1:9/nowhere/model.params"):
        utils.download(url, path=str(present), sha1_hash="0" * 40, retries=1)
    assert present.read_bytes() == b"weights"  # a failed download leaves the old file alone


def test_mxnet_import_paths():
    import sys

    import coarsenet.gluon as gluon
    assert sys.modules["coarsenet.gluon.utils"] is gluon.utils
