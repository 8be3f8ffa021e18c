"""``sr.device``: where a Tensor's values live (``'cpu'``; ``'cuda'`` once the CUDA kernels land)."""
from __future__ import annotations

from typing import Any

_TYPES = ("cpu", "cuda")


class device:
    """``sr.device('cpu')``, ``sr.device('cuda:0')``, ``sr.device('cuda', 0)``, as ``torch.device``.

    Compares equal to another device or to the string it prints as (``sr.device('cpu') == 'cpu'``).
    """

    __slots__ = ("index", "type")

    def __init__(self, type: Any, index: int | None = None) -> None:
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if type.__class__.__module__.startswith("torch"):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device() expected a string or a device, got {type.__class__.__name__}")
        name, _, idx = type.partition(":")
        if name not in _TYPES:
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {type}")
        if idx:
            if index is not None or not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(idx)
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise RuntimeError(f"Device index must not be negative, got {index}")
        self.type = name
        self.index = index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, TypeError):
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))


CPU = device("cpu")


def as_device(value: Any) -> device:
    """The device ``value`` names (``None`` → cpu); 'cuda' is refused: this build has no CUDA tensors."""
    dev = CPU if value is None else device(value)
    if dev.type == "cuda":
        raise RuntimeError(
            f"device '{dev}' is not available: steprnn tensors live on the CPU in this build "
            "(its CUDA kernels are not part of it); use device='cpu'"
        )
    return dev
