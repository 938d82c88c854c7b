"""gluon.model_zoo.vision against REAL MXNet 1.9.1.

Every network: the same parameters as MXNet's (structural save_parameters keys, names without
the model prefix as in MXNet's published legacy files, shapes), from
tests/fixtures/mxnet/gluon13/model_zoo_names.json.gz. The small ones (mobilenet0.25,
squeezenet1.1, resnet18_v1's layout at 1/8 width): MXNet's exported weights load and give
MXNet's output (tests/fixtures/mxnet/*-0000.params, *-io.params from make_fixtures.py).
"""
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import coarsenet as cn
from coarsenet.base import CoarsenetError
from coarsenet.gluon.model_zoo import model_store, vision
from coarsenet.testing import assert_close

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "mxnet"
with gzip.open(FIX / "gluon13" / "model_zoo_names.json.gz", "rt") as _f:
    NAMES = json.load(_f)


def _param_rows(net, size):
    net.infer_shape(cn.nd.zeros((1, 3, size, size)))
    structural = {id(p): k for k, p in net._collect_params_with_prefix().items()}
    return [[structural[id(p)], full[len(net.prefix):], list(p.shape)]
            for full, p in net.collect_params().items()]


@pytest.mark.parametrize("name", sorted(NAMES))
def test_parameters_match_mxnet(name):
    net = vision.get_model(name, classes=7)
    rows = _param_rows(net, 299 if name == "inceptionv3" else 224)
    expected = NAMES[name]["params"]
    assert net.prefix.rstrip("0123456789_") == NAMES[name]["prefix"].rstrip("0123456789_")
    assert len(rows) == len(expected), f"{name}: {len(rows)} parameters, MXNet has " \
                                       f"{len(expected)}"
    for got, want in zip(sorted(rows), sorted(expected)):
        assert got == want, f"{name}: {got} != MXNet's {want}"


def _load_io(name):
    io = cn.nd.load(str(FIX / f"{name}-io.params"))
    return io["data"], io["output"].asnumpy()


SMALL = {  # the models of tests/fixtures/mxnet/make_fixtures.py, and their MXNet prefixes
    "mobilenet0.25": (lambda **kw: vision.mobilenet0_25(classes=10, **kw), "mobilenet0_"),
    "squeezenet1.1": (lambda **kw: vision.squeezenet1_1(classes=10, **kw), "squeezenet0_"),
    "resnet18_v1": (lambda **kw: vision.ResNetV1(vision.BasicBlockV1, [2, 2, 2, 2],
                                                 [8, 8, 16, 32, 64], classes=10, **kw),
                    "resnetv10_"),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_mxnet_weights_load_and_give_mxnet_output(name, tmp_path):
    data, expected = _load_io(name)
    make, prefix = SMALL[name]
    net = make(prefix=prefix)
    net.load_parameters(str(FIX / f"{name}-0000.params"))  # arg:/aux: full names
    assert_close(net(data).asnumpy(), expected, 1e-4, 1e-4, f"{name} output")
    net.hybridize()
    assert_close(net(data).asnumpy(), expected, 1e-4, 1e-4, f"{name} hybridized output")
    # MXNet's published model zoo files are legacy save_params files: names without the
    # model's prefix. A model with another prefix (a second instance) loads them.
    legacy = {full[len(net.prefix):]: p.data() for full, p in net.collect_params().items()}
    cn.nd.save(str(tmp_path / "legacy.params"), legacy)
    net.save_params(str(tmp_path / "legacy2.params"))  # MXNet's deprecated writer: same keys
    assert sorted(cn.nd.load(str(tmp_path / "legacy2.params"))) == sorted(legacy)
    fresh = make(prefix="another_")
    fresh.load_parameters(str(tmp_path / "legacy.params"))
    assert_close(fresh(data).asnumpy(), expected, 1e-4, 1e-4, f"{name} legacy-file output")
    # save_parameters (structural keys) round trip.
    fresh.save_parameters(str(tmp_path / "structural.params"))
    again = make()
    again.load_parameters(str(tmp_path / "structural.params"))
    assert_close(again(data).asnumpy(), expected, 1e-4, 1e-4, f"{name} structural round trip")


def test_get_model_names_and_errors():
    assert isinstance(vision.get_model("ResNet50_V2"), vision.ResNetV2)
    with pytest.raises(ValueError, match="not supported"):
        vision.get_model("resnet19_v1")
    with pytest.raises(ValueError, match="Invalid number of layers"):
        vision.get_resnet(1, 19)


def test_pretrained_loads_from_root_or_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://127.0.0.1:9/")  # refused at once: offline
    with pytest.raises(CoarsenetError, match=r"127\.0\.0\.1:9/gluon/models/"
                                             r"mobilenet0\.25-9f83e440\.zip"):
        vision.mobilenet0_25(pretrained=True, root=str(tmp_path))
    # A file in root whose SHA-1 matches is used without any download: make one by pinning
    # the expected checksum to that of a real MXNet-format file of this model.
    net = vision.mobilenet0_25()
    net.initialize()
    net.infer_shape(cn.nd.zeros((1, 3, 32, 32)))
    path = tmp_path / "mobilenet0.25-9f83e440.params"
    net.save_parameters(str(path))
    sha1 = hashlib.sha1(path.read_bytes()).hexdigest()
    monkeypatch.setitem(model_store._model_sha1, "mobilenet0.25", "9f83e440" + sha1[8:])
    with pytest.raises(CoarsenetError, match="SHA-1 does not match"):
        vision.mobilenet0_25(pretrained=True, root=str(tmp_path))
    monkeypatch.setitem(model_store._model_sha1, "mobilenet0.25", sha1)
    path.rename(tmp_path / f"mobilenet0.25-{sha1[:8]}.params")
    loaded = vision.mobilenet0_25(pretrained=True, root=str(tmp_path))
    x = cn.nd.array(np.random.default_rng(0).uniform(size=(1, 3, 32, 32)))
    np.testing.assert_allclose(loaded(x).asnumpy(), net(x).asnumpy(), rtol=1e-6)


def test_mxnet_module_paths():
    import sys

    import coarsenet.gluon as gluon
    assert sys.modules["coarsenet.gluon.model_zoo.vision"] is vision
    assert gluon.contrib.nn.HybridConcurrent is cn.nn.concurrent.HybridConcurrent
