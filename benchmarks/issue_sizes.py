"""steprnn vs PyTorch at the sizes of issue 14: forward, forward + backward, traced / untraced,
the GEMM floor at H = 256-512, and the fixed cost of one call.

    python benchmarks/issue_sizes.py [--quick] [--repeats 9] [--threads 2] [--device cpu|cuda]
                                     [--parts fwd,fb,trace,floor,fixed] [--stat median|min]
                                     [--order interleaved|blocks]

Ratios are torch_time / steprnn_time (> 1: steprnn faster), from medians of interleaved runs
(torch, steprnn, torch, ...) in one process, both on the same ``--threads`` threads; the
traced column is traced_time / untraced_time of steprnn (target <= 1.2).

``--order blocks`` times all of one side's samples, then all of the other's, each block after a
10 ms warm-up: PyTorch's OpenMP workers spin for a few milliseconds after each of its calls
(libgomp's default), taking one of two cores from the steprnn sample that follows an interleaved
torch sample (measured at LSTM (100, 64, 10, 32): steprnn's forward 0.71 ms alone, 1.0-1.1 ms for
the first 4 ms after a torch call; with ``GOMP_SPINCOUNT=1000`` the penalty goes, but torch slows).

The traced/untraced column is always timed interleaved (both sides are steprnn, and alternating
samples keep the machine's slow and fast phases out of the ratio: timed in blocks, the same code
read 1.05-1.6 at GRU (100, 32, 128, 256) between runs).

``--stat min`` takes each side's fastest sample instead: what the code does when nothing else
competes for the cores. On a shared virtual machine the median of a call can be twice its
minimum (measured here: a 1.2 ms BLAS product, median 2.2 ms), and the two sides need not be
hit alike, so a ratio that differs much between the two statistics is noise, not code.

The GEMM floor is the matrix products an LSTM/GRU forward cannot avoid, done as single BLAS
calls on the same threads: the input projection (T*B, I) x (I, G) plus T recurrent products
(B, H) x (H, G), G = 4H (LSTM) or 3H (GRU). ``floor torch`` uses torch.mm (oneDNN/MKL),
``floor numpy`` NumPy's BLAS. No pointwise work, no allocation.

``--device cuda`` builds the layers with ``device='cuda'`` and moves the torch modules to the
GPU; both are synchronised before the clock stops. Without a GPU it exits with one line.
"""
from __future__ import annotations

import os as _os
import sys as _sys

_sys.path.insert(1, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))  # this checkout's steprnn

import argparse
import os
import statistics
import sys
import time
from typing import Callable

import numpy as np
import torch

import steprnn as sr
import steprnn.nn as nn

#: (kind, T, B, I, H): the sizes of issue 14
SIZES = [
    ("lstm", 100, 1, 10, 32),
    ("lstm", 5, 64, 10, 32),
    ("lstm", 100, 64, 10, 32),
    ("lstm", 1000, 1, 10, 32),
    ("rnn", 100, 1, 10, 32),
    ("lstm", 100, 32, 128, 256),
    ("lstm", 50, 64, 512, 512),
    ("gru", 100, 32, 128, 256),
]
#: the fixed cost of one call
FIXED = ("lstm", 1, 1, 10, 32)
QUICK = [SIZES[0], SIZES[2], SIZES[4], SIZES[5]]

