"""``sr.cuda``: PyTorch's ``torch.cuda`` queries, so tutorials can pick their device unchanged.

steprnn's CUDA kernels are not part of this build yet, so ``is_available()`` is False whatever
the machine has, and a request for ``device='cuda'`` is refused with a message that says so.
The usual tutorial line therefore picks the CPU::

    device = sr.device("cuda" if sr.cuda.is_available() else "cpu")
    model.to(device)
"""
from __future__ import annotations

from typing import Any

from .devices import as_device

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all", "synchronize", "empty_cache",
           "current_device", "get_device_name"]


def is_available() -> bool:
    """Whether steprnn can run on a CUDA device: False in this build (no CUDA kernels yet)."""
    return False


def device_count() -> int:
    """How many CUDA devices steprnn can use: 0 in this build."""
    return 0


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return int(seed)


def manual_seed(seed: int) -> None:
    """Seed the CUDA generator, as ``torch.cuda.manual_seed``: nothing to seed without CUDA (a no-op
    that checks its argument, so tutorials that call it run unchanged)."""
    _check_seed(seed)


def manual_seed_all(seed: int) -> None:
    """Seed every CUDA generator: a checked no-op without CUDA, as ``manual_seed``."""
    _check_seed(seed)


def synchronize(device: Any = None) -> None:
    """Wait for CUDA work to finish: there is none, so this returns at once."""


def empty_cache() -> None:
    """Release cached CUDA memory: there is none, so this does nothing."""


def current_device() -> int:
    """Refused: there is no CUDA device (``is_available()`` is False)."""
    raise as_device_error()


def get_device_name(device: Any = None) -> str:
    """Refused: there is no CUDA device (``is_available()`` is False)."""
    raise as_device_error()


def as_device_error() -> RuntimeError:
    try:
        as_device("cuda")
    except RuntimeError as err:
        return err
    return RuntimeError("no CUDA device")  # pragma: no cover
