"""MXNet 1.9.1 recurrent layers load and match: a gluon.rnn.LSTM (2 layers, bidirectional, TNC)
and a GRU (NTC) exported by real MXNet (tests/fixtures/mxnet/rnn/make_rnn_fixtures.py) run through
cn.model.load_checkpoint + bind and through SymbolBlock.imports, reproducing MXNet's outputs and
final states within 1e-5."""
from pathlib import Path

import numpy as np
import pytest

import coarsenet as cn

FIXTURES = Path(__file__).parent / "fixtures" / "mxnet" / "rnn"
MODELS = {"lstm2bi": 2, "gru": 1}  # name -> number of state inputs


def io_of(name):
    return cn.nd.load(FIXTURES / f"{name}-io.params")


def inputs_of(name, io):
    return {"data0": io["data"], **{f"data{i + 1}": io[f"state{i}"] for i in range(MODELS[name])}}


def check(name, outputs, io):
    expected = [io["output"]] + [io[f"out_state{i}"] for i in range(MODELS[name])]
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected):
        np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_checkpoint_binds_and_matches_mxnet(name):
    sym, arg, aux = cn.model.load_checkpoint(str(FIXTURES / name), 0)
    io = io_of(name)
    exe = sym.bind(cn.cpu(), args=dict(arg, **inputs_of(name, io)), aux_states=aux,
                   grad_req="null")
    check(name, exe.forward(is_train=False), io)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_symbolblock_imports_matches_mxnet(name):
    io = io_of(name)
    names = ["data0"] + [f"data{i + 1}" for i in range(MODELS[name])]
    net = cn.gluon.nn.SymbolBlock.imports(str(FIXTURES / f"{name}-symbol.json"), names,
                                          str(FIXTURES / f"{name}-0000.params"))
    check(name, net(*[inputs_of(name, io)[n] for n in names]), io)
