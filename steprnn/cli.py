"""The ``steprnn`` command line: ``steprnn figures``, ``steprnn trace``, ``steprnn demo``.

Every subcommand has ``--help``. A bad argument, an unknown task, a bad number or a path that
cannot be written gets one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

USAGE_ERROR = 2
ARCHS = ("lstm", "gru", "rnn")


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line on stderr (no usage block) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(USAGE_ERROR)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 0, got {text!r}")
    return value


def _task_name(text: str) -> str:
    from .tasks import names

    if text not in names():
        raise argparse.ArgumentTypeError(f"unknown task {text!r}: the tasks are {', '.join(names())}")
    return text


# -- paths: checked before any work starts -------------------------------------------------------
def writable_dir(path: Path) -> Path:
    """``path`` as a folder we can write into (created if missing), or a UsageError."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {str(path)!r} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create the folder {str(path)!r}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write into the folder {str(path)!r}: permission denied")
    return path


FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def writable_file(path: Path) -> Path:
    """``path`` as an image file we can write (its folder must exist), or a UsageError."""
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise UsageError(f"--out must name a {', '.join(FIGURE_SUFFIXES)} file, got {str(path)!r}")
    if path.is_dir():
        raise UsageError(f"--out {str(path)!r} is a folder; name the image file to write")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write {str(path)!r}: the folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"cannot write {str(path)!r}: permission denied")
    return path


# -- subcommands ---------------------------------------------------------------------------------
def _figures(args: argparse.Namespace) -> int:
    """Train the demo models and write the gallery."""
    out = writable_dir(Path(args.out))
    from .gallery import build

    try:
        build(out, quick=args.quick, progress=not args.no_progress)
    except OSError as e:  # the folder vanished or filled up while the gallery was being written
        raise UsageError(f"cannot write into {str(out)!r}: {e.strerror or e}") from None
    return 0


def _trace(args: argparse.Namespace) -> int:
    """Train (or not) one model on one task and write the trace figure of the task's example."""
    out = writable_file(Path(args.out or f"trace_{args.task}_{args.arch}.png"))
    from . import manual_seed, trace
    from .plot import trace_figure
    from .tasks import TaskModel, get, train

    task = get(args.task)
    hidden = args.hidden or task.hidden_size
    progress = not args.no_progress
    if args.untrained:
        manual_seed(args.seed)
        model = TaskModel(task, args.arch, hidden, args.layers, args.bidirectional)
        note = "untrained"
    else:
        result = train(task.name, args.arch, hidden, seed=args.seed, progress=progress,
                       num_layers=args.layers, bidirectional=args.bidirectional)
        model = result.model
        note = f"trained {result.steps} steps, {task.metric.split(' (')[0]} = {result.score:.3g}"
    example = task.example()
    tr = trace(model.rnn, example.x)
    top = args.layers - 1
    fig = trace_figure(tr, layer=top, direction=0, tokens=example.tokens[0])
    where = fig.get_suptitle() or args.arch.upper()  # e.g. 'GRU · layer 1 · forward · batch element 0'
    fig.suptitle(f"{where} on {task.name} ({note})", x=0.01, ha="left")
    try:
        fig.savefig(out)
    except OSError as e:
        raise UsageError(f"cannot write {str(out)!r}: {e.strerror or e}") from None
    print(f"wrote {out} ({note})")
    return 0


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


def parser() -> argparse.ArgumentParser:
    """The ``steprnn`` argument parser (every subcommand with its ``--help``)."""
    from .tasks import names

    top = _Parser(prog="steprnn",
                  description="PyTorch's recurrent layers on NumPy + Numba, with every gate recorded.")
    sub = top.add_subparsers(dest="command", required=True, metavar="{figures,trace,demo}", parser_class=_Parser)

    fig = sub.add_parser(
        "figures", help="train the demo models and write the figure gallery",
        description="Train small LSTM, GRU and RNN models on the built-in tasks (fixed seeds) and write the "
                    "gallery of PNG figures and a README.md describing them into --out.")
    fig.add_argument("--out", default="figures", metavar="DIR", help="folder to write into (default: figures)")
    fig.add_argument("--quick", action="store_true",
                     help="a smaller gallery (fewer, shorter trainings) in under a minute, for CI")
    fig.add_argument("--no-progress", action="store_true", help="no progress bars")
    fig.set_defaults(func=_figures)

    tr = sub.add_parser(
        "trace", help="train a model on a task and draw the trace figure of one example",
        description="Train an LSTM, GRU or RNN on a built-in task (or leave it untrained) and write the "
                    "trace figure (every gate, c and h over time) of the task's example.")
    tr.add_argument("--arch", required=True, choices=ARCHS, help="the recurrent layer")
    tr.add_argument("--task", required=True, type=_task_name, metavar="NAME",
                    help=f"one of: {', '.join(names())}")
    tr.add_argument("--hidden", type=_positive_int, default=None, metavar="N",
                    help="hidden size (default: the task's own)")
    tr.add_argument("--layers", type=_positive_int, default=1, metavar="N", help="stacked layers (default 1)")
    tr.add_argument("--bidirectional", action="store_true", help="a bidirectional layer")
    tr.add_argument("--untrained", action="store_true", help="skip training: the initial random weights")
    tr.add_argument("--seed", type=_seed, default=0, help="seed of the weights and batches (default 0)")
    tr.add_argument("--out", metavar="FILE.png", default=None,
                    help="image to write (.png, .svg or .pdf; default: trace_TASK_ARCH.png)")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    tr.set_defaults(func=_trace)

    demo = sub.add_parser("demo", help="run an LSTM and a GRU on random input and print their shapes",
                          description="Run an LSTM and a GRU on random input and print the shapes next to "
                                      "PyTorch's documented ones.")
    demo.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    demo.set_defaults(func=_demo)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns its exit status (0 done, 2 a usage error, 130 interrupted)."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        sys.stderr.write(f"steprnn {args.command}: error: {e}\n")
        return USAGE_ERROR
    except KeyboardInterrupt:
        sys.stderr.write(f"steprnn {args.command}: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
