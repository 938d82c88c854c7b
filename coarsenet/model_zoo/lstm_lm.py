"""A character (or token) level LSTM language model: Embedding -> fused LSTM (one RNN op) ->
per-step FullyConnected -> SoftmaxOutput over the vocabulary. data and softmax_label are
(batch, seq_len) ids; the label is the next id of each position."""
from __future__ import annotations

from .. import symbol as sym


def lstm_lm(num_classes: int, seq_len: int = 32, num_embed: int = 32, num_hidden: int = 128,
            num_layers: int = 1, dropout: float = 0.0):
    from ..rnn import FusedRNNCell

    data, label = sym.var("data"), sym.var("softmax_label")
    embed = sym.Embedding(data, input_dim=num_classes, output_dim=num_embed, name="embed")
    cell = FusedRNNCell(num_hidden, num_layers=num_layers, mode="lstm", dropout=dropout,
                        prefix="lstm_")
    out, _ = cell.unroll(seq_len, embed, layout="NTC", merge_outputs=True)
    pred = sym.FullyConnected(sym.reshape(out, shape=(-1, num_hidden)), num_hidden=num_classes,
                              name="pred")
    return sym.SoftmaxOutput(pred, sym.reshape(label, shape=(-1,)), name="softmax")