_CLS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _clock(fn: Callable[[], None], inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def interleaved(run_a: Callable[[], None], run_b: Callable[[], None], repeats: int,
                sample_s: float = 2e-3, stat: Callable[[list[float]], float] = statistics.median,
                order: str = "interleaved") -> tuple[float, float]:
    """Milliseconds per call of two functions, timed alternately after a warm-up: ``stat`` (the
    median unless told) of each one's samples. ``order="blocks"``: all of a's samples, then all
    of b's, each block after a warm-up of its own (``--order``)."""
    for _ in range(2):
        run_a()
        run_b()
    inner = max(1, int(sample_s / max(_clock(run_b, 1), _clock(run_a, 1), 1e-6)))
    a, b = [], []
    if order == "blocks":
        for run, samples in ((run_a, a), (run_b, b)):
            _clock(run, 5 * inner)  # ~10 ms: the other side's threads are idle again (torch's spin for a few ms)
            samples.extend(_clock(run, inner) for _ in range(repeats))
        return stat(a) * 1e3, stat(b) * 1e3
    for _ in range(repeats):
        a.append(_clock(run_a, inner))
        b.append(_clock(run_b, inner))
    return stat(a) * 1e3, stat(b) * 1e3


class Pair:
    """A torch layer and a steprnn layer with the same weights, and the same input."""

    def __init__(self, kind: str, T: int, B: int, I: int, H: int, device: str = "cpu") -> None:
        torch.manual_seed(0)
        self.device = device
        self.t_layer = getattr(torch.nn, _CLS[kind])(I, H)
        self.s_layer = getattr(nn, _CLS[kind])(I, H)
        self.s_layer.load_state_dict(self.t_layer.state_dict())
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((T, B, I)).astype(np.float32)
        self.w = rng.standard_normal((T, B, H)).astype(np.float32)
        self.xt = torch.from_numpy(self.x)
        self.wt = torch.from_numpy(self.w)
        self.xs, self.ws = self.x, sr.tensor(self.w)
        if device == "cuda":
            self.t_layer = self.t_layer.to("cuda")
            self.s_layer = self.s_layer.to("cuda")
            self.xt, self.wt = self.xt.to("cuda"), self.wt.to("cuda")
            self.xs, self.ws = sr.tensor(self.x).to("cuda"), self.ws.to("cuda")
        self.xt_g = self.xt.clone().requires_grad_()
        self.xs_g = sr.tensor(self.x, requires_grad=True) if device == "cpu" else \
            sr.tensor(self.x).to("cuda").requires_grad_()

    def _sync(self) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()
            sr.cuda.synchronize()

    def torch_forward(self) -> None:
        with torch.no_grad():
            self.t_layer(self.xt)
        self._sync()

    def steprnn_forward(self) -> None:
        with sr.no_grad():
            self.s_layer(self.xs)
        self._sync()

    def torch_fb(self) -> None:
        self.t_layer.zero_grad()
        self.xt_g.grad = None
        out, _ = self.t_layer(self.xt_g)
        (out * self.wt).sum().backward()
        self._sync()

    def steprnn_fb(self) -> None:
        self.s_layer.zero_grad()
        self.xs_g.grad = None
        out, _ = self.s_layer(self.xs_g)
        (out * self.ws).sum().backward()
        self._sync()

    def steprnn_traced(self) -> None:
        with sr.no_grad():
            sr.trace(self.s_layer, self.xs)
        self._sync()


def gemm_floor(kind: str, T: int, B: int, I: int, H: int, repeats: int,
               stat: Callable[[list[float]], float] = statistics.median) -> tuple[float, float]:
    """(torch ms, numpy ms) of the forward's products as single BLAS calls, preallocated outputs."""
    G = _GATES[kind] * H
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T * B, I)).astype(np.float32)
    w_ih = rng.standard_normal((I, G)).astype(np.float32)
    h = rng.standard_normal((B, H)).astype(np.float32)
    w_hh = rng.standard_normal((H, G)).astype(np.float32)
    xp, hh = np.empty((T * B, G), np.float32), np.empty((B, G), np.float32)
    tx, tw_ih, th, tw_hh = (torch.from_numpy(a) for a in (x, w_ih, h, w_hh))
    txp, thh = torch.from_numpy(xp), torch.from_numpy(hh)

    def with_torch() -> None:
        torch.mm(tx, tw_ih, out=txp)
        for _ in range(T):
            torch.mm(th, tw_hh, out=thh)

    def with_numpy() -> None:
        np.dot(x, w_ih, out=xp)
        for _ in range(T):
            np.dot(h, w_hh, out=hh)

    return interleaved(with_torch, with_numpy, repeats, stat=stat)


