"""One training step, steprnn vs PyTorch, at the sizes a course trains: the layer and everything
around it (embedding, linear head, loss, backward, optimiser step), as a student's loop has it.

    python benchmarks/train_step.py [--repeats 9] [--threads 2] [--stat median|min]
                                    [--order interleaved|blocks] [--phases]

Each model is built in both libraries with the same weights; a step is ``zero_grad``, forward,
loss, ``backward``, ``Adam.step``. Ratios are torch_time / steprnn_time (> 1: steprnn faster),
timed as ``issue_sizes.py`` times them (same process, same threads; ``--order`` and ``--stat``
as there). ``--phases`` also splits each side's step into its parts (median microseconds of
single steps, run back to back): where a small step's time goes.
"""
from __future__ import annotations

import os as _os
import sys as _sys

_sys.path.insert(1, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))  # this checkout's steprnn

import argparse
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np
import torch

import steprnn as sr
from issue_sizes import interleaved

#: (name, task, kind, T, B, I or vocabulary, H, classes or outputs)
MODELS = [
    ("README", "last", "lstm", 28, 64, 28, 64, 10),  # the README's classifier: rows of 28x28 images
    ("classify", "last", "lstm", 50, 1, 10, 32, 5),
    ("classify", "last", "lstm", 20, 32, 10, 32, 5),
    ("classify", "last", "gru", 20, 32, 10, 64, 5),
    ("regress", "every", "lstm", 100, 16, 1, 32, 1),
    ("char LM", "lm", "lstm", 35, 20, 50, 128, 50),
]


def build(lib: Any, task: str, kind: str, I: int, H: int, C: int) -> tuple[Any, Any, Any]:
    """(model, optimiser, loss) in ``lib`` (torch or steprnn): ``last`` classifies the last step's
    h (cross-entropy), ``every`` regresses every step (MSE), ``lm`` predicts the next character
    (embedding of I symbols, cross-entropy over all steps)."""
    nn = lib.nn
    rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(I, H) if task == "lm" else None
            self.rnn = rnn_cls(H if task == "lm" else I, H)
            self.head = nn.Linear(H, C)

        def forward(self, x: Any) -> Any:
            if self.embed is not None:
                x = self.embed(x)
            out, _ = self.rnn(x)
            if task == "last":
                return self.head(out[-1])
            y = self.head(out)
            return y.reshape(-1, C) if task == "lm" else y

    model = Model()
    loss = nn.MSELoss() if task == "every" else nn.CrossEntropyLoss()
    return model, lib.optim.Adam(model.parameters(), lr=1e-3), loss


class Pair:
    """The same model, data and optimiser in both libraries."""

    def __init__(self, task: str, kind: str, T: int, B: int, I: int, H: int, C: int) -> None:
        torch.manual_seed(0)
        rng = np.random.default_rng(0)
        self.t_model, self.t_opt, self.t_loss = build(torch, task, kind, I, H, C)
        self.s_model, self.s_opt, self.s_loss = build(sr, task, kind, I, H, C)
        self.s_model.load_state_dict(self.t_model.state_dict())
        if task == "lm":
            x = rng.integers(0, I, (T, B))
            y = rng.integers(0, I, T * B)
        elif task == "every":
            x = rng.standard_normal((T, B, I)).astype(np.float32)
            y = rng.standard_normal((T, B, C)).astype(np.float32)
        else:
            x = rng.standard_normal((T, B, I)).astype(np.float32)
            y = rng.integers(0, C, B)
        self.t_data = (torch.from_numpy(x), torch.from_numpy(y))
        self.s_data = (sr.tensor(x), sr.tensor(y))
        # the two sides compute the same thing: the same loss before any step
        t_loss = self.t_loss(self.t_model(self.t_data[0]), self.t_data[1]).item()
        s_loss = self.s_loss(self.s_model(self.s_data[0]), self.s_data[1]).item()
        if not np.isclose(t_loss, s_loss, rtol=1e-4, atol=1e-6):
            raise RuntimeError(f"{task} {kind}: the losses differ before training: torch {t_loss}, steprnn {s_loss}")

    @staticmethod
    def _step(model: Any, opt: Any, loss_fn: Any, data: tuple) -> None:
        opt.zero_grad()
        loss = loss_fn(model(data[0]), data[1])
        loss.backward()
        opt.step()

    def torch_step(self) -> None:
        self._step(self.t_model, self.t_opt, self.t_loss, self.t_data)

    def steprnn_step(self) -> None:
        self._step(self.s_model, self.s_opt, self.s_loss, self.s_data)

    def phases(self, lib: str, n: int = 200) -> dict[str, float]:
        """Median microseconds of each part of a step, over ``n`` steps run back to back."""
        model, opt, loss_fn, data = ((self.t_model, self.t_opt, self.t_loss, self.t_data) if lib == "torch" else
                                     (self.s_model, self.s_opt, self.s_loss, self.s_data))
        parts: dict[str, list[float]] = {"zero_grad": [], "forward": [], "loss": [], "backward": [], "step": []}
        for i in range(n + 20):
            t0 = time.perf_counter()
            opt.zero_grad()
            t1 = time.perf_counter()
            out = model(data[0])
            t2 = time.perf_counter()
            loss = loss_fn(out, data[1])
            t3 = time.perf_counter()
            loss.backward()
            t4 = time.perf_counter()
            opt.step()
            t5 = time.perf_counter()
            if i >= 20:
                for name, a, b in zip(parts, (t0, t1, t2, t3, t4), (t1, t2, t3, t4, t5)):
                    parts[name].append(b - a)
        return {name: statistics.median(v) * 1e6 for name, v in parts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stat", choices=("median", "min"), default="median")
    parser.add_argument("--order", choices=("interleaved", "blocks"), default="interleaved")
    parser.add_argument("--phases", action="store_true", help="split each side's step into its parts")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import numba

    from steprnn.kernels.cpu import backend  # noqa: F401  (chooses the kernels' threading layer first)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    stat: Callable[[list[float]], float] = min if args.stat == "min" else statistics.median
    print(f"training step (zero_grad, forward, loss, backward, Adam); threads: torch {torch.get_num_threads()}, "
          f"numba {numba.get_num_threads()}; float32; {args.stat} of {args.repeats} samples, {args.order}; "
          "ratio = torch / steprnn")
    print(f"{'model':9s} {'kind':5s} {'T':>4s} {'B':>3s} {'I':>3s} {'H':>4s} {'C':>3s} | {'torch ms':>8s} "
          f"{'steprnn':>8s} {'ratio':>6s}", flush=True)
    for name, task, kind, T, B, I, H, C in MODELS:
        pair = Pair(task, kind, T, B, I, H, C)
        t, s = interleaved(pair.torch_step, pair.steprnn_step, args.repeats, stat=stat, order=args.order)
        print(f"{name:9s} {kind:5s} {T:4d} {B:3d} {I:3d} {H:4d} {C:3d} | {t:8.3f} {s:8.3f} {t / s:6.2f}", flush=True)
        if args.phases:
            for lib in ("torch", "steprnn"):
                ph = pair.phases(lib)
                print(f"    {lib:8s}" + "  ".join(f"{k} {v:7.1f}" for k, v in ph.items()) + "  (us)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
