"""``steprnn.utils``: mirrors ``torch.utils`` (``steprnn.utils.data``)."""
from . import data

__all__ = ["data"]
