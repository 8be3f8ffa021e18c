"""``steprnn.nn`` mirrors ``torch.nn``: modules, parameters, recurrent layers and cells."""
from typing import Any

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
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .dropout import Dropout1d, Dropout2d
from .sparse import Embedding
from .batchnorm import BatchNorm1d
from .unsupported import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, BatchNorm2d, Conv1d, Conv2d,
                          Conv3d, ConvTranspose1d, ConvTranspose2d, MaxPool1d, MaxPool2d, MultiheadAttention,
                          Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                          TransformerEncoderLayer)

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
    "BCELoss", "BCEWithLogitsLoss", "Dropout1d", "Dropout2d", "Embedding", "BatchNorm1d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "BatchNorm2d", "Conv1d", "Conv2d", "Conv3d",
    "ConvTranspose1d", "ConvTranspose2d", "MaxPool1d", "MaxPool2d", "MultiheadAttention", "Transformer",
    "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder", "TransformerEncoderLayer",
    "modules",
]


def __getattr__(name: str) -> Any:
    if name == "modules":  # ``steprnn.nn.modules`` (torch's layout of the same classes), loaded on first use
        import importlib

        return importlib.import_module(".modules", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
