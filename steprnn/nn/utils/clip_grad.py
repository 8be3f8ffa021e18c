"""Gradient clipping, as ``torch.nn.utils``: ``clip_grad_norm_``, ``clip_grad_value_``,
``get_total_norm``, ``clip_grads_with_norm_``. Gradients are changed in place."""
from __future__ import annotations

import types
import warnings
from typing import Any

import numpy as np

from ...dtypes import promote_types
from ...grad_mode import no_grad
from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _vector_norm(x: np.ndarray, ord: float) -> np.ndarray:
    """``torch.linalg.vector_norm(x, ord)`` of the flattened array, in its dtype."""
    a = np.abs(x.reshape(-1))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        if ord == np.inf or ord == -np.inf:
            if a.size == 0:
                raise RuntimeError("linalg.vector_norm cannot compute the inf norm on an empty tensor because the "
                                   "operation does not have an identity")
            return np.asarray(np.max(a) if ord > 0 else np.min(a))
        if ord == 0:
            return np.asarray(np.count_nonzero(a), dtype=x.dtype)
        if ord == 1:
            return np.asarray(np.sum(a))
        if ord == 2:
            return np.asarray(np.sqrt(np.sum(a * a)))
        return np.asarray(np.sum(a ** ord) ** (1.0 / ord), dtype=x.dtype)


def _as_list(tensors: Any) -> list:
    if isinstance(tensors, Tensor):
        return [tensors]
    return list(tensors)


@no_grad()
def get_total_norm(tensors: Any, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` together, as if concatenated into one vector
    (the norm of the per-tensor norms). ``'inf'`` gives the largest absolute value."""
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return Tensor._make(np.array(0.0, dtype=np.float32))
    norms = [_vector_norm(t._data, norm_type) for t in tensors]
    dtype = norms[0].dtype
    for n in norms[1:]:
        dtype = promote_types(dtype, n.dtype)
    total = _vector_norm(np.stack([n.astype(dtype) for n in norms]), norm_type).astype(dtype)
    if error_if_nonfinite and (np.isnan(total) or np.isinf(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    from ... import ops
    return ops.result(np.asarray(total), tensors[0])  # on the gradients' device


@no_grad()
def clip_grads_with_norm_(parameters: Any, max_norm: float, total_norm: Tensor, foreach: bool | None = None) -> None:
    """Scale the gradients by ``min(max_norm / (total_norm + 1e-6), 1)``, given the total norm."""
    parameters = _as_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    max_norm = float(max_norm)
    if len(grads) == 0:
        return
    tn = total_norm._data if isinstance(total_norm, Tensor) else np.asarray(total_norm)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        clip_coef = tn.dtype.type(max_norm) / (tn + tn.dtype.type(1e-6))
        clip_coef_clamped = np.minimum(clip_coef, tn.dtype.type(1.0))
        for g in grads:
            g._data[...] = g._data * clip_coef_clamped.astype(g.dtype)
            g._vc.bump()


@no_grad()
def clip_grad_norm_(parameters: Any, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Scale all gradients together so that their ``norm_type``-norm is at most ``max_norm``
    (``grad *= min(max_norm / (total + 1e-6), 1)``); returns the norm before clipping, a 0-d Tensor.
    ``norm_type='inf'`` uses the largest absolute value; ``error_if_nonfinite`` raises on NaN/inf."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and len(parameters) == 0:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=3)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


@no_grad()
def clip_grad_value_(parameters: Any, clip_value: float, foreach: bool | None = None) -> None:
    """Clip every gradient elementwise to ``[-clip_value, clip_value]`` in place (NaN stays NaN)."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    clip_value = float(clip_value)
    for p in parameters:
        g = p.grad
        if g is not None:
            np.clip(g._data, -clip_value, clip_value, out=g._data)
            g._vc.bump()

