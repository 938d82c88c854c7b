"""gluon.rnn: fused recurrent layers (RNN, LSTM, GRU) and step-by-step cells."""
from .rnn_layer import GRU, LSTM, RNN  # noqa: F401
