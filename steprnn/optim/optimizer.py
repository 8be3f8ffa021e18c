"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad``, state dicts (as ``torch.optim.Optimizer``)."""
from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from copy import deepcopy
from itertools import chain
from typing import Any

import numpy as np

from ..dtypes import is_floating
from ..grad_mode import enable_grad, no_grad
from ..tensor import Tensor, to_numpy

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Singleton class representing a required parameter for an Optimizer."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj: Any) -> str:
    if isinstance(obj, Tensor):
        return obj.type()
    t = type(obj)
    if t.__module__ in ("builtins", "__builtin__"):
        return t.__qualname__
    return f"{t.__module__}.{t.__qualname__}"


def _is_tensor_like(value: Any) -> bool:
    return isinstance(value, Tensor) or type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _as_state_tensor(value: Any, param: Tensor, key: Any) -> Tensor:
    """A steprnn Tensor holding a copy of ``value`` (a steprnn or torch tensor): floating state takes
    the parameter's dtype, except ``step``, which keeps its own (as ``torch.optim``)."""
    array = np.array(to_numpy(value), copy=True)
    if key != "step" and is_floating(param.dtype) and is_floating(array.dtype):
        array = array.astype(param.dtype, copy=False)
    if key != "step" and param.is_cuda and array.ndim:  # state lives with its parameter (``step`` on the CPU)
        return param._new(array, False)
    return Tensor._make(array)


class Optimizer:
    """Base class of the optimisers.

    ``params``: an iterable of Tensors, or of dicts (parameter groups) each with ``'params'`` and
    options overriding ``defaults``. ``state[p]`` holds each parameter's buffers.
    """

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got " + _typename(params))
        self.state: defaultdict[Tensor, Any] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.defaults.setdefault("differentiable", False)

    def __repr__(self) -> str:
        format_string = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            format_string += "\n"
            format_string += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    format_string += f"    {key}: {group[key]}\n"
        format_string += ")"
        return format_string

    # -- groups ----------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (a dict with ``'params'`` and, optionally, its own options)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)

        extracted_param_tensors = []
        extracted_param_names = []
        for param in param_group["params"]:
            if isinstance(param, tuple):
                extracted_param_names.append(param[0])
                extracted_param_tensors.append(param[1])
            else:
                extracted_param_tensors.append(param)
        param_group["params"] = extracted_param_tensors
        if len(extracted_param_names) != 0:
            if len(extracted_param_names) == len(extracted_param_tensors):
                param_group["param_names"] = extracted_param_names
            else:
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")

        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(param))
            if not self.defaults.get("differentiable", None) and not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)

        params = param_group["params"]
        if len(params) != len({id(p) for p in params}):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)

        param_set: set[int] = set()
        for group in self.param_groups:
            param_set.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                current_group_txt = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {current_group_txt} to the optimizer")
        if not param_set.isdisjoint(id(p) for p in param_group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # -- gradients -------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: ``None`` (default), or zeros in place with ``set_to_none=False``."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        if p.grad.grad_fn is not None:
                            p.grad.detach_()
                        else:
                            p.grad.requires_grad_(False)
                        with no_grad():
                            p.grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One optimisation step (subclasses)."""
        raise NotImplementedError

    def _closure_loss(self, closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    @staticmethod
    def _write(param: Tensor, values: np.ndarray) -> None:
        """Store ``values`` in ``param``'s array in place (an in-place modification: version bumped)."""
        np.copyto(param._data, values, casting="same_kind")
        param._vc.bump()

    # -- state dicts -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}``, as PyTorch's:
        parameters are replaced by their position over all groups; the state's tensors are not copied."""
        param_mappings: dict[int, int] = {}
        start_index = 0

        def pack_group(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start_index
            packed = {k: v for k, v in group.items() if k != "params"}
            param_mappings.update({id(p): i for i, p in enumerate(group["params"], start_index)
                                   if id(p) not in param_mappings})
            packed["params"] = [param_mappings[id(p)] for p in group["params"]]
            start_index += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {(param_mappings[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": packed_state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict from :meth:`state_dict` (steprnn's, or ``torch.optim``'s: torch tensors
        become steprnn Tensors). Tensors are copied, floating ones into each parameter's dtype."""
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise TypeError("optimizer state_dict must be a dict with 'state' and 'param_groups' entries "
                            "(as returned by Optimizer.state_dict())")
        state_dict = state_dict.copy()
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        param_lens = (len(g["params"]) for g in groups)
        saved_lens = (len(g["params"]) for g in saved_groups)
        if any(p_len != s_len for p_len, s_len in zip(param_lens, saved_lens)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        def _cast(param: Tensor, value: Any, key: Any = None) -> Any:
            if _is_tensor_like(value):
                return _as_state_tensor(value, param, key)
            if isinstance(value, dict):
                return {k: _cast(param, v, key=k) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(_cast(param, v) for v in value)
            return value

        state: defaultdict[Any, dict[Any, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _cast(param, v)
            else:
                state[k] = v

        def update_group(group: dict[str, Any], new_group: dict[str, Any]) -> dict[str, Any]:
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.__setstate__({"state": state, "param_groups": param_groups})


#: a parameter of fewer elements than this takes its optimiser's NumPy path: there a compiled
#: loop's call costs more than NumPy's passes over so few elements
COMPILED_FROM = 64
_COMPILED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _compiled_operands(p: Tensor, state: list[np.ndarray]) -> list[np.ndarray] | None:
    """[p, its gradient, *state] as flat arrays for an update loop of ``kernels.cpu.optim_steps``,
    or None where p has fewer than ``COMPILED_FROM`` elements, or p or a state array is not a
    C-contiguous NumPy array of p's float dtype and shape, or the gradient not a NumPy array of
    them (it is copied where its elements are not contiguous: a layer's weight gradients can be
    views of one larger product)."""
    data, grad = p._data, p.grad._data
    if type(data) is not np.ndarray or data.size < COMPILED_FROM:
        return None
    dtype, shape = data.dtype, data.shape
    if (dtype not in _COMPILED_DTYPES or type(grad) is not np.ndarray or grad.dtype != dtype or grad.shape != shape
            or any(type(a) is not np.ndarray or a.dtype != dtype or a.shape != shape or not a.flags.c_contiguous
                   for a in [data, *state])):
        return None
    return [a.reshape(-1) for a in [data, np.ascontiguousarray(grad), *state]]


def _params_with_grad(group: dict[str, Any]) -> Iterable[Tensor]:
    return [p for p in group["params"] if p.grad is not None]
