"""``Adadelta`` (Zeiler, 2012), as ``torch.optim.Adadelta``."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..grad_mode import no_grad
from ..tensor import Tensor
from .optimizer import Optimizer, _params_with_grad
from .sgd import _check_unsupported, _scalar

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """``v = rho * v + (1 - rho) * g²``, ``Δ = sqrt(u + eps) / sqrt(v + eps) * g``,
    ``u = rho * u + (1 - rho) * Δ²``, ``p -= lr * Δ`` (``g`` plus ``weight_decay * p``; negated with
    ``maximize``). PyTorch's single-tensor order of operations."""

    def __init__(self, params: Any, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0,
                 foreach: bool | None = None, *, capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        _check_unsupported(differentiable, None, capturable)
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
                    "capturable": capturable, "foreach": foreach, "differentiable": differentiable}
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss when given one."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = _scalar(group["lr"])
            rho, eps, weight_decay = group["rho"], group["eps"], group["weight_decay"]
            for p in _params_with_grad(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = Tensor._make(np.array(0.0, dtype=np.float32))
                    state["square_avg"] = p.new_zeros(p.shape)
                    state["acc_delta"] = p.new_zeros(p.shape)
                step_t = state["step"]
                step_t._data[...] = step_t._data + 1
                dt = p._data.dtype.type
                grad = p.grad._data if not group["maximize"] else -p.grad._data
                if weight_decay != 0:
                    grad = grad + dt(weight_decay) * p._data
                square_avg, acc_delta = state["square_avg"]._data, state["acc_delta"]._data
                np.multiply(square_avg, dt(rho), out=square_avg)
                square_avg += dt(1 - rho) * grad * grad
                std = np.sqrt(square_avg + dt(eps))
                delta = np.sqrt(acc_delta + dt(eps))
                delta = delta / std * grad
                np.multiply(acc_delta, dt(rho), out=acc_delta)
                acc_delta += dt(1 - rho) * delta * delta
                for key in ("step", "square_avg", "acc_delta"):
                    state[key]._vc.bump()
                self._write(p, p._data + dt(-lr) * delta)
        return loss
