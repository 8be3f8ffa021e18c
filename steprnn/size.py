"""``steprnn.Size``: the type of ``t.shape`` and ``t.size()``, a tuple that prints as PyTorch's ``torch.Size``."""
from __future__ import annotations

from typing import Any


class Size(tuple):
    """The sizes of a tensor's dims: a tuple of ints (``t.shape == (2, 3)`` holds) that prints as
    ``steprnn.Size([2, 3])``. ``numel()`` is the product of the sizes."""

    def __new__(cls, sizes: Any = ()) -> Size:
        if type(sizes) is not tuple:
            sizes = tuple(int(s) for s in sizes)
        return super().__new__(cls, sizes)

    def __repr__(self) -> str:
        return f"steprnn.Size({list(self)})"

    __str__ = __repr__

    def numel(self) -> int:
        """The number of elements a tensor of these sizes holds."""
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, key: Any) -> Any:
        out = super().__getitem__(key)
        return Size(out) if isinstance(key, slice) else out

    def __add__(self, other: Any) -> Size:
        return Size(tuple(self) + tuple(other))

    def __radd__(self, other: Any) -> Any:
        return Size(tuple(other) + tuple(self)) if isinstance(other, tuple) else NotImplemented

    def __reduce__(self) -> tuple:
        return (Size, (tuple(self),))
