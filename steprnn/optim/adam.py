"""``Adam`` (Kingma & Ba, 2015) with AMSGrad, maximize and (decoupled) weight decay, as ``torch.optim.Adam``."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..grad_mode import no_grad
from ..tensor import Tensor
from .optimizer import Optimizer, _compiled_operands, _params_with_grad
from .sgd import _check_unsupported, _scalar

__all__ = ["Adam"]


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start.lerp_(end, weight)`` with ATen's two-branch formula."""
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        np.copyto(start, end - (end - start) * (1 - weight), casting="same_kind")


def _fused_step(p: Tensor, state: dict[str, Any], lr: float, beta1: float, beta2: float, eps: float,
                weight_decay: float, amsgrad: bool, maximize: bool, decoupled: bool) -> bool:
    """The rest of ``Adam.step`` for ``p`` (its ``step`` already counted) as one compiled loop over
    its elements (``kernels.cpu.optim_steps.adam_update``: the same bits as the NumPy code below
    it), where ``_compiled_operands`` takes p and its state; returns False, having done nothing,
    where it does not."""
    keys = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
    flat = _compiled_operands(p, [state[k]._data for k in keys])
    if flat is None:
        return False
    from ..kernels.cpu import optim_steps  # Numba, at the first step: not at ``import steprnn``

    step = float(state["step"].item())
    decay = optim_steps.NO_DECAY if weight_decay == 0 else (
        optim_steps.DECOUPLED_DECAY if decoupled else optim_steps.L2_DECAY)
    w1 = 1 - beta1
    c = np.array([(1 - lr * weight_decay) if decoupled else weight_decay, w1, 1 - w1, beta2, 1 - beta2,
                  (1 - beta2 ** step) ** 0.5, eps, -(lr / (1 - beta1 ** step))], dtype=flat[0].dtype)
    v_max = flat[4] if amsgrad else np.empty(0, flat[0].dtype)
    optim_steps.adam_update(flat[0], flat[1], flat[2], flat[3], v_max, c, maximize, decay, abs(w1) < 0.5)
    for key in ("step",) + keys:
        state[key]._vc.bump()
    p._vc.bump()
    return True


class Adam(Optimizer):
    """``m = lerp(m, g, 1 - beta1)``, ``v = beta2 * v + (1 - beta2) * g * g``,
    ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)`` (``max`` of the ``v``'s so far
    with ``amsgrad``); ``weight_decay`` adds ``weight_decay * p`` to ``g`` (or, with
    ``decoupled_weight_decay``, scales ``p`` by ``1 - lr * weight_decay`` first, as AdamW)."""

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not ((isinstance(betas[0], float) and isinstance(betas[1], float))
                or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))):
            raise ValueError("betas must be either both floats or both Tensors")
        for i in (0, 1):
            if isinstance(betas[i], Tensor) and betas[i].numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
        betas = tuple(_scalar(b) for b in betas)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        _check_unsupported(differentiable, fused, capturable)
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("fused", None)
            for p in group["params"]:
                p_state = self.state.get(p, [])
                if len(p_state) != 0 and not isinstance(p_state["step"], Tensor):
                    p_state["step"] = Tensor._make(np.array(float(p_state["step"]), dtype=np.float32))

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss when given one."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            _check_unsupported(group.get("differentiable", False), group.get("fused", None),
                               group.get("capturable", False))
            beta1, beta2 = (_scalar(b) for b in group["betas"])
            lr = _scalar(group["lr"])
            weight_decay = _scalar(group["weight_decay"])
            eps = group["eps"]
            amsgrad = group["amsgrad"]
            maximize = group["maximize"]
            decoupled = group.get("decoupled_weight_decay", False)
            for p in _params_with_grad(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = Tensor._make(np.array(0.0, dtype=np.float32))
                    state["exp_avg"] = p.new_zeros(p.shape)
                    state["exp_avg_sq"] = p.new_zeros(p.shape)
                    if amsgrad:
                        state["max_exp_avg_sq"] = p.new_zeros(p.shape)
                step_t = state["step"]
                step_t._data[...] = step_t._data + 1
                if _fused_step(p, state, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled):
                    continue
                grad = p.grad._data if not maximize else -p.grad._data
                exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
                if weight_decay != 0:
                    if decoupled:
                        self._write(p, p._data * (1 - lr * weight_decay))
                    else:
                        grad = grad + weight_decay * p._data
                _lerp_(exp_avg, grad, 1 - beta1)
                np.multiply(exp_avg_sq, beta2, out=exp_avg_sq)
                exp_avg_sq += (1 - beta2) * grad * grad
                step = float(step_t.item())
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                step_size = lr / bias_correction1
                bias_correction2_sqrt = bias_correction2 ** 0.5
                if amsgrad:
                    max_sq = state["max_exp_avg_sq"]._data
                    np.maximum(max_sq, exp_avg_sq, out=max_sq)
                    denom = np.sqrt(max_sq) / bias_correction2_sqrt + eps
                    state["max_exp_avg_sq"]._vc.bump()
                else:
                    denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
                for key in ("step", "exp_avg", "exp_avg_sq"):
                    state[key]._vc.bump()
                self._write(p, p._data + (-step_size) * exp_avg / denom)
        return loss
