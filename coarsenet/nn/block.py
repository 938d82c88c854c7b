"""Block and HybridBlock: layers that own Parameters and child blocks (MXNet Gluon style).

A Block computes in `forward` with any Python. A HybridBlock writes `hybrid_forward(F, x,
**params)` using only ops through F: F is cn.nd when it runs imperatively, a shape tracer when
parameter shapes are inferred at the first call, and cn.sym when `hybridize()` traces it into a
graph.
"""
from __future__ import annotations

from collections import OrderedDict

from .. import ndarray as _nd
from ..base import CoarsenetError
from .parameter import DeferredInitializationError, Parameter, ParameterDict, _assign
from .shape_trace import ShapeNamespace, ShapeOnly

# MXNet's hybridize options that change nothing here (every graph is bound once per input shape
# with a static memory plan already): accepted so MXNet scripts run; anything else is an error.
HYBRIDIZE_NOOP_OPTIONS = frozenset({"static_alloc", "static_shape", "inline_limit",
                                    "forward_bulk_size", "backward_bulk_size", "clear",
                                    "partition_if_dynamic"})


def check_hybridize_options(kwargs: dict) -> None:
    """Rejects keyword arguments hybridize() does not know instead of silently ignoring them."""
    unknown = sorted(set(kwargs) - HYBRIDIZE_NOOP_OPTIONS - {"mirror"})
    if unknown:
        known = ", ".join(["mirror", *sorted(HYBRIDIZE_NOOP_OPTIONS)])
        raise CoarsenetError(f"hybridize: unknown keyword argument(s) {', '.join(unknown)}; "
                             f"expected {known}")

_global_counts: dict[str, int] = {}


class _BlockScope:
    """`with block.name_scope():` children created inside get the block's prefix."""

    current: _BlockScope | None = None

    def __init__(self, block: Block):
        self.block, self.counts, self.old = block, {}, None

    @staticmethod
    def create(prefix: str | None, params: ParameterDict | None, hint: str):
        scope = _BlockScope.current
        counts = _global_counts if scope is None else scope.counts
        if prefix is None:
            n = counts.get(hint, 0)
            counts[hint] = n + 1
            prefix = f"{hint}{n}_"
        if scope is not None:
            prefix = scope.block.prefix + prefix
        return prefix, ParameterDict(prefix if params is None else params.prefix, params)

    def __enter__(self):
        # As MXNet: a block made with prefix='' opens no scope of its own, so the blocks made
        # inside count their names in the enclosing scope (AlexNet's output is dense2, after
        # the two Dense layers of its prefix-less `features`).
        if self.block._empty_prefix:
            return self
        self.old, _BlockScope.current = _BlockScope.current, self
        return self

    def __exit__(self, *exc):
        if self.block._empty_prefix:
            return
        _BlockScope.current = self.old


class Block:
    """Base of all layers: owns Parameters (`self.params.get`) and child blocks."""

    def __init__(self, prefix: str | None = None, params: ParameterDict | None = None):
        self._empty_prefix = prefix == ""
        self._prefix, self._params = _BlockScope.create(prefix, params, self._name_hint())
        self._scope = _BlockScope(self)
        self._children: OrderedDict[str, Block] = OrderedDict()
        self._reg_params: OrderedDict[str, Parameter] = OrderedDict()

    def _name_hint(self) -> str:
        """The name hint of automatic prefixes (MXNet's: 'conv' for every convolution)."""
        return type(self).__name__.lower()

    def __setattr__(self, name, value):
        if isinstance(value, Block):
            self.__dict__.setdefault("_children", OrderedDict())[name] = value
        elif isinstance(value, Parameter):
            self.__dict__.setdefault("_reg_params", OrderedDict())[name] = value
        super().__setattr__(name, value)

    def __repr__(self) -> str:
        lines = [f"  ({k}): {v!r}".replace("\n", "\n  ") for k, v in self._children.items()]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)" if lines else \
            f"{type(self).__name__}()"

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def name(self) -> str:
        return self._prefix[:-1] if self._prefix.endswith("_") else self._prefix

    @property
    def params(self) -> ParameterDict:
        return self._params

    def name_scope(self) -> _BlockScope:
        return self._scope

    def register_child(self, block: Block, name: str | None = None) -> None:
        self._children[name or str(len(self._children))] = block

    def collect_params(self, select: str | None = None) -> ParameterDict:
        """This block's and its children's parameters; `select` is a regex on full names."""
        out = ParameterDict(self._params.prefix)
        out.update(self._params)
        for p in self._reg_params.values():
            out._params.setdefault(p.name, p)
        for child in self._children.values():
            out.update(child.collect_params())
        return out.select(select)

    def _collect_params_with_prefix(self, prefix: str = "") -> dict:
        """Parameters by structural name ('0.weight', 'features.1.gamma'): save_parameters keys."""
        out = {prefix + key: p for key, p in self._reg_params.items()}
        for name, child in self._children.items():
            out.update(child._collect_params_with_prefix(prefix + name + "."))
        return out

    def initialize(self, init=None, ctx=None, verbose: bool = False,
                   force_reinit: bool = False) -> None:
        self.collect_params().initialize(init, ctx, verbose, force_reinit)

    def zero_grad(self) -> None:
        self.collect_params().zero_grad()

    def save_parameters(self, filename: str) -> None:
        """Writes an MXNet .params file keyed by structural names (as Gluon does)."""
        from ._io import save_params

        save_params(filename, {k: p.data().asnumpy()
                               for k, p in self._collect_params_with_prefix().items()})

    def load_parameters(self, filename: str, ctx=None, allow_missing: bool = False,
                        ignore_extra: bool = False) -> None:
        """Reads save_parameters files, and files keyed by full names (`arg:dense0_weight`)."""
        from ._io import load_params

        loaded = load_params(filename)
        structural = self._collect_params_with_prefix()
        if loaded and not any(k in structural for k in loaded):
            full = {k.split(":", 1)[-1]: v for k, v in loaded.items()}
            params = dict(self.collect_params().items())
            if not any(k in params for k in full):
                # MXNet's legacy save_params files (the published model zoo weights) store
                # names without the model's own prefix: 'conv0_weight' for 'resnetv10_conv0_...'.
                full = {self.prefix + k: v for k, v in full.items()}
            _assign(params, full, filename, allow_missing, ignore_extra)
            return
        _assign(structural, loaded, filename, allow_missing, ignore_extra)

    def save_params(self, filename: str) -> None:
        """MXNet's deprecated legacy format: full names without this block's prefix (the
        format of MXNet's published model zoo files). Prefer save_parameters."""
        self.collect_params().save(filename, strip_prefix=self.prefix)

    def load_params(self, filename: str, ctx=None, allow_missing: bool = False,
                    ignore_extra: bool = False) -> None:
        """MXNet's deprecated name of load_parameters (which reads both formats)."""
        self.load_parameters(filename, ctx, allow_missing, ignore_extra)

    def hybridize(self, active: bool = True, **kwargs) -> None:
        check_hybridize_options(kwargs)
        for child in self._children.values():
            child.hybridize(active, **kwargs)

    def cast(self, dtype) -> None:
        for p in self.collect_params().values():
            p.cast(dtype)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args):
        raise NotImplementedError(f"{type(self).__name__} must define forward")


