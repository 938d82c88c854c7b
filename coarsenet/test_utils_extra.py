"""The rest of `mx.test_utils`: gradient checks (check_symbolic_backward, check_numeric_gradient,
check_consistency on the one CPU context) and the dataset helpers (download, get_mnist,
get_mnist_ubyte, get_mnist_iterator, get_cifar10), which read the standard files when they are
already in place and otherwise fail naming the URL (coarsenet never downloads silently offline).
"""
from __future__ import annotations

import gzip
import os
import struct
import zipfile

import numpy as np

from .base import CoarsenetError


def _np(x) -> np.ndarray:
    return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)


def _named(sym, values, what: str, names=None) -> dict:
    names = sym.list_arguments() if names is None else names
    if isinstance(values, dict):
        unknown = set(values) - set(names)
        if unknown:
            raise CoarsenetError(f"{what}: unknown names {sorted(unknown)}; the symbol has "
                                 f"{names}")
        return dict(values)
    values = list(values)
    if len(values) != len(names):
        raise CoarsenetError(f"{what}: expected {len(names)} arrays ({names}), found "
                             f"{len(values)}")
    return dict(zip(names, values))


def _bind(sym, location, aux_states, grad_req, dtype, grad_init=None):
    from . import ndarray

    loc = _named(sym, location, "location")
    args = {k: ndarray.array(_np(v), dtype=dtype) for k, v in loc.items()}
    if isinstance(grad_req, str):
        reqs = {k: grad_req for k in args}
    elif isinstance(grad_req, dict):
        reqs = {k: grad_req.get(k, "null") for k in args}
    else:
        reqs = dict(zip(sym.list_arguments(), grad_req))
    grads = {}
    for k, v in args.items():
        if reqs.get(k, "null") != "null":
            init = (grad_init or {}).get(k)
            grads[k] = ndarray.array(np.zeros(v.shape) if init is None else init, dtype=dtype)
    aux = None
    if aux_states is not None:
        aux = {k: ndarray.array(_np(v), dtype=dtype)
               for k, v in _named(sym, aux_states, "aux_states",
                                  sym.list_auxiliary_states()).items()}
    exe = sym.bind(args=args, args_grad=grads, grad_req=reqs, aux_states=aux)
    return exe, reqs


def check_symbolic_backward(sym, location, out_grads, expected, rtol=1e-5, atol=None,
                            aux_states=None, grad_req="write", ctx=None, grad_stypes=None,
                            equal_nan=False, dtype=np.float32):
    """Runs forward (training mode) and backward with `out_grads`; compares each argument's
    gradient with `expected` (dict, or list in list_arguments order). With grad_req 'add' the
    gradients start from random values, which `expected` must not include (as MXNet).
    Returns {name: gradient as numpy}."""
    from .test_utils_base import assert_almost_equal

    names = sym.list_arguments()
    expected = _named(sym, expected, "expected")
    rng = np.random.default_rng(0)
    loc = _named(sym, location, "location")
    start = {k: rng.normal(size=_np(loc[k]).shape) for k in names
             if (grad_req if isinstance(grad_req, str) else
                 dict(grad_req).get(k) if isinstance(grad_req, dict) else None) == "add"}
    exe, reqs = _bind(sym, location, aux_states, grad_req, dtype, start)
    exe.forward(is_train=True)
    if isinstance(out_grads, dict):
        out_grads = [out_grads[k] for k in sym.list_outputs()]
    exe.backward([_np(g).astype(dtype) for g in out_grads])
    result = {}
    for name in names:
        grad = exe.grad_dict.get(name)
        if grad is None or reqs.get(name) == "null":
            continue
        got = grad.asnumpy()
        result[name] = got
        if name in expected and expected[name] is not None:
            want = _np(expected[name]) + start.get(name, 0)
            assert_almost_equal(got, want, rtol, atol, (f"d{name}", "expected"), equal_nan)
    return result


