"""Fuzz target: one random graph per seed, trained one step with and without mirror.

The graph is a random DAG of coarse ops (conv, BN, pooling, FC, activations, elementwise sums,
concat, dropout, reshape...) over 4-D data, ending in a loss. It is bound twice (mirror=None and
mirror="auto", sometimes with force_mirroring on random nodes), given the same arguments, and
run forward(is_train=True) + backward once. Gradients and updated aux states must be equal
(mirror recomputes, it must not change results) and finite.
"""
from __future__ import annotations

import numpy as np

import coarsenet as cn

sym = cn.sym


def _conv(rng, h, c, i):
    k = int(rng.choice([1, 3]))
    return sym.Convolution(h, num_filter=int(rng.integers(1, 5)), kernel=(k, k),
                           pad=(k // 2, k // 2), no_bias=bool(rng.integers(2)), name=f"conv{i}")


def _layer(rng, nodes, i):
    """A new 4-D node from random earlier ones (all nodes keep the spatial size)."""
    h = nodes[rng.integers(len(nodes))]
    kind = rng.integers(9)
    if kind == 0:
        return _conv(rng, h, 0, i)
    if kind == 1:
        return sym.BatchNorm(h, fix_gamma=bool(rng.integers(2)), name=f"bn{i}")
    if kind == 2:
        return sym.Activation(h, act_type=str(rng.choice(["relu", "tanh", "sigmoid"])),
                              name=f"act{i}")
    if kind == 3:
        return sym.Pooling(h, kernel=(3, 3), pad=(1, 1), stride=(1, 1),
                           pool_type=str(rng.choice(["max", "avg"])), name=f"pool{i}")
    if kind == 4:  # a sum of two nodes of equal channels: conv both to 2 channels
        g = nodes[rng.integers(len(nodes))]
        a = sym.Convolution(h, num_filter=2, kernel=(1, 1), name=f"sa{i}")
        b = sym.Convolution(g, num_filter=2, kernel=(1, 1), name=f"sb{i}")
        return a + b
    if kind == 5:
        g = nodes[rng.integers(len(nodes))]
        return sym.Concat(h, g, dim=1, name=f"cat{i}")
    if kind == 6:
        return sym.Dropout(h, p=0.3, name=f"drop{i}")
    if kind == 7:
        return sym.LeakyReLU(h, act_type="leaky", slope=0.1, name=f"lrelu{i}")
    return _conv(rng, sym.Activation(h, act_type="relu", name=f"pre{i}"), 0, i)


def build(seed: int):
    rng = np.random.default_rng(seed)
    nodes = [sym.Variable("data")]
    for i in range(int(rng.integers(2, 12))):
        node = _layer(rng, nodes, i)
        if rng.random() < 0.15:
            node._set_attr(force_mirroring="True")
        nodes.append(node)
    h = sym.Pooling(nodes[-1], global_pool=True, pool_type="avg", kernel=(1, 1), name="gpool")
    h = sym.FullyConnected(sym.Flatten(h), num_hidden=3, name="fc")
    return sym.SoftmaxOutput(h, name="softmax"), rng


def _step(net, mirror, shapes, args, aux):
    exe = net.simple_bind(grad_req="write", mirror=mirror, type_dict={"data": np.float64},
                          **shapes)
    for k, v in args.items():
        exe.arg_dict[k].asnumpy()[:] = v
    for k, v in aux.items():
        exe.aux_dict[k].asnumpy()[:] = v
    cn.random.seed(11)
    exe.forward(is_train=True)
    exe.backward()
    return ({k: g.asnumpy().copy() for k, g in exe.grad_dict.items()},
            {k: a.asnumpy().copy() for k, a in exe.aux_dict.items()})


def case(seed: int) -> str:
    net, rng = build(seed)
    batch, size = int(rng.integers(1, 4)), int(rng.integers(3, 7))
    shapes = {"data": (batch, 3, size, size), "softmax_label": (batch,)}
    plain = net.simple_bind(grad_req="write", type_dict={"data": np.float64}, **shapes)
    args = {}
    for k, a in sorted(plain.arg_dict.items()):
        args[k] = (rng.integers(0, 3, size=a.shape) if k == "softmax_label"
                   else rng.standard_normal(a.shape) * 0.5)
    aux = {k: (np.ones(a.shape) if k.endswith("var") else np.zeros(a.shape))
           for k, a in plain.aux_dict.items()}
    g0, a0 = _step(net, None, shapes, args, aux)
    g1, a1 = _step(net, "auto", shapes, args, aux)
    for k in g0:
        if not np.all(np.isfinite(g0[k])):
            raise AssertionError(f"graph {seed}: gradient of {k} is not finite")
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-9, atol=1e-12,
                                   err_msg=f"graph {seed}: mirror changed the gradient of {k}")
    for k in a0:
        np.testing.assert_allclose(a1[k], a0[k], rtol=1e-9, atol=1e-12,
                                   err_msg=f"graph {seed}: mirror changed aux state {k}")
    return f"{len(net.list_arguments())} args"
