"""``nn.RNNCell``, ``nn.LSTMCell``, ``nn.GRUCell``: one step, run by the same kernels with T = 1."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._checks import as_float_array, check_bool, check_int, check_pair, resolve_device, resolve_dtype
from .._dispatch import run_direction
from .._runs import BatchLayout, Kept, LayerRun
from .._weights import WeightCache, WeightLayout
from ..cell_kinds import KINDS, PARAMETERS, CellKind, with_equations
from ..memory import SMALL, check_allocation, run_nbytes, trace_nbytes
from ..trace.build import trace_config, trace_from_run
from ..trace.hooks import active_recording
from ..trace.spec import RecordSpec
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter
from .rnn_graph import attach_cell_graph, needs_graph

__all__ = ["RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]



def hidden_on_cuda(hx: Any) -> bool:
    """Whether the initial state ``hx`` (a tensor, array or tuple of them) holds a CUDA tensor: a CPU
    layer or cell refuses one, as PyTorch, rather than copying it to the host."""
    if isinstance(hx, (tuple, list)):
        for h in hx:
            if type(h) is not Tensor and getattr(h, "is_cuda", False) is True:
                return True
        return False
    return getattr(hx, "is_cuda", False) is True

class RNNCellBase(Module):
    """Parameters ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih``/``bias_hh`` (G*H,)."""

    kind = "rnn"
    nonlinearity = "tanh"

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int | None = None,
                 device: Any = None, dtype: Any = None) -> None:
        """``num_chunks``: row blocks of the weights (default: the cell kind's, ``cell_kinds.KINDS``)."""
        super().__init__()
        self.input_size = check_int(input_size, "input_size", 1)
        self.hidden_size = check_int(hidden_size, "hidden_size", 1)
        self.bias = check_bool(bias, "bias")
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        G = (num_chunks or self._cell.rows_per_unit) * self.hidden_size
        self.weight_ih = Parameter(np.empty((G, self.input_size), dtype=self.dtype))
        self.weight_hh = Parameter(np.empty((G, self.hidden_size), dtype=self.dtype))
        if self.bias:
            self.bias_ih = Parameter(np.empty(G, dtype=self.dtype))
            self.bias_hh = Parameter(np.empty(G, dtype=self.dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()
        if self.device == "cuda":
            self._to_device("cuda")  # initialised on the host (the same values as on the CPU), then moved

    @property
    def _cell(self) -> CellKind:
        """This cell's entry in the cell-kind table."""
        return KINDS[self.kind]

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
        """{'w_ih', 'w_hh', 'b_ih', 'b_hh'} → the arrays (None if absent); a cell has no projection."""
        params = self._parameters
        return {short: None if params.get(full) is None else params[full]._data
                for short, full in PARAMETERS if short != "w_hr"}

    def _weights(self) -> WeightLayout:
        """The kernels' layout of the weights, cached until a parameter is replaced."""
        cache = self.__dict__.get("_weight_cache")
        if cache is None:
            cache = self.__dict__["_weight_cache"] = WeightCache()
        return cache.get(0, self._direction_params(), self._cell)

    def _step(self, x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None, result_of,
              rows: np.ndarray | None = None, own_states: bool = False,
              graph: bool = True) -> tuple[Any, LayerRun]:
        """Run the kernel for one step (T = 1, which records it); ``result_of(run)`` is what forward
        returns; ``rows`` the batch rows a trace keeps (None: all); ``own_states``: h0/c0 are zeros
        made here (no hx given); ``graph``: a backward may follow (lay out h_0/c_0 for it)."""
        x2 = x if x.ndim == 2 else x[None, :]
        N = x2.shape[0]
        facts = self._facts()
        layout = BatchLayout("time_major" if x.ndim == 2 else "unbatched", facts.active(N))
        if N * facts.row_bytes >= SMALL:  # else far below anything worth asking the system about
            check_allocation(run_nbytes(self, 1, N, True), f"this {type(self).__name__} step (N={N})")
        weights = self._weights()
        run = run_direction(self.kind, x2[None], weights, h0, c0, layout.active, reverse=False,
                            record=True, nonlinearity=self.nonlinearity, device=self.device, keep_prev=graph)
        layer_run = LayerRun(run.hs, run.h_n[None], None if run.c_n is None else run.c_n[None], h0[None],
                             None if c0 is None else c0[None], layout, (run,), (x2[None],), (weights,), (None,),
                             Kept((True,), rows), own_states)
        return result_of(run), layer_run

    def _facts(self) -> "_CellFacts":
        """What every step needs to know about this cell, made again whenever it changes."""
        key = (self.kind, self.nonlinearity, self.input_size, self.hidden_size, self.dtype, self.bias)
        facts = self.__dict__.get("_cell_facts")
        if facts is None or facts.key != key:
            facts = self.__dict__["_cell_facts"] = _CellFacts(self, key)
        return facts

    def _bytes_per_row(self, trace: bool = False) -> int:
        """An upper bound, per batch row, of what a step allocates, or with ``trace`` of what its trace
        keeps (at most twice the one-row value): small steps skip the sums and the look at free memory."""
        facts = self._facts()
        return facts.trace_row_bytes if trace else facts.row_bytes

    @staticmethod
    def _shape_like(a: np.ndarray, x: np.ndarray) -> Tensor:
        return Tensor._make(a if x.ndim == 2 else a[0])

    def forward(self, input: Any, hx: Any = None) -> Any:
        """One step: h' (N, H) for RNNCell and GRUCell, (h', c') for LSTMCell; unbatched (I,) → (H,)."""
        recording = active_recording(self)
        if recording is not None:
            return recording.capture(self, input, hx)
        result, _ = self._run(input, hx)
        return result

    def _run(self, input: Any, hx: Any, rows: np.ndarray | None = None):
        """The step, then the autograd node when backward will be needed; ``rows`` as in ``_step``."""
        if self.device != "cpu" or getattr(input, "is_cuda", False):  # CUDA glue: nn/rnn_cuda.py
            from .rnn_cuda import cell_run
            return cell_run(self, input, hx, rows)
        if hx is not None and type(hx) is not Tensor and hidden_on_cuda(hx):
            raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                               "cuda:0 and cpu!")
        graph = needs_graph(self, input, hx)
        result, run = self._forward(input, hx, rows, graph)
        if graph:
            result = attach_cell_graph(self, run, input, hx, result)
        return result, run

    def _traced(self, input: Any, hx: Any, spec: RecordSpec):
        """The step, recorded: (what forward returns, its one-step Trace)."""
        if self.device != "cpu" or getattr(input, "is_cuda", False):  # CUDA glue: nn/rnn_cuda.py
            from .rnn_cuda import cell_traced
            return cell_traced(self, input, hx, spec)
        spec.check_layers(1)
        x = np.asarray(self._input(input))
        N = x.shape[0] if x.ndim == 2 else 1
        facts = self._facts()
        if not spec.surely_fits(N * facts.trace_row_bytes):
            spec.check_memory(*trace_nbytes(self, 1, N))
        rows = spec.rows(N, None)  # refuses a bad batch= before the step runs
        result, run = self._run(input, hx, rows)
        return result, trace_from_run(self, run, result, cell=True, config=facts.config)

    def _forward(self, input: Any, hx: Any, rows: np.ndarray | None = None, graph: bool = True):
        """The step's result and the kernel's buffers (as a one-step ``LayerRun``), one-state cells;
        ``graph``: a backward may follow."""
        x = self._input(input)
        h0 = self._state(hx, x, "hidden", "hidden")
        return self._step(x, h0, None, lambda run: self._shape_like(run.h_n, x), rows, own_states=hx is None,
                          graph=graph)


class _CellFacts:
    """A cell's derived facts for one value of ``key``: memory bounds per batch row, the trace's
    description of it, the last ``active`` array (one step that every row takes)."""

    __slots__ = ("key", "row_bytes", "trace_row_bytes", "config", "_active")

    def __init__(self, cell: RNNCellBase, key: tuple) -> None:
        self.key = key
        self.row_bytes = max(run_nbytes(cell, 1, 1, True), 1)
        self.trace_row_bytes = 2 * max(trace_nbytes(cell, 1, 1)[0], 1)
        self.config = trace_config(cell, cell=True)
        self._active: tuple[int, np.ndarray] = (1, np.ones(1, dtype=np.int64))

    def active(self, N: int) -> np.ndarray:
        """(1,) int64 holding N (read, never written, by everyone)."""
        cached = self._active  # one tuple, replaced whole: threads never see a mixed pair
        if cached[0] != N:
            cached = self._active = (N, np.array([N], dtype=np.int64))
        return cached[1]

    def __reduce__(self) -> tuple:
        """Copies and pickles of a cell work their facts out again (the cache is not state)."""
        return (_no_facts, ())


def _no_facts() -> None:
    return None


class RNNCell(RNNCellBase):
    __doc__ = with_equations(r"""An Elman RNN cell with tanh or ReLU non-linearity: one step, as ``torch.nn.RNNCell``.

    With x_t the input and h_{t-1} the hidden state given, the cell computes h_t::

        {equations}

    The same kernel as ``nn.RNN`` runs it, for one step (``kernels/cpu/rnn.py``).

    Args:
        input_size: the number of expected features in the input x
        hidden_size: the number of features in the hidden state h
        bias: if ``False``, the cell has no ``b_ih`` and ``b_hh``. Default: ``True``
        nonlinearity: ``'tanh'`` or ``'relu'``. Default: ``'tanh'``
        device: ``'cpu'`` (default) or ``'cuda'``
        dtype: ``float32`` (default) or ``float64``

    Inputs: input, hidden
        * **input**: (N, H_in) or (H_in,) unbatched
        * **hidden**: (N, H_out) or (H_out,) unbatched, the state h_{t-1}. Zeros if not given.

    Outputs: h'
        * **h'**: (N, H_out) or (H_out,) unbatched, the next hidden state h_t

    where N = batch size, H_in = input_size, H_out = hidden_size.

    Attributes:
        weight_ih: (hidden_size, input_size); weight_hh: (hidden_size, hidden_size);
        bias_ih, bias_hh: (hidden_size,). All initialised from U(-sqrt(k), sqrt(k)), k = 1 / hidden_size.

    Examples::

        >>> rnn = nn.RNNCell(10, 20)
        >>> input = sr.randn(6, 3, 10)
        >>> hx = sr.randn(3, 20)
        >>> output = []
        >>> for i in range(6):
        ...     hx = rnn(input[i], hx)
        ...     output.append(hx)
    """, "rnn")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTMCell(RNNCellBase):
    __doc__ = with_equations(r"""A long short-term memory (LSTM) cell: one step, as ``torch.nn.LSTMCell``.

    With x_t the input and (h_{t-1}, c_{t-1}) the state given, the cell computes (h_t, c_t)::

        {equations}

    (a cell has no projection). The gates' rows are stacked ``i|f|g|o`` in each weight. The same
    kernel as ``nn.LSTM`` runs it, for one step (``kernels/cpu/lstm.py``).

    Args:
        input_size: the number of expected features in the input x
        hidden_size: the number of features in the hidden state h
        bias: if ``False``, the cell has no ``b_ih`` and ``b_hh``. Default: ``True``
        device: ``'cpu'`` (default) or ``'cuda'``
        dtype: ``float32`` (default) or ``float64``

    Inputs: input, (h_0, c_0)
        * **input**: (N, H_in) or (H_in,) unbatched
        * **h_0**: (N, H_out) or (H_out,) unbatched, the state h_{t-1}. Zeros if (h_0, c_0) is not given.
        * **c_0**: (N, H_out) or (H_out,) unbatched, the state c_{t-1}. Zeros if (h_0, c_0) is not given.

    Outputs: (h_1, c_1)
        * **h_1**: (N, H_out) or (H_out,) unbatched, the next hidden state h_t
        * **c_1**: (N, H_out) or (H_out,) unbatched, the next cell state c_t

    where N = batch size, H_in = input_size, H_out = hidden_size.

    Attributes:
        weight_ih: (4 * hidden_size, input_size); weight_hh: (4 * hidden_size, hidden_size);
        bias_ih, bias_hh: (4 * hidden_size,). All initialised from U(-sqrt(k), sqrt(k)), k = 1 / hidden_size.

    Examples::

        >>> rnn = nn.LSTMCell(10, 20)
        >>> input = sr.randn(2, 3, 10)
        >>> hx, cx = sr.randn(3, 20), sr.randn(3, 20)
        >>> output = []
        >>> for i in range(input.size()[0]):
        ...     hx, cx = rnn(input[i], (hx, cx))
        ...     output.append(hx)
    """, "lstm")

    kind = "lstm"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)

    def _forward(self, input: Any, hx: Any, rows: np.ndarray | None = None, graph: bool = True):
        x = self._input(input)
        own = hx is None
        hx = (None, None) if hx is None else check_pair(hx, "LSTMCell expects hx as a tuple (h, c)")
        h0 = self._state(hx[0], x, "hx[0]", "hx[0]")
        c0 = self._state(hx[1], x, "hx[1]", "hx[1]")
        return self._step(x, h0, c0, lambda run: (self._shape_like(run.h_n, x), self._shape_like(run.c_n, x)), rows,
                          own_states=own, graph=graph)


class GRUCell(RNNCellBase):
    __doc__ = with_equations(r"""A gated recurrent unit (GRU) cell: one step, as ``torch.nn.GRUCell``.

    With x_t the input and h_{t-1} the hidden state given, the cell computes h_t::

        {equations}

    The gates' rows are stacked ``r|z|n`` in each weight. The same kernel as ``nn.GRU`` runs it,
    for one step (``kernels/cpu/gru.py``).

    Args:
        input_size: the number of expected features in the input x
        hidden_size: the number of features in the hidden state h
        bias: if ``False``, the cell has no ``b_ih`` and ``b_hh``. Default: ``True``
        device: ``'cpu'`` (default) or ``'cuda'``
        dtype: ``float32`` (default) or ``float64``

    Inputs: input, hidden
        * **input**: (N, H_in) or (H_in,) unbatched
        * **hidden**: (N, H_out) or (H_out,) unbatched, the state h_{t-1}. Zeros if not given.

    Outputs: h'
        * **h'**: (N, H_out) or (H_out,) unbatched, the next hidden state h_t

    where N = batch size, H_in = input_size, H_out = hidden_size.

    Attributes:
        weight_ih: (3 * hidden_size, input_size); weight_hh: (3 * hidden_size, hidden_size);
        bias_ih, bias_hh: (3 * hidden_size,). All initialised from U(-sqrt(k), sqrt(k)), k = 1 / hidden_size.

    Examples::

        >>> rnn = nn.GRUCell(10, 20)
        >>> input = sr.randn(6, 3, 10)
        >>> hx = sr.randn(3, 20)
        >>> output = []
        >>> for i in range(6):
        ...     hx = rnn(input[i], hx)
        ...     output.append(hx)
    """, "gru")

    kind = "gru"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)
