"""``nn.RNN``, ``nn.LSTM``, ``nn.GRU``: PyTorch's recurrent layers, argument for argument.

Python validates and lays out the data; each layer and direction then runs as one Numba kernel
over the whole sequence (``steprnn._dispatch.run_direction``). The facts about each cell kind
(gates, rows per unit, equations) come from ``steprnn.cell_kinds``.
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from .._checks import as_float_array, check_bool, check_int, check_pair, resolve_device, resolve_dtype
from .._dispatch import run_direction
from .._runs import BatchLayout, DirectionRun, Kept, LayerRun, StateGradients
from .._weights import WeightCache, WeightLayout
from ..cell_kinds import KINDS, MODES, PARAMETERS, CellKind, parameter_suffix, with_equations
from ..memory import SMALL, check_allocation, run_nbytes, trace_nbytes
from ..trace.build import trace_config, trace_from_run
from .rnn_graph import attach_graph, needs_graph
from ..trace.hooks import active_recording
from ..trace.spec import RecordSpec
from ..grad_mode import is_grad_enabled
from ..random import default_generator
from ..tensor import Tensor
from . import init
from .cell import hidden_on_cuda
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence, _packed_positions, as_packed, check_packed

__all__ = ["RNNBase", "RNN", "LSTM", "GRU"]


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
        if mode not in MODES:
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

        gate_size = KINDS[MODES[mode]].rows_per_unit * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            for direction in range(self.num_directions):
                layer_input = input_size if layer == 0 else real_hidden * self.num_directions
                suffix = parameter_suffix(layer, direction)
                shapes = {"w_ih": (gate_size, layer_input), "w_hh": (gate_size, real_hidden)}
                if bias:
                    shapes.update(b_ih=(gate_size,), b_hh=(gate_size,))
                if proj_size > 0:
                    shapes["w_hr"] = (proj_size, hidden_size)
                for short, full in PARAMETERS:
                    if short in shapes:
                        setattr(self, full + suffix, Parameter(np.empty(shapes[short], dtype=self.dtype)))
                        self._flat_weights_names.append(full + suffix)
        self.reset_parameters()
        if self.device == "cuda":
            self._to_device("cuda")  # initialised on the host (the same values as on the CPU), then moved

    # -- properties ---------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``'rnn'``, ``'lstm'`` or ``'gru'``."""
        return MODES[self.mode]

    @property
    def _cell(self) -> CellKind:
        """This layer's entry in the cell-kind table."""
        return KINDS[MODES[self.mode]]

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

    def _parameter_names(self, layer: int, direction: int) -> dict[str, str]:
        """{'w_ih': 'weight_ih_l0', ...}: every short name's full parameter name for one layer and
        direction, made once per module."""
        cache = self.__dict__.get("_param_names")
        if cache is None:
            cache = self.__dict__["_param_names"] = {}
        names = cache.get((layer, direction))
        if names is None:
            suffix = parameter_suffix(layer, direction)
            names = cache[(layer, direction)] = {short: full + suffix for short, full in PARAMETERS}
        return names

    def _direction_params(self, layer: int, direction: int) -> dict:
        """{'w_ih', 'w_hh', 'b_ih', 'b_hh', 'w_hr'} → the arrays of one layer and direction (None if absent)."""
        params = self._parameters
        out = {}
        for short, full in self._parameter_names(layer, direction).items():
            p = params.get(full)
            out[short] = None if p is None else p._data
        return out

    def _facts(self) -> "_LayerFacts":
        """What every call needs to know about this layer and would otherwise work out again:
        made once, and again whenever one of the attributes it depends on changes."""
        key = (self.mode, self.input_size, self.hidden_size, self.proj_size, self.num_layers, self.bidirectional,
               self.dtype, self.bias, self.batch_first)
        facts = self.__dict__.get("_layer_facts")
        if facts is None or facts.key != key:
            facts = self.__dict__["_layer_facts"] = _LayerFacts(self, key)
        return facts

    def _bytes_per_row(self, trace: bool = False) -> int:
        """An upper bound, per (step, batch row), of what a forward allocates (graph kept), or with
        ``trace`` of what a trace of it keeps (``trace_nbytes``, at most twice its (1, 1) value):
        a (T, N) call below the limits' floors / this needs neither sum nor a look at free memory."""
        facts = self._facts()
        return facts.trace_row_bytes if trace else facts.row_bytes

    def _weights(self, layer: int, direction: int, own: bool = False) -> WeightLayout:
        """The kernels' layout of one layer and direction's weights, cached until a parameter is replaced;
        ``own``: for a traced forward (``_weights.weight_layout``)."""
        cache = self.__dict__.get("_weight_cache")
        if cache is None:
            cache = self.__dict__["_weight_cache"] = WeightCache()
        return cache.get((layer, direction), self._direction_params(layer, direction), self._cell, own)

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
        if self._cell.has_cell_state:
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
            if self._cell.has_cell_state:
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
        if self.device != "cpu" or getattr(input, "is_cuda", False):  # CUDA glue: nn/rnn_cuda.py
            from .rnn_cuda import layer_traced
            return layer_traced(self, input, hx, spec)
        # what a backward through this forward will leave for the trace (none without grad mode)
        gradients = StateGradients() if is_grad_enabled() else None
        facts = self._facts()
        result, run = self._run(input, hx, record=spec, gradients=gradients, facts=facts)
        return result, trace_from_run(self, run, result, gradients=gradients, config=facts.config)

    def _run(self, input: Any, hx: Any, record: RecordSpec | None, gradients: StateGradients | None = None,
             facts: "_LayerFacts | None" = None):
        """Forward, then the autograd node when backward will be needed: (result, the ``LayerRun``).
        That node's backward puts every step's dL/dh_t, dL/dc_t in ``gradients`` (if given).
        ``facts``: ``self._facts()`` where the caller has it already."""
        if self.device != "cpu" or getattr(input, "is_cuda", False):  # CUDA glue: nn/rnn_cuda.py
            from .rnn_cuda import layer_run
            return layer_run(self, input, hx, record, gradients)
        if hx is not None and type(hx) is not Tensor and hidden_on_cuda(hx):
            raise RuntimeError("Input and hidden tensors are not at the same device, found input tensor at cpu "
                               "and hidden tensor at cuda:0")
        if type(input) is not Tensor and type(input) is not np.ndarray:
            input = as_packed(input)  # a PyTorch PackedSequence too
        graph = needs_graph(self, input, hx)
        result, run = self._forward(input, hx, record, keep_all=graph, facts=facts)
        if graph:
            result = attach_graph(self, run, input, hx, result, gradients)
        return result, run

    def _forward(self, input: Any, hx: Any, record: RecordSpec | None, keep_all: bool = False,
                 facts: "_LayerFacts | None" = None):
        """The forward, returning PyTorch's result and the ``LayerRun`` the kernels filled."""
        if self.device != "cpu":
            resolve_device(self.device)
        facts = self._facts() if facts is None else facts
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx, record, keep_all, facts)
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
        form = "unbatched" if not batched else ("batch_first" if self.batch_first else "time_major")
        layout = BatchLayout(form, facts.active(T, N))
        run = self._run_layers(x, h0, c0, layout, record, facts, keep_all=keep_all)
        out, h_n, c_n = run.output, run.h_n, run.c_n
        if not batched:
            out, h_n = out[:, 0, :], h_n[:, 0, :]
            c_n = None if c_n is None else c_n[:, 0, :]
        elif self.batch_first:
            out = np.ascontiguousarray(out.transpose(1, 0, 2))
        return self._pack_result(Tensor._make(out), h_n, c_n), run

    def _forward_packed(self, packed: PackedSequence, hx: Any, record: RecordSpec | None, keep_all: bool,
                        facts: "_LayerFacts"):
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
        t_idx, b_idx = _packed_positions(batch_sizes)
        x = np.zeros((T, N, data.shape[1]), dtype=self.dtype)
        x[t_idx, b_idx] = data  # (T, N, H_in), rows sorted by decreasing length
        layout = BatchLayout("packed", batch_sizes, t_idx, b_idx, sorted_idx, unsorted_idx)
        run = self._run_layers(x, h0, c0, layout, record, facts, keep_all=keep_all)
        out_data = run.output[t_idx, b_idx]  # (sum(lengths), D*H_out)
        h_n, c_n = run.h_n, run.c_n
        if unsorted_idx is not None:
            h_n = h_n[:, unsorted_idx]
            c_n = None if c_n is None else c_n[:, unsorted_idx]
        out = PackedSequence(Tensor(out_data), packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        return self._pack_result(out, h_n, c_n), run

    def _pack_result(self, out: Any, h_n: np.ndarray, c_n: np.ndarray | None):
        h_n = Tensor._make(h_n if h_n.flags.c_contiguous else np.ascontiguousarray(h_n))
        if c_n is not None:
            return out, (h_n, Tensor._make(c_n if c_n.flags.c_contiguous else np.ascontiguousarray(c_n)))
        return out, h_n

    def _run_layers(self, x: np.ndarray, h0: np.ndarray | None, c0: np.ndarray | None,
                    layout: BatchLayout, record: RecordSpec | None, facts: "_LayerFacts",
                    keep_all: bool = False) -> LayerRun:
        """Every layer and direction over time-major ``x`` (T, N, H_in); dropout between layers.

        With ``record``, the layers it names write every step into buffers (kept for the rows it
        asks for); the others, and an untraced forward, run the same kernels on scratch buffers.
        ``keep_all`` (a forward that backward will need) records every layer and row.
        """
        T, N = x.shape[0], x.shape[1]
        L, D, H, dtype = self.num_layers, self.num_directions, self.hidden_size, self.dtype
        LD, H_out = L * D, self._real_hidden
        has_c = facts.has_cell_state
        active = layout.active
        rows = None
        if record is not None:
            if record.layers is not None:
                record.check_layers(L)
            if record.batch is not None or layout.sorted_indices is not None:  # else every row, in order
                unsorted = None if layout.sorted_indices is None else np.argsort(layout.sorted_indices)
                rows = record.rows(N, unsorted)
            if not record.surely_fits(T * N * facts.trace_row_bytes):
                record.check_memory(*self.trace_nbytes(T, N, RecordSpec() if keep_all else record), graph=keep_all)
        if T * N * facts.row_bytes >= SMALL:  # else far below anything worth asking the system about
            check_allocation(run_nbytes(self, T, N, keep_all), f"this {self._name()} forward (L={T}, N={N})")
        own_states = h0 is None and c0 is None
        if h0 is None:
            h0 = np.zeros((LD, N, H_out), dtype=dtype)
        if has_c and c0 is None:
            c0 = np.zeros((LD, N, H), dtype=dtype)
        if LD == 1 and rows is None:  # the common case: one layer, one direction, every row (no dropout)
            keep = record is not None and record.wants(0)
            w = self._weights(0, 0, own=keep)
            run = run_direction(facts.kind, x, w, h0[0], None if c0 is None else c0[0], active, reverse=False,
                                record=keep or keep_all, nonlinearity=facts.nonlinearity, device=self.device,
                                keep_prev=keep_all)
            return LayerRun(run.hs, run.h_n[None], None if run.c_n is None else run.c_n[None], h0, c0, layout,
                            (run,), (x if keep or keep_all else None,), (w,), (None,), Kept((keep,)), own_states)
        h_n = c_n = None  # (LD, N, ·); one layer and direction: its kernel's own final state, no copy
        if LD > 1:
            h_n = np.empty((LD, N, H_out), dtype=dtype)
            c_n = np.empty((LD, N, H), dtype=dtype) if has_c else None
        runs: list[DirectionRun] = []
        inputs: list[np.ndarray | None] = []
        recorded: list[bool] = []
        masks: list[np.ndarray | None] = []
        weights: list[WeightLayout] = []
        select = rows is not None and not keep_all
        kind, nonlinearity, device = self.kind, self.nonlinearity, self.device
        dropout = self.dropout if self.training else 0.0
        layer_input = x
        for layer in range(L):
            keep = record is not None and record.wants(layer)
            recorded.append(keep)
            keep = keep or keep_all
            inputs.append(layer_input if keep else None)
            outputs = []
            for direction in range(D):
                k = layer * D + direction
                w = self._weights(layer, direction, own=recorded[-1])
                weights.append(w)
                run = run_direction(
                    kind, layer_input, w, h0[k],
                    None if c0 is None else c0[k], active, reverse=direction == 1, record=keep,
                    nonlinearity=nonlinearity, device=device, keep_prev=keep_all,
                )
                if LD == 1:
                    h_n = run.h_n[None]
                    c_n = None if run.c_n is None else run.c_n[None]
                else:
                    h_n[k] = run.h_n
                    if c_n is not None:
                        c_n[k] = run.c_n
                outputs.append(run.hs)
                runs.append(run.select(rows) if keep and select else run)
            layer_output = outputs[0] if D == 1 else np.concatenate(outputs, axis=2)
            mask = None
            if dropout > 0 and layer < L - 1:
                mask = _dropout_mask(layer_output, dropout, active)
                layer_output = layer_output * mask
            masks.append(mask)
            layer_input = layer_output
        return LayerRun(layer_input, h_n, c_n, h0, c0, layout, tuple(runs), tuple(inputs), tuple(weights),
                        tuple(masks), Kept(tuple(recorded), rows, select), own_states)

    def trace_nbytes(self, T: int, N: int, record: RecordSpec) -> tuple[int, int]:
        """(bytes a trace of a (T, N) forward keeps, bytes of one layer and direction's buffers)."""
        return trace_nbytes(self, T, N, record.layers, record.batch)


class _LayerFacts:
    """A layer's derived facts for one value of ``key`` (its configuration): cell kind, memory
    bounds per (step, batch row), the trace's description of it, the last ``active`` array."""

    __slots__ = ("key", "kind", "nonlinearity", "has_cell_state", "row_bytes", "trace_row_bytes", "config",
                 "_active")

    def __init__(self, layer: "RNNBase", key: tuple) -> None:
        self.key = key
        self.kind = layer.kind
        self.nonlinearity = layer.nonlinearity
        self.has_cell_state = layer._cell.has_cell_state
        self.row_bytes = max(run_nbytes(layer, 1, 1, True), 1)
        self.trace_row_bytes = 2 * max(trace_nbytes(layer, 1, 1)[0], 1)
        self.config = trace_config(layer)
        self._active: tuple[int, int, np.ndarray] = (0, 0, np.zeros(0, dtype=np.int64))

    def active(self, T: int, N: int) -> np.ndarray:
        """(T,) int64 filled with N: every row takes every step (read, never written, by everyone)."""
        cached = self._active  # one tuple, replaced whole: threads never see a mixed pair
        if cached[0] != T or cached[1] != N:
            cached = self._active = (T, N, np.full(T, N, dtype=np.int64))
        return cached[2]

    def __reduce__(self) -> tuple:
        """Copies and pickles of a layer work their facts out again (the cache is not state)."""
        return (_no_facts, ())


def _no_facts() -> None:
    return None


def _dropout_mask(a: np.ndarray, p: float, active: np.ndarray | None = None) -> np.ndarray:
    """Dropout as a multiplier: 0 with probability p, else 1/(1-p) (all zeros for p = 1).

    Drawn as PyTorch draws it (``bernoulli_(1 - p)``): over (T, N, D*H) time-major, or, for packed input
    (``active`` = batch sizes below N), over the packed rows only, in packed order."""
    if p >= 1.0:
        return np.zeros_like(a)
    if active is not None and np.any(active < a.shape[1]):
        t_idx, b_idx = _packed_positions(active)
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
    __doc__ = with_equations(r"""Applies a multi-layer Elman RNN with tanh or ReLU non-linearity to an input sequence,
    as ``torch.nn.RNN``.

    For each element in the input sequence, each layer computes::

        {equations}

    where h_t is the hidden state at time t, x_t the input at time t, and h_{t-1} the hidden
    state of the layer at time t-1 or the initial hidden state h_0 at time 0. Each layer and
    direction runs as one kernel over the whole sequence (``kernels/cpu/rnn.py``); the readable
    version of the same equations is ``tests/reference.py``.

    Args:
        input_size: the number of expected features in the input x
        hidden_size: the number of features in the hidden state h
        num_layers: number of stacked recurrent layers; the input of layer k >= 1 is the output of
            layer k-1 (with dropout between them in training mode). Default: 1
        nonlinearity: ``'tanh'`` or ``'relu'``. Default: ``'tanh'``
        bias: if ``False``, the layer has no ``b_ih`` and ``b_hh``. Default: ``True``
        batch_first: if ``True``, input and output are (N, L, ·) instead of (L, N, ·); the states are
            not affected. Default: ``False``
        dropout: if non-zero, dropout with this probability on the output of every layer but the
            last, in training mode. Default: 0
        bidirectional: if ``True``, a bidirectional layer (D = 2). Default: ``False``
        device: ``'cpu'`` (default) or ``'cuda'``
        dtype: ``float32`` (default) or ``float64``

    Inputs: input, h_0
        * **input**: (L, H_in) unbatched, (L, N, H_in) when ``batch_first=False`` or (N, L, H_in)
          when ``batch_first=True``; or a ``PackedSequence`` (``pack_padded_sequence``).
        * **h_0**: (D * num_layers, H_out) unbatched or (D * num_layers, N, H_out): the initial hidden
          state of each layer and direction. Zeros if not given.

        where::

            N = batch size
            L = sequence length
            D = 2 if bidirectional=True otherwise 1
            H_in = input_size
            H_out = hidden_size

    Outputs: output, h_n
        * **output**: (L, D * H_out) unbatched, (L, N, D * H_out) when ``batch_first=False`` or
          (N, L, D * H_out) when ``batch_first=True``: h_t of the last layer for every t (both
          directions side by side). A ``PackedSequence`` for packed input.
        * **h_n**: (D * num_layers, H_out) unbatched or (D * num_layers, N, H_out): the final hidden
          state of each layer and direction (index ``layer * D + direction``).

    Attributes:
        weight_ih_l[k]: (hidden_size, input_size) for k = 0, else (hidden_size, D * hidden_size)
        weight_hh_l[k]: (hidden_size, hidden_size)
        bias_ih_l[k], bias_hh_l[k]: (hidden_size,)
        weight_*_reverse, bias_*_reverse: the same for the reverse direction

        All are initialised from U(-sqrt(k), sqrt(k)) with k = 1 / hidden_size.

    ``sr.trace(rnn, x)`` records h_t and the pre-activation of every step (``Trace``).

    Examples::

        >>> rnn = nn.RNN(10, 20, 2)
        >>> input = sr.randn(5, 3, 10)
        >>> h0 = sr.randn(2, 3, 20)
        >>> output, hn = rnn(input, h0)
    """, "rnn")

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
    __doc__ = with_equations(r"""Applies a multi-layer long short-term memory (LSTM) RNN to an input sequence,
    as ``torch.nn.LSTM``.

    For each element in the input sequence, each layer computes::

        {equations}

    where h_t is the hidden state at time t, c_t the cell state at time t, x_t the input at time
    t, h_{t-1} the hidden state of the layer at time t-1 or the initial hidden state h_0 at time
    0, and i_t, f_t, g_t, o_t the input, forget, cell and output gates; σ is the sigmoid and ⊙
    the elementwise product. The four gates' rows are stacked ``i|f|g|o`` in each weight. Each
    layer and direction runs as one kernel over the whole sequence (``kernels/cpu/lstm.py``);
    the readable version of the same equations is ``tests/reference.py``.

    Args:
        input_size: the number of expected features in the input x
        hidden_size: the number of features in the hidden state h
        num_layers: number of stacked recurrent layers; the input of layer k >= 1 is the output of
            layer k-1 (with dropout between them in training mode). Default: 1
        bias: if ``False``, the layer has no ``b_ih`` and ``b_hh``. Default: ``True``
        batch_first: if ``True``, input and output are (N, L, ·) instead of (L, N, ·); the states are
            not affected. Default: ``False``
        dropout: if non-zero, dropout with this probability on the output of every layer but the
            last, in training mode. Default: 0
        bidirectional: if ``True``, a bidirectional layer (D = 2). Default: ``False``
        proj_size: if > 0, an LSTM with projections of size ``proj_size``: h_t = W_hr (o_t ⊙ tanh(c_t)),
            of size H_out = proj_size. Default: 0
        device: ``'cpu'`` (default) or ``'cuda'``
        dtype: ``float32`` (default) or ``float64``

    Inputs: input, (h_0, c_0)
        * **input**: (L, H_in) unbatched, (L, N, H_in) when ``batch_first=False`` or (N, L, H_in)
          when ``batch_first=True``; or a ``PackedSequence`` (``pack_padded_sequence``).
        * **h_0**: (D * num_layers, H_out) unbatched or (D * num_layers, N, H_out): the initial hidden
          state of each layer and direction. Zeros if (h_0, c_0) is not given.
        * **c_0**: (D * num_layers, H_cell) unbatched or (D * num_layers, N, H_cell): the initial
          cell state. Zeros if (h_0, c_0) is not given.

        where::

            N = batch size
            L = sequence length
            D = 2 if bidirectional=True otherwise 1
            H_in = input_size
            H_cell = hidden_size
            H_out = proj_size if proj_size > 0 otherwise hidden_size

    Outputs: output, (h_n, c_n)
        * **output**: (L, D * H_out) unbatched, (L, N, D * H_out) when ``batch_first=False`` or
          (N, L, D * H_out) when ``batch_first=True``: h_t of the last layer for every t (both
          directions side by side). A ``PackedSequence`` for packed input.
        * **h_n**: (D * num_layers, H_out) unbatched or (D * num_layers, N, H_out): the final hidden
          state of each layer and direction (index ``layer * D + direction``).
        * **c_n**: (D * num_layers, H_cell) unbatched or (D * num_layers, N, H_cell): the final cell
          state of each layer and direction.

    Attributes:
        weight_ih_l[k]: (4 * hidden_size, input_size) for k = 0, else (4 * hidden_size, D * H_out);
            the rows are W_ii|W_if|W_ig|W_io
        weight_hh_l[k]: (4 * hidden_size, H_out), rows W_hi|W_hf|W_hg|W_ho
        bias_ih_l[k], bias_hh_l[k]: (4 * hidden_size,), likewise
        weight_hr_l[k]: (proj_size, hidden_size), only when ``proj_size > 0``
        weight_*_reverse, bias_*_reverse: the same for the reverse direction

        All are initialised from U(-sqrt(k), sqrt(k)) with k = 1 / hidden_size.

    ``sr.trace(lstm, x)`` records every gate, pre-activation, c_t and h_t of every step (``Trace``).

    Examples::

        >>> lstm = nn.LSTM(10, 20, 2)
        >>> input = sr.randn(5, 3, 10)
        >>> h0 = sr.randn(2, 3, 20)
        >>> c0 = sr.randn(2, 3, 20)
        >>> output, (hn, cn) = lstm(input, (h0, c0))
    """, "lstm")

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
    __doc__ = with_equations(r"""Applies a multi-layer gated recurrent unit (GRU) RNN to an input sequence,
    as ``torch.nn.GRU``.

    For each element in the input sequence, each layer computes::

        {equations}

    where h_t is the hidden state at time t, x_t the input at time t, h_{t-1} the hidden state of
    the layer at time t-1 or the initial hidden state h_0 at time 0, and r_t, z_t, n_t the reset,
    update and new gates; σ is the sigmoid and ⊙ the elementwise product. The gates' rows are
    stacked ``r|z|n`` in each weight. Each layer and direction runs as one kernel over the whole
    sequence (``kernels/cpu/gru.py``); the readable version of the same equations is
    ``tests/reference.py``.

    Args:
        input_size: the number of expected features in the input x
        hidden_size: the number of features in the hidden state h
        num_layers: number of stacked recurrent layers; the input of layer k >= 1 is the output of
            layer k-1 (with dropout between them in training mode). Default: 1
        bias: if ``False``, the layer has no ``b_ih`` and ``b_hh``. Default: ``True``
        batch_first: if ``True``, input and output are (N, L, ·) instead of (L, N, ·); the states are
            not affected. Default: ``False``
        dropout: if non-zero, dropout with this probability on the output of every layer but the
            last, in training mode. Default: 0
        bidirectional: if ``True``, a bidirectional layer (D = 2). Default: ``False``
        device: ``'cpu'`` (default) or ``'cuda'``
        dtype: ``float32`` (default) or ``float64``

    Inputs: input, h_0
        * **input**: (L, H_in) unbatched, (L, N, H_in) when ``batch_first=False`` or (N, L, H_in)
          when ``batch_first=True``; or a ``PackedSequence`` (``pack_padded_sequence``).
        * **h_0**: (D * num_layers, H_out) unbatched or (D * num_layers, N, H_out): the initial hidden
          state of each layer and direction. Zeros if not given.

        where::

            N = batch size
            L = sequence length
            D = 2 if bidirectional=True otherwise 1
            H_in = input_size
            H_out = hidden_size

    Outputs: output, h_n
        * **output**: (L, D * H_out) unbatched, (L, N, D * H_out) when ``batch_first=False`` or
          (N, L, D * H_out) when ``batch_first=True``: h_t of the last layer for every t (both
          directions side by side). A ``PackedSequence`` for packed input.
        * **h_n**: (D * num_layers, H_out) unbatched or (D * num_layers, N, H_out): the final hidden
          state of each layer and direction (index ``layer * D + direction``).

    Attributes:
        weight_ih_l[k]: (3 * hidden_size, input_size) for k = 0, else (3 * hidden_size, D * hidden_size);
            the rows are W_ir|W_iz|W_in
        weight_hh_l[k]: (3 * hidden_size, hidden_size), rows W_hr|W_hz|W_hn
        bias_ih_l[k], bias_hh_l[k]: (3 * hidden_size,), likewise
        weight_*_reverse, bias_*_reverse: the same for the reverse direction

        All are initialised from U(-sqrt(k), sqrt(k)) with k = 1 / hidden_size.

    ``sr.trace(gru, x)`` records every gate, pre-activation and h_t of every step (``Trace``).

    Examples::

        >>> gru = nn.GRU(10, 20, 2)
        >>> input = sr.randn(5, 3, 10)
        >>> h0 = sr.randn(2, 3, 20)
        >>> output, hn = gru(input, h0)
    """, "gru")

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
