"""``sr.trace(layer, x)`` and ``with sr.tracing(model) as rec:``."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from .hooks import opened
from .spec import RecordSpec
from .trace import Trace


def _check_traceable(layer: Any) -> None:
    if not hasattr(layer, "_traced"):
        raise TypeError(
            "sr.trace takes a recurrent layer or cell (nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, "
            f"nn.GRUCell), got {type(layer).__name__}; for a whole model use `with sr.tracing(model) as rec:`"
        )


def trace(layer: Any, x: Any, hx: Any = None, *, layers: Any = None, batch: Any = None,
          max_bytes: int | None = None) -> Trace:
    """Run ``layer(x, hx)`` once, recording every gate, pre-activation and state of every step.

    ``layers`` and ``batch`` restrict what is kept (layer indices; batch elements in input order);
    a trace larger than ``max_bytes`` (default: half the available memory) is refused before the
    forward runs. The Trace's ``output``/``h_n``/``c_n`` are what the layer returned.
    """
    traced = getattr(layer, "_traced", None)
    if traced is None:
        _check_traceable(layer)
    return traced(x, hx, RecordSpec.make(layers, batch, max_bytes))[1]


class Recording:
    """The traces of every recurrent layer that ran inside a ``tracing`` block, by module name."""

    def __init__(self, model: Any, spec: RecordSpec) -> None:
        if not hasattr(model, "named_modules"):
            raise TypeError(f"sr.tracing takes an nn.Module, got {type(model).__name__}")
        self.spec = spec
        self._names = {id(m): name for name, m in model.named_modules() if hasattr(m, "_traced")}
        self._runs: dict[str, list[Trace]] = {}

    def covers(self, module: Any) -> bool:
        return id(module) in self._names

    def capture(self, module: Any, input: Any, hx: Any) -> Any:
        """Run ``module`` traced, keep its Trace, return what the module returns."""
        result, tr = module._traced(input, hx, self.spec)
        self._runs.setdefault(self._names[id(module)], []).append(tr)
        return result

    def __getitem__(self, name: str) -> Trace:
        """The last run's Trace of the submodule ``name`` (as in ``named_modules()``)."""
        if name not in self._runs:
            ran = ", ".join(repr(n) for n in self._runs) or "none"
            known = ", ".join(repr(n) for n in self._names.values())
            raise KeyError(f"no trace for {name!r}: recurrent modules that ran: {ran}; recurrent modules: {known}")
        return self._runs[name][-1]

    def runs(self, name: str) -> list[Trace]:
        """Every run's Trace of ``name``, in order (a layer called twice has two)."""
        self[name]
        return list(self._runs[name])

    def keys(self) -> list[str]:
        return list(self._runs)

    def __contains__(self, name: object) -> bool:
        return name in self._runs

    def __iter__(self) -> Iterator[str]:
        return iter(self._runs)

    def __len__(self) -> int:
        return len(self._runs)

    def __repr__(self) -> str:
        return f"Recording({ {n: len(r) for n, r in self._runs.items()} })"


@contextlib.contextmanager
def tracing(model: Any, *, layers: Any = None, batch: Any = None, max_bytes: int | None = None) -> Iterator[Recording]:
    """``with sr.tracing(model) as rec: model(x)`` records every recurrent layer that runs inside."""
    recording = Recording(model, RecordSpec.make(layers, batch, max_bytes))
    with opened(recording):
        yield recording
