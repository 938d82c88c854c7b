"""Symbol API: construction, naming, listing, inference, attributes, composition, JSON."""
import json

import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import expect_error


def mlp():
    data = cn.sym.Variable("data")
    fc1 = cn.sym.FullyConnected(data, num_hidden=8, name="fc1")
    bn1 = cn.sym.BatchNorm(fc1, name="bn1")
    return cn.sym.FullyConnected(bn1, num_hidden=3, name="fc2")


def test_auto_created_inputs_and_lists():
    net = mlp()
    assert net.list_arguments() == ["data", "fc1_weight", "fc1_bias", "bn1_gamma", "bn1_beta",
                                    "fc2_weight", "fc2_bias"]
    assert net.list_auxiliary_states() == ["bn1_moving_mean", "bn1_moving_var"]
    assert net.list_outputs() == ["fc2_output"]
    assert net.list_inputs() == ["data", "fc1_weight", "fc1_bias", "bn1_gamma", "bn1_beta",
                                 "bn1_moving_mean", "bn1_moving_var", "fc2_weight", "fc2_bias"]
    assert net.name == "fc2"


def test_automatic_names_count_per_op():
    x = cn.sym.Variable("x")
    a = cn.sym.FullyConnected(x, num_hidden=2)
    b = cn.sym.FullyConnected(a, num_hidden=2)
    first, second = int(a.name[len("fullyconnected"):]), int(b.name[len("fullyconnected"):])
    assert a.name.startswith("fullyconnected") and second == first + 1
    assert b.list_arguments()[-1] == f"{b.name}_bias"


def test_named_inputs_and_given_variables():
    x, w = cn.sym.Variable("x"), cn.sym.Variable("shared_w")
    fc = cn.sym.FullyConnected(data=x, weight=w, num_hidden=4, no_bias=True, name="fc")
    assert fc.list_arguments() == ["x", "shared_w"]
    expect_error(lambda: cn.sym.FullyConnected(x, wieght=w, num_hidden=4), "wieght")


def test_internals_indexing_and_group():
    net = mlp()
    internals = net.get_internals()
    assert "fc1_output" in internals.list_outputs() and "bn1_output" in internals.list_outputs()
    fc1 = internals["fc1_output"]
    assert fc1.list_outputs() == ["fc1_output"]
    assert fc1.get_children().list_outputs() == ["data", "fc1_weight", "fc1_bias"]
    group = cn.sym.Group([fc1, net])
    assert group.list_outputs() == ["fc1_output", "fc2_output"]
    assert group[1].name == "fc2" and len(group) == 2
    expect_error(lambda: internals["nope"], "nope")


def test_infer_shape_fills_parameters():
    arg, out, aux = mlp().infer_shape(data=(5, 4))
    assert arg == [(5, 4), (8, 4), (8,), (8,), (8,), (3, 8), (3,)]
    assert out == [(5, 3)] and aux == [(8,), (8,)]
    arg, out, aux = mlp().infer_shape_partial()
    assert arg[0] is None and out == [None]
    with pytest.warns(UserWarning):
        assert mlp().infer_shape() == (None, None, None)


def test_infer_shape_positional_and_declared_shape():
    x = cn.sym.Variable("x", shape=(2, 6))
    fc = cn.sym.FullyConnected(x, num_hidden=3, name="fc")
    assert fc.infer_shape()[1] == [(2, 3)]
    assert fc.infer_shape((2, 6))[1] == [(2, 3)]


def test_inconsistent_shapes_name_node_input_and_shapes():
    x = cn.sym.Variable("x")
    w = cn.sym.Variable("w", shape=(3, 5))
    fc = cn.sym.FullyConnected(x, w, num_hidden=3, no_bias=True, name="fc7")
    expect_error(lambda: fc.infer_shape(x=(2, 4)), "fc7", "weight", "(3, 4)", "(3, 5)")


def test_infer_type():
    arg, out, aux = mlp().infer_type(data=np.float64)
    assert all(t == np.float64 for t in arg + out + aux)
    assert mlp().infer_type() == (None, None, None)


def test_variable_attributes_as_mxnet_stores_them():
    v = cn.sym.Variable("w", shape=(2, 3), lr_mult=2, wd_mult=0, dtype=np.float32,
                        init="[\"zero\", {}]", attr={"mood": "good"})
    assert v.attr("__shape__") == "(2, 3)"
    assert v.attr("__lr_mult__") == "2.0" and v.attr("__wd_mult__") == "0.0"
    assert v.attr("__dtype__") == "0" and v.attr("__init__") == "[\"zero\", {}]"
    assert v.attr("mood") == "good"
    fc = cn.sym.FullyConnected(v, num_hidden=2, name="fc", attr={"ctx_group": "dev1"})
    fc._set_attr(force_mirroring="True")
    assert fc.attr("num_hidden") == "2" and fc.attr("force_mirroring") == "True"
    # MXNet 1.9.1 stores these hidden keys as __key__ and lists both names
    assert fc.attr_dict()["fc"] == {"num_hidden": "2", "ctx_group": "dev1",
                                    "__ctx_group__": "dev1", "force_mirroring": "True",
                                    "__force_mirroring__": "True"}


def test_compose_and_copy():
    x = cn.sym.Variable("x")
    inner = cn.sym.FullyConnected(x, num_hidden=4, name="inner")
    data = cn.sym.Variable("data")
    composed = inner(x=cn.sym.FullyConnected(data, num_hidden=6, name="outer"))
    assert composed.list_arguments() == ["data", "outer_weight", "outer_bias", "inner_weight",
                                         "inner_bias"]
    import copy

    clone = copy.deepcopy(composed)
    clone._set_attr(tag="x")
    assert composed.attr("tag") is None and clone.infer_shape(data=(2, 3))[1] == [(2, 4)]


