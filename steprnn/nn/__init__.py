"""``steprnn.nn`` mirrors ``torch.nn``."""
from . import utils
