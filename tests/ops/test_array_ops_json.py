"""The array ops as old MXNet symbol files store them: every attribute a string, None spelled
"None", legacy names (SwapAxis, Crop, _Maximum, _PowerScalar)."""
import json

import numpy as np

import coarsenet as cn


def _node(op, name, inputs, **attrs):
    return {"op": op, "name": name, "attrs": attrs, "inputs": [[i, 0, 0] for i in inputs]}


def test_mxnet_json_graph_with_array_ops_runs():
    nodes = [
        {"op": "null", "name": "data", "inputs": []},
        _node("Pad", "pad", [0], mode="reflect", pad_width="(0, 0, 0, 0, 1, 1, 1, 1)"),
        _node("UpSampling", "up", [1], scale="2", sample_type="nearest", num_args="1"),
        _node("Crop", "crop", [2, 0], num_args="2", center_crop="True"),
        _node("SwapAxis", "swap", [3], dim1="1", dim2="3"),
        _node("slice", "sl", [4], begin="(None, None, 1)", end="(None, None, None)",
              step="(None, None, -1)"),
        _node("_PowerScalar", "pw", [5], scalar="2.0"),
        _node("_Maximum", "mx", [6, 6]),
        _node("sqrt", "sq", [7]),
        _node("norm", "nrm", [8], ord="2", axis="(1, 2, 3)", keepdims="False"),
    ]
    doc = {"nodes": nodes, "arg_nodes": [0], "node_row_ptr": list(range(len(nodes) + 1)),
           "heads": [[len(nodes) - 1, 0, 0]], "attrs": {"mxnet_version": ["int", 10600]}}
    sym = cn.sym.load_json(json.dumps(doc))
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    exe = sym.bind(args={"data": x}, args_grad={"data": np.zeros_like(x)})
    exe.forward(is_train=True)
    up = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)], mode="reflect")
    up = up.repeat(2, axis=2).repeat(2, axis=3)
    y0, x0 = (up.shape[2] - 4) // 2, (up.shape[3] - 5) // 2
    crop = np.swapaxes(up[:, :, y0:y0 + 4, x0:x0 + 5], 1, 3)[:, :, 1::-1]
    expected = np.sqrt(np.sum(np.sqrt(crop ** 2) ** 2, axis=(1, 2, 3)))
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), expected, rtol=1e-6)
    exe.backward([np.ones(2)])
    assert np.isfinite(exe.grad_dict["data"].asnumpy()).all()
    assert json.loads(sym.tojson())["nodes"][5]["attrs"]["begin"] == "(None, None, 1)"
