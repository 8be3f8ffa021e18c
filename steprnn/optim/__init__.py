"""``steprnn.optim`` mirrors ``torch.optim``: ``Optimizer``, ``SGD``, ``Adam``.

Updates run in place on the parameters' arrays, in PyTorch's single-tensor (CPU) order of
operations, so a run matches ``torch.optim`` step for step up to float round-off.
"""
from .adam import Adam
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam"]
