"""aⁿbⁿ: read a's then b's and say when the b's must stop — the LSTM counting task
(Gers & Schmidhuber 2001; Weiss, Goldberg & Yahav 2018)."""
from __future__ import annotations

import numpy as np

from .task import IGNORE, Batch, Task, one_hot

__all__ = ["AnBn"]


class AnBn(Task):
    """The string ``a…ab…b`` (n of each), one character per step; after every b the network predicts
    the next character: ``b`` while b's are still owed, ``$`` (end) after the n-th. During the a's the
    next character is not determined, so those steps carry no target.

    Training draws n from ``train_counts``; the held-out set is every n in 1..``max_count``, and the
    score is the fraction of those n whose every b-step is right. A network that scores 1.0 counts
    to 10 — including the counts it never saw in training.
    """

    name = "anbn"
    title = "count the a's, then predict where the b's end (aⁿbⁿ)"
    symbols = ("a", "b")
    labels = ("a", "b", "$")
    per_step = True
    input_size = 2
    output_size = 3
    metric = "fraction of n = 1..10 with every b-step right"
    goal = 1.0
    claim = "1.0: every count right up to n = 10, with n = 5 and 8 never seen in training"
    hidden_size = 8
    steps = 600
    batch_size = 32
    lr = 0.02
    max_count = 10
    heldout_counts = (5, 8)

    @property
    def train_counts(self) -> np.ndarray:
        """The n that training draws (1..max_count without the held-out ones)."""
        return np.array([n for n in range(1, self.max_count + 1) if n not in self.heldout_counts])

    def strings(self, counts: np.ndarray) -> Batch:
        """The batch of aⁿbⁿ for the given counts (in that order)."""
        counts = np.asarray(counts, dtype=np.int64)
        L = 2 * int(counts.max())
        t = np.arange(L)[:, None]  # (L, 1)
        n = counts[None, :]  # (1, N)
        sym = np.where(t < n, 0, np.where(t < 2 * n, 1, -1))  # (L, N): 0 = a, 1 = b, -1 = padding
        y = np.full((L, len(counts)), IGNORE, dtype=np.int64)
        y[(t >= n) & (t < 2 * n - 1)] = 1  # another b is owed
        end = 2 * counts - 1
        y[end, np.arange(len(counts))] = 2  # the n-th b: the string ends
        tokens = [["a"] * int(k) + ["b"] * int(k) for k in counts]
        return Batch(one_hot(sym, 2), y, 2 * counts, tokens)

    def _draw(self, rng: np.random.Generator, n: int) -> Batch:
        return self.strings(rng.choice(self.train_counts, size=n))

    def heldout(self) -> Batch:
        return self.strings(np.arange(1, self.max_count + 1))

    def example(self, seed: int = 0) -> Batch:
        """aⁿbⁿ with n = 8 (a held-out count); ``seed`` is ignored: the string is fixed by n."""
        return self.strings(np.array([8]))

    def score(self, prediction: np.ndarray, batch: Batch) -> float:
        guess = np.asarray(prediction).argmax(-1)  # (L, N)
        asked = batch.y != IGNORE
        right = np.where(asked, guess == batch.y, True).all(axis=0)  # (N,) every b-step right
        return float(np.mean(right))
