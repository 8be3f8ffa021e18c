"""What a traced forward records: which layers, which batch elements, and how much memory it may take."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .. import memory as _memory

_limit: int | None = None  # bytes; None: half the available memory
_ALWAYS_FITS = 32 << 20  # a trace smaller than this passes the default limit without reading /proc


def set_memory_limit(max_bytes: int | None) -> None:
    """The most memory a trace may take (bytes); ``None`` restores the default, half the available memory."""
    global _limit
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes <= 0):
        raise ValueError(f"max_bytes must be a positive number of bytes or None, got {max_bytes!r}")
    _limit = None if max_bytes is None else int(max_bytes)


def available_memory() -> int:
    """Bytes this process can still allocate (see ``steprnn.memory.available_memory``)."""
    return _memory.available_memory()


def _fmt(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)  # pragma: no cover


class TraceMemoryError(RuntimeError):
    """A trace that would not fit in the memory it may take; raised before the forward runs."""


def _indices(value: Any, what: str, bound: int | None = None) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        items: Sequence[Any] = [value]
    elif isinstance(value, (list, tuple, range, np.ndarray)):
        items = list(value)
    else:
        raise TypeError(f"{what} must be an int or a list of ints, got {value!r}")
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{what} must be an int or a list of ints, got {value!r}")
        out.append(int(v))
    if not out:
        raise ValueError(f"{what} must name at least one index, got {value!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"{what} must not name an index twice, got {value!r}")
    if bound is not None:
        bad = [v for v in out if not 0 <= v < bound]
        if bad:
            raise ValueError(f"{what} must lie in 0..{bound - 1}, got {bad}")
    return tuple(out)


@dataclass(frozen=True)
class RecordSpec:
    """Which layers and batch elements (input order) to record; ``None`` means all of them."""

    layers: tuple[int, ...] | None = None
    batch: tuple[int, ...] | None = None
    max_bytes: int | None = None

    @classmethod
    def make(cls, layers: Any = None, batch: Any = None, max_bytes: int | None = None) -> "RecordSpec":
        if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes <= 0):
            raise ValueError(f"max_bytes must be a positive number of bytes, got {max_bytes!r}")
        if layers is None and batch is None and max_bytes is None:
            return _EVERYTHING  # the common case: no checks to run, nothing to build
        return cls(_indices(layers, "layers"), _indices(batch, "batch"), max_bytes)

    def wants(self, layer: int) -> bool:
        return self.layers is None or layer in self.layers

    def check_layers(self, num_layers: int) -> None:
        if self.layers is not None:
            _indices(self.layers, "layers", num_layers)

    def rows(self, N: int, unsorted_indices: np.ndarray | None) -> np.ndarray | None:
        """The kernel's batch rows to keep, in the order asked for (None: all, in kernel order)."""
        if self.batch is None:
            return unsorted_indices
        _indices(self.batch, "batch", N)
        b = np.asarray(self.batch, dtype=np.int64)
        return b if unsorted_indices is None else unsorted_indices[b]

    def surely_fits(self, bound: int) -> bool:
        """Whether a trace of at most ``bound`` bytes passes ``check_memory`` without computing its size:
        the default limit, and less than what always fits."""
        return self.max_bytes is None and _limit is None and bound < _ALWAYS_FITS

    def check_memory(self, nbytes: int, full_direction_bytes: int, graph: bool = False) -> None:
        """Refuse, before anything runs, a trace larger than the limit.

        ``graph``: the forward keeps every layer and step for backward (grad mode on), so the size
        counts all of it, and only ``sr.no_grad()`` lets ``layers=``/``batch=`` save memory.
        """
        limit = self.max_bytes or _limit
        source = "max_bytes" if self.max_bytes else ("set_memory_limit" if _limit else "half the memory this process can still allocate")
        if limit is None:
            if nbytes < _ALWAYS_FITS:  # no need to ask the system
                return
            limit = available_memory() // 2
        if nbytes > limit:
            advice = ("With grad mode on, the forward keeps every layer and step for backward: trace under "
                      "`with sr.no_grad():` so that layers=/batch= record less, or " if graph else
                      "Record less: some layers (layers=[0]), some batch elements (batch=[0]), or ")
            raise TraceMemoryError(
                f"this trace would need {_fmt(nbytes)} (one layer and direction at a time: "
                f"{_fmt(full_direction_bytes)}), more than the limit of {_fmt(limit)} ({source}). "
                + advice + "a shorter sequence; or raise the limit (max_bytes=..., steprnn.trace.set_memory_limit)."
            )


_EVERYTHING = RecordSpec()  # every layer and batch element, the default limit (immutable: shared)
