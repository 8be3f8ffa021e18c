"""The adding problem (Hochreiter & Schmidhuber 1997): remember two marked numbers, output their sum."""
from __future__ import annotations

import numpy as np

from .task import Batch, Task

__all__ = ["Adding"]


class Adding(Task):
    """Each step carries a number in [0, 1) and a marker; exactly two steps are marked, one in each
    half of the sequence. At the end the network outputs the sum of the two marked numbers.
    Guessing 1.0 every time has a mean squared error of 1/6 ≈ 0.167; the score is the held-out MSE.
    """

    name = "adding"
    title = "add the two marked numbers of a sequence (the adding problem)"
    symbols = ()
    labels = None
    per_step = False
    input_size = 2
    output_size = 1
    metric = "mean squared error of the sum on held-out sequences (guessing 1.0 gives 0.167)"
    higher_is_better = False
    goal = 0.01
    stop_at = 0.004
    claim = "MSE ≤ 0.01 on held-out sequences of 20 steps (guessing scores 0.167)"
    hidden_size = 16
    steps = 1000
    batch_size = 64
    lr = 0.01
    length = 20

    def _draw(self, rng: np.random.Generator, n: int) -> Batch:
        L, half = self.length, self.length // 2
        values = rng.random((L, n)).astype(np.float32)
        first = rng.integers(0, half, size=n)
        second = rng.integers(half, L, size=n)
        marks = np.zeros((L, n), dtype=np.float32)
        marks[first, np.arange(n)] = 1.0
        marks[second, np.arange(n)] = 1.0
        x = np.stack([values, marks], axis=-1)  # (L, N, 2)
        y = (values[first, np.arange(n)] + values[second, np.arange(n)]).astype(np.float32)  # (N,)
        tokens = [[f"[{v:.1f}]" if m else f"{v:.1f}" for v, m in zip(values[:, i], marks[:, i])] for i in range(n)]
        return Batch(x, y, np.full(n, L, dtype=np.int64), tokens)
