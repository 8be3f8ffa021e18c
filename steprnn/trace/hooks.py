"""Which ``tracing`` recordings are open: the layers ask here whether to record themselves.

The open recordings belong to the context that opened them (a ``contextvars`` variable): a
``with sr.tracing(model)`` block records the layers that run in its own thread (or asyncio task),
never the calls another thread makes to the same model meanwhile.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator

#: open Recording objects of this context, innermost last
_ACTIVE: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar("steprnn_tracing", default=())


def active_recording(module: Any) -> Any:
    """The innermost recording open in this context that covers ``module``, or None."""
    for recording in reversed(_ACTIVE.get()):
        if recording.covers(module):
            return recording
    return None


@contextlib.contextmanager
def opened(recording: Any) -> Iterator[Any]:
    """``recording`` open in the current context for the duration of the block."""
    token = _ACTIVE.set(_ACTIVE.get() + (recording,))
    try:
        yield recording
    finally:
        try:
            _ACTIVE.reset(token)
        except ValueError:  # closed from another context (a generator finalised elsewhere)
            _ACTIVE.set(tuple(r for r in _ACTIVE.get() if r is not recording))
