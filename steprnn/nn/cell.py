"""``nn.RNNCell``, ``nn.LSTMCell``, ``nn.GRUCell``: one step, run by the same kernels with T = 1."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._checks import as_float_array, check_bool, check_int, check_pair, resolve_device, resolve_dtype
from .._dispatch import run_direction
from ..memory import check_allocation, run_nbytes, trace_nbytes
from ..trace.build import trace_from_run
from ..trace.hooks import active_recording
from ..trace.spec import RecordSpec
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter
from .rnn import LayerRun
from .rnn_graph import attach_cell_graph, needs_graph


class RNNCellBase(Module):
    """Parameters ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih``/``bias_hh`` (G*H,)."""

    kind = "rnn"
    nonlinearity = "tanh"

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.input_size = check_int(input_size, "input_size", 1)
        self.hidden_size = check_int(hidden_size, "hidden_size", 1)
        self.bias = check_bool(bias, "bias")
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        G = num_chunks * self.hidden_size
        self.weight_ih = Parameter(np.empty((G, self.input_size), dtype=self.dtype))
        self.weight_hh = Parameter(np.empty((G, self.hidden_size), dtype=self.dtype))
        if self.bias:
            self.bias_ih = Parameter(np.empty(G, dtype=self.dtype))
            self.bias_hh = Parameter(np.empty(G, dtype=self.dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        init.uniform_all(self, 1.0 / math.sqrt(self.hidden_size))

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _input(self, input: Any) -> np.ndarray:
        x = as_float_array(input, self.dtype, "input")
        if x.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {x.ndim}D instead")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {x.shape[-1]} expected {self.input_size}")
        return x

    def _state(self, value: Any, x: np.ndarray, what: str, label: str) -> np.ndarray:
        """A state as (N, H): zeros when None; checked against the input's batch and hidden_size."""
        N = x.shape[0] if x.ndim == 2 else 1
        if value is None:
            return np.zeros((N, self.hidden_size), dtype=self.dtype)
        h = as_float_array(value, self.dtype, what)
        if h.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected {label} to be 1D or 2D, got {h.ndim}D instead")
        if h.ndim != x.ndim:
            raise RuntimeError(
                f"{type(self).__name__}: input is {x.ndim}-D so {label} must be {x.ndim}-D too, got {h.ndim}-D"
            )
        h2 = h if h.ndim == 2 else h[None, :]
        if h2.shape[0] != N:
            raise RuntimeError(f"Input batch size {N} doesn't match {what} batch size {h2.shape[0]}")
        if h2.shape[1] != self.hidden_size:
            raise RuntimeError(f"{what} has inconsistent hidden_size: got {h2.shape[1]}, expected {self.hidden_size}")
        return h2

    def _direction_params(self, layer: int = 0, direction: int = 0) -> dict:
        return {"w_ih": self.weight_ih._data, "w_hh": self.weight_hh._data,
                "b_ih": None if self.bias_ih is None else self.bias_ih._data,
                "b_hh": None if self.bias_hh is None else self.bias_hh._data}

    def _step(self, x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None, result_of) -> tuple[Any, LayerRun]:
        """Run the kernel for one step (T = 1, which records it); ``result_of(run)`` is what forward returns."""
        x2 = x if x.ndim == 2 else x[None, :]
        active = np.array([x2.shape[0]], dtype=np.int64)
        check_allocation(run_nbytes(self, 1, x2.shape[0], True), f"this {type(self).__name__} step (N={x2.shape[0]})")
        params = self._direction_params()
        run = run_direction(self.kind, x2[None], params, h0, c0, active, reverse=False,
                            record=True, nonlinearity=self.nonlinearity)
        layer_run = LayerRun(run.hs, run.h_n[None], None if run.c_n is None else run.c_n[None], [run], active,
                             None, [x2[None]], h0[None], None if c0 is None else c0[None], None, [True],
                             params=[params])
        return result_of(run), layer_run

    @staticmethod
    def _shape_like(a: np.ndarray, x: np.ndarray) -> Tensor:
        return Tensor(a if x.ndim == 2 else a[0])

    def forward(self, input: Any, hx: Any = None) -> Any:
        """One step: h' (N, H) for RNNCell and GRUCell, (h', c') for LSTMCell; unbatched (I,) → (H,)."""
        recording = active_recording(self)
        if recording is not None:
            return recording.capture(self, input, hx)
        result, _ = self._run(input, hx)
        return result

    def _run(self, input: Any, hx: Any):
        """The step, then the autograd node when backward will be needed."""
        result, run = self._forward(input, hx)
        if needs_graph(self, input, hx):
            result = attach_cell_graph(self, run, input, hx, result)
        return result, run

    def _traced(self, input: Any, hx: Any, spec: RecordSpec):
        """The step, recorded: (what forward returns, its one-step Trace)."""
        spec.check_layers(1)
        x = np.asarray(self._input(input))
        N = x.shape[0] if x.ndim == 2 else 1
        spec.check_memory(*trace_nbytes(self, 1, N))
        rows = spec.rows(N, None)  # refuses a bad batch= before the step runs
        result, run = self._run(input, hx)
        run.rows = rows
        return result, trace_from_run(self, run, result, cell=True)

    def _forward(self, input: Any, hx: Any):
        """The step's result and the kernel's buffers (as a one-step ``LayerRun``), one-state cells."""
        x = self._input(input)
        h0 = self._state(hx, x, "hidden", "hidden")
        return self._step(x, h0, None, lambda run: self._shape_like(run.h_n, x))


class RNNCell(RNNCellBase):
    """``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or ReLU). Input (N, I) or (I,); returns h' (N, H)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity


class LSTMCell(RNNCellBase):
    """One LSTM step (gate rows ``i|f|g|o``). Input (N, I) or (I,); returns (h', c'), each (N, H)."""

    kind = "lstm"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def _forward(self, input: Any, hx: Any):
        x = self._input(input)
        hx = (None, None) if hx is None else check_pair(hx, "LSTMCell expects hx as a tuple (h, c)")
        h0 = self._state(hx[0], x, "hx[0]", "hx[0]")
        c0 = self._state(hx[1], x, "hx[1]", "hx[1]")
        return self._step(x, h0, c0, lambda run: (self._shape_like(run.h_n, x), self._shape_like(run.c_n, x)))


class GRUCell(RNNCellBase):
    """One GRU step (gate rows ``r|z|n``). Input (N, I) or (I,); returns h' (N, H)."""

    kind = "gru"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)
