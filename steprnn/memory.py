"""How much memory a forward, its backward or its trace will allocate, and how much there is.

One place for both sides of the check that runs before any kernel does:

* :func:`available_memory` — the least of what the machine has free (``MemAvailable``), what the
  process may still map under its own ``RLIMIT_AS`` (``ulimit -v``), and what its cgroup
  (``memory.max`` in a container or a batch job) still allows;
* :func:`run_nbytes` — every buffer a recurrent layer's forward allocates (and, when it keeps its
  graph, what it keeps for backward and what the backward then allocates);
* :func:`trace_nbytes` — what a trace keeps: recorded buffers, the copied inputs, states and weights;
* :func:`check_allocation` — refuses with the size needed and the size available.
"""
from __future__ import annotations

import os
from typing import Any

from .cell_kinds import KINDS

__all__ = ["OutOfMemoryError", "available_memory", "check_allocation", "format_bytes", "kept_for_backward",
           "run_nbytes", "trace_nbytes"]

#: below this, an allocation is not worth a look at /proc
SMALL = 32 << 20

#: (activated gate rows, pre-activation rows) per unit, per cell kind (GRU keeps W_hn h + b_hn too)
#: (weight rows, pre-activation rows) per unit, per cell kind, from the cell-kind table
_ROWS = {name: (k.rows_per_unit, k.pre_width) for name, k in KINDS.items()}


class OutOfMemoryError(RuntimeError):
    """An operation that would not fit in the memory left; raised before it allocates anything
    (``torch.OutOfMemoryError`` is a RuntimeError too)."""


def format_bytes(n: float) -> str:
    """``1536`` → ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)  # pragma: no cover


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except (OSError, ValueError):
        return None
    return int(text) if text.isdigit() else None  # 'max' (v2): no limit


def _meminfo() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _address_space_left() -> int | None:
    """Bytes the process may still map under RLIMIT_AS (None: no limit)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = 0
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    used = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return max(soft - used, 0)


def _cgroup_left() -> int | None:
    """Bytes the process's cgroup still allows (v2 ``memory.max``, v1 ``memory.limit_in_bytes``)."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    best = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2
            bases, limit_name, usage_name = ["/sys/fs/cgroup"], "memory.max", "memory.current"
        elif "memory" in controllers.split(","):  # v1
            bases, limit_name, usage_name = ["/sys/fs/cgroup/memory"], "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        for base in bases:
            for folder in (base + path.rstrip("/"), base):  # inside a container the cgroup is the root
                limit = _read_int(os.path.join(folder, limit_name))
                if limit is None or limit >= 1 << 60:  # absent, 'max', or v1's "unlimited"
                    continue
                usage = _read_int(os.path.join(folder, usage_name)) or 0
                left = max(limit - usage, 0)
                best = left if best is None else min(best, left)
                break
    return best


def available_memory() -> int:
    """Bytes this process can still allocate: the least of MemAvailable (or physical memory),
    RLIMIT_AS minus the address space in use, and the cgroup's limit minus its usage."""
    candidates = [v for v in (_meminfo(), _address_space_left(), _cgroup_left()) if v is not None]
    if not candidates:
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
            return 8 << 30
    return min(candidates)


def check_allocation(nbytes: int, what: str) -> None:
    """Refuse, before anything is allocated, ``what`` needing ``nbytes`` more than is available."""
    if nbytes < SMALL:
        return
    free = available_memory()
    if nbytes > free:
        raise OutOfMemoryError(
            f"{what} would allocate {format_bytes(nbytes)}, more than the {format_bytes(free)} this process "
            "can still allocate (the least of free memory, `ulimit -v` and the cgroup's memory limit): use a "
            "shorter sequence, a smaller batch, or float32"
        )


