"""Keep freed buffers in the process instead of handing them back to the OS at once.

A forward allocates its outputs, and a traced one its record buffers, afresh on every call. With
glibc's defaults, buffers above 128 KiB come from new ``mmap`` pages that fault on first write;
on the virtual machines we measured, a page fault costs about 1.4 µs, which doubled the time of a
traced LSTM forward at (T=100, B=8, H=64). Raising glibc's mmap and trim thresholds to 64 MiB lets
``malloc`` reuse freed memory instead. Set ``STEPRNN_MALLOC_TUNING=0`` to leave the allocator alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
THRESHOLD = 64 << 20


def tune_malloc() -> bool:
    """Raise glibc's mmap/trim thresholds (Linux only); returns whether it did."""
    if os.environ.get("STEPRNN_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, THRESHOLD))


TUNED = tune_malloc()
