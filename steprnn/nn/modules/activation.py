"""``steprnn.nn.modules.activation``: as ``torch.nn.modules.activation``."""
from ..activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
__all__ = ["LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Tanh"]
