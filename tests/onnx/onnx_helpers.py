"""Shared by the ONNX tests: random params, coarsenet inference, ONNX Runtime inference."""
from __future__ import annotations

import numpy as np

import coarsenet as cn


def random_params(sym, data_shapes: dict, seed: int = 0) -> dict:
    """Params for every non-input argument and aux state, scaled so deep nets stay finite."""
    rng = np.random.default_rng(seed)
    arg_shapes, _, aux_shapes = sym.infer_shape(**data_shapes)
    params = {}
    labels = [n for n in sym.list_arguments() if n.endswith("_label")]
    for name, shape in zip(sym.list_arguments(), arg_shapes):
        if name in data_shapes or name in labels:
            continue
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        if name.endswith("gamma"):
            v = rng.uniform(0.5, 1.5, shape)
        elif name.endswith(("beta", "bias")):
            v = rng.normal(0, 0.1, shape)
        else:
            v = rng.normal(0, np.sqrt(2.0 / max(fan_in, 1)), shape)
        params[name] = v.astype(np.float32)
    for name, shape in zip(sym.list_auxiliary_states(), aux_shapes):
        v = rng.uniform(0.5, 1.5, shape) if name.endswith("var") else rng.normal(0, 0.1, shape)
        params[name] = v.astype(np.float32)
    return params


def cn_forward(sym, params: dict, inputs: dict) -> list:
    """coarsenet inference outputs (numpy) of sym with params and inputs."""
    aux_names = set(sym.list_auxiliary_states())
    args = {k: cn.nd.array(v) for k, v in {**params, **inputs}.items() if k not in aux_names}
    for name, shape in zip(sym.list_arguments(), sym.infer_shape(
            **{k: np.shape(v) for k, v in inputs.items()})[0]):
        args.setdefault(name, cn.nd.zeros(shape))  # labels: unused in inference
    aux = {k: cn.nd.array(v) for k, v in params.items() if k in aux_names}
    exe = sym.bind(cn.cpu(), args=args, aux_states=aux, grad_req="null")
    return [o.asnumpy() for o in exe.forward(is_train=False)]


def ort_forward(path, inputs: dict) -> list:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {k: np.asarray(v) for k, v in inputs.items()})


def assert_close(got, expected, what: str, tol: float = 1e-4) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    scale = float(np.max(np.abs(expected))) or 1.0
    err = float(np.max(np.abs(got - expected))) if got.size else 0.0
    assert err <= tol * scale, f"{what}: max abs error {err:.3g} > {tol} x scale {scale:.3g}"


def canonical_graph(model) -> tuple:
    """What an ONNX graph computes, independent of value names and of the order of independent
    nodes: each value is named by a hash of how it is computed (producer op, domain, attributes,
    the hashes of its inputs; initializers by their bytes; graph inputs by name). Returns the
    sorted node signatures and the output hashes."""
    import hashlib

    from onnx import helper, numpy_helper

    def digest(*parts) -> str:
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]

    g = model.graph
    h = {"": ""}
    for init in g.initializer:
        v = numpy_helper.to_array(init)
        h[init.name] = digest("init", v.dtype.str, v.shape, v.tobytes())
    for vi in g.input:
        h.setdefault(vi.name, digest("input", vi.name))
    nodes = []
    for n in g.node:  # ONNX graphs are stored in topological order
        attrs = tuple(sorted((a.name, repr(helper.get_attribute_value(a))) for a in n.attribute))
        sig = digest(n.op_type, n.domain, attrs, tuple(h[i] for i in n.input))
        for k, o in enumerate(n.output):
            h[o] = digest(sig, k)
        nodes.append((n.op_type, sig))
    return tuple(sorted(nodes)), tuple(h[o.name] for o in g.output)
