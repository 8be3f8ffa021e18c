"""``sr.randperm``, ``sr.multinomial``, ``sr.bernoulli``, ``sr.normal``: PyTorch's sampling functions,
drawing the very numbers PyTorch's CPU kernels draw under the same seed (see :mod:`steprnn.random`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .random import Generator, resolve
from .tensor import Tensor

__all__ = ["randperm", "multinomial", "bernoulli", "normal"]


def _values(x: Any, fname: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x._data
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a CPU torch.Tensor
        return x.detach().numpy()
    try:
        return np.asarray(x)
    except Exception:  # noqa: BLE001 - reported below with the type
        raise TypeError(f"{fname}(): argument 'input' must be a Tensor, not {type(x).__name__}") from None


def _on_device_of(t: Tensor, *inputs: Any) -> Tensor:
    """``t`` (drawn on the host) on the device of the Tensor inputs (CUDA when one is)."""
    return t.cuda() if any(getattr(x, "is_cuda", False) for x in inputs) else t


def randperm(n: int, *, generator: Generator | None = None, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64), as ``torch.randperm``: the same permutation
    under the same seed for every ``n`` below 2³²/20 (PyTorch's Fisher–Yates range)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"randperm(): argument 'n' must be int, not {type(n).__name__}")
    perm = resolve(generator).permutation(int(n))
    if dtype is not None:
        from .dtypes import as_dtype

        perm = perm.astype(as_dtype(dtype))
    t = Tensor(perm)
    if device is not None:
        t = t.to(device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def multinomial(input: Any, num_samples: int, replacement: bool = False, *,
                generator: Generator | None = None) -> Tensor:
    """Indices drawn from the rows of ``input`` ((C,) or (N, C) non-negative weights), as
    ``torch.multinomial``: (num_samples,) or (N, num_samples) int64.

    Without replacement (or one sample): ``argmax``/``topk`` of ``p / q`` with ``q ~ Exp(1)``
    (PyTorch's CPU algorithm); with replacement: inverse CDF of one double uniform per sample.
    """
    p = _values(input, "multinomial")
    if p.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {p.dtype.name}")
    if p.ndim not in (1, 2):
        raise RuntimeError(f"prob_dist must be 1 or 2 dim, got {p.ndim} dims")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
        raise RuntimeError(f"cannot sample n_sample <= 0 samples, got num_samples={num_samples}")
    n_cat = p.shape[-1]
    if not replacement and num_samples > n_cat:
        raise RuntimeError(f"cannot sample n_sample > prob_dist.size(-1) samples without replacement "
                           f"(got n_sample={num_samples}, prob_dist.size(-1)={n_cat})")
    rows = p.reshape(-1, n_cat)
    if not np.all(np.isfinite(rows)) or np.any(rows < 0):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if np.any(rows.sum(axis=1) <= 0):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    gen = resolve(generator)
    if not replacement or num_samples == 1:
        u = gen.uniform_array(rows.shape, 0.0, 1.0, np.float64)
        q = (-np.log1p(-u)).astype(rows.dtype)  # exponential_(1): -1/lambda * log1p(-u), cast to the dtype
        with np.errstate(divide="ignore", invalid="ignore"):
            score = rows / q
        if num_samples == 1:
            out = np.argmax(score, axis=1)[:, None]
        else:
            out = np.argsort(-score, axis=1, kind="stable")[:, :num_samples]
    else:
        out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
        for i, row in enumerate(rows):
            cum = np.cumsum(row, dtype=row.dtype)  # sequential, in the input's dtype
            total = cum[-1]
            cum = cum / total
            cum[-1] = 1
            u = gen.uniform_array(num_samples, 0.0, 1.0, np.float64)
            out[i] = np.searchsorted(cum.astype(np.float64), u, side="left")
    out = out.astype(np.int64)
    return _on_device_of(Tensor(out[0] if p.ndim == 1 else out), input)


def bernoulli(input: Any, p: float | None = None, *, generator: Generator | None = None) -> Tensor:
    """0/1 draws with probabilities ``input`` (any shape, in [0, 1]), in ``input``'s dtype, as
    ``torch.bernoulli``; with ``p`` given, every element has probability ``p`` (``bernoulli(x, p)``)."""
    probs = _values(input, "bernoulli")
    gen = resolve(generator)
    if p is not None:
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
        u = gen.uniform_array(probs.shape, 0.0, 1.0, np.float64)
        return _on_device_of(Tensor((u < p).astype(probs.dtype)), input)
    if probs.dtype.kind != "f":
        raise RuntimeError(f"\"bernoulli_tensor_cpu_p_\" not implemented for '{probs.dtype.name}'")
    if np.any((probs < 0) | (probs > 1)) or np.any(np.isnan(probs)):
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    draw_dt = np.float64 if probs.dtype == np.float64 else np.float32
    u = gen.uniform_array(probs.shape, 0.0, 1.0, draw_dt)
    return _on_device_of(Tensor((u < probs.astype(draw_dt)).astype(probs.dtype)), input)


def normal(mean: Any, std: Any = 1.0, size: Any = None, *, generator: Generator | None = None,
           dtype: Any = None) -> Tensor:
    """``torch.normal``: ``normal(mean: float, std: float, size)`` draws N(mean, std²) of ``size``
    (the same stream as ``empty(size).normal_(mean, std)``); with tensors, ``mean + std * N(0, 1)``
    broadcast, drawn as PyTorch draws them."""
    gen = resolve(generator)
    if size is not None:
        from .dtypes import as_dtype

        dt = np.dtype(np.float32) if dtype is None else as_dtype(dtype)
        return Tensor(gen.normal_array(tuple(size), float(mean), float(std), dt))
    m = _values(mean, "normal")
    s = _values(std, "normal")
    if np.any(s < 0):
        raise RuntimeError("normal expects all elements of std >= 0.0")
    dt = np.result_type(m.dtype if m.dtype.kind == "f" else np.float32, s.dtype if s.dtype.kind == "f" else np.float32)
    shape = np.broadcast_shapes(m.shape, s.shape)
    z = gen.normal_array(shape, 0.0, 1.0, dt)
    return _on_device_of(Tensor((z * s.astype(dt) + m.astype(dt)).astype(dt)), mean, std)
