"""``steprnn.optim`` mirrors ``torch.optim``: ``Optimizer``, ``SGD``, ``Adam``, ``AdamW``, ``Adadelta``,
``LBFGS`` and ``lr_scheduler``.

Updates run in place on the parameters' arrays, in PyTorch's single-tensor (CPU) order of
operations, so a run matches ``torch.optim`` step for step up to float round-off.
"""
from . import lr_scheduler
from .adadelta import Adadelta
from .adam import Adam
from .adamw import AdamW
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adadelta", "LBFGS", "lr_scheduler"]
