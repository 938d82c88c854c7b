"""ImageRecordIter / ImageIter against a slow NumPy reference on tiny PNG records."""
import io
import os
import warnings

import numpy as np
import pytest
from PIL import Image

import coarsenet as cn
from coarsenet import recordio
from coarsenet.base import CoarsenetError

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "mxnet", "recordio")
SIZES = [(12, 10), (9, 14), (10, 10), (16, 11), (8, 13), (11, 12), (10, 9)]


def _images():
    rng = np.random.RandomState(3)
    return [rng.randint(0, 256, (h, w, 3)).astype(np.uint8) for h, w in SIZES]


def _png(img):
    b = io.BytesIO()
    Image.fromarray(img).save(b, "PNG")
    return b.getvalue()


@pytest.fixture
def rec(tmp_path):
    w = recordio.MXIndexedRecordIO(tmp_path / "t.idx", tmp_path / "t.rec", "w")
    for i, img in enumerate(_images()):
        w.write_idx(i, recordio.pack(recordio.IRHeader(0, [i, 10 + i], i, 0), _png(img)))
    w.close()
    return str(tmp_path / "t.rec"), str(tmp_path / "t.idx")


def ref_center(img, oh, ow, mean, std, scale):
    """Slow reference: centre crop, CHW, (x - mean) / std * scale, loop by loop."""
    h, w = img.shape[:2]
    y0, x0 = (h - oh) // 2, (w - ow) // 2
    out = np.zeros((3, oh, ow), np.float32)
    for c in range(3):
        for y in range(oh):
            for x in range(ow):
                out[c, y, x] = (float(img[y0 + y, x0 + x, c]) - mean[c]) / std[c] * scale
    return out


def test_center_crop_normalize_matches_reference(rec):
    mean, std = (10.0, 20.0, 30.0), (2.0, 4.0, 0.5)
    it = cn.io.ImageRecordIter(rec[0], (3, 8, 8), 3, path_imgidx=rec[1], label_width=2,
                               mean_r=mean[0], mean_g=mean[1], mean_b=mean[2], std_r=std[0],
                               std_g=std[1], std_b=std[2], scale=0.5, preprocess_threads=3)
    imgs = _images()
    seen = 0
    for b in it:
        assert b.data[0].shape == (3, 3, 8, 8) and b.label[0].shape == (3, 2)
        for j in range(3 - b.pad):
            k = seen + j
            np.testing.assert_allclose(b.data[0].asnumpy()[j],
                                       ref_center(imgs[k], 8, 8, mean, std, 0.5), rtol=1e-6)
            np.testing.assert_array_equal(b.label[0].asnumpy()[j], [k, 10 + k])
        seen += 3 - b.pad
    assert seen == len(imgs) and b.pad == 2  # 7 records, batches of 3: last has 2 filler
    np.testing.assert_array_equal(b.label[0].asnumpy()[1:, 0], [0, 1])  # round_batch wraps


def test_random_crop_mirror_are_crops_and_seeded(rec):
    imgs = _images()

    def run(seed):
        it = cn.io.ImageRecordIter(rec[0], (3, 8, 8), 2, rand_crop=True, rand_mirror=True,
                                   shuffle=True, seed=seed, preprocess_threads=2)
        out = [(b.data[0].asnumpy().copy(), b.label[0].asnumpy().copy(), b.pad) for b in it]
        it.reset()
        out2 = [b.data[0].asnumpy().copy() for b in it]
        return out, out2

    a, a2 = run(5)
    b, _ = run(5)
    c, _ = run(6)
    for (x, lx, _), (y, ly, _) in zip(a, b):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(lx, ly)
    assert any(not np.array_equal(x[0], y[0]) for (x, *_), (y, *_) in zip(a, c))
    assert any(not np.array_equal(x, y) for (x, *_), y in zip(a, a2))  # new epoch, new draws
    labels = []
    for data, lab, pad in a:
        for j in range(len(lab) - pad):
            k = int(lab[j])
            labels.append(k)
            img = imgs[k].astype(np.float32)
            crop = np.moveaxis(data[j], 0, 2)
            h, w = img.shape[:2]
            ok = any(np.array_equal(crop, img[y:y + 8, x:x + 8]) or
                     np.array_equal(crop, img[y:y + 8, x:x + 8][:, ::-1])
                     for y in range(h - 7) for x in range(w - 7))
            assert ok, k
    assert sorted(labels) == list(range(len(imgs)))


