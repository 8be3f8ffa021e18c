"""``steprnn.nn.modules.rnn``: as ``torch.nn.modules.rnn``."""
from ..rnn import GRU, LSTM, RNN, RNNBase
from ..cell import GRUCell, LSTMCell, RNNCell, RNNCellBase
__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]
