"""gluon.rnn: fused recurrent layers (RNN, LSTM, GRU) and step-by-step cells."""
from .cell_wrappers import (  # noqa: F401
    BidirectionalCell,
    DropoutCell,
    HybridSequentialRNNCell,
    ResidualCell,
    SequentialRNNCell,
    ZoneoutCell,
)
from .rnn_cell import GRUCell, HybridRecurrentCell, LSTMCell, RecurrentCell, RNNCell  # noqa: F401
from .rnn_layer import GRU, LSTM, RNN  # noqa: F401
