"""``steprnn.nn.modules.sparse``: as ``torch.nn.modules.sparse``."""
from ..sparse import Embedding
__all__ = ["Embedding"]
