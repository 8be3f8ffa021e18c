"""Handwritten digits read row by row: the classic "MNIST with an RNN" exercise, on the 8×8 UCI digits."""
from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources

import numpy as np

from .task import Batch, Task

__all__ = ["Digits", "load_digits"]


@lru_cache(maxsize=1)
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits shipped in ``steprnn/tasks/data/digits.csv.gz``: images (1797, 8, 8) float32
    in [0, 1] (the 0..16 pixel counts divided by 16) and labels (1797,) int64.

    UCI "Optical Recognition of Handwritten Digits" (Alpaydin & Kaynak, 1998), CC BY 4.0; the file is
    scikit-learn's copy. See ``steprnn/tasks/data/DIGITS-LICENSE.txt``.
    """
    path = resources.files("steprnn.tasks").joinpath("data", "digits.csv.gz")
    with path.open("rb") as raw, gzip.open(raw, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    images = (table[:, :64] / 16.0).astype(np.float32).reshape(-1, 8, 8)
    return images, table[:, 64].copy()


class Digits(Task):
    """A digit image is read one row per step: 8 steps of 8 pixel values. After the last row the
    network names the digit. A fixed fifth of the 1,797 images (chosen once, seed 0) is held out;
    training draws from the rest. The score is held-out accuracy.
    """

    name = "digits"
    title = "read an 8x8 handwritten digit row by row, then name it"
    symbols = ()
    labels = tuple(str(d) for d in range(10))
    per_step = False
    input_size = 8
    output_size = 10
    metric = "accuracy on the 360 held-out images"
    goal = 0.9
    stop_at = 0.95
    claim = "≥ 0.90 accuracy on the 360 held-out images (chance is 0.10)"
    hidden_size = 32
    steps = 500
    batch_size = 64
    lr = 0.01
    heldout_count = 360

    @staticmethod
    def _split() -> tuple[np.ndarray, np.ndarray]:
        order = np.random.default_rng(0).permutation(len(load_digits()[1]))
        return order[Digits.heldout_count:], order[:Digits.heldout_count]

    def images(self, index: np.ndarray) -> Batch:
        """The batch of the shipped images at ``index``."""
        images, labels = load_digits()
        index = np.asarray(index, dtype=np.int64)
        x = images[index].transpose(1, 0, 2).copy()  # (8 rows = steps, N, 8 pixels)
        tokens = [[f"row {r}" for r in range(8)] for _ in index]
        return Batch(x, labels[index].copy(), np.full(len(index), 8, dtype=np.int64), tokens)

    def _draw(self, rng: np.random.Generator, n: int) -> Batch:
        train, _ = self._split()
        return self.images(rng.choice(train, size=n))

    def heldout(self) -> Batch:
        return self.images(self._split()[1])

    def example(self, seed: int = 0) -> Batch:
        """One held-out image (the ``seed``-th)."""
        held = self._split()[1]
        return self.images(held[[seed % len(held)]])
