"""`python -m coarsenet im2rec` and `train --data DIR_or_REC`."""
import os

import numpy as np
from PIL import Image

import coarsenet as cn
from coarsenet import recordio
from coarsenet.cli import main


def _folder(root, n=12):
    rng = np.random.RandomState(0)
    for c, base in (("a", 40), ("b", 200)):  # two easily separated classes
        os.makedirs(root / c)
        for i in range(n // 2):
            img = np.clip(base + rng.randint(-20, 20, (10 + i, 12, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / c / f"{i}.png")
    return root


def test_im2rec_list_and_rec(tmp_path, capsys):
    root = _folder(tmp_path / "imgs")
    prefix = str(tmp_path / "data")
    assert main(["im2rec", prefix, str(root), "--list", "--recursive", "--train-ratio", "0.75"]) == 0
    train = (tmp_path / "data_train.lst").read_text().splitlines()
    val = (tmp_path / "data_val.lst").read_text().splitlines()
    assert len(train) == 9 and len(val) == 3
    _, label, path = train[0].split("\t")
    assert path.split("/")[0] == {"0.0": "a", "1.0": "b"}[label]
    assert main(["im2rec", prefix, str(root), "--resize", "8", "--encoding", ".png",
                 "--num-thread", "2", "--no-progress"]) == 0
    r = recordio.MXIndexedRecordIO(tmp_path / "data_train.idx", tmp_path / "data_train.rec", "r")
    assert len(r.keys) == 9
    for line in train:
        i, lab, p = line.split("\t")
        h, img = recordio.unpack(r.read_idx(int(i)))
        assert h.label == float(lab) and h.id == int(i)
        src = np.asarray(Image.open(root / p))
        dec = cn.image.imdecode(img).asnumpy()
        assert min(dec.shape[:2]) == 8
        ref = cn.image.resize_short(src, 8, 1).asnumpy()
        np.testing.assert_array_equal(dec, ref)  # PNG: lossless
    it = cn.io.ImageRecordIter(str(tmp_path / "data_val.rec"), (3, 8, 8), 3)
    assert it.next().data[0].shape == (3, 3, 8, 8)


def test_train_from_folder_and_rec(tmp_path):
    root = _folder(tmp_path / "imgs", 16)
    args = ["train", "--model", "mlp", "--data-shape", "3,8,8", "--epochs", "2",
            "--batch-size", "4", "--no-progress", "--out", str(tmp_path / "ck" / "m")]
    assert main(args + ["--data", str(root)]) == 0
    prefix = str(tmp_path / "d")
    assert main(["im2rec", prefix, str(root), "--list", "--recursive"]) == 0
    assert main(["im2rec", prefix, str(root), "--no-progress"]) == 0
    assert main(args + ["--data", prefix + ".rec"]) == 0
    assert main(args + ["--data", prefix + ".rec", "--data-shape", "2,8,8"]) == 2


def test_train_zoo_model_from_rec(tmp_path):
    root = _folder(tmp_path / "imgs", 8)
    prefix = str(tmp_path / "d")
    assert main(["im2rec", prefix, str(root), "--list", "--recursive"]) == 0
    assert main(["im2rec", prefix, str(root), "--no-progress"]) == 0
    assert main(["train", "--model", "resnet18", "--data", prefix + ".rec", "--data-shape",
                 "3,16,16", "--epochs", "1", "--batch-size", "2", "--no-progress",
                 "--out", str(tmp_path / "ck" / "m")]) == 0
    assert os.path.exists(tmp_path / "ck" / "m-0001.params")
    assert main(["train", "--model", "nosuch", "--no-progress"]) == 2
