"""``sr.cuda``: PyTorch's ``torch.cuda`` queries, so tutorials can pick their device unchanged.

``is_available()`` is True when numba-cuda is installed (the ``gpu`` extra) and
``numba.cuda.is_available()`` (a CUDA GPU and driver, or Numba's simulator); steprnn uses one
device, ``cuda:0``. Without CUDA, a request for ``device='cuda'`` is refused with the reason::

    device = sr.device("cuda" if sr.cuda.is_available() else "cpu")
    model.to(device)
"""
from __future__ import annotations

from typing import Any

from .devices import as_device, cuda_status, require_cuda

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all", "synchronize", "empty_cache",
           "current_device", "get_device_name", "unavailable_reason"]


def is_available() -> bool:
    """Whether steprnn can run on a CUDA device here (numba-cuda installed and a GPU found)."""
    return cuda_status()[0]


def unavailable_reason() -> str:
    """Why ``is_available()`` is False (``''`` when it is True)."""
    return cuda_status()[1]


def device_count() -> int:
    """How many CUDA devices steprnn can use: 1 (``cuda:0``) when CUDA is available, else 0."""
    return 1 if is_available() else 0


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return int(seed)


def manual_seed(seed: int) -> None:
    """Seed the CUDA generator, as ``torch.cuda.manual_seed``. steprnn draws random values on the
    host from its one generator (``sr.manual_seed``), on either device, so this only checks its
    argument (tutorials that call it run unchanged)."""
    _check_seed(seed)


def manual_seed_all(seed: int) -> None:
    """Seed every CUDA generator: a checked no-op, as ``manual_seed``."""
    _check_seed(seed)


def synchronize(device: Any = None) -> None:
    """Wait until the work queued on the CUDA device has finished (returns at once without CUDA)."""
    if device is not None:
        as_device(device)
    if is_available():
        require_cuda().synchronize()


def empty_cache() -> None:
    """Release cached CUDA memory: steprnn keeps no cache of its own, so this does nothing."""


def current_device() -> int:
    """0, the index of the CUDA device steprnn uses; refused when CUDA is not available."""
    as_device("cuda")
    return 0


def get_device_name(device: Any = None) -> str:
    """The GPU's name (``'NVIDIA H100 80GB HBM3'``); refused when CUDA is not available."""
    as_device("cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))
    dev = require_cuda().get_current_device()
    name = getattr(dev, "name", None)
    if name is None:
        return "Numba CUDA simulator"
    return name.decode() if isinstance(name, bytes) else str(name)


def as_device_error() -> RuntimeError:
    """The error a CUDA request gets here (for messages that point to it)."""
    try:
        as_device("cuda")
    except RuntimeError as err:
        return err
    return RuntimeError("CUDA is available")  # pragma: no cover
