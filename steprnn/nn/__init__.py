"""``steprnn.nn`` mirrors ``torch.nn``: modules, parameters, recurrent layers and cells."""
from . import init, utils
from .cell import GRUCell, LSTMCell, RNNCell, RNNCellBase
from .linear import Linear
from .module import Module
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN, RNNBase

__all__ = [
    "Module", "Parameter", "Linear",
    "RNNBase", "RNN", "LSTM", "GRU",
    "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
    "init", "utils",
]
