"""Bracket depth: read text such as ``(a(bc)d)`` and say, at every character, how deep it is nested."""
from __future__ import annotations

import numpy as np

from .task import IGNORE, Batch, Task, one_hot

__all__ = ["Brackets"]


class Brackets(Task):
    """Random balanced strings over ``( ) a b c d``, 6 to ``max_len`` characters, nested at most
    ``max_depth`` deep. The target at each step is the depth after that character (0..max_depth):
    the network must keep a counter that ``(`` raises, ``)`` lowers and letters leave alone.
    The score is per-character accuracy on the held-out strings.
    """

    name = "brackets"
    title = "nesting depth of every character in text like (a(bc)d)"
    symbols = ("(", ")", "a", "b", "c", "d")
    max_depth = 4
    labels = tuple(str(d) for d in range(max_depth + 1))
    per_step = True
    input_size = 6
    output_size = max_depth + 1
    metric = "per-character depth accuracy on held-out strings"
    goal = 0.98
    stop_at = 0.995
    claim = "≥ 0.98 of held-out characters at the right depth"
    hidden_size = 16
    steps = 500
    batch_size = 32
    lr = 0.02
    min_len = 6
    max_len = 24

    def _draw(self, rng: np.random.Generator, n: int) -> Batch:
        lengths = rng.integers(self.min_len, self.max_len + 1, size=n)
        L = int(lengths.max())
        sym = np.full((L, n), -1, dtype=np.int64)
        depth = np.zeros(n, dtype=np.int64)
        depths = np.full((L, n), IGNORE, dtype=np.int64)
        u = rng.random((L, n))
        letters = rng.integers(2, 6, size=(L, n))
        for t in range(L):  # one step for the whole batch: depth must stay closable in the steps left
            left = lengths - t  # characters still to write, this one included
            live = left > 0
            must_close = depth >= left
            can_open = (depth < self.max_depth) & (depth + 1 <= left - 1)
            can_close = depth > 0
            open_ = can_open & (u[t] < 0.35)
            close = can_close & ((u[t] >= 0.65) | must_close)
            s = np.where(close, 1, np.where(open_, 0, letters[t]))
            depth = depth + (s == 0) - (s == 1)
            sym[t] = np.where(live, s, -1)
            depths[t] = np.where(live, depth, IGNORE)
        tokens = [[self.symbols[s] for s in sym[: lengths[i], i]] for i in range(n)]
        return Batch(one_hot(sym, 6), depths, lengths.astype(np.int64), tokens)

    def text(self, s: str) -> Batch:
        """A batch of one for your own string over ``( ) a b c d`` (the depth targets computed from it)."""
        bad = sorted(set(s) - set(self.symbols))
        if bad or not s:
            raise ValueError(f"brackets text must be a non-empty string over {''.join(self.symbols)!r}, got {s!r}")
        sym = np.array([self.symbols.index(ch) for ch in s])[:, None]
        depth = np.cumsum((sym == 0).astype(np.int64) - (sym == 1))
        if depth.min() < 0 or depth.max() > self.max_depth:
            raise ValueError(f"brackets text must nest 0..{self.max_depth} deep and never close an unopened bracket, got {s!r}")
        return Batch(one_hot(sym, 6), depth[:, None].copy(), np.array([len(s)]), [list(s)])

    def example(self, seed: int = 0) -> Batch:
        """A fixed string that goes three deep: ``(a(b(cd)a)((b)c)d)ab(c)``; ``seed`` is ignored."""
        return self.text("(a(b(cd)a)((b)c)d)ab(c)")
