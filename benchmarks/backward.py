"""steprnn vs PyTorch: forward + backward (BPTT) of RNN, LSTM and GRU, same weights and inputs.

    python benchmarks/backward.py [--repeats 11] [--threads N]

Each sample runs the forward, a loss Σ out ⊙ w, and backward into the input and every parameter;
runs are interleaved; the table shows median milliseconds and torch / steprnn (> 1: steprnn faster).
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import torch

import steprnn as sr
import steprnn.nn as nn
from forward import SIZES, interleaved


def bench(kind: str, T: int, B: int, I: int, H: int, repeats: int) -> tuple[float, float]:
    cls = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[kind]
    t_layer = getattr(torch.nn, cls)(I, H)
    s_layer = getattr(nn, cls)(I, H)
    s_layer.load_state_dict(t_layer.state_dict())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    w = rng.standard_normal((T, B, H)).astype(np.float32)
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w)
    xs, ws = sr.tensor(x, requires_grad=True), sr.tensor(w)

    def run_torch():
        t_layer.zero_grad()
        xt.grad = None
        out, _ = t_layer(xt)
        (out * wt).sum().backward()

    def run_steprnn():
        s_layer.zero_grad()
        xs.grad = None
        out, _ = s_layer(xs)
        (out * ws).sum().backward()

    return interleaved(run_torch, run_steprnn, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--kinds", default="rnn,lstm,gru")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads: torch {torch.get_num_threads()}, cores {os.cpu_count()}; float32, forward + backward, "
          f"median of {args.repeats}")
    print(f"{'kind':5s} {'T':>4s} {'B':>4s} {'I':>4s} {'H':>4s} {'torch ms':>10s} {'steprnn ms':>11s} {'torch/steprnn':>14s}")
    for kind in args.kinds.split(","):
        for T, B, I, H in SIZES:
            t_ms, s_ms = bench(kind, T, B, I, H, args.repeats)
            print(f"{kind:5s} {T:4d} {B:4d} {I:4d} {H:4d} {t_ms:10.3f} {s_ms:11.3f} {t_ms / s_ms:14.2f}", flush=True)


if __name__ == "__main__":
    main()
