"""The global random generator behind ``sr.manual_seed``, ``sr.randn`` and parameter initialisation."""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed steprnn's global generator (as ``torch.manual_seed``); returns the generator."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed expected an int, got {type(seed).__name__}")
    seed = int(seed)
    if not -(2**63) <= seed < 2**64:
        raise RuntimeError(
            f"Overflow when unpacking long long: manual_seed expected a seed in [-2**63, 2**64), got {seed}"
        )
    _generator = np.random.default_rng(seed % 2**64)  # negative seeds wrap around, as in PyTorch
    return _generator


def default_generator() -> np.random.Generator:
    """The generator that every random steprnn function draws from."""
    return _generator
