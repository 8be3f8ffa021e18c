"""``train``: fit a ``TaskModel`` to a built-in task with steprnn's own ``nn`` and ``optim.Adam``."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import numba
import numpy as np

from .. import nn
from ..creation import tensor
from ..optim import Adam
from ..random import manual_seed
from ..tensor import Tensor
from ..trace import Trace, trace
from .model import ARCHS, TaskModel
from .registry import get
from .task import IGNORE, Batch, Task

__all__ = ["train", "TrainResult"]


@dataclass
class TrainResult:
    """What ``train`` returns.

    model    the trained ``TaskModel`` (``model.rnn`` is the recurrent layer), in eval mode
    task     the ``Task`` it was trained on
    losses   (steps,) float64 training loss at every step
    score    the task's metric on its held-out set; ``reached`` says whether it meets ``task.goal``
    seconds  wall-clock training time
    """

    model: TaskModel
    task: Task
    losses: np.ndarray = field(repr=False)
    score: float
    reached: bool
    steps: int
    seconds: float
    arch: str
    seed: int

    def example(self, seed: int = 0) -> Batch:
        """The task's example batch of one (the one the figures show)."""
        return self.task.example(seed)

    def trace(self, batch: Batch | None = None) -> Trace:
        """``sr.trace(model.rnn, batch.x)`` on ``batch`` (default: the task's example)."""
        batch = self.example() if batch is None else batch
        return trace(self.model.rnn, batch.x)

    def __repr__(self) -> str:
        return (f"TrainResult({self.task.name}, {self.arch.upper()} H={self.model.rnn.hidden_size}, "
                f"{self.task.metric.split(' on ')[0]} = {self.score:.4g} ({'goal reached' if self.reached else 'goal NOT reached'}: "
                f"{self.task.claim}), {self.steps} steps in {self.seconds:.1f} s)")


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """The kernels split the batch across Numba's threads; a task's batch of 32–64 sequences is too
    small to share, and on a busy machine the threads wait on each other. Train on one."""
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def loss_of(task: Task, out: Tensor, batch: Batch) -> Tensor:
    """The training loss of the model outputs ``out`` on ``batch``: cross-entropy over the asked
    steps for classes, mean squared error over the finite targets for values."""
    if task.loss == "cross_entropy":
        C = out.shape[-1]
        return nn.functional.cross_entropy(out.reshape(-1, C), tensor(batch.y.reshape(-1)), ignore_index=IGNORE)
    y = batch.y.reshape(-1)
    keep = np.flatnonzero(np.isfinite(y))
    return nn.functional.mse_loss(out.reshape(-1)[keep], tensor(y[keep]))


def _int(value: Any, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int ≥ {low}, got {value!r}")
    return int(value)


def train(name: str, arch: str = "lstm", hidden_size: int | None = None, seed: int = 0, progress: bool = True, *,
          num_layers: int = 1, bidirectional: bool = False, steps: int | None = None, lr: float | None = None,
          batch_size: int | None = None, stop_at_goal: bool = True, eval_every: int = 25) -> TrainResult:
    """Train a small ``arch`` network on the built-in task ``name`` and score it on held-out data.

    The defaults (``hidden_size``, ``steps``, ``lr``, ``batch_size``) are the task's own; with them
    the run reaches ``task.goal`` (``task.claim`` says it in words) in seconds on two cores.
    Everything is seeded by ``seed``: the initial weights (``sr.manual_seed``) and the batches.
    Every ``eval_every`` steps the model is scored on a validation batch drawn from the training
    distribution; with ``stop_at_goal`` training stops once that score reaches ``task.stop_at`` (a
    little beyond the goal). The returned
    ``score`` is measured afterwards on the task's held-out set, which training never sees.
    ``progress`` shows a tqdm bar on stderr.
    """
    task = get(name)
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(repr(a) for a in ARCHS)}, got {arch!r}")
    hidden_size = _int(task.hidden_size if hidden_size is None else hidden_size, "hidden_size")
    steps = _int(task.steps if steps is None else steps, "steps")
    batch_size = _int(task.batch_size if batch_size is None else batch_size, "batch_size")
    num_layers = _int(num_layers, "num_layers")
    eval_every = _int(eval_every, "eval_every")
    seed = _int(seed, "seed", 0)
    lr = task.lr if lr is None else float(lr)

    from tqdm.auto import tqdm

    manual_seed(seed)
    model = TaskModel(task, arch, hidden_size, num_layers, bidirectional)
    opt = Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    valid = task.batch(256, np.random.default_rng([seed, 1]))
    losses: list[float] = []
    start = time.perf_counter()
    bar = tqdm(total=steps, desc=f"{name} {arch.upper()}", unit="step", disable=not progress, leave=False,
               dynamic_ncols=True)
    with _one_thread(), bar:
        model.train()
        for step in range(1, steps + 1):
            batch = task.batch(batch_size, rng)
            opt.zero_grad()
            loss = loss_of(task, model(batch.x), batch)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            bar.update(1)
            if step % eval_every == 0 or step == steps:
                val = task.score(model.predict(valid.x), valid)
                bar.set_postfix(loss=f"{losses[-1]:.4f}", val=f"{val:.3f}", refresh=False)
                if stop_at_goal and (val >= task.stop_at if task.higher_is_better else val <= task.stop_at):
                    break
        model.eval()
        held = task.heldout()
        score = task.score(model.predict(held.x), held)
    seconds = time.perf_counter() - start
    return TrainResult(model, task, np.array(losses), score, task.reached(score), len(losses), seconds, arch, seed)
