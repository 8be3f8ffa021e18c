"""``steprnn.nn.modules.batchnorm``: as ``torch.nn.modules.batchnorm``."""
from ..batchnorm import BatchNorm1d
from ..unsupported import BatchNorm2d
__all__ = ["BatchNorm1d", "BatchNorm2d"]
