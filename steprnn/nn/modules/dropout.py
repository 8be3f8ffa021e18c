"""``steprnn.nn.modules.dropout``: as ``torch.nn.modules.dropout``."""
from ..dropout import Dropout, Dropout1d, Dropout2d
__all__ = ["Dropout", "Dropout1d", "Dropout2d"]