def check_numeric_gradient(sym, location, aux_states=None, numeric_eps=1e-3, rtol=1e-2,
                           atol=None, grad_nodes=None, use_forward_train=True, ctx=None,
                           grad_stype_dict=None, dtype=np.float32):
    """Compares the symbolic gradient of sum(outputs * random projection) with central
    differences (step numeric_eps) for every argument in grad_nodes (default: all)."""
    from .test_utils_base import assert_almost_equal

    names = sym.list_arguments()
    loc = {k: _np(v).astype(np.float64) for k, v in _named(sym, location, "location").items()}
    grad_nodes = list(grad_nodes or names)
    if isinstance(grad_nodes, dict):
        grad_nodes = list(grad_nodes)
    missing = [n for n in grad_nodes if n not in names]
    if missing:
        raise CoarsenetError(f"check_numeric_gradient: grad_nodes {missing} are not arguments "
                             f"of the symbol ({names})")
    exe, _ = _bind(sym, loc, aux_states, {n: "write" for n in grad_nodes}, dtype)
    outputs = exe.forward(is_train=use_forward_train)
    rng = np.random.default_rng(1)
    proj = [rng.normal(size=o.shape) for o in outputs]
    exe.backward([p.astype(dtype) for p in proj])
    symbolic = {n: exe.grad_dict[n].asnumpy().astype(np.float64) for n in grad_nodes}
    aux_start = {k: v.asnumpy().copy() for k, v in exe.aux_dict.items()}

    def objective() -> float:
        for k, v in aux_start.items():  # training-mode forwards move running statistics
            exe.aux_dict[k][:] = v
        outs = exe.forward(is_train=use_forward_train)
        return float(sum((o.asnumpy().astype(np.float64) * p).sum() for o, p in zip(outs, proj)))

    for name in grad_nodes:
        arr = exe.arg_dict[name]
        base = loc[name]
        numeric = np.zeros(base.shape)
        flat = numeric.reshape(-1)
        for i in range(base.size):
            value = base.reshape(-1)[i]
            for sign in (1, -1):
                shifted = base.copy().reshape(-1)
                shifted[i] = value + sign * numeric_eps / 2
                arr[:] = shifted.reshape(base.shape)
                flat[i] += sign * objective() / numeric_eps
        arr[:] = base
        assert_almost_equal(symbolic[name], numeric, rtol, atol if atol is not None else 1e-4,
                            (f"symbolic d{name}", "numeric"))


def check_consistency(sym, ctx_list, scale=1.0, grad_req="write", arg_params=None,
                      aux_params=None, tol=None, raise_on_err=True, ground_truth=None,
                      equal_nan=False, use_uniform=False, rand_type=np.float64):
    """MXNet compares one symbol across contexts and dtypes. coarsenet has one context: this
    runs each entry of ctx_list (its 'type_dict' picks float32 / float64) and compares their
    outputs and gradients with the most precise one. Returns the gradients per entry."""
    from . import ndarray

    syms = sym if isinstance(sym, (list, tuple)) else [sym] * len(ctx_list)
    rng = np.random.default_rng(0)
    results = []
    shared = {}
    for s, spec in zip(syms, ctx_list):
        spec = dict(spec)
        spec.pop("ctx", None)
        types = spec.pop("type_dict", {})
        exe = s.simple_bind(grad_req=grad_req, type_dict=types, **spec)
        for name, arr in exe.arg_dict.items():
            if name not in shared:
                given = (arg_params or {}).get(name)
                shared[name] = _np(given) if given is not None else \
                    rng.normal(scale=scale, size=arr.shape)
            arr[:] = shared[name].astype(arr.dtype)
        for name, arr in exe.aux_dict.items():
            given = (aux_params or {}).get(name)
            if given is not None:
                arr[:] = _np(given).astype(arr.dtype)
        outs = [o.asnumpy().astype(np.float64) for o in exe.forward(is_train=grad_req != "null")]
        if grad_req != "null":
            exe.backward([ndarray.array(np.ones(o.shape), dtype=o.dtype) for o in exe.outputs])
        grads = {k: v.asnumpy().astype(np.float64) for k, v in exe.grad_dict.items()}
        precision = max(np.finfo(a.dtype).precision for a in exe.arg_dict.values())
        results.append((precision, outs, grads))
    ref = max(range(len(results)), key=lambda i: results[i][0])
    tolerance = {15: 1e-5, 6: 1e-3}
    for i, (prec, outs, grads) in enumerate(results):
        t = tol if isinstance(tol, float) else tolerance.get(prec, 1e-2)
        try:
            for a, b in zip(outs, results[ref][1]):
                np.testing.assert_allclose(a, b, rtol=t, atol=t, equal_nan=equal_nan)
            for k in grads:
                np.testing.assert_allclose(grads[k], results[ref][2][k], rtol=t, atol=t)
        except AssertionError:
            if raise_on_err:
                raise
    return [r[2] for r in results]


