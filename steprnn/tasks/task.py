"""``Task`` and ``Batch``: what every built-in task is, and what its generator returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Task", "Batch", "one_hot", "IGNORE"]

IGNORE = -100  # a class target that no loss or score counts (CrossEntropyLoss's ignore_index)


def one_hot(indices: np.ndarray, size: int) -> np.ndarray:
    """(…,) integer symbols → (…, size) float32 one-hot rows; a negative index (padding) → zeros."""
    indices = np.asarray(indices)
    out = np.zeros(indices.shape + (size,), dtype=np.float32)
    valid = indices >= 0
    out[valid, indices[valid]] = 1.0
    return out


@dataclass
class Batch:
    """A batch drawn from a task, time-major as the recurrent layers take it.

    x        (L, N, I) float32 inputs (one-hot symbols, or the raw features of ``sine``/``digits``);
             steps past a sequence's length are zeros
    y        the targets: (L, N) int64 classes per step (``IGNORE`` where nothing is asked),
             (N,) int64 classes per sequence, (L, N) float32 values per step or (N,) float32 values
    lengths  (N,) int64 the length of each sequence
    tokens   N lists of strings, one per step (tick labels, ``token_strip``)
    """

    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray
    tokens: list[list[str]] = field(repr=False)

    def __len__(self) -> int:
        return self.x.shape[1]

    def __getitem__(self, index: Any) -> "Batch":
        """The sub-batch ``index`` (an int keeps a batch of one)."""
        idx = np.atleast_1d(np.arange(len(self))[index])
        L = int(self.lengths[idx].max())
        y = self.y[..., idx] if self.y.ndim == 1 else self.y[:L, idx]
        return Batch(self.x[:L, idx].copy(), y.copy(), self.lengths[idx].copy(), [self.tokens[i][:] for i in idx])

    @property
    def text(self) -> list[str]:
        """Each sequence's tokens joined into one string."""
        return ["".join(t) if all(len(s) == 1 for s in t) else " ".join(t) for t in self.tokens]


class Task:
    """A seeded, deterministic generator of one problem, with its metric and the score ``train`` reaches.

    Subclasses set the class attributes and write ``_draw(rng, n)``. ``batch(n, seed)`` is the same
    arrays for the same ``(n, seed)`` on every machine; ``heldout()`` is a fixed set that training
    never draws from.

    Attributes:
        name, title        the key in ``names()`` and one line saying what the network must do
        symbols            the input alphabet (one-hot position → character), empty for real-valued inputs
        labels             the output classes' names (``None`` for a regression)
        per_step           True when there is a target at every step, False for one per sequence
        input_size, output_size
        metric             what ``score`` measures; ``higher_is_better`` says which way is good
        goal               the score ``train`` reaches with the defaults (≥ goal, or ≤ goal for an error)
        stop_at            the validation score at which ``train`` stops early (beyond ``goal``, so
                           that the held-out score clears the goal with a margin)
        claim              the goal in words
        hidden_size, steps, batch_size, lr   ``train``'s defaults for this task
    """

    name: str = ""
    title: str = ""
    symbols: tuple[str, ...] = ()
    labels: tuple[str, ...] | None = None
    per_step: bool = True
    input_size: int = 0
    output_size: int = 0
    metric: str = "accuracy"
    higher_is_better: bool = True
    goal: float = 1.0
    stop_at: float = 1.0
    claim: str = ""
    hidden_size: int = 16
    steps: int = 400
    batch_size: int = 32
    lr: float = 0.01
    heldout_size: int = 256
    heldout_seed: int = 2**31 - 1

    # -- drawing ---------------------------------------------------------------------------------
    def _draw(self, rng: np.random.Generator, n: int) -> Batch:
        raise NotImplementedError

    def batch(self, n: int, seed: int | np.random.Generator = 0) -> Batch:
        """``n`` examples drawn with ``seed`` (an int, or a Generator to continue a stream)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"batch size must be a positive int, got {n!r}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        return self._draw(rng, int(n))

    def example(self, seed: int = 0) -> Batch:
        """One example (a batch of one), the one the figures show."""
        return self.batch(1, seed)

    def heldout(self) -> Batch:
        """The held-out set ``score`` is measured on: never drawn during training."""
        return self.batch(self.heldout_size, self.heldout_seed)

    # -- scoring ---------------------------------------------------------------------------------
    @property
    def loss(self) -> str:
        """``'cross_entropy'`` for classes, ``'mse'`` for values."""
        return "mse" if self.labels is None else "cross_entropy"

    def score(self, prediction: np.ndarray, batch: Batch) -> float:
        """The task's metric for a model's outputs ((L, N, C) or (N, C), or values) on ``batch``."""
        prediction = np.asarray(prediction)
        if self.labels is None:
            pred = prediction[..., 0] if prediction.ndim == batch.y.ndim + 1 else prediction
            keep = np.isfinite(batch.y)
            return float(np.mean((pred[keep] - batch.y[keep]) ** 2))
        guess = prediction.argmax(-1)
        keep = batch.y != IGNORE
        return float(np.mean(guess[keep] == batch.y[keep]))

    def reached(self, score: float) -> bool:
        """Whether ``score`` is at least as good as the goal this task states."""
        return score >= self.goal if self.higher_is_better else score <= self.goal

    def describe(self) -> str:
        """One paragraph: the task, its inputs and outputs, and what ``train`` reaches."""
        io = f"{self.input_size} inputs ({'one-hot ' + repr(''.join(self.symbols)) if self.symbols else 'real values'})"
        out = f"{self.output_size} {'classes' if self.labels is not None else 'value(s)'} {'per step' if self.per_step else 'per sequence'}"
        return f"{self.name}: {self.title}\n  {io} -> {out}\n  metric: {self.metric}; train reaches {self.claim}"

    def __repr__(self) -> str:
        return f"<task {self.name!r}: {self.title}>"
