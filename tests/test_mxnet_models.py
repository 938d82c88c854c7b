"""Real MXNet 1.9.1 checkpoints (tests/fixtures/mxnet, see make_fixtures.py): the symbol files
are read and written back byte for byte, and the executor reproduces MXNet's recorded outputs
(and, for LeNet, MXNet's gradients of every argument)."""
from pathlib import Path

import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import assert_close

FIXTURES = Path(__file__).parent / "fixtures" / "mxnet"
MODELS = ["lenet", "resnet18_v1", "mobilenet0.25", "squeezenet1.1"]


def load_checkpoint(name):
    net = cn.sym.load(str(FIXTURES / f"{name}-symbol.json"))
    params = cn.nd.load(str(FIXTURES / f"{name}-0000.params"))
    args = {k[4:]: v for k, v in params.items() if k.startswith("arg:")}
    aux = {k[4:]: v for k, v in params.items() if k.startswith("aux:")}
    io = cn.nd.load(str(FIXTURES / f"{name}-io.params"))
    return net, args, aux, io


@pytest.mark.parametrize("name", MODELS)
def test_symbol_file_round_trips_byte_for_byte(name, tmp_path):
    text = (FIXTURES / f"{name}-symbol.json").read_text()
    net = cn.sym.load_json(text)
    assert net.tojson() == text
    net.save(str(tmp_path / "copy.json"))
    assert (tmp_path / "copy.json").read_text() == text


@pytest.mark.parametrize("name", MODELS)
def test_inference_matches_mxnet(name):
    net, args, aux, io = load_checkpoint(name)
    data = io["data"].asnumpy()
    exe = net.simple_bind(grad_req="null", data=data.shape)
    exe.copy_params_from(args, aux)
    out = exe.forward(is_train=False, data=data)[0].asnumpy()
    assert_close(out, io["output"].asnumpy(), 1e-4, 1e-4, f"{name} output vs MXNet")
    stats = exe.memory_stats()
    assert stats["planned_bytes"] < stats["naive_bytes"]


def test_lenet_training_gradients_match_mxnet():
    net, args, aux, io = load_checkpoint("lenet")
    data = io["data"].asnumpy()
    exe = net.simple_bind(grad_req="write", data=data.shape)
    exe.copy_params_from(args, aux)
    out = exe.forward(is_train=True, data=data)[0].asnumpy()
    assert_close(out, io["output"].asnumpy(), 1e-4, 1e-4, "lenet training output vs MXNet")
    exe.backward(io["head_grad"])
    for name in net.list_arguments():
        assert_close(exe.grad_dict[name].asnumpy(), io[f"grad:{name}"].asnumpy(), 1e-3, 1e-4,
                     f"lenet gradient of '{name}' vs MXNet")
