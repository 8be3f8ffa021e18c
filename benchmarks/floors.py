"""The machine's limits under issue 14's targets: how fast the products and the gate arithmetic
of an LSTM forward can run here at all, and what that leaves of each target.

    python benchmarks/floors.py [--repeats 7] [--threads 2]

Three tables (float32, ``--threads`` threads, the fastest of ``--repeats`` samples):

1. Matrix products, GFMA/s (multiply-adds per second), at the shapes of the issue's layers:
   ``torch.mm`` (oneDNN/MKL) and NumPy's BLAS (``np.dot``, OpenBLAS) on all threads, and steprnn's
   register tiles (``tiles.panel_product``, the recurrent product of every CPU kernel) on one
   thread and on every thread (each its own rows, as the kernels split a batch). The tiles' rate
   with W in L1 (one 8-row tile over one panel) is the core's peak as far as Numba reaches it.
2. The LSTM cell's gate arithmetic alone (``lstm.lstm_cell_lanes``: three sigmoids, two tanh, the
   state update, on a block in cache): nanoseconds per hidden unit and step, one thread; beside it
   the same arithmetic by PyTorch's vectorised ops on one thread, in place (a sigmoid over the four
   gates' block, which computes one sigmoid more than the cell needs, so it is an upper bound).
3. The forward's floor (a lower bound) at each LSTM size with H <= 64: its multiply-adds at the tiles' peak plus its units at the
   cell's rate, both on all threads with nothing else (no launch, no Python, no memory traffic),
   beside PyTorch's forward and the target (``--target`` x PyTorch). A floor above the target's
   time means no CPU kernel of this design reaches it on this machine.
"""
from __future__ import annotations

import os as _os
import sys as _sys

_sys.path.insert(1, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))  # this checkout's steprnn

import argparse
import time
from typing import Callable

import numba
import numpy as np
import torch
from numba import njit, prange

from steprnn.cell_kinds import KINDS
from steprnn.kernels.cpu import lstm, tiles
from steprnn.kernels.cpu.options import JIT
from steprnn.kernels.cpu.threads import kernel_launch

from issue_sizes import SIZES, Pair, interleaved

@njit(**JIT)
def _tile_in_l1(out, v, wp, reps):
    """One 8-row tile over one panel, ``reps`` times: everything in L1."""
    for _ in range(reps):
        tiles._tile8(out, 0, 0, v, wp, 0)


@njit(**JIT)
def _products_one(out, v, wp, tail, reps):
    for _ in range(reps):
        tiles.panel_product(out, v, wp, tail)


@njit(parallel=True, **JIT)
def _products_all(outs, vs, wp, tails, reps):
    """Each thread its own rows (``vs[k]``), all threads one W, as the kernels run a batch."""
    for k in prange(outs.shape[0]):
        for _ in range(reps):
            tiles.panel_product(outs[k], vs[k], wp, tails[k])


@njit(**JIT)
def _cells(a, gt, cr, c, h, reps):
    """The LSTM cell's lanes over every row of a block, ``reps`` times."""
    for _ in range(reps):
        for q in range(c.shape[0]):
            lstm.lstm_cell_lanes(a, gt, cr, c, q, q, h, q, h, q, c.shape[1])


