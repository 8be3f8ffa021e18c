"""The tracer: every gate, pre-activation and state of every step, as the kernels computed them.

``sr.trace(layer, x)`` records one layer or cell; ``with sr.tracing(model) as rec: model(x)``
records every recurrent layer inside a model. A ``Trace`` gives time-major ``(L, N, H)`` arrays,
``Step`` objects that write a step's equations with its numbers, and ``.npz`` files.
"""
from typing import Any

from .record import Recording, trace, tracing
from .spec import TraceMemoryError, set_memory_limit
from .trace import Trace

__all__ = ["Trace", "Step", "Recording", "trace", "tracing", "TraceMemoryError", "set_memory_limit"]


def __getattr__(name: str) -> Any:
    if name == "Step":  # loaded on first use (``import steprnn`` stays quick)
        from .step import Step

        return Step
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
