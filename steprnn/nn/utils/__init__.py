"""``steprnn.nn.utils`` mirrors ``torch.nn.utils``."""
from . import rnn
