"""``steprnn.nn.modules.linear``: as ``torch.nn.modules.linear``."""
from ..linear import Linear
from ..dropout import Identity
__all__ = ["Linear", "Identity"]