# ---------------------------------------------------------------- datasets
def download(url, fname=None, dirname=None, overwrite=False, retries=5):
    """The local path of `url`'s file: returned at once when it exists (unless overwrite);
    otherwise fetched, and offline a CoarsenetError names the URL and where to put the file."""
    if fname is None:
        fname = url.split("/")[-1]
    if dirname is None:
        dirname = os.path.dirname(fname)
    else:
        fname = os.path.join(dirname, fname)
    if dirname:
        os.makedirs(dirname, exist_ok=True)
    if os.path.exists(fname) and not overwrite:
        return fname
    import urllib.request

    last = None
    for _ in range(max(int(retries), 0) + 1):
        try:
            with urllib.request.urlopen(url, timeout=30) as r, open(fname + ".part", "wb") as f:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
            os.replace(fname + ".part", fname)
            return fname
        except OSError as e:
            last = e
    if os.path.exists(fname + ".part"):
        os.remove(fname + ".part")
    raise CoarsenetError(f"download: cannot fetch {url} ({last}); to work offline, place the "
                         f"file at {os.path.abspath(fname)}")


_MNIST_URL = "http://data.mxnet.io/data/mnist/"
_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte")


def _read_idx(path: str) -> np.ndarray:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        head = f.read(4)
        if len(head) != 4 or head[:2] != b"\0\0" or head[2] != 0x08:
            raise CoarsenetError(f"{path}: not an MNIST idx file of bytes (magic {head!r})")
        dims = struct.unpack(f">{head[3]}I", f.read(4 * head[3]))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(dims)


def get_mnist() -> dict:
    """MNIST as arrays: train/test images (N, 1, 28, 28) float32 in [0, 1] and labels, from
    the four .gz files in the current directory (download()ed when missing)."""
    out = {}
    for prefix, key in (("train", "train"), ("t10k", "test")):
        labels = _read_idx(download(_MNIST_URL + f"{prefix}-labels-idx1-ubyte.gz"))
        images = _read_idx(download(_MNIST_URL + f"{prefix}-images-idx3-ubyte.gz"))
        out[f"{key}_data"] = images.reshape(-1, 1, 28, 28).astype(np.float32) / 255
        out[f"{key}_label"] = labels.astype(np.int8)
    return out


def get_mnist_ubyte() -> None:
    """Makes sure data/ holds the four uncompressed MNIST files (mnist.zip when missing)."""
    os.makedirs("data", exist_ok=True)
    if all(os.path.exists(os.path.join("data", f)) for f in _MNIST_FILES):
        return
    path = download("http://data.mxnet.io/mxnet/data/mnist.zip", dirname="data")
    with zipfile.ZipFile(path) as zf:
        zf.extractall("data")


def get_cifar10() -> None:
    """Makes sure data/cifar holds train.rec, test.rec, train.lst, test.lst."""
    os.makedirs("data", exist_ok=True)
    files = ("train.rec", "test.rec", "train.lst", "test.lst")
    if all(os.path.exists(os.path.join("data", "cifar", f)) for f in files):
        return
    path = download("http://data.mxnet.io/mxnet/data/cifar10.zip", dirname="data")
    with zipfile.ZipFile(path) as zf:
        zf.extractall("data")


def get_mnist_iterator(batch_size, input_shape, num_parts=1, part_index=0):
    """(train, val) MNISTIter over data/ (get_mnist_ubyte first); flat when input_shape is
    not 3-d."""
    from . import io

    get_mnist_ubyte()
    flat = len(input_shape) != 3
    common = dict(input_shape=input_shape, batch_size=batch_size, flat=flat,
                  num_parts=num_parts, part_index=part_index)
    train = io.MNISTIter(image="data/train-images-idx3-ubyte",
                         label="data/train-labels-idx1-ubyte", shuffle=True, **common)
    val = io.MNISTIter(image="data/t10k-images-idx3-ubyte",
                       label="data/t10k-labels-idx1-ubyte", **common)
    return train, val
