"""Declarative op tests: one `check_op` call per case.

check_op runs, for one op and one set of params:
  - shape inference: inferred input shapes equal the given ones, outputs have the inferred shapes;
  - forward in float32 (and float64) against a NumPy reference;
  - backward in float64 against central differences of sum(head * output) (kinks skipped), or
    against `grad_ref` for loss ops whose backward ignores head gradients;
  - req=add gives the previous value plus the req=write result;
  - every declared in-place pair (forward and backward) gives the out-of-place result;
  - symbolic == imperative, once coarsenet.symbol exists (see `extra_checks`).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from . import ops as _ops

from .base import REQ_ADD, REQ_INPLACE, REQ_NULL, REQ_WRITE

# Further checks run by check_op on every case: callables(case: OpCase). The graph layer adds
# "symbolic result == imperative result" here.
extra_checks: list[Callable] = []


class OpCase:
    """Everything one check_op case knows: the op instance, float64 inputs, aux, head grads."""

    def __init__(self, op, inputs, aux, is_train, seed, params):
        self.op, self.inputs, self.aux = op, inputs, aux
        self.is_train, self.seed, self.params = is_train, seed, params

    def forward(self, inputs=None, aux=None, dtype=np.float64):
        """All outputs for these inputs; aux is copied so repeated calls see the same state."""
        inputs = self.inputs if inputs is None else inputs
        aux = self.aux if aux is None else aux
        cast = [np.ascontiguousarray(x, dtype=dtype) if _is_float(x) else x for x in inputs]
        aux_copy = [np.array(a, dtype=dtype) for a in aux]
        return self.op.invoke(cast, aux_copy, self.is_train, self.seed)

    def backward(self, heads, req, prefill=None):
        """Input gradients (float64) for output gradients `heads` (all outputs, None = zeros)."""
        outputs = self.forward()
        needs_in, needs_out = self.op.needs_inputs, self.op.needs_outputs
        in_grads = []
        for i, x in enumerate(self.inputs):
            if req[i] == REQ_NULL:
                in_grads.append(None)
            else:
                g = np.zeros(x.shape) if prefill is None else prefill[i].copy()
                in_grads.append(g)
        out_grads = [np.zeros(o.shape) if h is None else h for o, h in zip(outputs, heads)]
        self.op.backward(
            out_grads,
            [x if needs_in[i] else None for i, x in enumerate(self.inputs)],
            [o if needs_out[j] else None for j, o in enumerate(outputs)],
            in_grads, list(req), [np.array(a) for a in self.aux],
            is_train=self.is_train, seed=self.seed)
        return in_grads


def _is_float(x) -> bool:
    return np.issubdtype(np.asarray(x).dtype, np.floating)


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def assert_close(actual, expected, rtol, atol, what: str) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape} != expected {expected.shape}")
    if not np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True):
        err = np.abs(actual - expected)
        idx = np.unravel_index(np.nanargmax(err), err.shape)
        raise AssertionError(
            f"{what}: max abs error {err[idx]:.3g} at {idx} (got {actual[idx]!r}, expected "
            f"{expected[idx]!r}); rtol={rtol}, atol={atol}")


def numeric_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6,
                     max_points: int | None = 400, rng=None, kink_tol: float = 1e-3):
    """Central differences of scalar f() w.r.t. x (modified in place and restored).

    Returns (grad, mask): mask marks the points checked. Points where the one-sided slopes
    disagree (a kink, e.g. ReLU at 0 or the max of a tie) are left out. For large x only
    `max_points` random points are checked, to keep tests fast.
    """
    grad = np.zeros(x.shape)
    mask = np.zeros(x.shape, dtype=bool)
    flat, gflat, mflat = x.reshape(-1), grad.reshape(-1), mask.reshape(-1)
    points = np.arange(flat.size)
    if max_points is not None and flat.size > max_points:
        points = (rng or np.random.default_rng(0)).choice(flat.size, max_points, replace=False)
    f0 = f()
    for i in points:
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        forward_slope, backward_slope = (fp - f0) / eps, (f0 - fm) / eps
        scale = max(1.0, abs(forward_slope), abs(backward_slope))
        if abs(forward_slope - backward_slope) > kink_tol * scale:
            continue
        gflat[i] = (fp - fm) / (2 * eps)
        mflat[i] = True
    return grad, mask


def check_op(
    op_name: str,
    shapes: Sequence[tuple] | None = None,
    params: dict | None = None,
    ref: Callable | None = None,
    *,
    inputs: Sequence[np.ndarray] | None = None,
    aux: Sequence[np.ndarray] | None = None,
    input_fn: Callable | None = None,
    is_train: bool = False,
    grad: bool = True,
    grad_inputs: Sequence[int] | None = None,
    grad_ref: Callable | None = None,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    grad_rtol: float = 1e-4,
    grad_atol: float = 1e-6,
    eps: float = 1e-6,
    seed: int = 0,
    check_inplace: bool = True,
    max_points: int | None = 400,
) -> OpCase:
    """Checks one op with one set of params; see the module docstring for what runs.

    shapes: input shapes (random values in [-1, 1)) unless `inputs` are given; `input_fn(i,
    shape, rng)` may make input i (labels, indices, positive values).
    ref(*inputs_float64, **params) -> output or tuple of visible outputs.
    aux: auxiliary states (default: random in [0.5, 1.5)), copied for every call.
    grad_inputs: which inputs get gradient-checked (default: every float input).
    grad_ref(*inputs, **params) -> expected gradients of grad_inputs, for ops whose backward does
    not follow the head gradient (loss outputs).
    """
    params = dict(params or {})
    rng = np.random.default_rng(seed)
    op = _ops.make(op_name, params)
    if inputs is None:
        if shapes is None:
            raise ValueError("check_op needs `shapes` or `inputs`")
        made = []
        for i, shape in enumerate(shapes):
            x = input_fn(i, shape, rng) if input_fn else None
            made.append(rng.uniform(-1, 1, size=shape) if x is None else x)
        inputs = made
    inputs = [np.ascontiguousarray(x, dtype=np.float64) for x in inputs]
    if aux is None:
        _, _, aux_shapes = op.infer_shape([x.shape for x in inputs])
        aux = [rng.uniform(0.5, 1.5, size=s) for s in aux_shapes]
    aux = [np.array(a, dtype=np.float64) for a in aux]
    case = OpCase(op, inputs, aux, is_train, seed, params)

    _check_shapes(case)
    _check_forward(case, ref, rtol, atol)
    if grad and op.has_backward:
        which = list(range(len(inputs))) if grad_inputs is None else list(grad_inputs)
        heads = [rng.uniform(-1, 1, size=o.shape) if j < op.num_visible_outputs else None
                 for j, o in enumerate(case.forward())]
        write = case.backward(heads, [REQ_WRITE if i in which else REQ_NULL
                                      for i in range(len(inputs))])
        if grad_ref is not None:
            expected = _as_tuple(grad_ref(*inputs, **params))
            for i, g in zip(which, expected):
                assert_close(write[i], g, grad_rtol, grad_atol, f"{op_name} grad of input {i}")
        else:
            _check_numeric(case, heads, write, which, eps, grad_rtol, grad_atol, max_points, rng)
        _check_add_request(case, heads, write, which, rng)
        if check_inplace:
            _check_backward_inplace(case, heads, write, which)
    if check_inplace:
        _check_forward_inplace(case)
    for extra in extra_checks:
        extra(case)
    return case


def _check_shapes(case: OpCase) -> None:
    op = case.op
    in_shapes, out_shapes, aux_shapes = op.infer_shape([x.shape for x in case.inputs],
                                                       [a.shape for a in case.aux])
    for i, (given, inferred) in enumerate(zip(case.inputs, in_shapes)):
        assert tuple(inferred) == given.shape, (
            f"{op.name}: infer_shape changed input {i} from {given.shape} to {inferred}")
    outputs = case.forward(dtype=np.float32)
    for j, (o, s) in enumerate(zip(outputs, out_shapes)):
        assert o.shape == tuple(s), f"{op.name}: output {j} has shape {o.shape}, inferred {s}"


def _check_forward(case: OpCase, ref, rtol, atol) -> None:
    op = case.op
    out32 = case.forward(dtype=np.float32)
    out64 = case.forward(dtype=np.float64)
    visible = op.num_visible_outputs
    for j in range(visible):
        assert out32[j].dtype == np.float32 or not _is_float(out32[j]), (
            f"{op.name}: float32 inputs gave a {out32[j].dtype} output")
        assert_close(out32[j], out64[j], max(rtol, 1e-4), max(atol, 1e-4),
                     f"{op.name} float32 vs float64 output {j}")
    if ref is not None:
        expected = _as_tuple(ref(*case.inputs, **case.params))
        for j, e in enumerate(expected[:visible]):
            assert_close(out64[j], e, rtol, atol, f"{op.name} output {j} vs reference")
            assert_close(out32[j], e, max(rtol, 1e-4) * 10, max(atol, 1e-4) * 10,
                         f"{op.name} float32 output {j} vs reference")


def _check_numeric(case, heads, analytic, which, eps, rtol, atol, max_points, rng) -> None:
    visible = case.op.num_visible_outputs

    def loss() -> float:
        outs = case.forward()
        return float(sum(np.sum(outs[j] * heads[j]) for j in range(visible)))

    for i in which:
        if not _is_float(case.inputs[i]):
            continue
        numeric, mask = numeric_gradient(loss, case.inputs[i], eps, max_points, rng)
        if not mask.any():
            raise AssertionError(f"{case.op.name}: every checked point of input {i} is a kink")
        assert_close(analytic[i][mask], numeric[mask], rtol, atol + 1e-6,
                     f"{case.op.name} grad of input {i} ('{case.op.input_names[i]}') vs numeric")


def _check_add_request(case, heads, write, which, rng) -> None:
    prefill = [rng.uniform(-1, 1, size=x.shape) for x in case.inputs]
    req = [REQ_ADD if i in which else REQ_NULL for i in range(len(case.inputs))]
    added = case.backward(heads, req, prefill)
    for i in which:
        assert_close(added[i], prefill[i] + write[i], 1e-10, 1e-10,
                     f"{case.op.name} req=add of input {i} != previous + req=write")


def _check_forward_inplace(case: OpCase) -> None:
    op = case.op
    expected = case.forward()
    for i, j in op.inplace:
        x = case.inputs[i]
        if x.shape != expected[j].shape:
            continue
        inputs = list(case.inputs)
        shared = x.copy()
        inputs[i] = shared
        outputs = [shared if k == j else np.empty_like(o) for k, o in enumerate(expected)]
        op.forward(inputs, outputs, [REQ_INPLACE if k == j else REQ_WRITE for k in range(len(outputs))],
                   [np.array(a) for a in case.aux], is_train=case.is_train, seed=case.seed)
        assert_close(outputs[j], expected[j], 1e-12, 1e-12,
                     f"{op.name} in-place forward (input {i} -> output {j})")


def _check_backward_inplace(case: OpCase, heads, write, which) -> None:
    op = case.op
    outputs = case.forward()
    for j, i in op.backward_inplace:
        if i not in which or heads[j] is None or heads[j].shape != case.inputs[i].shape:
            continue
        shared = heads[j].copy()
        out_grads = [shared if k == j else (np.zeros(o.shape) if heads[k] is None else heads[k])
                     for k, o in enumerate(outputs)]
        in_grads = [shared if k == i else (np.zeros(x.shape) if k in which else None)
                    for k, x in enumerate(case.inputs)]
        req = [REQ_INPLACE if k == i else (REQ_WRITE if k in which else REQ_NULL)
               for k in range(len(case.inputs))]
        op.backward(out_grads, list(case.inputs), outputs, in_grads, req,
                    [np.array(a) for a in case.aux], is_train=case.is_train, seed=case.seed)
        assert_close(shared, write[i], 1e-12, 1e-12,
                     f"{op.name} in-place backward (output grad {j} -> input grad {i})")


def expect_error(fn: Callable, *fragments: str) -> str:
    """Runs fn, requires a CoarsenetError whose message contains every fragment; returns it."""
    from .base import CoarsenetError

    try:
        fn()
    except CoarsenetError as e:
        message = str(e)
        for fragment in fragments:
            assert fragment in message, f"error message {message!r} lacks {fragment!r}"
        return message
    raise AssertionError(f"expected a CoarsenetError mentioning {fragments}")


def check_symbolic_matches_imperative(case: OpCase) -> None:
    """A one-op symbol, bound and run forward (+ backward), gives the imperative results."""
    from . import ops as ops_module
    from . import symbol as sym

    op = case.op
    names = list(op.input_names) + list(op.aux_names)
    variables = {n: sym.Variable(n) for n in names}
    out = sym._invoke(op.name, [], dict(case.params), name="op", named=variables)
    n_in = len(op.input_names)
    args = {n: np.array(x, dtype=np.float64) for n, x in zip(names, case.inputs)}
    aux = {n: np.array(a, dtype=np.float64) for n, a in zip(names[n_in:], case.aux)}
    differentiable = op.has_backward and not op.flags & ops_module.NO_GRAD
    grads = {n: np.zeros_like(a) for n, a in args.items()} if differentiable else None
    exe = out.bind(args=args, args_grad=grads, aux_states=aux,
                   grad_req="write" if differentiable else "null")
    random_op = op.flags & ops_module.NONDETERMINISTIC and case.is_train
    exe.forward(is_train=case.is_train)
    aux_imperative = [np.array(a, dtype=np.float64) for a in case.aux]
    expected = op.invoke([np.ascontiguousarray(x) for x in case.inputs], aux_imperative,
                         case.is_train, case.seed)
    if random_op:
        return  # different seeds draw different numbers; the op's own tests cover it
    # Both paths compute in float64 unless the op outputs a narrower type (Cast): then head
    # gradients are rounded to it on the symbolic path.
    narrow = any(o.dtype != np.float64 for o in expected[: op.num_visible_outputs])
    rtol, atol = (1e-5, 1e-6) if narrow else (1e-10, 1e-12)
    for j in range(op.num_visible_outputs):
        assert_close(exe.outputs[j].asnumpy(), expected[j], rtol, atol,
                     f"{op.name} symbolic vs imperative output {j}")
    for name, value in zip(names[n_in:], aux_imperative):
        assert_close(exe.aux_dict[name].asnumpy(), value, rtol, atol,
                     f"{op.name} symbolic vs imperative aux state '{name}'")
    if not differentiable or not all(_is_float(o) for o in expected[: op.num_visible_outputs]):
        return  # integer outputs (Cast to int) carry no meaningful head gradient
    rng = np.random.default_rng(case.seed + 1)
    heads = [rng.uniform(-1, 1, size=o.shape) for o in expected[: op.num_visible_outputs]]
    exe.backward([h.copy() for h in heads], is_train=case.is_train)
    full_heads = heads + [None] * (len(expected) - len(heads))
    req = [REQ_WRITE if _is_float(x) else REQ_NULL for x in case.inputs]
    imperative = case.backward(full_heads, req)
    for i, name in enumerate(names[:n_in]):
        if imperative[i] is not None:
            assert_close(exe.grad_dict[name].asnumpy(), imperative[i], max(rtol, 1e-9), atol,
                         f"{op.name} symbolic vs imperative gradient of '{name}'")


extra_checks.append(check_symbolic_matches_imperative)
