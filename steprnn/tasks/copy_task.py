"""The copy task: read a few symbols, wait, then write them back in order."""
from __future__ import annotations

import numpy as np

from .task import IGNORE, Batch, Task, one_hot

__all__ = ["Copy"]


class Copy(Task):
    """``count`` symbols from ``A..F``, then ``delay`` blanks ``-``, then the cue ``:`` followed by
    blanks; from the cue on, the network writes the symbols back, one per step. Only those steps
    carry targets; the score is per-symbol accuracy on held-out sequences.
    """

    name = "copy"
    title = "read 4 symbols, wait 4 steps, then write them back"
    symbols = ("A", "B", "C", "D", "E", "F", "-", ":")
    labels = ("A", "B", "C", "D", "E", "F")
    per_step = True
    input_size = 8
    output_size = 6
    metric = "per-symbol accuracy of the recalled symbols on held-out sequences"
    goal = 0.95
    stop_at = 0.985
    claim = "≥ 0.95 of held-out symbols recalled (chance is 0.17)"
    hidden_size = 32
    steps = 1200
    batch_size = 64
    lr = 0.01
    count = 4
    delay = 4

    def _draw(self, rng: np.random.Generator, n: int) -> Batch:
        K, D = self.count, self.delay
        L = 2 * K + D
        seq = rng.integers(0, 6, size=(K, n))
        sym = np.full((L, n), 6, dtype=np.int64)  # blanks
        sym[:K] = seq
        sym[K + D] = 7  # the cue
        y = np.full((L, n), IGNORE, dtype=np.int64)
        y[K + D:] = seq
        tokens = [[self.symbols[s] for s in sym[:, i]] for i in range(n)]
        return Batch(one_hot(sym, 8), y, np.full(n, L, dtype=np.int64), tokens)