@pytest.mark.parametrize("parts", [2, 3])
def test_num_parts_cover_every_record_once(rec, parts):
    got = []
    for p in range(parts):
        it = cn.io.ImageRecordIter(rec[0], (3, 8, 8), 2, num_parts=parts, part_index=p)
        for b in it:
            got += list(b.label[0].asnumpy()[:2 - b.pad])
    assert sorted(got) == list(range(len(SIZES)))


def test_reset_mid_epoch_and_resize(rec):
    it = cn.io.ImageRecordIter(rec[0], (3, 6, 6), 2, resize=7, prefetch_buffer=1)
    first = it.next().data[0].asnumpy().copy()
    it.reset()
    it.reset()
    assert np.array_equal(it.next().data[0].asnumpy(), first)
    assert len(list(it)) == 3  # 4 batches in all; one taken
    img = _images()[0]  # 12x10 -> short side 7: 8x7 (w=7, h=int(7*12/10)=8)
    small = np.asarray(Image.fromarray(img).resize((7, 8), Image.BILINEAR))
    np.testing.assert_array_equal(np.moveaxis(first[0], 0, 2), small[1:7, 0:6])


def test_corrupt_record_error_and_skip(tmp_path):
    w = recordio.MXRecordIO(tmp_path / "c.rec", "w")
    imgs = _images()
    w.write(recordio.pack(recordio.IRHeader(0, 0.0, 0, 0), _png(imgs[0])))
    pos = w.tell()
    w.write(recordio.pack(recordio.IRHeader(0, 1.0, 1, 0), b"garbage"))
    w.write(recordio.pack(recordio.IRHeader(0, 2.0, 2, 0), _png(imgs[2])))
    w.close()
    it = cn.io.ImageRecordIter(tmp_path / "c.rec", (3, 8, 8), 3)
    with pytest.raises(CoarsenetError, match=rf"c\.rec record at offset {pos}"):
        it.next()
    it = cn.io.ImageRecordIter(tmp_path / "c.rec", (3, 8, 8), 3, skip_corrupt=True)
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        b = it.next()
    assert b.pad == 1 and list(b.label[0].asnumpy()[:2]) == [0, 2]
    assert any("offset" in str(x.message) for x in ws)
    # the kept samples move up over the skipped one; the filler row is zeros
    w = recordio.MXRecordIO(tmp_path / "ok.rec", "w")
    for i in (0, 2):
        w.write(recordio.pack(recordio.IRHeader(0, float(i), i, 0), _png(imgs[i])))
    w.close()
    clean = cn.io.ImageRecordIter(tmp_path / "ok.rec", (3, 8, 8), 2).next().data[0].asnumpy()
    np.testing.assert_array_equal(b.data[0].asnumpy()[:2], clean)
    assert (b.data[0].asnumpy()[2] == 0).all()


