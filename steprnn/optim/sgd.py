"""``SGD``: stochastic gradient descent with momentum, dampening, Nesterov and weight decay (as ``torch.optim.SGD``)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..grad_mode import no_grad
from ..tensor import Tensor
from .optimizer import Optimizer, _compiled_operands, _params_with_grad

__all__ = ["SGD"]


def _check_unsupported(differentiable: bool, fused: bool | None, capturable: bool = False) -> None:
    if differentiable:
        raise NotImplementedError("differentiable=True is not supported by steprnn's optimizers")
    if fused:
        raise NotImplementedError("fused=True is not supported by steprnn's optimizers (leave fused=None)")
    if capturable:
        raise NotImplementedError("capturable=True is not supported by steprnn's optimizers (CPU only)")


def _scalar(x: Any) -> float:
    """A hyperparameter as a Python float (a one-element Tensor is accepted, as in PyTorch)."""
    if isinstance(x, Tensor):
        return float(x.item())
    return x


def _fused_step(p: Tensor, state: dict[str, Any], lr: float, weight_decay: float, momentum: float,
                dampening: float, nesterov: bool, maximize: bool) -> bool:
    """``SGD.step`` for ``p`` as one compiled loop over its elements
    (``kernels.cpu.optim_steps.sgd_update``: the same bits as the NumPy code of ``SGD.step``),
    where ``_compiled_operands`` takes p and its momentum buffer; returns False, having done
    nothing, where it does not."""
    buf = state.get("momentum_buffer") if momentum != 0 else None
    flat = _compiled_operands(p, [] if buf is None else [buf._data])
    if flat is None:
        return False
    from ..kernels.cpu import optim_steps  # Numba, at the first step: not at ``import steprnn``

    first = momentum != 0 and buf is None
    if first:
        buf = p._new(np.empty(p._data.shape, p._data.dtype), False)
        state["momentum_buffer"] = buf
    b = buf._data.reshape(-1) if buf is not None else np.empty(0, flat[0].dtype)
    c = np.array([weight_decay, momentum, 1 - dampening, -lr], dtype=flat[0].dtype)
    optim_steps.sgd_update(flat[0], flat[1], b, c, maximize, weight_decay != 0, first, nesterov)
    if buf is not None and not first:
        buf._vc.bump()
    p._vc.bump()
    return True


class SGD(Optimizer):
    """``p -= lr * d`` where ``d`` is the gradient (plus ``weight_decay * p``), or, with ``momentum``,
    the buffer ``b = momentum * b + (1 - dampening) * d`` (``d + momentum * b`` with ``nesterov``).
    ``maximize`` ascends instead. The order of operations is PyTorch's single-tensor one."""

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _check_unsupported(differentiable, fused)
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", False)

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss when given one."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            _check_unsupported(group.get("differentiable", False), group.get("fused", None))
            lr = _scalar(group["lr"])
            weight_decay = _scalar(group["weight_decay"])
            momentum = group["momentum"]
            dampening = group["dampening"]
            nesterov = group["nesterov"]
            maximize = group["maximize"]
            for p in _params_with_grad(group):
                if _fused_step(p, self.state[p] if momentum != 0 else {}, lr, weight_decay, momentum, dampening,
                               nesterov, maximize):
                    continue
                grad = p.grad._data if not maximize else -p.grad._data
                if weight_decay != 0:
                    grad = grad + weight_decay * p._data
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = p._new(np.array(grad, dtype=p.dtype, copy=True), False)
                    else:
                        b = buf._data
                        np.multiply(b, momentum, out=b)
                        np.add(b, (1 - dampening) * grad, out=b, casting="same_kind")
                        buf._vc.bump()
                    state["momentum_buffer"] = buf
                    if nesterov:
                        grad = grad + momentum * buf._data
                    else:
                        grad = buf._data
                self._write(p, p._data + (-lr) * grad)
        return loss
