"""Fuzz target: one random op call over the whole registry per seed (see harness.py).

Each case picks an op, draws params (defaults, sensible values, values at and beyond the bounds
the op declares, huge and non-finite numbers), input shapes (zero-size axes, huge dims that are
only shape-inferred), dtypes and values (NaN/inf sometimes), then infers shapes, runs forward and,
where the op has one, backward. Passing means: no crash, no hang, every error a CoarsenetError,
and no NaN/inf in any output or gradient when inputs and float params are finite and the op is
finite on finite input.
"""
from __future__ import annotations

import math
import re

import numpy as np

import coarsenet as cn

# Ops whose math is not finite on every finite input (poles, logs, overflow): their outputs are
# not checked for NaN/inf. Every other op must stay finite on finite input.
NONFINITE = re.compile(r"div|Div|pow|Pow|log|sqrt|reciprocal|exp|prod|Custom|mean|Norm|norm")
NO_NAN_CHECK = {"SoftmaxActivation", "softmax", "Softmax", "SoftmaxOutput"}  # temperature tiny
HUGE = [2**31 - 1, 2**31, 2**32 + 1, 2**62, 2**63 - 1, -2**63, -(2**31) - 1]
SMALL_INTS = [-2, -1, 0, 1, 2, 3]
FLOATS = [0.0, 0.5, 1.0, -1.0, 1e-3, 0.9, 2.0, 1e30, -1e30]
NONFINITE_FLOATS = [math.nan, math.inf, -math.inf]

# Values that make a call likely to run rather than be rejected (deeper coverage).
SENSIBLE = {
    "kernel": [(1, 1), (2, 2), (3, 3), (2, 1)], "stride": [(1, 1), (2, 2), (3, 1)],
    "pad": [(0, 0), (1, 1), (2, 0)], "dilate": [(1, 1), (2, 2)], "num_filter": [1, 2, 3],
    "num_hidden": [1, 3], "num_args": [1, 2, 3], "num_outputs": [1, 2], "nsize": [1, 3],
    "axis": [-1, 0, 1, 2], "dim": [0, 1], "reps": [(2,), (1, 2), (2, 1, 1)], "repeats": [1, 2],
    "shape": [(-1,), (0, -1), (-1, 2), (2, -1), (-2,), (1, -1)], "input_dim": [3, 5],
    "output_dim": [2, 4], "scale": [1, 2], "offset": [(0, 0), (1, 1)], "h_w": [(1, 1), (2, 2)],
    "begin": [(0,), (None, 1), (1, 0)], "end": [(None,), (2, None), (3,)], "a_min": [-0.5],
    "a_max": [0.5], "axes": [(0,), (1,), (0, 1), ()], "dim1": [0, 1], "dim2": [1, 0],
    "pad_width": [(0, 0, 0, 0, 1, 1, 1, 1), (0, 0, 0, 0, 0, 1, 2, 0)], "size": [(2,), (3,)],
    "act_type": None, "mode": None, "ord": [1, 2],
}
DATA_SHAPES = [(2, 3, 4, 5), (1, 2, 3, 3), (3, 4), (2, 3, 5), (5,), (), (0, 3, 4, 4),
               (2, 0, 4, 4), (2, 3, 0, 4), (2, 3, 4, 0), (0,), (3, 0), (0, 0), (1, 1, 1, 1),
               (2, 2, 6, 6)]
INDEX_INPUTS = {"index", "label", "indices"}


def _bounds(doc: str):
    m = re.search(r"Valid: ([\[(])([^,]+), ([^\]]+)\]", doc)
    if not m:
        return None
    lo = float(m.group(2))
    return lo, float(m.group(3)), m.group(1) == "("


def _choices(type_name: str) -> list[str] | None:
    if not type_name.startswith("{"):
        return None
    return re.findall(r"'([^']*)'", type_name)


def _number(rng, kind: str, bounds, allow_nonfinite: bool):
    pool = list(SMALL_INTS if kind == "int" else FLOATS)
    if bounds:
        lo, hi, _ = bounds
        for b in (lo, hi):
            if math.isfinite(b):
                pool += [b, b - 1, b + 1] if kind == "int" else [b, b - 1e-3, b + 1e-3]
    r = rng.random()
    if r < 0.08:
        return int(rng.choice(HUGE)) if kind == "int" else float(rng.choice(HUGE))
    if r < 0.14 and kind == "float" and allow_nonfinite:
        return float(rng.choice(NONFINITE_FLOATS))
    v = pool[rng.integers(len(pool))]
    return int(v) if kind == "int" else float(v)


def _value(rng, p, name: str):
    """A value for one declared param, or None to leave the default."""
    choices = _choices(p.type)
    if name in SENSIBLE and SENSIBLE[name] and rng.random() < 0.6:
        v = SENSIBLE[name]
        return v[rng.integers(len(v))]
    if choices:
        return choices[rng.integers(len(choices))] if rng.random() < 0.95 else "bogus"
    bounds = _bounds(p.doc)
    t = p.type
    if t == "boolean":
        return bool(rng.integers(2))
    if t in ("int", "long", "int or None"):
        return _number(rng, "int", bounds, False)
    if t in ("float", "double", "double or None"):
        return _number(rng, "float", bounds, True)
    if t == "Shape(tuple)":
        n = int(rng.integers(0, 4))
        return tuple(_number(rng, "int", bounds, False) if rng.random() < 0.3
                     else int(rng.integers(0, 4)) for _ in range(n))
    return None  # strings: leave the default


