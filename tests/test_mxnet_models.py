"""MXNet 1.9.1 checkpoints run unchanged: the fixture models (tests/fixtures/mxnet, written and
run by real MXNet via make_fixtures.py) load with cn.model.load_checkpoint and reproduce MXNet's
outputs; LeNet reproduces MXNet's gradients; symbol files survive a save/load round trip; a
file with unknown ops names all of them at once."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import coarsenet as cn

FIXTURES = Path(__file__).parent / "fixtures" / "mxnet"
MODELS = ["lenet", "mobilenet0.25", "squeezenet1.1", "resnet18_v1"]
RTOL = 1e-4


def load_model(name: str):
    prefix = str(FIXTURES / name)
    sym, arg, aux = cn.model.load_checkpoint(prefix, 0)
    return sym, arg, aux, cn.nd.load(FIXTURES / f"{name}-io.params")


def assert_matches_mxnet(got, expected, what: str) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, what
    scale = float(np.max(np.abs(expected))) or 1.0
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


@pytest.mark.parametrize("name", MODELS)
def test_inference_matches_mxnet(name):
    sym, arg, aux, io = load_model(name)
    assert set(sym.list_arguments()) == set(arg) | {"data"}
    assert set(sym.list_auxiliary_states()) == set(aux)
    exe = sym.bind(cn.cpu(), args=dict(arg, data=io["data"]), aux_states=aux, grad_req="null")
    (out,) = exe.forward(is_train=False)
    assert_matches_mxnet(out.asnumpy(), io["output"].asnumpy(), f"{name} output")


def test_lenet_gradients_match_mxnet():
    sym, arg, _, io = load_model("lenet")
    exe = sym.simple_bind(cn.cpu(), grad_req="write", data=io["data"].shape)
    for key, value in dict(arg, data=io["data"]).items():
        exe.arg_dict[key][:] = value.asnumpy()
    exe.forward(is_train=True)
    assert_matches_mxnet(exe.outputs[0].asnumpy(), io["output"].asnumpy(), "lenet output")
    exe.backward(out_grads=io["head_grad"])
    grads = {k[len("grad:"):]: v for k, v in io.items() if k.startswith("grad:")}
    assert set(grads) == set(sym.list_arguments())
    for key, expected in grads.items():
        assert_matches_mxnet(exe.grad_dict[key].asnumpy(), expected.asnumpy(), f"grad of {key}")


def _graph_facts(doc: dict) -> dict:
    """What a symbol file means: nodes (op, name, attrs, inputs), arguments and heads."""
    nodes = [(n["op"], n["name"], n.get("attrs", {}), [r[:2] for r in n["inputs"]])
             for n in doc["nodes"]]
    return {"nodes": nodes, "arg_nodes": doc["arg_nodes"],
            "heads": [h[:2] for h in doc["heads"]]}


@pytest.mark.parametrize("name", MODELS)
def test_symbol_file_round_trips_byte_for_byte(name, tmp_path):
    text = (FIXTURES / f"{name}-symbol.json").read_text()
    net = cn.sym.load_json(text)
    assert net.tojson() == text
    net.save(str(tmp_path / "copy.json"))
    assert (tmp_path / "copy.json").read_text() == text


@pytest.mark.parametrize("name", MODELS)
def test_planned_memory_is_below_naive(name):
    sym, _, _, io = load_model(name)
    exe = sym.simple_bind(cn.cpu(), grad_req="null", data=io["data"].shape)
    stats = exe.memory_stats()
    assert stats["planned_bytes"] < stats["naive_bytes"]


@pytest.mark.parametrize("name", MODELS)
def test_symbol_json_round_trip(name, tmp_path):
    sym, arg, aux, _ = load_model(name)
    original = json.loads((FIXTURES / f"{name}-symbol.json").read_text())
    cn.model.save_checkpoint(str(tmp_path / name), 3, sym, arg, aux)
    saved = json.loads((tmp_path / f"{name}-symbol.json").read_text())
    assert _graph_facts(saved) == _graph_facts(original)
    sym2, arg2, aux2 = cn.model.load_checkpoint(str(tmp_path / name), 3)
    assert sym2.tojson() == sym.tojson()
    assert sym2.list_arguments() == sym.list_arguments()
    assert set(arg2) == set(arg) and set(aux2) == set(aux)


def test_unknown_ops_are_listed_at_once(tmp_path):
    doc = json.loads((FIXTURES / "lenet-symbol.json").read_text())
    renamed = {"Activation": "MyFancyActivation", "Pooling": "SpectralPooling"}
    for node in doc["nodes"]:
        node["op"] = renamed.get(node["op"], node["op"])
    (tmp_path / "odd-symbol.json").write_text(json.dumps(doc))
    (tmp_path / "odd-0000.params").write_bytes((FIXTURES / "lenet-0000.params").read_bytes())
    with pytest.raises(cn.CoarsenetError) as info:
        cn.model.load_checkpoint(str(tmp_path / "odd"), 0)
    message = str(info.value)
    assert "MyFancyActivation" in message and "SpectralPooling" in message
    assert "odd-symbol.json" in message


def test_module_inference_recipe():
    """MXNet's documented checkpoint inference recipe, unchanged but for the import."""
    from collections import namedtuple

    import coarsenet as mx

    _, _, _, io = load_model("resnet18_v1")
    sym, arg_params, aux_params = mx.model.load_checkpoint(str(FIXTURES / "resnet18_v1"), 0)
    mod = mx.mod.Module(symbol=sym, context=mx.cpu(), label_names=None)
    mod.bind(for_training=False, data_shapes=[("data", (1, 3, 64, 64))])
    mod.set_params(arg_params, aux_params, allow_missing=True)
    Batch = namedtuple("Batch", ["data"])
    mod.forward(Batch([mx.nd.array(io["data"].asnumpy())]))
    prob = mod.get_outputs()[0].asnumpy()
    assert_matches_mxnet(prob, io["output"].asnumpy(), "Module output")


