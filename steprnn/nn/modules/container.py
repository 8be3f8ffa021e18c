"""``steprnn.nn.modules.container``: as ``torch.nn.modules.container``."""
from ..container import ModuleList, Sequential
__all__ = ["ModuleList", "Sequential"]
