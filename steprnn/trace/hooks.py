"""Which ``tracing`` recordings are open: the layers ask here whether to record themselves."""
from __future__ import annotations

from typing import Any

_ACTIVE: list[Any] = []  # open Recording objects, innermost last


def active_recording(module: Any) -> Any:
    """The innermost open recording that covers ``module``, or None."""
    for recording in reversed(_ACTIVE):
        if recording.covers(module):
            return recording
    return None
