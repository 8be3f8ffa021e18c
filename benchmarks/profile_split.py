"""Where the time of one forward goes, at the sizes of issue 14 (steprnn only, CPU).

    python benchmarks/profile_split.py [--repeats 7] [--sizes 0,2]

Columns (median ms): ``total`` a layer call under no_grad; ``kernel`` the backend's forward kernel
called directly on prepared arrays; ``proj`` the input projection alone (the kernels' ``project``;
where the time loop makes W_ih x_t itself, ``jit.input_in_loop``, what that product would cost apart);
``recur`` the T recurrent products alone (the same products the kernel does, one per step per
thread, nothing else); ``pointwise`` = kernel − proj − recur (bias, activations, state update,
recording); ``alloc`` the arrays ``run_direction`` allocates; ``python`` = total − kernel − alloc.
"""
from __future__ import annotations

import os as _os
import sys as _sys

_sys.path.insert(1, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))  # this checkout's steprnn

import argparse
import statistics
import time

import numba
import numpy as np
from numba import njit, prange

import steprnn as sr
import steprnn.nn as nn
from steprnn._dispatch import backend_for
from steprnn.cell_kinds import KINDS
from steprnn.kernels.cpu import jit as kjit
from steprnn.kernels.cpu.threads import kernel_launch

from issue_sizes import SIZES

_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


@njit(parallel=True, nogil=True)
def _recurrent_only(parts, h, w_hh, T):
    """T products (rows, H) @ (H, G) per thread chunk, as the kernels' time loop does them
    (``add_times``: register tiles or BLAS, by the kernels' own rule)."""
    N = h.shape[0]
    bounds = kjit.chunk_bounds(N, parts)
    for k in prange(bounds.shape[0] - 1):
        lo, hi = bounds[k], bounds[k + 1]
        plan = kjit.product_plan(w_hh, hi - lo, T)
        acc = np.zeros((hi - lo, w_hh.shape[1]), dtype=h.dtype)
        for _ in range(T):
            kjit.add_times(acc, h[lo:hi], plan)


def _median_ms(fn, repeats: int) -> float:
    fn()
    fn()
    t = []
    for _ in range(repeats):
        inner = 3
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        t.append((time.perf_counter() - t0) / inner)
    return statistics.median(t) * 1e3


def split(kind: str, T: int, B: int, I: int, H: int, repeats: int) -> dict[str, float]:
    layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](I, H)
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    backend = backend_for("cpu")
    G = _GATES[kind] * H
    spec = KINDS[kind]
    w_ih_t = np.ascontiguousarray(layer.weight_ih_l0.detach().numpy().T)
    w_hh_t = np.ascontiguousarray(layer.weight_hh_l0.detach().numpy().T)
    b_ih, b_hh = layer.bias_ih_l0.detach().numpy(), layer.bias_hh_l0.detach().numpy()
    x2 = x.reshape(T * B, I)
    active = np.full(T, B, dtype=np.int64)
    hs = np.zeros((T, B, H), np.float32)
    h = np.zeros((B, H), np.float32)
    c = np.zeros((B, H), np.float32)
    gates = np.empty((1, B * spec.gate_width * H), np.float32) if spec.gate_width else None
    pre = np.empty((1, B * spec.pre_width * H), np.float32)
    cells = np.empty((1, B * H), np.float32) if spec.has_cell_state else None
    rec = tuple(a for a in (gates, pre, cells) if a is not None)
    parts = numba.get_num_threads()

    def total():
        with sr.no_grad():
            layer(x)

    def kernel():
        if kind == "lstm":
            backend.lstm_forward(x2, (w_ih_t, w_hh_t, np.zeros((0, 0), np.float32)), (b_ih, b_hh), active, False,
                                 hs, (h, c), rec)
        elif kind == "gru":
            backend.gru_forward(x2, (w_ih_t, w_hh_t), (b_ih, b_hh), active, False, hs, (h,), rec)
        else:
            backend.rnn_forward(x2, (w_ih_t, w_hh_t), (b_ih, b_hh), active, False, False, hs, (h,), rec)

    def proj():
        with kernel_launch():
            kjit.project(parts, x2, w_ih_t, b_ih)

    def recur():
        with kernel_launch():
            _recurrent_only(parts, h, w_hh_t, T)

    def alloc():
        np.ascontiguousarray(x).reshape(T * B, I)
        np.zeros((T, B, H), np.float32)
        np.array(h, order="C")
        np.array(c, order="C")
        np.empty((1, B, spec.gate_width * H), np.float32)
        np.empty((1, B, spec.pre_width * H), np.float32)
        np.empty((1, B, H), np.float32)
        np.empty((T * B, G), np.float32)  # the projection's output

    out = {name: _median_ms(fn, repeats) for name, fn in
           (("total", total), ("kernel", kernel), ("proj", proj), ("recur", recur), ("alloc", alloc))}
    out["pointwise"] = out["kernel"] - out["proj"] - out["recur"]
    out["python"] = out["total"] - out["kernel"] - out["alloc"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", default=None)
    args = parser.parse_args()
    from steprnn.kernels.cpu import backend  # noqa: F401  (threading layer first)
    sizes = SIZES if not args.sizes else [SIZES[int(i)] for i in args.sizes.split(",")]
    cols = ("total", "kernel", "proj", "recur", "pointwise", "alloc", "python")
    print(f"forward, float32, numba threads {numba.get_num_threads()}; median ms")
    print(f"{'kind':5s} {'T':>5s} {'B':>4s} {'I':>4s} {'H':>4s} " + " ".join(f"{c:>9s}" for c in cols))
    for size in sizes:
        r = split(*size, args.repeats)
        print(f"{size[0]:5s} {size[1]:5d} {size[2]:4d} {size[3]:4d} {size[4]:4d} "
              + " ".join(f"{r[c]:9.3f}" for c in cols), flush=True)


if __name__ == "__main__":
    main()
