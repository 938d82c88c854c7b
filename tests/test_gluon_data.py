"""gluon.data: datasets, samplers, transforms, vision datasets and the multi-process DataLoader."""
import gzip
import os
import random
import struct

import numpy as np
import pytest
from coarsenet.gluon.data.vision import transforms as T
from PIL import Image

import coarsenet as cn
from coarsenet.base import CoarsenetError
from coarsenet.gluon import data as gdata

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "mxnet", "recordio")


def test_dataset_views():
    ds = gdata.ArrayDataset(np.arange(10), np.arange(10) * 2)
    assert len(ds) == 10 and ds[3] == (3, 6)
    t = ds.transform_first(lambda x: x + 100)
    assert t[2] == (102, 4)
    assert ds.transform(lambda x, y: x * y)[3] == 18
    assert [s[0] for s in ds.filter(lambda s: s[0] % 3 == 0)] == [0, 3, 6, 9]
    shards = [[s[0] for s in ds.shard(3, i)] for i in range(3)]
    assert shards == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert len(ds.take(4)) == 4 and len(ds.take(None)) == 10
    assert gdata.SimpleDataset([5, 6])[1] == 6
    with pytest.raises(CoarsenetError, match="array 1 has 3"):
        gdata.ArrayDataset(np.zeros(2), np.zeros(3))


def test_samplers():
    assert list(gdata.SequentialSampler(4)) == [0, 1, 2, 3]
    np.random.seed(0)
    assert sorted(gdata.RandomSampler(5)) == list(range(5))
    bs = gdata.BatchSampler(gdata.SequentialSampler(7), 3, "keep")
    assert list(bs) == [[0, 1, 2], [3, 4, 5], [6]] and len(bs) == 3
    bs = gdata.BatchSampler(gdata.SequentialSampler(7), 3, "discard")
    assert list(bs) == [[0, 1, 2], [3, 4, 5]] and len(bs) == 2
    bs = gdata.BatchSampler(gdata.SequentialSampler(7), 3, "rollover")
    assert list(bs) == [[0, 1, 2], [3, 4, 5]]
    assert next(iter(bs)) == [6, 0, 1]


def _folder(tmp_path, n=6):
    rng = np.random.RandomState(0)
    for c in ("cat", "dog"):
        os.makedirs(tmp_path / c)
        for i in range(n // 2):
            h, w = rng.randint(12, 20, 2)
            Image.fromarray(rng.randint(0, 256, (h, w, 3)).astype(np.uint8)).save(
                tmp_path / c / f"{i}.png")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    return tmp_path


def test_image_datasets(tmp_path):
    root = _folder(tmp_path)
    ds = gdata.vision.ImageFolderDataset(str(root))
    assert ds.synsets == ["cat", "dog"] and len(ds) == 6
    img, lab = ds[4]
    assert img.dtype == np.uint8 and img.shape[2] == 3 and lab == 1
    ref = np.asarray(Image.open(ds.items[4][0]).convert("RGB"))
    np.testing.assert_array_equal(img.asnumpy(), ref)
    lst = gdata.vision.ImageListDataset(str(root), [(0, "cat/0.png"), (1, "dog/1.png")])
    assert lst[1][1] == 1.0 and lst[1][0].shape[2] == 3
    rds = gdata.vision.ImageRecordDataset(os.path.join(FIX, "mx.rec"))
    img, lab = rds[2]
    mx = np.load(os.path.join(FIX, "mx_decoded_2.npy"), allow_pickle=False)
    assert img.shape == mx.shape and lab == 2.0
    raw = gdata.RecordFileDataset(os.path.join(FIX, "mx.rec"))
    assert len(raw) == 8 and raw[7] == b"xxxxx"


def test_transforms_against_numpy():
    img = cn.nd.array((np.arange(12 * 16 * 3) % 256).reshape(12, 16, 3), dtype=np.uint8)
    a = img.asnumpy()
    t = T.Compose([T.CenterCrop((8, 6)), T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.25,) * 3)])
    ref = (np.moveaxis(a[3:9, 4:12], 2, 0) / 255.0 - 0.5) / 0.25
    np.testing.assert_allclose(t(img).asnumpy(), ref, rtol=1e-5)
    assert T.Resize(8, keep_ratio=True)(img).shape == (8, 10, 3)
    assert T.Resize((5, 7))(img).shape == (7, 5, 3)
    assert T.RandomResizedCrop(6)(img).shape == (6, 6, 3)
    out = T.RandomCrop(4, pad=2)(img).asnumpy()
    assert out.shape == (4, 4, 3)
    assert T.Cast("float64")(img).dtype == np.float64
    random.seed(0)
    np.random.seed(0)
    for tr in (T.RandomBrightness(0.3), T.RandomContrast(0.3), T.RandomSaturation(0.3),
               T.RandomHue(0.2), T.RandomColorJitter(0.2, 0.2, 0.2, 0.1), T.RandomLighting(0.1),
               T.RandomFlipLeftRight(), T.RandomFlipTopBottom()):
        o = tr(img)
        assert o.shape == img.shape and o.dtype == np.uint8
    b = T.RandomBrightness(0.5)
    random.seed(1)
    alpha = 1.0 + random.uniform(-0.5, 0.5)
    random.seed(1)
    np.testing.assert_array_equal(b(img).asnumpy(), np.clip(np.rint(a * np.float32(alpha)), 0,
                                                             255).astype(np.uint8))