def _sizes(module: Any) -> tuple[str, int, int, int, int, int, int, int]:
    """(kind, I, H, P, num_layers, D, itemsize, bias) of a layer or cell."""
    H = module.hidden_size
    proj = getattr(module, "proj_size", 0) or 0
    return (module.kind, module.input_size, H, proj if proj > 0 else H, getattr(module, "num_layers", 1),
            getattr(module, "num_directions", 1), module.dtype.itemsize, int(bool(module.bias)))


def _weights(kind: str, I_l: int, H: int, P: int, bias: int, proj: bool) -> int:
    """Elements of one layer and direction's parameters."""
    G = _ROWS[kind][0] * H
    return G * (I_l + P) + 2 * G * bias + (P * H if proj else 0)


def _record_width(kind: str, H: int, P: int) -> int:
    """Elements per (step, batch row) that a recorded layer and direction keeps: gates, pre, c, h."""
    return KINDS[kind].record_width(H, P)


def kept_for_backward(kind: str, I_l: int, H: int, P: int, D: int, rows: int) -> int:
    """Elements one layer's forward keeps for backward over ``rows`` = T*N: its input and each
    direction's records of every step (gates, pre-activations, c_t, h_t), less the
    pre-activations the forward does not keep (``cell_kinds.CellKind.kept_pre``: the kind's backward
    does not read them; a Trace recomputes them)."""
    width = _record_width(kind, H, P) - (KINDS[kind].pre_width - KINDS[kind].kept_pre_width) * H
    return rows * I_l + D * rows * width


def run_nbytes(module: Any, T: int, N: int, graph: bool) -> int:
    """Peak bytes a (T, N) forward of ``module`` allocates (with ``graph``: plus what it keeps for
    backward and the backward's own working set).

    Untraced, each layer holds its input's contiguous copy, each direction's states ``hs``, the
    concatenated output and the dropout mask, while the kernels write into one-step scratch
    buffers. Kept for backward: every layer's input and every direction's recorded buffers
    (``kept_for_backward``); the backward then needs the previous states, dL/dh (and dL/dc),
    dL/d(pre-activation) and dL/dx.
    """
    kind, I, H, P, L, D, item, bias = _sizes(module)
    rows = T * N
    gate, pre = _ROWS[kind]
    peak = kept = 0
    for layer in range(L):
        I_l = I if layer == 0 else D * P
        working = rows * I_l + D * rows * P + rows * D * P + 2 * rows * D * P  # x copy, hs, concat, dropout
        working += D * (N * (gate + pre + 1) * H + _weights(kind, I_l, H, P, bias, P != H))  # scratch, W^T
        if graph:
            kept += kept_for_backward(kind, I_l, H, P, D, rows)
            backward = rows * (3 * P + 2 * I_l + (2 if kind == "gru" else 1) * gate * H
                               + (3 * H if kind == "lstm" else 0)) + rows * D * P
            working = max(working, backward)
        peak = max(peak, kept + working)
    return peak * item


def trace_nbytes(module: Any, T: int, N: int, layers: Any = None, batch: Any = None) -> tuple[int, int]:
    """(bytes a trace of a (T, N) forward keeps, bytes of one layer and direction's recorded buffers).

    ``layers``/``batch``: what is recorded (None: all). Counted: each recorded layer and
    direction's gates, pre-activations, cell and hidden states and input, for the rows kept; the
    copies of the initial states and of the parameters the kernels used; and, when only some rows
    are kept, one full-width buffer from which they are taken.
    """
    kind, I, H, P, L, D, item, bias = _sizes(module)
    n_keep = N if batch is None else len(batch)
    recorded = range(L) if layers is None else layers
    width = _record_width(kind, H, P)
    elements = 0
    for layer in recorded:
        I_l = I if layer == 0 else D * P
        elements += D * (T * n_keep * (width + I_l) + _weights(kind, I_l, H, P, bias, P != H))
        elements += D * n_keep * (P + (H if kind == "lstm" else 0))  # h0 (and c0), copied
    full = T * N * width * item
    return elements * item + (full if n_keep < N else 0), full
