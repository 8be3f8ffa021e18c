"""Grad mode: ``sr.no_grad``, ``sr.enable_grad``, ``sr.set_grad_enabled``, ``sr.is_grad_enabled``.

As in PyTorch the mode is per thread, and each of the three is both a context manager and a
decorator (``@sr.no_grad()`` and plain ``@sr.no_grad``).
"""
from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether operations now record the graph that ``backward()`` walks (``torch.is_grad_enabled``)."""
    return getattr(_state, "enabled", True)


def _set(mode: bool) -> None:
    _state.enabled = bool(mode)


class _GradModeContext:
    """A context manager that sets grad mode on entry and restores it on exit; also a decorator."""

    _mode: bool

    def __enter__(self) -> None:
        self._prev = is_grad_enabled()
        _set(self._mode)

    def __exit__(self, *exc: object) -> None:
        _set(self._prev)

    def clone(self) -> _GradModeContext:
        return self.__class__()

    def __call__(self, func: F) -> F:
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def generator(*args: Any, **kwargs: Any) -> Any:
                gen = func(*args, **kwargs)
                with self.clone():
                    value = next(gen)
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        with self.clone():
                            gen.close()
                        raise
                    except BaseException as err:  # noqa: BLE001 - forwarded into the generator
                        with self.clone():
                            value = gen.throw(err)
                    else:
                        try:
                            with self.clone():
                                value = gen.send(sent)
                        except StopIteration as stop:
                            return stop.value
            return generator  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.clone():
                return func(*args, **kwargs)
        return wrapper  # type: ignore[return-value]


class _NoParamDecorator(_GradModeContext):
    # ``@sr.no_grad`` without parentheses decorates the function directly, as in PyTorch >= 2.0
    def __new__(cls, orig_func: Callable[..., Any] | None = None) -> Any:
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamDecorator):
    """Disable graph recording: ``with sr.no_grad(): ...``, ``@sr.no_grad()`` or ``@sr.no_grad``.

    Results computed inside have ``requires_grad=False`` even from inputs that require grad.
    """

    _mode = False

    def __init__(self, orig_func: Callable[..., Any] | None = None) -> None:
        pass


class enable_grad(_NoParamDecorator):
    """Re-enable graph recording inside a ``no_grad`` block (``torch.enable_grad``)."""

    _mode = True

    def __init__(self, orig_func: Callable[..., Any] | None = None) -> None:
        pass


class set_grad_enabled(_GradModeContext):
    """``sr.set_grad_enabled(False)`` switches recording off at once (as a function call) and,
    used as ``with sr.set_grad_enabled(mode):``, restores the previous mode on exit."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled() expected a bool, got {type(mode).__name__}")
        self._prev = is_grad_enabled()
        self._mode = mode
        _set(mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _set(self._prev)

    def __call__(self, func: F) -> F:
        # as a decorator the mode applies inside calls only: undo the switch made by __init__
        _set(self._prev)
        return super().__call__(func)

    def clone(self) -> _GradModeContext:
        """A fresh context setting the same mode (what the decorator enters per call)."""
        return _Scoped(self._mode)


class _Scoped(_GradModeContext):
    def __init__(self, mode: bool) -> None:
        self._mode = mode