@pytest.mark.parametrize("name", MODELS)
def test_gluon_symbolblock_imports_matches_mxnet(name):
    _, _, _, io = load_model(name)
    net = cn.gluon.nn.SymbolBlock.imports(str(FIXTURES / f"{name}-symbol.json"), ["data"],
                                          str(FIXTURES / f"{name}-0000.params"))
    assert_matches_mxnet(net(io["data"]).asnumpy(), io["output"].asnumpy(), f"{name} output")


def test_symbolblock_gradients_under_autograd_match_mxnet(tmp_path):
    _, _, _, io = load_model("lenet")
    net = cn.gluon.nn.SymbolBlock.imports(str(FIXTURES / "lenet-symbol.json"), "data",
                                          str(FIXTURES / "lenet-0000.params"))
    x = io["data"].copy()
    x.attach_grad()
    with cn.autograd.record():
        y = net(x)
    y.backward(io["head_grad"])
    assert_matches_mxnet(x.grad.asnumpy(), io["grad:data"].asnumpy(), "grad of data")
    for key, p in net.collect_params().items():
        assert_matches_mxnet(p.grad().asnumpy(), io[f"grad:{key}"].asnumpy(), f"grad of {key}")
    net.export(str(tmp_path / "lenet"))  # MXNet's own checkpoint, byte for byte
    for suffix in ("-symbol.json", "-0000.params"):
        assert (tmp_path / f"lenet{suffix}").read_bytes() == \
            (FIXTURES / f"lenet{suffix}").read_bytes()


def test_symbolblock_without_params_infers_shapes_and_checks_inputs():
    load_model("resnet18_v1")
    sym = cn.sym.load(str(FIXTURES / "resnet18_v1-symbol.json"))
    net = cn.gluon.nn.SymbolBlock(sym, cn.sym.var("data"))
    net.initialize()
    assert net(cn.nd.ones((2, 3, 32, 32))).shape == (2, 10)
    with pytest.raises(cn.CoarsenetError, match="expected 1 inputs"):
        net(cn.nd.ones((1, 3, 32, 32)), cn.nd.ones((1,)))
    with pytest.raises(cn.CoarsenetError, match="not arguments of the symbol"):
        cn.gluon.nn.SymbolBlock(sym, cn.sym.var("image"))


