"""``steprnn.nn`` mirrors ``torch.nn``: modules, parameters, recurrent layers and cells."""
from . import init, utils
from .cell import GRUCell, LSTMCell, RNNCell, RNNCellBase
from .linear import Linear
from .module import Module
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN, RNNBase
from . import functional
from .activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .container import ModuleList, Sequential
from .dropout import Dropout, Identity
from .loss import CrossEntropyLoss, MSELoss, NLLLoss

__all__ = [
    "Module", "Parameter", "Linear",
    "RNNBase", "RNN", "LSTM", "GRU",
    "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
    "init", "utils",
    "functional",
    "ReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax",
    "Sequential", "ModuleList",
    "Dropout", "Identity",
    "CrossEntropyLoss", "MSELoss", "NLLLoss",
]
