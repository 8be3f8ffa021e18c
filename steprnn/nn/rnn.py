"""``nn.RNN``, ``nn.LSTM``, ``nn.GRU``: PyTorch's recurrent layers, argument for argument.

Python validates and lays out the data; each layer and direction then runs as one Numba kernel
over the whole sequence (``steprnn._dispatch.run_direction``).
"""
from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._checks import as_float_array, check_bool, check_int, check_pair, resolve_device, resolve_dtype
from .._dispatch import DirectionRun, run_direction
from ..memory import check_allocation, run_nbytes, trace_nbytes
from ..trace.build import trace_from_run
from .rnn_graph import attach_graph, needs_graph
from ..trace.hooks import active_recording
from ..trace.spec import RecordSpec
from ..random import default_generator
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence, as_packed, check_packed

_SHORT_NAMES = (("w_ih", "weight_ih"), ("w_hh", "weight_hh"), ("b_ih", "bias_ih"), ("b_hh", "bias_hh"),
                ("w_hr", "weight_hr"))
_KINDS = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn", "RNN_RELU": "rnn"}
_GATE_ROWS = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


@dataclass
class LayerRun:
    """One forward of a recurrent layer, as arrays: what the tracer wraps.

    ``output`` (T, N, D*H_out) time-major in the kernels' batch order, ``h_n`` (L*D, N, H_out),
    ``c_n`` (L*D, N, H) or None; ``runs[layer * D + direction]`` the kernels' buffers (only the
    rows in ``rows`` where a record was asked for); ``inputs[layer]`` (T, N, I_l) what each
    recorded layer read (after dropout), ``h0``/``c0`` (L*D, N, ·) the initial states;
    ``active`` (T,) rows per step; ``sorted_indices`` the batch order the kernels ran in
    (packed input) or None; ``rows`` the kernel rows recorded (None: all, in order).
    """

    output: np.ndarray
    h_n: np.ndarray
    c_n: np.ndarray | None
    runs: list[DirectionRun]
    active: np.ndarray
    sorted_indices: np.ndarray | None
    inputs: list[np.ndarray | None]
    h0: np.ndarray
    c0: np.ndarray | None
    rows: np.ndarray | None
    recorded: list[bool]
    selected: bool = False  # runs already hold only ``rows`` (a trace without a graph)
    masks: list = field(default_factory=list)  # dropout scale masks applied after each layer
    layout: dict = field(default_factory=dict)  # how the caller's arrays map to (T, N, ·)
    grads: dict = field(default_factory=dict)  # k -> (dL/dh_t, dL/dc_t), filled by backward
    params: list = field(default_factory=list)  # k -> the parameter arrays the kernels used


