"""SymbolBlock: a Gluon block that runs a given symbol, as MXNet's `gluon.nn.SymbolBlock`.

This is how MXNet users run exported or checkpointed models in Gluon:
    net = gluon.nn.SymbolBlock.imports("model-symbol.json", ["data"], "model-0000.params")
    y = net(x)
Every argument of the symbol that is not an input becomes a Parameter named exactly as in the
symbol (auxiliary states get grad_req "null"), so the `arg:`/`aux:` names of MXNet's files load
unchanged. The symbol always runs as a bound graph through the same CachedGraph a hybridized
block uses: executors cached per input shape, one tape node under autograd.record().
"""
from __future__ import annotations

from .. import symbol as _sym
from ..base import CoarsenetError
from ..ndarray import NDArray
from .block import HybridBlock
from .hybrid import CachedGraph


class SymbolBlock(HybridBlock):
    """Runs `outputs` (a Symbol or list of Symbols) with `inputs` (variables) as its inputs."""

    def __init__(self, outputs, inputs, params=None):
        super().__init__(prefix="", params=params)
        sym = _sym
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self._symbol = outputs[0] if len(outputs) == 1 else sym.Group(outputs)
        self._input_names = [x.name for x in inputs]
        arguments = self._symbol.list_arguments()
        unknown = [n for n in self._input_names if n not in arguments]
        if unknown:
            raise CoarsenetError(f"SymbolBlock: inputs {', '.join(unknown)} are not arguments of "
                                 f"the symbol (its arguments: {', '.join(arguments)})")
        for name in arguments:
            if name not in self._input_names:
                self.params.get(name, allow_deferred_init=True)
        for name in self._symbol.list_auxiliary_states():
            self.params.get(name, grad_req="null", allow_deferred_init=True)
        self._hybrid = self._cached_graph()

    @staticmethod
    def imports(symbol_file: str, input_names, param_file: str | None = None, ctx=None,
                allow_missing: bool = False, ignore_extra: bool = False) -> SymbolBlock:
        """A SymbolBlock from `prefix-symbol.json` and, if given, its `.params` file."""
        sym = _sym
        names = [input_names] if isinstance(input_names, str) else list(input_names)
        block = SymbolBlock(sym.load(symbol_file), [sym.var(n) for n in names])
        if param_file is not None:
            block.collect_params().load(param_file, ctx, allow_missing=allow_missing,
                                        ignore_extra=ignore_extra)
        return block

    def _cached_graph(self, **kwargs) -> CachedGraph:
        graph = CachedGraph(self, **kwargs)
        graph.symbol, graph.data_names = self._symbol, list(self._input_names)
        graph.num_outputs = len(self._symbol.list_outputs())
        return graph

    def hybridize(self, active: bool = True, **kwargs) -> None:
        """A SymbolBlock is always a graph; kwargs (mirror=...) apply to its next executors."""
        self._hybrid = self._cached_graph(**kwargs)

    def forward(self, x, *args):
        inputs = [x, *args]
        if len(inputs) != len(self._input_names):
            raise CoarsenetError(f"SymbolBlock: expected {len(self._input_names)} inputs "
                                 f"({', '.join(self._input_names)}), found {len(inputs)}")
        if not all(isinstance(a, NDArray) for a in inputs):  # symbols: compose the graph
            return self._symbol(**dict(zip(self._input_names, inputs)))
        self._finish_deferred_shapes(inputs)
        return self._hybrid(*inputs)

    def _finish_deferred_shapes(self, inputs: list) -> None:
        """Parameters not loaded from a file get their shapes from the input shapes."""
        pending = [p for p in self.params.values() if p._data is None]
        if not pending:
            return
        shapes = {n: x.shape for n, x in zip(self._input_names, inputs)}
        arg_shapes, _, aux_shapes = self._symbol.infer_shape(**shapes)
        names = self._symbol.list_arguments() + self._symbol.list_auxiliary_states()
        known = dict(zip(names, list(arg_shapes) + list(aux_shapes)))
        for p in pending:
            if known.get(p.name) is not None:
                p.shape = known[p.name]
            p._finish_deferred_init()
