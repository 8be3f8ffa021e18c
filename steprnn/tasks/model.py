"""``TaskModel``: a recurrent layer and a linear read-out, the network every built-in task trains."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from ..creation import cat
from ..grad_mode import no_grad
from ..tensor import Tensor
from .task import Task

__all__ = ["TaskModel", "ARCHS"]

ARCHS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class TaskModel(nn.Module):
    """``rnn`` (an ``nn.LSTM``/``nn.GRU``/``nn.RNN``, time-major) then ``head`` (``nn.Linear``).

    A per-step task reads every output: (L, N, I) → (L, N, D·H) → (L, N, C). A per-sequence task
    reads the final hidden state of the last layer (both directions' when bidirectional):
    (L, N, I) → (N, D·H) → (N, C). ``sr.tracing(model)`` records the layer as ``'rnn'``.
    """

    def __init__(self, task: Task, arch: str = "lstm", hidden_size: int = 16, num_layers: int = 1,
                 bidirectional: bool = False) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(repr(a) for a in ARCHS)}, got {arch!r}")
        self.task = task
        self.arch = arch
        self.rnn = ARCHS[arch](task.input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional)
        D = 2 if bidirectional else 1
        self.head = nn.Linear(D * hidden_size, task.output_size)

    def forward(self, x: Any) -> Tensor:
        out, state = self.rnn(x)  # out (L, N, D*H)
        if self.task.per_step:
            return self.head(out)  # (L, N, C)
        h_n = state[0] if self.arch == "lstm" else state  # (D*layers, N, H)
        last = cat([h_n[-2], h_n[-1]], dim=1) if self.rnn.bidirectional else h_n[-1]  # (N, D*H)
        return self.head(last)  # (N, C)

    def predict(self, x: Any) -> np.ndarray:
        """The outputs as a NumPy array, without building a graph: (L, N, C) or (N, C)."""
        with no_grad():
            return self(x).numpy()
