"""mx.image and nd.image functions against NumPy / Pillow references and MXNet's decoded pixels."""
import gzip
import os
import random
import struct

import numpy as np
import pytest

import coarsenet as cn
from coarsenet.base import CoarsenetError

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "mxnet", "recordio")
IMG = (np.arange(10 * 14 * 3) * 7 % 256).astype(np.uint8).reshape(10, 14, 3)


def test_imread_matches_mxnet_imdecode():
    for i, ext in enumerate(["jpg", "jpg", "jpg", "png"]):
        got = cn.image.imread(os.path.join(FIX, f"img{i}.{ext}")).asnumpy()
        ref = np.load(os.path.join(FIX, f"mx_decoded_{i}.npy"), allow_pickle=False)
        assert got.shape == ref.shape and got.dtype == np.uint8
        assert np.abs(got.astype(int) - ref).max() <= (0 if ext == "png" else 8)
    gray = cn.image.imread(os.path.join(FIX, "img3.png"), flag=0).asnumpy()
    assert gray.shape == (9, 11, 1)
    with pytest.raises(CoarsenetError, match="cannot decode"):
        cn.image.imdecode(b"not an image")
    with pytest.raises(CoarsenetError, match="missing.jpg"):
        cn.image.imread("missing.jpg")


def test_crops_and_resizes():
    out = cn.image.fixed_crop(IMG, 2, 1, 5, 4).asnumpy()
    np.testing.assert_array_equal(out, IMG[1:5, 2:7])
    out, box = cn.image.center_crop(IMG, (6, 4))
    assert box == (4, 3, 6, 4)
    np.testing.assert_array_equal(out.asnumpy(), IMG[3:7, 4:10])
    random.seed(1)
    out, (x0, y0, _, _) = cn.image.random_crop(IMG, (5, 5))
    np.testing.assert_array_equal(out.asnumpy(), IMG[y0:y0 + 5, x0:x0 + 5])
    assert cn.image.scale_down((10, 8), (20, 16)) == (10, 8)
    assert cn.image.resize_short(IMG, 5).shape == (5, 7, 3)
    assert cn.image.imresize(IMG, 7, 3, interp=0).shape == (3, 7, 3)
    # nearest 2x upscale repeats pixels
    up = cn.image.imresize(IMG, 28, 20, interp=0).asnumpy()
    np.testing.assert_array_equal(up[::2, ::2], IMG)
    out, box = cn.image.random_size_crop(IMG, (4, 4), (0.3, 1.0), (0.75, 1.33))
    assert out.shape == (4, 4, 3)
    with pytest.raises(CoarsenetError, match="outside"):
        cn.image.fixed_crop(IMG, 10, 0, 5, 5)


def test_normalize_border_and_augmenters():
    mean, std = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 8.0])
    np.testing.assert_allclose(cn.image.color_normalize(IMG, mean, std).asnumpy(),
                               (IMG - mean) / std, rtol=1e-6)
    b = cn.image.copyMakeBorder(IMG, 1, 2, 3, 4, type=0, value=9).asnumpy()
    assert b.shape == (13, 21, 3) and (b[0] == 9).all() and (b[1, 3:17] == IMG[0]).all()
    b = cn.image.copyMakeBorder(IMG, 1, 1, 1, 1, type=1).asnumpy()
    np.testing.assert_array_equal(b[0, 1:-1], IMG[0])
    random.seed(0)
    augs = cn.image.CreateAugmenter((3, 6, 6), resize=8, rand_crop=True, rand_mirror=True,
                                    mean=True, std=True, brightness=0.1, contrast=0.1,
                                    saturation=0.1, hue=0.1, pca_noise=0.1, rand_gray=0.5)
    x = cn.nd.array(IMG, dtype=np.uint8)
    for a in augs:
        x = a(x)
    assert x.shape == (6, 6, 3) and x.dtype == np.float32
    flip = cn.image.HorizontalFlipAug(1.0)(cn.nd.array(IMG, dtype=np.uint8)).asnumpy()
    np.testing.assert_array_equal(flip, IMG[:, ::-1])


