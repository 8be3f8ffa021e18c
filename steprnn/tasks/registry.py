"""The built-in tasks by name."""
from __future__ import annotations

from .adding import Adding
from .anbn import AnBn
from .brackets import Brackets
from .copy_task import Copy
from .digits import Digits
from .sine import Sine
from .task import Task

__all__ = ["names", "get", "TASKS"]

TASKS: dict[str, type[Task]] = {t.name: t for t in (AnBn, Brackets, Adding, Copy, Sine, Digits)}


def names() -> list[str]:
    """``['anbn', 'brackets', 'adding', 'copy', 'sine', 'digits']``."""
    return list(TASKS)


def get(name: str | Task) -> Task:
    """The task called ``name`` (a ``Task`` is returned as it is)."""
    if isinstance(name, Task):
        return name
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}: the tasks are {', '.join(TASKS)}")
    return TASKS[name]()