def _row(kind: str, T: int, B: int, I: int, H: int) -> str:
    return f"{kind:5s} {T:5d} {B:4d} {I:4d} {H:4d}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="four sizes, five repeats")
    parser.add_argument("--parts", default="fwd,fb,trace,floor,fixed",
                        help="comma-separated: fwd, fb, trace, floor, fixed")
    parser.add_argument("--sizes", default=None, help="indices into the size list, e.g. 0,2,5")
    parser.add_argument("--stat", choices=("median", "min"), default="median",
                        help="each side's median sample (default) or its fastest")
    parser.add_argument("--order", choices=("interleaved", "blocks"), default="interleaved",
                        help="alternate the two sides' samples (default), or time one side's samples "
                             "back to back, then the other's")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not (torch.cuda.is_available() and sr.cuda.is_available()):
        print("issue_sizes: --device cuda needs a CUDA GPU visible to both torch and steprnn; none here")
        return 1
    parts = set(args.parts.split(","))
    stat = min if args.stat == "min" else statistics.median
    repeats = 5 if args.quick else args.repeats
    sizes = QUICK if args.quick else SIZES
    if args.sizes:
        sizes = [SIZES[int(i)] for i in args.sizes.split(",")]
    torch.set_num_threads(args.threads)
    import numba

    from steprnn.kernels.cpu import backend  # noqa: F401  (chooses the kernels' threading layer first)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    layer = numba.threading_layer()
    print(f"device {args.device}; threads: torch {torch.get_num_threads()}, numba {numba.get_num_threads()} ({layer}), "
          f"cores {os.cpu_count()}; float32; {args.stat} of {repeats} samples, {args.order}; ratio = torch / steprnn")
    head = f"{'kind':5s} {'T':>5s} {'B':>4s} {'I':>4s} {'H':>4s}"
    cols = []
    if "fwd" in parts:
        cols.append(f"| {'fwd torch':>9s} {'steprnn':>8s} {'ratio':>6s} ")
    if "fb" in parts:
        cols.append(f"| {'f+b torch':>9s} {'steprnn':>8s} {'ratio':>6s} ")
    if "trace" in parts:
        cols.append(f"| {'traced/untraced':>15s}")
    print(head + " " + "".join(cols), flush=True)
    rows = sizes + ([FIXED] if "fixed" in parts else [])
    for size in rows:
        pair = Pair(*size, device=args.device)
        line = _row(*size) + " "
        if "fwd" in parts:
            t, s = interleaved(pair.torch_forward, pair.steprnn_forward, repeats, stat=stat, order=args.order)
            line += f"| {t:9.3f} {s:8.3f} {t / s:6.2f} "
        if "fb" in parts:
            t, s = interleaved(pair.torch_fb, pair.steprnn_fb, repeats, stat=stat, order=args.order)
            line += f"| {t:9.3f} {s:8.3f} {t / s:6.2f} "
        if "trace" in parts:
            # both sides steprnn: no other library's spinning workers to keep apart, so always
            # alternated, which cancels this VM's slow and fast phases out of the ratio
            u, tr = interleaved(pair.steprnn_forward, pair.steprnn_traced, repeats, stat=stat)
            line += f"| {tr / u:15.2f}"
        if size == FIXED:
            line += "   (fixed cost of one call)"
        print(line, flush=True)
    if "floor" in parts and args.device == "cpu":
        print("\nGEMM floor of the forward (input projection + T recurrent products), ms:")
        print(f"{head} {'torch.mm':>9s} {'np.dot':>8s}")
        for size in sizes:
            if size[4] >= 256:
                t, n = gemm_floor(*size, repeats, stat)
                print(f"{_row(*size)} {t:9.3f} {n:8.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
