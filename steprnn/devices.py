"""``sr.device``: where a Tensor's values live (``'cpu'`` or ``'cuda'``, i.e. ``cuda:0``).

Also the argument forms of ``Module.to`` / ``Tensor.to``, read in one place (``parse_to``), and
whether CUDA can be used here (``cuda_status``): numba-cuda installed (the ``gpu`` extra) and
``numba.cuda.is_available()``. ``numba.cuda`` is imported lazily, on the first question.
"""
from __future__ import annotations

from typing import Any, NamedTuple

_TYPES = ("cpu", "cuda")


class device:
    """``sr.device('cpu')``, ``sr.device('cuda:0')``, ``sr.device('cuda', 0)``, as ``torch.device``.

    Compares equal to another device or to the string it prints as (``sr.device('cpu') == 'cpu'``).
    """

    __slots__ = ("index", "type")

    def __init__(self, type: Any, index: int | None = None) -> None:
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if type.__class__.__module__.startswith("torch"):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device() expected a string or a device, got {type.__class__.__name__}")
        name, _, idx = type.partition(":")
        if name not in _TYPES:
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {type}")
        if idx:
            if index is not None or not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(idx)
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise RuntimeError(f"Device index must not be negative, got {index}")
        self.type = name
        self.index = index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, TypeError):
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))


CPU = device("cpu")
CUDA0 = device("cuda", 0)

_STATUS: list = []  # [(available, reason, numba.cuda module or None)] once asked


def cuda_status() -> tuple[bool, str]:
    """``(available, reason)``: whether steprnn can run on a CUDA device here, and if not, why
    (numba-cuda is not installed, or ``numba.cuda.is_available()`` is False: no GPU or no driver)."""
    if not _STATUS:
        import importlib.util

        if importlib.util.find_spec("numba_cuda") is None:
            _STATUS.append((False, "numba-cuda is not installed (pip install 'steprnn[gpu]')", None))
        else:
            try:
                from numba import cuda
                ok = bool(cuda.is_available())
            except Exception as err:  # noqa: BLE001 - a broken driver install is reported, not raised
                cuda, ok = None, False
                reason = f"numba.cuda could not be imported: {err}"
            else:
                reason = "" if ok else "numba.cuda.is_available() is False: no CUDA GPU or driver was found"
            _STATUS.append((ok, reason, cuda if ok else None))
    ok, reason, _ = _STATUS[0]
    return ok, reason


def require_cuda() -> Any:
    """The ``numba.cuda`` module, or the clear refusal when CUDA cannot be used here."""
    if not _STATUS or not _STATUS[0][0]:
        ok, _ = cuda_status()
        if not ok:
            raise cuda_unavailable(CUDA0)
    return _STATUS[0][2]


def cuda_unavailable(dev: Any) -> RuntimeError:
    """The error for a CUDA request this machine cannot serve; it says why and how to check first."""
    _, reason = cuda_status()
    return RuntimeError(
        f"device '{dev}' is not available: steprnn.cuda.is_available() is False ({reason}). Choose the "
        "device the way PyTorch tutorials do: "
        "device = steprnn.device('cuda' if steprnn.cuda.is_available() else 'cpu')"
    )


def as_device(value: Any) -> device:
    """The device ``value`` names (``None`` → cpu). 'cuda' is refused clearly when CUDA cannot be
    used here; 'cuda' and 'cuda:0' name ``cuda:0`` (the one device steprnn uses)."""
    dev = CPU if value is None else device(value)
    if dev.type == "cuda":
        ok, _ = cuda_status()
        if not ok:
            raise cuda_unavailable(dev)
        if dev.index not in (None, 0):
            raise RuntimeError(f"CUDA error: invalid device ordinal (steprnn uses one CUDA device, cuda:0; "
                               f"got {dev})")
        return CUDA0
    return dev


def is_device_like(value: Any) -> bool:
    """A device, a torch.device, or a string that names one (``'cpu'``, ``'cuda:1'``)."""
    if isinstance(value, device) or (type(value).__name__ == "device" and hasattr(value, "type")):
        return True
    return isinstance(value, str) and value.partition(":")[0] in _TYPES


class ToArgs(NamedTuple):
    """What a ``.to(...)`` call asked for; ``None`` where it did not ask."""

    device: device | None
    dtype: Any
    copy: bool


def parse_to(args: tuple, kwargs: dict, *, tensor_type: type | None = None) -> ToArgs:
    """PyTorch's forms of ``.to``: ``to(device=None, dtype=None, non_blocking=False, copy=False)``,
    ``to(dtype, ...)``, ``to(device, dtype, ...)``, ``to(tensor, ...)`` (its device and dtype).

    The device is checked here (CUDA refused clearly); the dtype is returned as given.
    """
    kwargs = dict(kwargs)
    dev = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    copy = bool(kwargs.pop("copy", False))
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    args = list(args)
    if args and tensor_type is not None and isinstance(args[0], tensor_type):
        other = args.pop(0)
        dev, dtype = other.device, other.dtype
    elif args and (args[0] is None or is_device_like(args[0])):
        dev = args.pop(0)
        if args and not isinstance(args[0], bool):
            dtype = args.pop(0)
    elif args:
        dtype = args.pop(0)
    if args and isinstance(args[0], bool):  # non_blocking, then copy (torch's positional order)
        args.pop(0)
        if args and isinstance(args[0], bool):
            copy = args.pop(0)
    if args:
        raise TypeError(f"to() received an invalid combination of arguments: unexpected {args!r}; expected "
                        "to(device), to(dtype), to(device, dtype) or to(tensor)")
    return ToArgs(None if dev is None else as_device(dev), dtype, copy)