def packed_positions(batch_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(time, batch) of each row of a PackedSequence's data, given its ``batch_sizes`` (T,)."""
    total = int(batch_sizes.sum())
    starts = np.cumsum(batch_sizes) - batch_sizes  # first data row of each step
    t_idx = np.repeat(np.arange(batch_sizes.shape[0]), batch_sizes)
    b_idx = np.arange(total) - np.repeat(starts, batch_sizes)
    return t_idx, b_idx


class RNNBase(Module):
    """Shared machinery of RNN, LSTM and GRU: parameters, validation, the layer loop."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                stacklevel=3,
            )
        check_bool(bias, "bias")
        check_bool(batch_first, "batch_first")
        check_bool(bidirectional, "bidirectional")
        input_size = check_int(input_size, "input_size", 1)
        hidden_size = check_int(hidden_size, "hidden_size", 1)
        num_layers = check_int(num_layers, "num_layers", 1)
        proj_size = check_int(proj_size, "proj_size")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _KINDS:
            raise ValueError("Unrecognized RNN mode: " + str(mode))
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = proj_size
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)

        gate_size = _GATE_ROWS[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            for direction in range(self.num_directions):
                layer_input = input_size if layer == 0 else real_hidden * self.num_directions
                suffix = "_reverse" if direction == 1 else ""
                shapes = [(f"weight_ih_l{layer}{suffix}", (gate_size, layer_input)),
                          (f"weight_hh_l{layer}{suffix}", (gate_size, real_hidden))]
                if bias:
                    shapes += [(f"bias_ih_l{layer}{suffix}", (gate_size,)),
                               (f"bias_hh_l{layer}{suffix}", (gate_size,))]
                if proj_size > 0:
                    shapes += [(f"weight_hr_l{layer}{suffix}", (proj_size, hidden_size))]
                for name, shape in shapes:
                    setattr(self, name, Parameter(np.empty(shape, dtype=self.dtype)))
                    self._flat_weights_names.append(name)
        self.reset_parameters()

    # -- properties ---------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``'rnn'``, ``'lstm'`` or ``'gru'``."""
        return _KINDS[self.mode]

    @property
    def nonlinearity(self) -> str:
        return "relu" if self.mode == "RNN_RELU" else "tanh"

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _real_hidden(self) -> int:
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    @property
    def all_weights(self) -> list[list[Parameter]]:
        per = len(self._flat_weights_names) // (self.num_layers * self.num_directions)
        flat = [getattr(self, n) for n in self._flat_weights_names]
        return [flat[i:i + per] for i in range(0, len(flat), per)]

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        init.uniform_all(self, 1.0 / math.sqrt(self.hidden_size))

    def flatten_parameters(self) -> None:
        """Does nothing: PyTorch packs cuDNN weights here; steprnn's kernels read the parameters as they are."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _direction_params(self, layer: int, direction: int) -> dict:
        """{'w_ih', 'w_hh', 'b_ih', 'b_hh', 'w_hr'} → the arrays of one layer and direction (None if absent)."""
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        params = self._parameters
        out = {}
        for short, full in _SHORT_NAMES:
            p = params.get(full + suffix)
            out[short] = None if p is None else p._data
        return out

    # -- input handling -----------------------------------------------------------------------
    def _name(self) -> str:
        return "RNN" if self.kind == "rnn" else type(self).__name__

    def _check_features(self, x: np.ndarray) -> None:
        if x.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {x.shape[-1]}"
            )

    def _state_arrays(self, hx: Any, batched: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(h_0, c_0) as arrays with a batch axis (c_0 None but for LSTM); None where not given."""
        if hx is None:
            return None, None
        if self.kind == "lstm":
            hx = check_pair(hx, "LSTM expects hx as a tuple (h_0, c_0)")
            h0 = as_float_array(hx[0], self.dtype, "h_0")
            c0 = as_float_array(hx[1], self.dtype, "c_0")
            want = 3 if batched else 2
            if h0.ndim != want or c0.ndim != want:
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(
                    f"For {kind} input, hx and cx should also be {want}-D but got ({h0.ndim}-D, {c0.ndim}-D) tensors"
                )
            if not batched:
                h0, c0 = h0[:, None, :], c0[:, None, :]
            return h0, c0
        if isinstance(hx, tuple):
            raise TypeError(f"{self._name()} expects hx as one tensor h_0, got a {type(hx).__name__} (only LSTM takes (h_0, c_0))")
        h0 = as_float_array(hx, self.dtype, "h_0")
        want = 3 if batched else 2
        if h0.ndim != want:
            kind = "batched 3-D" if batched else "unbatched 2-D"
            raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {h0.ndim}-D tensor")
        return (h0 if batched else h0[:, None, :]), None

    def _check_state_shapes(self, h0: np.ndarray | None, c0: np.ndarray | None, batch: int) -> None:
        LD = self.num_layers * self.num_directions
        expected = (LD, batch, self._real_hidden)
        if h0 is not None:
            if self.kind == "lstm":
                if h0.shape != expected:
                    raise RuntimeError(f"Expected hidden[0] size {expected}, got {list(h0.shape)}")
                if c0.shape != (LD, batch, self.hidden_size):
                    raise RuntimeError(
                        f"Expected hidden[1] size {(LD, batch, self.hidden_size)}, got {list(c0.shape)}"
                    )
            elif h0.shape != expected:
                raise RuntimeError(f"Expected hidden size {expected}, got {list(h0.shape)}")

    # -- forward ------------------------------------------------------------------------------
    def forward(self, input: Any, hx: Any = None):
        """``out, h_n = rnn(x, h_0)``; ``out, (h_n, c_n) = lstm(x, (h_0, c_0))``.

        ``input``: (L, N, H_in), (N, L, H_in) with ``batch_first``, unbatched (L, H_in), or a
        PackedSequence. ``out``: (L, N, D*H_out) likewise (a PackedSequence for packed input);
        ``h_n``: (num_layers*D, N, H_out), ``c_n``: (num_layers*D, N, H_cell); D = 2 if bidirectional.
        With grad mode on and parameters (or inputs) that require grad, the outputs join the
        autograd graph as one node whose backward runs the BPTT kernels.
        """
        recording = active_recording(self)
        if recording is not None:
            return recording.capture(self, input, hx)
        result, _ = self._run(input, hx, record=None)
        return result

    def _traced(self, input: Any, hx: Any, spec: RecordSpec):
        """The forward with every step recorded: (what forward returns, its Trace)."""
        result, run = self._run(input, hx, record=spec)
        return result, trace_from_run(self, run, result)

    def _run(self, input: Any, hx: Any, record: RecordSpec | None):
        """Forward, then the autograd node when backward will be needed."""
        input = as_packed(input)  # a PyTorch PackedSequence too
        graph = needs_graph(self, input, hx)
        result, run = self._forward(input, hx, record, keep_all=graph)
        if graph:
            result = attach_graph(self, run, input, hx, result)
        return result, run

    def _forward(self, input: Any, hx: Any, record: RecordSpec | None, keep_all: bool = False):
        """The forward, returning PyTorch's result and the ``LayerRun`` the kernels filled."""
        if self.device != "cpu":
            resolve_device(self.device)
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx, record, keep_all)
        x = as_float_array(input, self.dtype, "input")
        if x.ndim not in (2, 3):
            raise ValueError(f"{self._name()}: Expected input to be 2D or 3D, got {x.ndim}D {'tensor ' if self.kind == 'rnn' else ''}instead")
        batched = x.ndim == 3
        self._check_features(x)
        h0, c0 = self._state_arrays(hx, batched)
        if not batched:
            x = x[:, None, :]
        elif self.batch_first:
            x = x.transpose(1, 0, 2)  # (L, N, H_in)
        T, N = x.shape[0], x.shape[1]
        if T == 0 or N == 0:
            raise ValueError(f"{self._name()}: Expected a non-empty input, got sequence length {T} and batch size {N}")
        self._check_state_shapes(h0, c0, N)
        active = np.full(T, N, dtype=np.int64)
        run = self._run_layers(x, h0, c0, active, record, sorted_indices=None, keep_all=keep_all)
        run.layout = {"form": "unbatched" if not batched else ("batch_first" if self.batch_first else "time_major")}
        out, h_n, c_n = run.output, run.h_n, run.c_n
        if not batched:
            out, h_n = out[:, 0, :], h_n[:, 0, :]
            c_n = None if c_n is None else c_n[:, 0, :]
        elif self.batch_first:
            out = np.ascontiguousarray(out.transpose(1, 0, 2))
        return self._pack_result(Tensor(out), h_n, c_n), run

    def _forward_packed(self, packed: PackedSequence, hx: Any, record: RecordSpec | None, keep_all: bool):
        data = as_float_array(packed.data, self.dtype, "input")
        if data.ndim != 2:
            raise RuntimeError(f"input must have 2 dimensions, got {data.ndim}")
        self._check_features(data)
        _, batch_sizes, sorted_idx, unsorted_idx = check_packed(packed, self._name())
        T, N = batch_sizes.shape[0], int(batch_sizes[0])
        h0, c0 = self._state_arrays(hx, batched=True)
        self._check_state_shapes(h0, c0, N)
        if sorted_idx is not None and h0 is not None:
            h0 = h0[:, sorted_idx]
            c0 = None if c0 is None else c0[:, sorted_idx]
        t_idx, b_idx = packed_positions(batch_sizes)
        x = np.zeros((T, N, data.shape[1]), dtype=self.dtype)
        x[t_idx, b_idx] = data  # (T, N, H_in), rows sorted by decreasing length
        run = self._run_layers(x, h0, c0, batch_sizes, record, sorted_indices=sorted_idx, keep_all=keep_all)
        run.layout = {"form": "packed", "t_idx": t_idx, "b_idx": b_idx, "sorted": sorted_idx, "unsorted": unsorted_idx}
        out_data = run.output[t_idx, b_idx]  # (sum(lengths), D*H_out)
        h_n, c_n = run.h_n, run.c_n
        if unsorted_idx is not None:
            h_n = h_n[:, unsorted_idx]
            c_n = None if c_n is None else c_n[:, unsorted_idx]
        out = PackedSequence(Tensor(out_data), packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        return self._pack_result(out, h_n, c_n), run

    def _pack_result(self, out: Any, h_n: np.ndarray, c_n: np.ndarray | None):
        if self.kind == "lstm":
            return out, (Tensor(np.ascontiguousarray(h_n)), Tensor(np.ascontiguousarray(c_n)))
        return out, Tensor(np.ascontiguousarray(h_n))

    def _run_layers(self, x: np.ndarray, h0: np.ndarray | None, c0: np.ndarray | None,
                    active: np.ndarray, record: RecordSpec | None,
                    sorted_indices: np.ndarray | None, keep_all: bool = False) -> LayerRun:
        """Every layer and direction over time-major ``x`` (T, N, H_in); dropout between layers.

        With ``record``, the layers it names write every step into buffers (kept for the rows it
        asks for); the others, and an untraced forward, run the same kernels on scratch buffers.
        ``keep_all`` (a forward that backward will need) records every layer and row.
        """
        T, N = x.shape[0], x.shape[1]
        LD, H_out = self.num_layers * self.num_directions, self._real_hidden
        rows = None
        if record is not None:
            record.check_layers(self.num_layers)
            unsorted = None if sorted_indices is None else np.argsort(sorted_indices)
            rows = record.rows(N, unsorted)
            record.check_memory(*self.trace_nbytes(T, N, RecordSpec() if keep_all else record), graph=keep_all)
        check_allocation(run_nbytes(self, T, N, keep_all), f"this {self._name()} forward (L={T}, N={N})")
        if h0 is None:
            h0 = np.zeros((LD, N, H_out), dtype=self.dtype)
        if self.kind == "lstm" and c0 is None:
            c0 = np.zeros((LD, N, self.hidden_size), dtype=self.dtype)
        h_n = np.empty((LD, N, H_out), dtype=self.dtype)
        c_n = np.empty((LD, N, self.hidden_size), dtype=self.dtype) if self.kind == "lstm" else None
        runs: list[DirectionRun] = []
        inputs: list[np.ndarray | None] = []
        recorded: list[bool] = []
        masks: list[np.ndarray | None] = []
        params: list[dict] = []
        select = rows is not None and not keep_all
        layer_input = x
        for layer in range(self.num_layers):
            keep = record is not None and record.wants(layer)
            recorded.append(keep)
            keep = keep or keep_all
            inputs.append(layer_input if keep else None)
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                params.append(self._direction_params(layer, direction))
                run = run_direction(
                    self.kind, layer_input, params[k], h0[k],
                    None if c0 is None else c0[k], active, reverse=direction == 1, record=keep,
                    nonlinearity=self.nonlinearity,
                )
                h_n[k] = run.h_n
                if c_n is not None:
                    c_n[k] = run.c_n
                outputs.append(run.hs)
                runs.append(run.select(rows) if keep and select else run)
            layer_output = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=2)
            mask = None
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                mask = _dropout_mask(layer_output, self.dropout, active)
                layer_output = layer_output * mask
            masks.append(mask)
            layer_input = layer_output
        return LayerRun(layer_input, h_n, c_n, runs, active, sorted_indices, inputs, h0, c0, rows, recorded,
                        selected=select, masks=masks, params=params)

    def trace_nbytes(self, T: int, N: int, record: RecordSpec) -> tuple[int, int]:
        """(bytes a trace of a (T, N) forward keeps, bytes of one layer and direction's buffers)."""
        return trace_nbytes(self, T, N, record.layers, record.batch)