def test_gluon_save_parameters_file_loads_into_the_same_net():
    """A Gluon save_parameters file (structural names '0.weight', '1.running_mean') written by
    MXNet loads into the same layers built with cn.gluon.nn and gives MXNet's output."""
    nn = cn.gluon.nn
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, padding=1, in_channels=2), nn.BatchNorm(in_channels=4),
            nn.Activation("relu"), nn.MaxPool2D(2), nn.Flatten(), nn.Dense(5, in_units=64))
    net.load_parameters(str(FIXTURES / "gluon_convnet.params"))
    io = cn.nd.load(FIXTURES / "gluon_convnet-io.params")
    assert_matches_mxnet(net(io["data"]).asnumpy(), io["output"].asnumpy(), "imperative")
    net.hybridize()
    assert_matches_mxnet(net(io["data"]).asnumpy(), io["output"].asnumpy(), "hybridized")


def test_symbol_file_in_the_mxnet_0x_layout_runs(tmp_path):
    """MXNet 0.8/0.9 wrote op params under "param", 2-element entries, no node_row_ptr."""
    io = load_model("lenet")[3]
    doc = json.loads((FIXTURES / "lenet-symbol.json").read_text())
    for node in doc["nodes"]:
        node["param"] = node.pop("attrs", {})
        node["backward_source_id"] = -1
        node["inputs"] = [ref[:2] for ref in node["inputs"]]
    del doc["node_row_ptr"]
    doc["heads"] = [ref[:2] for ref in doc["heads"]]
    doc["attrs"] = {"mxnet_version": ["int", 901]}
    (tmp_path / "old-symbol.json").write_text(json.dumps(doc))
    (tmp_path / "old-0000.params").write_bytes((FIXTURES / "lenet-0000.params").read_bytes())
    old, arg, aux = cn.model.load_checkpoint(str(tmp_path / "old"), 0)
    exe = old.bind(cn.cpu(), args=dict(arg, data=io["data"]), aux_states=aux, grad_req="null")
    assert_matches_mxnet(exe.forward()[0].asnumpy(), io["output"].asnumpy(), "0.x layout")


def test_classic_softmax_checkpoint_runs_without_labels():
    """Classic MXNet checkpoints end in SoftmaxOutput; inference never feeds softmax_label."""
    from collections import namedtuple

    import coarsenet as mx

    io = load_model("lenet_softmax")[3]
    sym, arg_params, aux_params = mx.model.load_checkpoint(str(FIXTURES / "lenet_softmax"), 0)
    assert sym.list_arguments()[-1] == "softmax_label"
    exe = sym.simple_bind(mx.cpu(), grad_req="null", data=io["data"].shape)
    exe.copy_params_from(arg_params, aux_params)
    probs = exe.forward(is_train=False, data=io["data"])[0]
    assert_matches_mxnet(probs.asnumpy(), io["output"].asnumpy(), "simple_bind")
    for label_names in (None, ("softmax_label",)):
        mod = mx.mod.Module(symbol=sym, context=mx.cpu(), label_names=label_names)
        mod.bind(for_training=False, data_shapes=[("data", io["data"].shape)])
        # As in MXNet: without label names softmax_label counts as a parameter, hence the
        # allow_missing=True of MXNet's inference recipe.
        mod.set_params(arg_params, aux_params, allow_missing=label_names is None)
        mod.forward(namedtuple("Batch", ["data"])([io["data"]]))
        assert_matches_mxnet(mod.get_outputs()[0].asnumpy(), io["output"].asnumpy(), "Module")
    predicted = mod.predict(mx.io.NDArrayIter(io["data"], batch_size=2))
    assert_matches_mxnet(predicted.asnumpy(), io["output"].asnumpy(), "Module.predict")
