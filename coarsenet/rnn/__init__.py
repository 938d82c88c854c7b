"""Legacy mx.rnn: symbolic cells (FusedRNNCell runs the fused RNN op), sentence bucketing and
RNN checkpoints."""
from .cell_stack import (  # noqa: F401
    BidirectionalCell,
    DropoutCell,
    FusedRNNCell,
    ModifierCell,
    ResidualCell,
    SequentialRNNCell,
    ZoneoutCell,
)
from .io import BucketSentenceIter, encode_sentences, load_rnn_checkpoint, save_rnn_checkpoint  # noqa: F401
from .rnn_cell import BaseRNNCell, GRUCell, LSTMCell, RNNCell, RNNParams  # noqa: F401