def _params(rng, info):
    params = {}
    for p in info.params:
        if not p.required and rng.random() < 0.55:
            continue
        v = _value(rng, p, p.name)
        if v is not None:
            params[p.name] = v
    return params


def _finite_params(params) -> bool:
    # epsilon = 0 puts a pole back into the optimizer updates that divide by
    # sqrt(state + epsilon): rmspropalex's clamped variance n - g^2 is 0 for the inconsistent
    # states drawn here (n < g^2), and lr * G / 0 is inf (NaN with lr = 0), as in MXNet.
    if params.get("epsilon") == 0.0:
        return False
    for v in params.values():
        vals = v if isinstance(v, tuple) else (v,)
        for x in vals:
            if isinstance(x, float) and (not math.isfinite(x) or abs(x) > 1e6):
                return False
    return True


def _input(rng, name: str, shape, dtype, nonfinite: bool, n_classes: int):
    size = int(np.prod(shape)) if shape else 1
    if name in INDEX_INPUTS or name == "data" and dtype == "index":
        x = rng.integers(-1, max(n_classes, 1) + 1, size=shape).astype(np.float64)
        if size and rng.random() < 0.2:  # indices at 2^63, inf, NaN: must not be UB
            x.reshape(-1)[rng.integers(size)] = rng.choice([2.0**63, -(2.0**63), 1e300, math.inf,
                                                            -math.inf, math.nan])
        return x.astype(np.float32 if rng.random() < 0.5 else np.float64)
    x = rng.uniform(-2, 2, size=shape)
    if nonfinite and size:
        x.reshape(-1)[rng.integers(size)] = rng.choice(NONFINITE_FLOATS)
    return x.astype(dtype)


def _check_out_target(op, inputs, aux_before, is_train, seed, outs, rng, desc) -> None:
    """The same call with output 0 written into an out= target (Op.invoke's `targets`: a
    fresh array, or an input of the output's shape passed as that input too, which is written
    in place where the op declares it) must give the same values as the plain call."""
    first = np.asarray(outs[0])
    ins = [x.copy() for x in inputs]
    aux = [a.copy() for a in aux_before]
    fits = [i for i, x in enumerate(ins) if x.shape == first.shape and x.dtype == first.dtype]
    into_input = bool(fits) and rng.random() < 0.7
    target = ins[fits[rng.integers(len(fits))]] if into_input else np.empty_like(first)
    again = op.invoke(ins, aux, is_train, int(seed), [target])
    for j, (a, b) in enumerate(zip(outs, again)):
        a, b = np.asarray(a), np.asarray(b)
        same = np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        if not same:
            raise AssertionError(f"{desc}: output {j} differs when output 0 is written into an "
                                 f"out= target ({'an input' if into_input else 'a fresh array'})")


def case(seed: int) -> str:
    rng = np.random.default_rng(seed)
    names = sorted(cn.ops.list())
    name = names[rng.integers(len(names))]
    info = cn.ops.info(name)
    params = _params(rng, info)
    desc = f"{name} {params}"
    op = cn.ops.make(name, params)  # CoarsenetError here is a clean rejection
    n_in = len(op.input_names)
    base = DATA_SHAPES[rng.integers(len(DATA_SHAPES))]
    huge = rng.random() < 0.07
    if huge:  # huge dims are only shape-inferred: nothing may be allocated for them
        base = tuple(int(rng.choice([2**31, 2**40, 2**62, 3])) for _ in range(len(base) or 1))
    shapes = [base] + [None] * (n_in - 1)
    if n_in > 1 and rng.random() < 0.5:
        shapes = [base] * n_in  # same-shape inputs (elementwise, Concat)
    try:
        in_shapes, out_shapes, aux_shapes = op.infer_shape(shapes)
    except cn.CoarsenetError:
        if n_in > 1 and shapes[1] is not None:
            in_shapes, out_shapes, aux_shapes = op.infer_shape([base] + [None] * (n_in - 1))
        else:
            raise
    if any(s is None for s in in_shapes):
        return desc + " (shapes not inferable)"
    total = sum(int(np.prod(s, dtype=object)) for s in list(in_shapes) + list(out_shapes))
    if huge or total > 200_000:
        return desc + " (shape-inferred only)"
    dtype = np.float32 if rng.random() < 0.5 else np.float64
    nonfinite = rng.random() < 0.1
    n_classes = min((d for d in base[1:2] or base[-1:]), default=1) if base else 1
    inputs = [_input(rng, nm, s, dtype, nonfinite, int(n_classes))
              for nm, s in zip(op.input_names, in_shapes)]
    aux = [rng.uniform(0.5, 1.5, size=s).astype(dtype) for s in aux_shapes]
    aux_before = [a.copy() for a in aux]
    is_train = bool(rng.integers(2))
    outs = op.invoke(inputs, aux, is_train, int(seed))
    finite_in = all(np.isfinite(x).all() and np.abs(x).max(initial=0) < 1e30 for x in inputs)
    check = finite_in and _finite_params(params) and not NONFINITE.search(name) \
        and name not in NO_NAN_CHECK
    if check:
        for j, o in enumerate(outs):
            o = np.asarray(o)
            if o.dtype.kind == "f" and not np.all(np.isfinite(o)):
                raise AssertionError(f"{desc}: output {j} has NaN/inf from finite input "
                                     f"(shapes {in_shapes})")
        for a, b in zip(aux, aux_before):
            if not np.all(np.isfinite(a)):
                raise AssertionError(f"{desc}: aux state became NaN/inf (shapes {in_shapes})")
            del b
    if outs and rng.random() < 0.3:
        _check_out_target(op, inputs, aux_before, is_train, seed, outs, rng, desc)
    if op.has_backward and rng.random() < 0.7:
        heads = [rng.uniform(-1, 1, size=np.shape(o)).astype(np.asarray(o).dtype) for o in outs]
        grads = [np.zeros(np.shape(x), dtype=x.dtype) for x in inputs]
        req = [1 if x.dtype.kind == "f" else 0 for x in inputs]
        needs_in, needs_out = op.needs_inputs, op.needs_outputs
        op.backward(heads, [x if needs_in[i] else None for i, x in enumerate(inputs)],
                    [o if needs_out[j] else None for j, o in enumerate(outs)],
                    [g if req[i] else None for i, g in enumerate(grads)], req, aux,
                    is_train=is_train, seed=int(seed))
        if check:
            for i, g in enumerate(grads):
                if not np.all(np.isfinite(g)):
                    raise AssertionError(f"{desc}: gradient {i} has NaN/inf from finite input "
                                         f"(shapes {in_shapes})")
    return desc


