"""The ``steprnn`` command line."""
from __future__ import annotations

import argparse
import sys


def _demo(args: argparse.Namespace) -> int:
    """Run an LSTM and a GRU on random input and print the shapes next to PyTorch's documented ones."""
    import numpy as np

    import steprnn as sr
    import steprnn.nn as nn

    sr.manual_seed(args.seed)
    L, N, H_in, H, layers = 5, 3, 10, 20, 2
    x = np.random.default_rng(args.seed).standard_normal((L, N, H_in)).astype(np.float32)
    print(f"input x: (L={L}, N={N}, H_in={H_in})\n")
    rows = []
    lstm = nn.LSTM(H_in, H, num_layers=layers)
    out, (h_n, c_n) = lstm(x)
    rows += [("nn.LSTM(10, 20, num_layers=2)", "output", out.shape, (L, N, H)),
             ("", "h_n", h_n.shape, (layers, N, H)), ("", "c_n", c_n.shape, (layers, N, H))]
    gru = nn.GRU(H_in, H, num_layers=layers, bidirectional=True, batch_first=True)
    out, h_n = gru(x.transpose(1, 0, 2))
    rows += [("nn.GRU(10, 20, 2, batch_first=True, bidirectional=True)", "output", out.shape, (N, L, 2 * H)),
             ("", "h_n", h_n.shape, (2 * layers, N, H))]
    proj = nn.LSTM(H_in, H, proj_size=7)
    out, (h_n, c_n) = proj(x[:, 0])
    rows += [("nn.LSTM(10, 20, proj_size=7), unbatched", "output", out.shape, (L, 7)),
             ("", "h_n", h_n.shape, (1, 7)), ("", "c_n", c_n.shape, (1, H))]
    print(f"{'layer':56s} {'value':7s} {'steprnn':>14s} {'PyTorch docs':>14s}")
    ok = True
    for layer, name, got, want in rows:
        ok &= tuple(got) == want
        mark = "" if tuple(got) == want else "  <-- differs"
        print(f"{layer:56s} {name:7s} {str(tuple(got)):>14s} {str(want):>14s}{mark}")
    print("\nall shapes match PyTorch's" if ok else "\nSHAPES DIFFER")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="steprnn", description="PyTorch's recurrent layers on NumPy + Numba, with every gate recorded."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run an LSTM and a GRU on random input and print their shapes")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