def test_nd_image():
    t = cn.nd.image.to_tensor(cn.nd.array(IMG, dtype=np.uint8)).asnumpy()
    np.testing.assert_allclose(t, np.moveaxis(IMG, 2, 0) / 255.0, rtol=1e-6)
    n = cn.nd.image.normalize(cn.nd.array(t), (0.5, 0.4, 0.3), (0.2, 0.3, 0.4)).asnumpy()
    ref = (t - np.array([0.5, 0.4, 0.3])[:, None, None]) / np.array([0.2, 0.3, 0.4])[:, None, None]
    np.testing.assert_allclose(n, ref, rtol=1e-5)
    np.testing.assert_array_equal(cn.nd.image.flip_left_right(IMG).asnumpy(), IMG[:, ::-1])
    np.testing.assert_array_equal(cn.nd.image.flip_top_bottom(IMG).asnumpy(), IMG[::-1])
    batch = np.stack([IMG, IMG[::-1]])
    np.testing.assert_array_equal(cn.nd.image.flip_left_right(batch).asnumpy(), batch[:, :, ::-1])
    assert cn.nd.image.to_tensor(batch).shape == (2, 3, 10, 14)
    np.testing.assert_array_equal(cn.nd.image.crop(IMG, 1, 2, 3, 4).asnumpy(), IMG[2:6, 1:4])
    assert cn.nd.image.resize(IMG, (7, 5)).shape == (5, 7, 3)
    assert cn.nd.image.resize(IMG, 5, keep_ratio=True).shape == (5, 7, 3)
    random.seed(3)
    outs = {cn.nd.image.random_flip_left_right(IMG).asnumpy()[0, 0, 0] for _ in range(20)}
    assert outs == {IMG[0, 0, 0], IMG[0, -1, 0]}
    with pytest.raises(CoarsenetError, match="normalize: mean has 2 values"):
        cn.nd.image.normalize(t, (1, 2), 1)
    with pytest.raises(CoarsenetError, match="to_tensor: input .data. expected"):
        cn.nd.image.to_tensor(IMG[0])


def _idx(path, arr, code):
    head = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(head + arr.tobytes())


def test_mnist_csv_libsvm_iters(tmp_path):
    imgs = (np.arange(5 * 28 * 28) % 256).astype(np.uint8).reshape(5, 28, 28)
    labs = np.arange(5, dtype=np.uint8)
    _idx(tmp_path / "i.gz", imgs, 0x08)
    _idx(tmp_path / "l.gz", labs, 0x08)
    it = cn.io.MNISTIter(str(tmp_path / "i.gz"), str(tmp_path / "l.gz"), batch_size=2,
                         shuffle=False)
    b = it.next()
    np.testing.assert_allclose(b.data[0].asnumpy(), imgs[:2, None] / 255.0, rtol=1e-6)
    assert list(b.label[0].asnumpy()) == [0, 1]
    (tmp_path / "bad.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 20))
    with pytest.raises(CoarsenetError, match="bad.gz"):
        cn.io.MNISTIter(str(tmp_path / "bad.gz"), str(tmp_path / "l.gz"))
    np.savetxt(tmp_path / "d.csv", np.arange(12).reshape(3, 4), delimiter=",")
    np.savetxt(tmp_path / "y.csv", np.array([[5], [6], [7]]), delimiter=",")
    it = cn.io.CSVIter(str(tmp_path / "d.csv"), (2, 2), str(tmp_path / "y.csv"), batch_size=2)
    b = it.next()
    np.testing.assert_array_equal(b.data[0].asnumpy(), np.arange(8).reshape(2, 2, 2))
    assert list(b.label[0].asnumpy()) == [5, 6]
    assert it.next().pad == 1
    (tmp_path / "s.txt").write_text("1 0:1.5 3:2\n0 2:-1\n")
    it = cn.io.LibSVMIter(str(tmp_path / "s.txt"), (4,), batch_size=2)
    b = it.next()
    np.testing.assert_array_equal(b.data[0].asnumpy(), [[1.5, 0, 0, 2], [0, 0, -1, 0]])
    assert list(b.label[0].asnumpy()) == [1, 0]
    (tmp_path / "s.txt").write_text("1 7:1\n")
    with pytest.raises(CoarsenetError, match="index 7"):
        cn.io.LibSVMIter(str(tmp_path / "s.txt"), (4,), batch_size=1)


def test_prefetching_and_resize_iters():
    a = cn.io.NDArrayIter(np.arange(10, dtype=np.float32).reshape(5, 2), np.arange(5), 2)
    p = cn.io.PrefetchingIter(a)
    got = [b.data[0].asnumpy()[:, 0].tolist() for b in p]
    assert got == [[0, 2], [4, 6], [8, 0]]
    p.reset()
    assert len(list(p)) == 3
    r = cn.io.ResizeIter(cn.io.NDArrayIter(np.zeros((4, 1)), None, 2), 5)
    assert len(list(r)) == 5
    r.reset()
    assert len(list(r)) == 5
