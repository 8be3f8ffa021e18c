"""``nn.Module``: parameter and submodule registration, modes, state dicts, dtype moves."""
from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any, Iterator, NamedTuple

import numpy as np

from .._checks import resolve_dtype
from ..tensor import Tensor, to_numpy
from .parameter import Parameter


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer, as ``torch.nn.Module``.

    Setting a ``Parameter`` or a ``Module`` as an attribute registers it; ``model(x)`` calls
    ``forward``; ``state_dict()`` maps dotted names to NumPy arrays.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """steprnn's layers built with ``device='cuda'`` (``self.device``) end their construction on
        CUDA: the outermost ``__init__`` moves what it registered, as ``Module.to('cuda')`` would."""
        super().__init_subclass__(**kwargs)
        if not cls.__module__.startswith("steprnn."):
            return  # a user's model keeps torch's rule: it moves when told to (.to / .cuda)
        init = cls.__init__

        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kw: Any) -> None:
            init(self, *args, **kw)
            if type(self) is cls and self.__dict__.get("device") == "cuda":
                self._to_device("cuda")

        cls.__init__ = __init__  # type: ignore[method-assign]

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration -------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError("cannot assign before Module.__init__() call")
        if isinstance(value, Parameter):
            self.__dict__.pop(name, None)
            self._modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            self.__dict__.pop(name, None)
            params.pop(name, None)
            self._modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(steprnn.nn.Parameter or None expected)"
                )
            params[name] = None
        elif name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' "
                    "(steprnn.nn.Module or None expected)"
                )
            self._modules[name] = None
        elif name in self.__dict__.get("_buffers", ()):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(steprnn.Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        if "_parameters" in d and name in d["_parameters"]:
            return d["_parameters"][name]
        if "_modules" in d and name in d["_modules"]:
            return d["_modules"][name]
        if "_buffers" in d and name in d["_buffers"]:
            return d["_buffers"][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}'")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """A Tensor that belongs to the module's state but is not learned (running statistics):
        an attribute, in ``state_dict()`` unless ``persistent=False``, converted by ``.to(dtype)``."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(steprnn.Tensor or None required)")
        self.__dict__.pop(name, None)
        self.__dict__.setdefault("_buffers", OrderedDict())[name] = tensor
        if not persistent:
            self.__dict__.setdefault("_non_persistent", set()).add(name)

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_name, module in modules:
            for name, b in module.__dict__.get("_buffers", {}).items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def _state_tensors(self) -> "OrderedDict[str, Tensor]":
        """Parameters then persistent buffers of each module, by dotted name (torch's order)."""
        own: OrderedDict[str, Tensor] = OrderedDict()
        for mod_name, module in self.named_modules():
            skip = module.__dict__.get("_non_persistent", ())
            items = list(module._parameters.items()) + [
                (n, b) for n, b in module.__dict__.get("_buffers", {}).items() if n not in skip]
            for name, p in items:
                if p is not None:
                    own[f"{mod_name}.{name}" if mod_name else name] = p
        return own

    def add_module(self, name: str, module: "Module | None") -> None:
        self._modules[name] = module

    # -- traversal ----------------------------------------------------------------------------
    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_name, module in modules:
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo: set | None = None, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self.named_children():
            yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def apply(self, fn) -> "Module":
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes --------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            p.grad = None if set_to_none or p.grad is None else p.grad.new_zeros(p.shape)

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Every parameter by its dotted name (``lstm.weight_ih_l0``) → a copy of its array."""
        return OrderedDict((k, (p._host_read() if p.is_cuda else p._data).copy())
                           for k, p in self._state_tensors().items())

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (NumPy or PyTorch tensors) into the parameters, checking names and shapes.

        Every check runs before anything is copied: a refused state dict leaves the model as it was.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        own = self._state_tensors()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in own]
        errors = []
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        arrays = {}
        for key, p in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            try:
                array = to_numpy(value)
            except Exception as err:  # noqa: BLE001 - reported below with the key
                raise TypeError(f"state_dict[{key!r}] is not an array: {err}") from None
            if array.dtype == object or array.dtype.kind not in "biuf":
                raise TypeError(f"state_dict[{key!r}] must hold numbers, got dtype {array.dtype}")
            if array.shape != tuple(p.shape):
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {tuple(array.shape)} from checkpoint, "
                    f"the shape in current model is {tuple(p.shape)}."
                )
                continue
            with np.errstate(over="ignore", invalid="ignore"):
                cast = array.astype(np.dtype(p.dtype))  # the values the model will hold (a copy)
            finite = np.isfinite(cast)
            if not finite.all():
                bad = int(np.size(cast) - np.count_nonzero(finite))
                where = np.flatnonzero(~finite.reshape(-1))[0]
                value = array.reshape(-1)[where]
                if np.isfinite(value):
                    raise ValueError(
                        f"state_dict[{key!r}] holds {bad} value(s) too large for {np.dtype(p.dtype)} (e.g. {float(value)!r} "
                        f"at flat index {where}, which becomes {float(cast.reshape(-1)[where])!r}): expected finite weights"
                    )
                raise ValueError(
                    f"state_dict[{key!r}] holds {bad} NaN or infinite value(s): expected finite weights "
                    "(was the checkpoint saved after training diverged?)"
                )
            arrays[key] = cast
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors)
            )
        for key, array in arrays.items():
            np.copyto(own[key]._data, array)
            own[key]._vc.bump()  # an in-place change: a graph recorded before it refuses its backward
        self._parameters_changed()
        return IncompatibleKeys(missing, unexpected)

    def _parameters_changed(self) -> None:
        """Hook for modules that cache something derived from their parameters."""
        for m in self.children():
            m._parameters_changed()

    # -- dtype and device ---------------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> "Module":
        """Move and/or cast every parameter, in place; returns ``self``, as ``torch.nn.Module.to``.

        ``model.to(device)``, ``model.to(sr.float64)``, ``model.to(device, dtype)``,
        ``model.to(tensor)`` or keywords ``device=``/``dtype=``. A device is ``'cpu'``, ``'cuda'``,
        ``sr.device(...)`` or a ``torch.device``; CUDA is refused with a clear message while
        ``sr.cuda.is_available()`` is False. Only float32 and float64 dtypes apply to parameters.
        Parameters and buffers stay the same objects (an optimizer made before ``.to`` keeps working).
        """
        from ..devices import parse_to
        from ..tensor import Tensor

        dev, dtype, _ = parse_to(args, kwargs, tensor_type=Tensor)
        if dev is not None:
            self._to_device(dev.type)
        if dtype is not None:
            try:
                target = resolve_dtype(dtype)
            except TypeError:
                raise TypeError(
                    "nn.Module.to only accepts floating point dtypes (steprnn.float32, steprnn.float64), "
                    f"but got desired dtype={dtype!r}"
                ) from None
            for m in self.modules():
                for name, p in m._parameters.items():
                    if p is not None and p.dtype != target:
                        p._data = p._data.astype(target)
                for b in m.__dict__.get("_buffers", {}).values():
                    if b is not None and b.dtype.is_floating_point and b.dtype != target:
                        b._data = b._data.astype(target)
                if hasattr(m, "dtype"):
                    object.__setattr__(m, "dtype", target)
            self._parameters_changed()
        return self

    def float(self) -> "Module":
        return self.to(np.dtype("float32"))

    def double(self) -> "Module":
        return self.to(np.dtype("float64"))

    def cpu(self) -> "Module":
        """Move every parameter and buffer to the CPU, in place; returns ``self``."""
        return self.to("cpu")

    def cuda(self, device: Any = None) -> "Module":
        """Move every parameter and buffer to ``cuda:0``, in place; returns ``self``. Refused while
        ``sr.cuda.is_available()`` is False, with a message that says why."""
        return self.to("cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))

    def _to_device(self, device: str) -> None:
        """Move parameters (and their ``.grad``) and buffers to ``device`` keeping the same objects."""
        moving = [t for m in self.modules() for t in (*m._parameters.values(), *m.__dict__.get("_buffers", {}).values())
                  if t is not None and t.is_cuda != (device == "cuda")]
        if moving:
            from ..cuda_tensor import _move_in_place
            for t in moving:
                _move_in_place(t, device == "cuda")
        for m in self.modules():
            if isinstance(getattr(m, "device", None), str) and m.device in ("cpu", "cuda"):
                object.__setattr__(m, "device", device)
            if device == "cpu":
                m.__dict__.pop("_cuda_weight_cache", None)  # device arrays of the weights (nn/rnn_cuda.py)
        if moving:
            self._parameters_changed()

    # -- calling --------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- printing -------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
