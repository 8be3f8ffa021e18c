"""What tracing costs: a traced forward (sr.trace) against an untraced one, same layer and input.

    python benchmarks/trace_overhead.py [--repeats 15]

Both run the same kernels; the traced one writes every step's gates, pre-activations and states
into arrays it keeps (the untraced one overwrites a one-step scratch area). Medians, interleaved.
"""
from __future__ import annotations

import argparse

import numpy as np

import steprnn as sr
import steprnn.nn as nn
from forward import SIZES, interleaved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"float32 forward, median of {args.repeats}; ratio = traced / untraced (target <= 1.3)")
    print(f"{'kind':5s} {'T':>4s} {'B':>4s} {'I':>4s} {'H':>4s} {'untraced ms':>12s} {'traced ms':>10s} {'ratio':>6s}")
    for kind in ("rnn", "lstm", "gru"):
        for T, B, I, H in SIZES:
            layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](I, H)
            x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
            def plain():
                with sr.no_grad():
                    layer(x)

            def traced():
                with sr.no_grad():
                    sr.trace(layer, x)

            um, tm = interleaved(plain, traced, args.repeats)
            print(f"{kind:5s} {T:4d} {B:4d} {I:4d} {H:4d} {um:12.3f} {tm:10.3f} {tm / um:6.2f}", flush=True)


if __name__ == "__main__":
    main()
