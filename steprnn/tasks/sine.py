"""Sine forecasting: from the values so far, predict the next one."""
from __future__ import annotations

import numpy as np

from .task import Batch, Task

__all__ = ["Sine"]


class Sine(Task):
    """``sin(ω t + φ)`` with ω drawn from [0.15, 0.6] rad per step and any phase, 40 steps; at every
    step the network predicts the next value. It must infer the frequency from what it has seen.
    The score is the held-out mean squared error over steps 10..39 (guessing 0 gives 0.5).
    """

    name = "sine"
    title = "predict the next value of a sine wave of unknown frequency"
    symbols = ()
    labels = None
    per_step = True
    input_size = 1
    output_size = 1
    metric = "mean squared error of the next value, steps 10..39, held out (guessing 0 gives 0.5)"
    higher_is_better = False
    goal = 0.005
    stop_at = 0.002
    claim = "MSE ≤ 0.005 on held-out waves (guessing 0 scores 0.5)"
    hidden_size = 16
    steps = 500
    batch_size = 32
    lr = 0.01
    length = 40
    warmup = 10

    def _draw(self, rng: np.random.Generator, n: int) -> Batch:
        omega = rng.uniform(0.15, 0.6, size=n)
        phase = rng.uniform(0, 2 * np.pi, size=n)
        t = np.arange(self.length + 1)[:, None]
        wave = np.sin(omega * t + phase).astype(np.float32)  # (L+1, N)
        y = wave[1:].copy()
        y[: self.warmup] = np.nan  # too early to know the frequency: not scored
        tokens = [[f"{v:+.1f}" for v in wave[:-1, i]] for i in range(n)]
        return Batch(wave[:-1, :, None].copy(), y, np.full(n, self.length, dtype=np.int64), tokens)