def test_against_mxnet_fixture():
    """MXNet 1.9.1's ImageRecordIter output on fixtures/mxnet/recordio/imgrec.rec (PNG records,
    centre crop + mean/std/scale: no resampling, so pixels must agree exactly)."""
    ref = np.load(os.path.join(FIX, "mx_imgrec_batches.npy"), allow_pickle=False)
    labels = np.load(os.path.join(FIX, "mx_imgrec_labels.npy"), allow_pickle=False)
    it = cn.io.ImageRecordIter(os.path.join(FIX, "imgrec.rec"), (3, 8, 8), 2, mean_r=120,
                               mean_g=110, mean_b=100, std_r=50, std_g=60, std_b=70, scale=2.0)
    got = [b for b in it]
    assert len(got) == len(ref)
    for b, r, lab in zip(got, ref, labels):
        np.testing.assert_allclose(b.data[0].asnumpy(), r, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(b.label[0].asnumpy(), lab)


def test_image_iter_with_list(tmp_path):
    imgs = _images()[:3]
    lines = []
    for i, img in enumerate(imgs):
        Image.fromarray(img).save(tmp_path / f"{i}.png")
        lines.append(f"{i}\t{i * 2}\t{i}.png")
    (tmp_path / "l.lst").write_text("\n".join(lines) + "\n")
    it = cn.image.ImageIter(2, (3, 8, 8), path_imglist=str(tmp_path / "l.lst"),
                            path_root=str(tmp_path))
    b = it.next()
    np.testing.assert_allclose(b.data[0].asnumpy()[1],
                               ref_center(imgs[1], 8, 8, (0, 0, 0), (1, 1, 1), 1.0))
    assert list(b.label[0].asnumpy()) == [0, 2]
    b = it.next()
    assert b.pad == 1
    with pytest.raises(StopIteration):
        it.next()


def test_options_dtype_names_mean_img_gray_and_scale(rec, tmp_path):
    imgs = _images()
    it = cn.io.ImageRecordIter(rec[0], (3, 8, 8), 2, dtype="uint8", data_name="img",
                               label_name="lab")
    b = it.next()
    assert it.provide_data[0].name == "img" and it.provide_label[0].name == "lab"
    assert b.data[0].dtype == np.uint8
    np.testing.assert_array_equal(b.data[0].asnumpy()[0],
                                  ref_center(imgs[0], 8, 8, (0, 0, 0), (1, 1, 1), 1.0))
    mean_img = np.random.RandomState(0).rand(3, 8, 8).astype(np.float32) * 50
    cn.nd.save(str(tmp_path / "mean.nd"), {"mean_img": cn.nd.array(mean_img)})
    it = cn.io.ImageRecordIter(rec[0], (3, 8, 8), 2, mean_img=str(tmp_path / "mean.nd"),
                               std_r=2, std_g=2, std_b=2)
    got = it.next().data[0].asnumpy()[1]
    ref = (ref_center(imgs[1], 8, 8, (0, 0, 0), (1, 1, 1), 1.0) - mean_img) / 2
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)
    it = cn.io.ImageRecordIter(rec[0], (1, 8, 8), 2)
    g = it.next().data[0].asnumpy()[0, 0]
    ref = ref_center(imgs[0], 8, 8, (0, 0, 0), (1, 1, 1), 1.0)
    np.testing.assert_allclose(g, 0.299 * ref[0] + 0.587 * ref[1] + 0.114 * ref[2], rtol=1e-5)
    # random scale / aspect ratio: still the requested shape, deterministic with the seed
    kw = {"min_random_scale": 0.6, "max_random_scale": 1.4, "max_aspect_ratio": 0.3,
          "rand_crop": True, "seed": 3}
    a = [b.data[0].asnumpy().copy() for b in cn.io.ImageRecordIter(rec[0], (3, 6, 6), 2, **kw)]
    c = [b.data[0].asnumpy().copy() for b in cn.io.ImageRecordIter(rec[0], (3, 6, 6), 2, **kw)]
    assert all(np.array_equal(x, y) for x, y in zip(a, c)) and a[0].shape == (2, 3, 6, 6)
    for bad in ({"data_shape": (2, 8, 8)}, {"part_index": 2, "num_parts": 2},
                {"dtype": "float16"}, {"std_r": 0}):
        args = {"data_shape": (3, 8, 8), **bad}
        with pytest.raises(CoarsenetError):
            cn.io.ImageRecordIter(rec[0], batch_size=2, **args)


def test_image_det_iter(tmp_path):
    w = recordio.MXRecordIO(tmp_path / "d.rec", "w")
    imgs = _images()
    objs = [[[0, 0.1, 0.1, 0.5, 0.5]], [[1, 0.2, 0.2, 0.9, 0.8], [2, 0.0, 0.0, 0.3, 0.3]]]
    for i, o in enumerate(objs):
        label = np.concatenate([[2, 5], np.ravel(o)]).astype(np.float32)
        w.write(recordio.pack(recordio.IRHeader(0, label, i, 0), _png(imgs[i])))
    w.close()
    it = cn.image.ImageDetIter(2, (3, 8, 8), path_imgrec=str(tmp_path / "d.rec"))
    b = it.next()
    lab = b.label[0].asnumpy()
    assert b.data[0].shape == (2, 3, 8, 8) and lab.shape == (2, 2, 5)
    np.testing.assert_allclose(lab[0, 0], objs[0][0])
    assert (lab[0, 1] == -1).all()
    np.testing.assert_allclose(lab[1], objs[1])


def test_prefetch_is_bounded(rec):
    """The producer runs at most prefetch_buffer batches ahead (bounded memory on big files)."""
    import time
    it = cn.io.ImageRecordIter(rec[0], (3, 6, 6), 1, prefetch_buffer=2)
    made = []
    orig = it._make_batch

    def counting(b):
        made.append(b)
        return orig(b)
    it._make_batch = counting
    it.reset()
    it.next()
    time.sleep(0.5)
    # one consumed + 2 queued + 1 finished and waiting to be queued
    assert len(made) <= 4 < len(SIZES)
    assert len(list(it)) == len(SIZES) - 1


def test_abandoned_iterator_is_collected_and_stops_its_threads(rec):
    import gc
    import threading
    import time
    before = threading.active_count()
    it = cn.io.ImageRecordIter(rec[0], (3, 6, 6), 1, prefetch_buffer=1, preprocess_threads=2)
    it.next()
    del it
    gc.collect()
    time.sleep(0.5)
    assert threading.active_count() <= before