def _best(fn: Callable[[], None], repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _reps(work: float, target: float = 0.02, rate: float = 5e10) -> int:
    return max(1, int(target * rate / work))


def gemm_rates(repeats: int, threads: int) -> tuple[list[str], float]:
    """Table 1; returns its lines and the tiles' in-L1 rate of one thread (GFMA/s)."""
    rng = np.random.default_rng(0)
    lines = [f"{'product (M, K) @ (K, N)':30s} {'torch.mm':>9s} {'np.dot':>9s} {'tiles 1t':>9s} {'tiles all':>9s}"]
    shapes: list[tuple[str, int, int, int]] = []
    for kind, T, B, I, H in SIZES:
        G = KINDS[kind].rows_per_unit * H
        shapes.append((f"{kind} {H}: proj", T * B, I, G))
        shapes.append((f"{kind} {H}: W_hh, B={B}", B, H, G))
    seen = set()
    for label, M, K, N in shapes:
        if (M, K, N) in seen:
            continue
        seen.add((M, K, N))
        a = rng.standard_normal((M, K)).astype(np.float32)
        w = rng.standard_normal((K, N)).astype(np.float32)
        ta, tw = torch.from_numpy(a), torch.from_numpy(w)
        work = float(M) * K * N
        reps = _reps(work)
        t_torch = _best(lambda: [torch.mm(ta, tw) for _ in range(reps)], repeats) / reps
        t_np = _best(lambda: [np.dot(a, w) for _ in range(reps)], repeats) / reps
        wp = tiles.pack_panels(w)
        tail = np.zeros((tiles.TILE_ROWS, tiles.panel_width(w)), np.float32)
        out = np.zeros((M, N), np.float32)
        t_one = _best(lambda: _products_one(out, a, wp, tail, reps), repeats) / reps
        rows = max(1, M // threads)
        vs = np.ascontiguousarray(np.broadcast_to(a[:rows], (threads, rows, K)))
        outs = np.zeros((threads, rows, N), np.float32)
        tails = np.zeros((threads,) + tail.shape, np.float32)
        with kernel_launch():
            t_all = _best(lambda: _products_all(outs, vs, wp, tails, reps), repeats) / reps
        all_work = float(threads * rows) * K * N
        lines.append(f"{label + f' ({M}, {K}) @ ({K}, {N})':30s} {work / t_torch / 1e9:9.0f} {work / t_np / 1e9:9.0f} "
                     f"{work / t_one / 1e9:9.0f} {all_work / t_all / 1e9:9.0f}")
    v = rng.standard_normal((8, 128)).astype(np.float32)
    wp = tiles.pack_panels(rng.standard_normal((128, 32)).astype(np.float32))
    out = np.zeros((8, 32), np.float32)
    reps = 100_000
    t_l1 = _best(lambda: _tile_in_l1(out, v, wp, reps), repeats) / reps
    peak = 8 * 32 * 128 / t_l1 / 1e9
    lines.append(f"{'one 8-row tile, W in L1':30s} {'':9s} {'':9s} {peak:9.0f}")
    return lines, peak


def cell_rate(repeats: int) -> float:
    """Table 2: ns per hidden unit and step of the LSTM cell's arithmetic, one thread."""
    rng = np.random.default_rng(0)
    n, H = 8, 256
    a = (rng.standard_normal(n * 4 * H) * 2).astype(np.float32)
    gt = np.empty_like(a)
    cr = np.empty(n * H, np.float32)
    c = rng.standard_normal((n, H)).astype(np.float32)
    h = np.empty_like(c)
    reps = 2000
    t = _best(lambda: _cells(a, gt, cr, c, h, reps), repeats) / reps
    return t / (n * H) * 1e9


def torch_cell_rate(repeats: int) -> float:
    """Table 2's cell in PyTorch on one thread (ATen's vectorised sigmoid and tanh, in place, no
    allocation): ns per hidden unit and step."""
    n, H = 8, 256
    g = torch.randn(n, 4 * H) * 2
    c = torch.randn(n, H)
    act = torch.empty_like(g)
    tc = torch.empty_like(c)
    h = torch.empty_like(c)
    ig = torch.empty_like(c)
    reps = 2000
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def cells() -> None:
        for _ in range(reps):
            torch.sigmoid(g, out=act)
            torch.tanh(g[:, 2 * H:3 * H], out=act[:, 2 * H:3 * H])
            torch.mul(act[:, :H], act[:, 2 * H:3 * H], out=ig)
            c.mul_(act[:, H:2 * H]).add_(ig)
            torch.tanh(c, out=tc)
            torch.mul(act[:, 3 * H:], tc, out=h)

    try:
        t = _best(cells, repeats) / reps
    finally:
        torch.set_num_threads(threads)
    return t / (n * H) * 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--target", type=float, default=3.0, help="the forward target, x PyTorch (issue: 3 at H <= 64)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    print(f"float32; threads {args.threads}; fastest of {args.repeats}\n")
    lines, peak = gemm_rates(args.repeats, args.threads)
    print("1. matrix products, GFMA/s")
    print("\n".join(lines))
    ns = cell_rate(args.repeats)
    ns_torch = torch_cell_rate(args.repeats)
    print(f"\n2. the LSTM cell's gate arithmetic, ns per hidden unit and step, one thread: steprnn {ns:.2f}, "
          f"PyTorch's ops {ns_torch:.2f}\n")
    print(f"3. the LSTM forward's floor (products at {peak:.0f} GFMA/s a thread, cells at {ns:.2f} ns a unit, "
          f"on {args.threads} threads), ms")
    print(f"{'kind':5s} {'T':>5s} {'B':>4s} {'I':>4s} {'H':>4s} | {'products':>8s} {'cells':>7s} {'floor':>7s} | "
          f"{'torch':>7s} {'target':>7s} {'floor/target':>12s}")
    for kind, T, B, I, H in SIZES:
        if kind != "lstm" or H > 64:
            continue
        G = 4 * H
        fma = float(T) * B * (I + H) * G
        t_products = fma / (peak * 1e9 * args.threads) * 1e3
        t_cells = T * B * H * ns * 1e-9 / args.threads * 1e3
        pair = Pair(kind, T, B, I, H)
        t_torch, _ = interleaved(pair.torch_forward, pair.steprnn_forward, args.repeats, stat=min, order="blocks")
        floor = t_products + t_cells
        target = t_torch / args.target
        print(f"{kind:5s} {T:5d} {B:4d} {I:4d} {H:4d} | {t_products:8.3f} {t_cells:7.3f} {floor:7.3f} | "
              f"{t_torch:7.3f} {target:7.3f} {floor / target:12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