def test_op_function_docstring_from_registry():
    assert "num_hidden" in cn.sym.FullyConnected.__doc__


# ------------------------------------------------------------------------- JSON


def test_json_round_trip_is_exact(tmp_path):
    net = mlp()
    text = net.tojson()
    doc = json.loads(text)
    assert doc["attrs"] == {"mxnet_version": ["int", 10901]}
    assert doc["nodes"][0] == {"op": "null", "name": "data", "inputs": []}
    fc1 = doc["nodes"][3]
    assert fc1 == {"op": "FullyConnected", "name": "fc1", "attrs": {"num_hidden": "8"},
                   "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}
    assert doc["arg_nodes"] == [i for i, n in enumerate(doc["nodes"]) if n["op"] == "null"]
    bn = next(n for n in doc["nodes"] if n["name"] == "bn1")
    bn_index = doc["nodes"].index(bn)
    assert doc["node_row_ptr"][bn_index + 1] - doc["node_row_ptr"][bn_index] == 3
    assert cn.sym.load_json(text).tojson() == text
    path = tmp_path / "net-symbol.json"
    net.save(str(path))
    loaded = cn.sym.load(str(path))
    assert loaded.tojson() == text
    assert loaded.infer_shape(data=(2, 4)) == net.infer_shape(data=(2, 4))


def test_load_older_formats_and_hidden_keys():
    old = {
        "nodes": [
            {"op": "null", "name": "data", "param": {}, "inputs": [], "backward_source_id": -1},
            {"op": "null", "name": "fc_weight", "attr": {"__lr_mult__": "2.0"}, "inputs": []},
            {"op": "null", "name": "fc_bias", "inputs": []},
            {"op": "FullyConnected", "name": "fc",
             "param": {"num_hidden": "4", "no_bias": "False"},
             "attr": {"__init__": "xavier"},  # "param" wins; attr keys are hidden anyway
             "inputs": [[0, 0], [1, 0], [2, 0]]},
        ],
        "arg_nodes": [0, 1, 2],
        "heads": [[3, 0]],
    }
    net = cn.sym.load_json(json.dumps(old))
    assert net.infer_shape(data=(2, 3))[1] == [(2, 4)]
    new = {"nodes": [{"op": "null", "name": "x", "inputs": []},
                     {"op": "FullyConnected", "name": "fc",
                      "attrs": {"num_hidden": "2", "no_bias": "True", "__lr_mult__": "0.5",
                                "__force_mirroring__": "True"},
                      "inputs": [[0, 0, 0], [0, 0, 0]]}],
           "heads": [[1, 0, 0]]}
    net = cn.sym.load_json(json.dumps(new))
    assert net.attr("__lr_mult__") == "0.5" and net.attr("num_hidden") == "2"


def _doc(nodes, heads=((1, 0, 0),)):
    return json.dumps({"nodes": nodes, "heads": [list(h) for h in heads]})


VAR = {"op": "null", "name": "x", "inputs": []}


def test_json_errors_are_clear():
    expect_error(lambda: cn.sym.load_json("{not json"), "malformed JSON")
    expect_error(lambda: cn.sym.load_json("[]"), "nodes")
    unknown = _doc([VAR, {"op": "Frobnicate", "name": "a", "inputs": [[0, 0, 0]]},
                    {"op": "Warp", "name": "b", "inputs": [[1, 0, 0]]}])
    expect_error(lambda: cn.sym.load_json(unknown), "unknown ops", "Frobnicate", "Warp")
    dangling = _doc([VAR, {"op": "Pooling", "name": "p", "attrs": {"kernel": "(2, 2)"},
                           "inputs": [[7, 0, 0]]}])
    expect_error(lambda: cn.sym.load_json(dangling), "node 1", "'p'", "node 7")
    bad_index = _doc([VAR, {"op": "Pooling", "name": "p", "attrs": {"kernel": "(2, 2)"},
                            "inputs": [[0, 3, 0]]}])
    expect_error(lambda: cn.sym.load_json(bad_index), "output 3", "'x'")
    cycle = _doc([VAR,
                  {"op": "Pooling", "name": "p1", "attrs": {"kernel": "(2, 2)"},
                   "inputs": [[2, 0, 0]]},
                  {"op": "Pooling", "name": "p2", "attrs": {"kernel": "(2, 2)"},
                   "inputs": [[1, 0, 0]]}])
    expect_error(lambda: cn.sym.load_json(cycle), "cycle", "p1", "p2")
    bad_param = _doc([VAR, {"op": "Pooling", "name": "p", "attrs": {"kernel": "(2, 2)",
                                                                   "pool_typ": "max"},
                            "inputs": [[0, 0, 0]]}])
    expect_error(lambda: cn.sym.load_json(bad_param), "'p'", "pool_typ")
    wrong_arity = _doc([VAR, {"op": "Pooling", "name": "p", "attrs": {"kernel": "(2, 2)"},
                              "inputs": [[0, 0, 0], [0, 0, 0]]}])
    expect_error(lambda: cn.sym.load_json(wrong_arity), "'p'", "2 inputs", "expected 1")
    expect_error(lambda: cn.sym.load("/nonexistent/net.json"), "/nonexistent/net.json")


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "net.json"
    path.write_text("old")
    net = mlp()

    def fail(*args):
        raise OSError("disk full")

    import os

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        net.save(str(path))
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["net.json"]