# ---------------------------------------------------------------- every op on zero-size axes

ZERO_SHAPES = [(0,), (0, 3), (3, 0), (0, 3, 4, 4), (2, 0, 4, 4), (2, 3, 0, 4), (2, 3, 4, 0),
               (0, 0, 0, 0)]
# Required params given a working value; everything else keeps its default.
REQUIRED = {"num_hidden": 2, "num_filter": 2, "kernel": (1, 1), "num_args": 2, "num_outputs": 1,
            "shape": (-1,), "reps": (2,), "repeats": 2, "input_dim": 3, "output_dim": 2,
            "scale": 2, "a_min": -1.0, "a_max": 1.0, "scalar": 1.0, "begin": (0,), "end": (None,),
            "axis": 0, "size": (2,), "nsize": 3, "op_type": "none", "dim1": 0, "dim2": 1,
            "pad_width": (0, 0, 0, 0, 0, 0, 0, 0), "mode": "constant", "act_type": "relu",
            "dtype": "float32", "h_w": (0, 0)}


def zero_cases() -> int:
    return len(cn.ops.list()) * len(ZERO_SHAPES)


def zero_case(seed: int) -> str:
    """Op seed // len(ZERO_SHAPES) of the registry on zero-size shape seed % len(ZERO_SHAPES):
    a defined result (every output consistent with the inferred shape) or a CoarsenetError."""
    names = sorted(cn.ops.list())
    name, shape = names[seed // len(ZERO_SHAPES)], ZERO_SHAPES[seed % len(ZERO_SHAPES)]
    info = cn.ops.info(name)
    params = {p.name: REQUIRED[p.name] for p in info.params if p.required and p.name in REQUIRED}
    op = cn.ops.make(name, params)
    n_in = len(op.input_names)
    try:
        in_shapes, out_shapes, aux_shapes = op.infer_shape([shape] * n_in)
    except cn.CoarsenetError:
        in_shapes, out_shapes, aux_shapes = op.infer_shape([shape] + [None] * (n_in - 1))
    if any(s is None for s in in_shapes):
        return f"{name} {shape}: shapes not inferable"
    rng = np.random.default_rng(seed)
    inputs = [np.zeros(s) if nm in INDEX_INPUTS else rng.uniform(-1, 1, size=s)
              for nm, s in zip(op.input_names, in_shapes)]
    aux = [np.ones(s) for s in aux_shapes]
    for is_train in (False, True):
        outs = op.invoke(inputs, aux, is_train, 0)
        for o, s in zip(outs, out_shapes):
            assert tuple(np.shape(o)) == tuple(s), f"{name}: output {np.shape(o)} != {s}"
        for a in aux:
            assert np.all(np.isfinite(a)), f"{name} on {shape}: aux state became NaN/inf"
        if op.has_backward:
            grads = [np.zeros(np.shape(x)) for x in inputs]
            op.backward([np.ones(np.shape(o)) for o in outs],
                        [x if op.needs_inputs[i] else None for i, x in enumerate(inputs)],
                        [o if op.needs_outputs[j] else None for j, o in enumerate(outs)],
                        grads, [1] * len(inputs), aux, is_train=is_train, seed=0)
    return f"{name} {shape}: ran"
