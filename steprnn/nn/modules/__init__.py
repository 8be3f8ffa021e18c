"""``steprnn.nn.modules`` mirrors ``torch.nn.modules``: the same classes under PyTorch's module paths
(``from steprnn.nn.modules.rnn import LSTM``), for programs that import them from there."""
from ..activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from ..batchnorm import BatchNorm1d
from ..cell import GRUCell, LSTMCell, RNNCell, RNNCellBase
from ..container import ModuleList, Sequential
from ..dropout import Dropout, Dropout1d, Dropout2d, Identity
from ..linear import Linear
from ..loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from ..module import Module
from ..rnn import GRU, LSTM, RNN, RNNBase
from ..sparse import Embedding
from . import (activation, batchnorm, container, conv, dropout, linear, loss, module, rnn, sparse,  # noqa: F401
               transformer)

__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "CrossEntropyLoss", "Dropout", "Dropout1d", "Dropout2d",
    "Embedding", "GRU", "GRUCell", "Identity", "LSTM", "LSTMCell", "Linear", "LogSoftmax", "MSELoss", "Module",
    "ModuleList", "NLLLoss", "RNN", "RNNBase", "RNNCell", "RNNCellBase", "ReLU", "Sequential", "Sigmoid", "Softmax",
    "Tanh",
]