def _write_idx(path, arr):
    head = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(head + arr.astype(np.uint8).tobytes())


def test_vision_datasets_from_root(tmp_path):
    with pytest.raises(CoarsenetError, match="train-images-idx3-ubyte.gz.*place these files"):
        gdata.vision.MNIST(root=str(tmp_path))
    imgs = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([7, 1, 4]))
    ds = gdata.vision.FashionMNIST(root=str(tmp_path), train=False)
    img, lab = ds[2]
    assert img.shape == (28, 28, 1) and lab == 4
    np.testing.assert_array_equal(img.asnumpy()[:, :, 0], imgs[2])
    os.makedirs(tmp_path / "cifar-10-batches-bin")
    rows = np.random.RandomState(0).randint(0, 256, (4, 3073)).astype(np.uint8)
    rows[:, 0] = [3, 1, 4, 1]
    rows.tofile(tmp_path / "cifar-10-batches-bin" / "test_batch.bin")
    c = gdata.vision.CIFAR10(root=str(tmp_path), train=False)
    img, lab = c[2]
    assert lab == 4 and img.shape == (32, 32, 3)
    np.testing.assert_array_equal(img.asnumpy()[0, 0], rows[2, [1, 1025, 2049]])
    with pytest.raises(CoarsenetError, match="data_batch_1.bin"):
        gdata.vision.CIFAR10(root=str(tmp_path))
    os.makedirs(tmp_path / "cifar-100-binary")
    r100 = np.random.RandomState(1).randint(0, 256, (2, 3074)).astype(np.uint8)
    r100[:, :2] = [[1, 50], [2, 60]]
    r100.tofile(tmp_path / "cifar-100-binary" / "test.bin")
    assert gdata.vision.CIFAR100(root=str(tmp_path), fine_label=True, train=False)[1][1] == 60
    assert gdata.vision.CIFAR100(root=str(tmp_path), train=False)[1][1] == 2