def _dropout_mask(a: np.ndarray, p: float, active: np.ndarray | None = None) -> np.ndarray:
    """Dropout as a multiplier: 0 with probability p, else 1/(1-p) (all zeros for p = 1).

    Drawn as PyTorch draws it (``bernoulli_(1 - p)``): over (T, N, D*H) time-major, or, for packed input
    (``active`` = batch sizes below N), over the packed rows only, in packed order."""
    if p >= 1.0:
        return np.zeros_like(a)
    if active is not None and np.any(active < a.shape[1]):
        t_idx, b_idx = packed_positions(active)
        keep = np.zeros(a.shape, dtype=bool)
        keep[t_idx, b_idx] = default_generator().random((t_idx.size, a.shape[2])) < (1.0 - p)
    else:
        keep = default_generator().random(a.shape) < (1.0 - p)
    return keep.astype(a.dtype) / a.dtype.type(1.0 - p)


def _refuse_extra_kwargs(name: str, kwargs: dict) -> None:
    if "proj_size" in kwargs:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    if kwargs:
        raise TypeError(f"{name} got unexpected keyword arguments {sorted(kwargs)}")


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` (or ReLU), as ``torch.nn.RNN``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        _refuse_extra_kwargs("RNN", kwargs)
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, device, dtype)


class LSTM(RNNBase):
    """Long short-term memory, gate rows ``i|f|g|o``, optional projection, as ``torch.nn.LSTM``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit, gate rows ``r|z|n``, ``n = tanh(W_in x + b_in + r*(W_hn h + b_hn))``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        _refuse_extra_kwargs("GRU", kwargs)
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, device, dtype)
