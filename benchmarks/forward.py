"""steprnn vs PyTorch: forward of RNN, LSTM and GRU, same weights, same inputs, one process.

    python benchmarks/forward.py [--repeats 15] [--threads N] [--quick]

Runs are interleaved (torch, steprnn, torch, steprnn, ...) so that both see the same machine
state; the table shows median milliseconds and the ratio torch / steprnn (> 1: steprnn faster).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

import steprnn as sr
import steprnn.nn as nn

SIZES = [  # (T, B, I, H)
    (100, 1, 10, 32),
    (100, 8, 32, 64),
    (100, 32, 64, 128),
    (50, 32, 256, 256),
    (50, 64, 512, 512),
]


def _time(fn, inner: int = 1) -> float:
    """Seconds per call, over ``inner`` back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def bench(kind: str, T: int, B: int, I: int, H: int, repeats: int) -> tuple[float, float]:
    cls = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[kind]
    t_layer = getattr(torch.nn, cls)(I, H)
    s_layer = getattr(nn, cls)(I, H)
    s_layer.load_state_dict(t_layer.state_dict())
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    xt = torch.from_numpy(x)

    def run_torch():
        with torch.no_grad():
            t_layer(xt)

    def run_steprnn():
        with sr.no_grad():
            s_layer(x)

    return interleaved(run_torch, run_steprnn, repeats)


def interleaved(run_a, run_b, repeats: int) -> tuple[float, float]:
    """Median milliseconds per call of two functions, timed alternately after a warm-up."""
    for _ in range(2):  # warm-up: JIT compile, caches, thread pools
        run_a()
        run_b()
    inner = max(1, int(2e-3 / max(_time(run_b), 1e-6)))  # samples of >= 2 ms
    a_times, b_times = [], []
    for _ in range(repeats):
        a_times.append(_time(run_a, inner))
        b_times.append(_time(run_b, inner))
    return statistics.median(a_times) * 1e3, statistics.median(b_times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--kinds", default="rnn,lstm,gru")
    parser.add_argument("--quick", action="store_true", help="only the smallest and the largest size")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [SIZES[0], SIZES[-1]] if args.quick else SIZES
    print(f"threads: torch {torch.get_num_threads()}, cores {os.cpu_count()}; float32, forward only, "
          f"median of {args.repeats}")
    print(f"{'kind':5s} {'T':>4s} {'B':>4s} {'I':>4s} {'H':>4s} {'torch ms':>10s} {'steprnn ms':>11s} {'torch/steprnn':>14s}")
    for kind in args.kinds.split(","):
        for T, B, I, H in sizes:
            t_ms, s_ms = bench(kind, T, B, I, H, args.repeats)
            print(f"{kind:5s} {T:4d} {B:4d} {I:4d} {H:4d} {t_ms:10.3f} {s_ms:11.3f} {t_ms / s_ms:14.2f}", flush=True)


if __name__ == "__main__":
    main()