class _Boom(gdata.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise ValueError("sample five is broken")
        return np.full((2, 2), i, np.float32), i


class _Die(_Boom):
    def __getitem__(self, i):
        if i == 5:
            os._exit(3)
        return np.zeros(2, np.float32), i


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_matches_serial(tmp_path, workers):
    root = _folder(tmp_path, 8)
    ds = gdata.vision.ImageFolderDataset(str(root)).transform_first(
        T.Compose([T.Resize((10, 10)), T.ToTensor()]))
    dl = gdata.DataLoader(ds, batch_size=3, num_workers=workers, last_batch="keep")
    batches = list(dl)
    assert len(batches) == len(dl) == 3 and batches[-1][0].shape == (2, 3, 10, 10)
    for b, (x, y) in enumerate(batches):
        for j in range(x.shape[0]):
            ex, ey = ds[3 * b + j]
            np.testing.assert_array_equal(x.asnumpy()[j], ex.asnumpy())
            assert y.asnumpy()[j] == ey


def test_dataloader_worker_seeded_and_threads():
    ds = gdata.SimpleDataset(list(range(12))).transform(lambda i: np.float32(i + random.random()))

    def run():
        np.random.seed(4)
        return [b.asnumpy() for b in gdata.DataLoader(ds, 4, num_workers=2)]
    a, b = run(), run()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    t = list(gdata.DataLoader(gdata.ArrayDataset(np.arange(10)), 4, num_workers=2,
                              thread_pool=True, last_batch="discard"))
    assert [x.asnumpy().tolist() for x in t] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_dataloader_worker_error_and_death():
    with pytest.raises(CoarsenetError, match="(?s)worker raised.*sample five is broken"):
        list(gdata.DataLoader(_Boom(), 2, num_workers=2))
    with pytest.raises(CoarsenetError, match="worker process died.*exit code 3"):
        list(gdata.DataLoader(_Die(), 2, num_workers=2, timeout=20))
    with pytest.raises(ValueError, match="sample five"):  # in-process: the error itself
        list(gdata.DataLoader(_Boom(), 2, num_workers=0))


def test_training_loops_consume_the_iterators(tmp_path):
    """Module.fit over ImageRecordIter, and a Gluon Trainer loop over a DataLoader."""
    rec = tmp_path / "t.rec"
    w = cn.recordio.MXIndexedRecordIO(tmp_path / "t.idx", rec, "w")
    rng = np.random.RandomState(0)
    for i in range(16):
        img = np.full((10, 10, 3), 40 if i % 2 else 210, np.uint8) + rng.randint(0, 9, (10, 10, 3))
        w.write_idx(i, cn.recordio.pack_img(cn.recordio.IRHeader(0, float(i % 2), i, 0),
                                            img.astype(np.uint8), img_fmt=".png"))
    w.close()
    it = cn.io.ImageRecordIter(str(rec), (3, 8, 8), 4, scale=1 / 255.0, shuffle=True)
    data = cn.sym.Variable("data")
    net = cn.sym.SoftmaxOutput(cn.sym.FullyConnected(cn.sym.Flatten(data), num_hidden=2),
                               name="softmax")
    mod = cn.mod.Module(net)
    mod.fit(it, num_epoch=8, optimizer_params={"learning_rate": 0.5})
    assert dict(mod.score(it, "acc"))["accuracy"] == 1.0

    ds = gdata.ArrayDataset(rng.rand(12, 3).astype(np.float32), np.arange(12) % 2)
    dense = cn.gluon.nn.Dense(2)
    dense.initialize()
    trainer = cn.gluon.Trainer(dense.collect_params(), "sgd", {"learning_rate": 0.1})
    loss_fn = cn.gluon.loss.SoftmaxCrossEntropyLoss()
    for x, y in gdata.DataLoader(ds, batch_size=4, shuffle=True, num_workers=2):
        with cn.autograd.record():
            loss = loss_fn(dense(x), y)
        loss.backward()
        trainer.step(4)
    assert x.shape == (4, 3)


def test_abandoned_iterator_frees_workers_and_shared_memory():
    before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    ds = gdata.ArrayDataset(np.zeros((64, 100), np.float32))
    loader = gdata.DataLoader(ds, batch_size=4, num_workers=2, prefetch=6)
    it = iter(loader)
    next(it)
    workers = list(it._workers)
    del it  # abandoned mid-epoch: the next epoch frees its results and runs normally
    assert len(list(loader)) == 16
    assert list(iter(loader)._workers) == workers  # the pool lives as long as the loader
    del loader
    import gc
    gc.collect()
    assert all(not w.is_alive() for w in workers)
    if before:
        leaked = {n for n in set(os.listdir("/dev/shm")) - before if n.startswith("psm_")}
        assert not leaked


def test_mxnet_import_paths():
    from coarsenet.gluon.data.dataloader import DataLoader
    from coarsenet.gluon.data.vision.datasets import CIFAR10
    assert DataLoader is gdata.DataLoader and CIFAR10 is gdata.vision.CIFAR10
    assert cn.gluon.data.vision.transforms is T


def test_worker_blocks_match_default_batchify_and_are_reused():
    """The workers' shared-memory path (stacking straight into a reused block) gives what
    default_batchify_fn gives, and a freed block is reused instead of a new one made."""
    from coarsenet.gluon_data.dataloader import default_batchify_fn
    from coarsenet.gluon_data.shm_blocks import MainBlocks, WorkerBlocks
    rng = np.random.RandomState(0)
    cases = [
        [rng.rand(3, 4).astype(np.float32) for _ in range(5)],
        [(rng.randint(0, 255, (2, 3)).astype(np.uint8), i, 0.5 * i) for i in range(4)],
        [(cn.nd.array(rng.rand(2)), np.float64(i)) for i in range(3)],
    ]
    wb, mb = WorkerBlocks(), MainBlocks()
    try:
        for samples in cases:
            want = default_batchify_fn(samples)
            for desc in (wb.put_samples(samples), wb.put(want)):
                got = mb.take(desc)
                wb.release(desc[0])
                got, want_t = (got, want) if isinstance(want, tuple) else ((got,), (want,))
                assert len(got) == len(want_t)
                for g, w in zip(got, want_t):
                    assert g.dtype == w.dtype and g.shape == w.shape
                    np.testing.assert_array_equal(g.asnumpy(), w)
        made = len(wb._all)
        for _ in range(3):  # a freed block that fits is reused: no new block
            desc = wb.put_samples(cases[1])
            mb.take(desc)
            wb.release(desc[0])
        assert len(wb._all) == made
        kept = mb.take(wb.put_samples(cases[0]))  # the caller's copy outlives the block's reuse
        wb.release(wb.put_samples(cases[0])[0])
        np.testing.assert_array_equal(kept.asnumpy(), np.stack(cases[0]))
        with pytest.raises(ValueError, match="same shape"):
            wb.put_samples([np.zeros(2), np.zeros(3)])
    finally:
        mb.close(unlink=True)
        wb.close()
