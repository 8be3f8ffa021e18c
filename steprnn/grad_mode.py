"""``sr.no_grad`` (placeholder; completed by the autograd work)."""
import contextlib

_enabled = True


def is_grad_enabled() -> bool:
    return _enabled


@contextlib.contextmanager
def no_grad():
    global _enabled
    prev, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = prev