class HybridBlock(Block):
    """A block whose computation is `hybrid_forward(F, x, *args, **params)` over F's ops."""

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix, params)
        self._hybrid = None  # a coarsenet.nn.hybrid.CachedGraph once hybridized

    def hybridize(self, active: bool = True, **kwargs) -> None:
        """Traces this block into a graph at the next call and runs that graph from then on
        (kwargs: mirror=..., passed to simple_bind)."""
        from .hybrid import CachedGraph

        self._hybrid = CachedGraph(self, **kwargs) if active else None
        if not active:
            super().hybridize(False)

    def forward(self, x, *args):
        if isinstance(x, ShapeOnly):
            return self._trace_shapes(x, *args)
        if not isinstance(x, _nd.NDArray):
            from ..symbol import Symbol

            if not isinstance(x, Symbol):
                raise CoarsenetError(f"{self.name}: expected an NDArray input, found "
                                     f"{type(x).__name__} (wrap numpy data with cn.nd.array)")
            return self._trace_symbol(x, *args)
        if self._hybrid is not None:
            return self._hybrid(x, *args)
        try:
            params = {k: p.data() for k, p in self._reg_params.items()}
        except DeferredInitializationError:
            self.infer_shape(x, *args)
            params = {k: p.data() for k, p in self._reg_params.items()}
        return self.hybrid_forward(_nd, x, *args, **params)

    def infer_shape(self, *args) -> None:
        """Fills unknown parameter shapes from the input shapes, then finishes deferred init."""
        shapes = [ShapeOnly(a.shape) if isinstance(a, _nd.NDArray) else a for a in args]
        self._trace_shapes(*shapes)

    def _trace_shapes(self, x, *args):
        params = {k: ShapeOnly(p.shape if p._shape_known() else None, p)
                  for k, p in self._reg_params.items()}
        out = self.hybrid_forward(ShapeNamespace, x, *args, **params)
        for p in self._reg_params.values():
            if not p._shape_known():
                raise CoarsenetError(
                    f"{self.name}: could not infer the shape of parameter '{p.name}' "
                    f"(still {p.shape}) from input shape {x.shape}")
            p._finish_deferred_init()
        return out

    def export(self, path: str, epoch: int = 0, remove_amp_cast: bool = True,
               format: str = "mxnet") -> str:  # noqa: A002 - the keyword users pass
        """Writes path-symbol.json and path-%04d.params (arg:/aux: names), loadable by
        cn.sym.load / cn.nd.load, after hybridize() and one forward pass; with format="onnx",
        path.onnx for the input shapes of the last forward pass. Returns the main file."""
        if self._hybrid is None:
            raise CoarsenetError(f"export: call {self.name}.hybridize() and run it once first")
        if format not in ("mxnet", "onnx"):
            raise CoarsenetError(f"export: format must be 'mxnet' or 'onnx', found '{format}'")
        return self._hybrid.export(path, epoch, format)

    def _trace_symbol(self, x, *args):
        from .. import symbol as sym

        params = {k: p.var() for k, p in self._reg_params.items()}
        return self.hybrid_forward(sym, x, *args, **params)

    def hybrid_forward(self, F, x, *args, **params):  # noqa: N803 - Gluon's name
        raise NotImplementedError(f"{type(self).__name__} must define hybrid_forward")


class Sequential(Block):
    """Children run one after another."""

    def add(self, *blocks: Block) -> None:
        for block in blocks:
            self.register_child(block)

    def forward(self, x, *args):
        for child in self._children.values():
            x = child(x, *args) if args else child(x)
            args = ()
        return x

    def __getitem__(self, i):
        children = list(self._children.values())
        if isinstance(i, slice):
            out = type(self)(prefix=self._prefix)
            out.add(*children[i])
            return out
        return children[i]

    def __len__(self) -> int:
        return len(self._children)


class HybridSequential(HybridBlock):
    """Sequential whose children are all HybridBlocks, so the whole chain can be hybridized."""

    add = Sequential.add
    __getitem__ = Sequential.__getitem__
    __len__ = Sequential.__len__

    def hybrid_forward(self, F, x, *args):  # noqa: N803
        for child in self._children.values():
            x = child(x, *args) if args else child(x)
            args = ()
        return x

