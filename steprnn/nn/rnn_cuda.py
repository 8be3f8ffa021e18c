"""The recurrent layers and cells on ``device='cuda'``: the CPU glue of ``rnn.py``/``cell.py`` and
``rnn_graph.py``, with every array a ``numba.cuda`` device array.

``nn.RNN/LSTM/GRU`` and the cells hand their forward (and ``_traced``) here when their device is
CUDA (or the input is a CUDA tensor: refused with PyTorch's message). What runs:

* the input's device values (``CudaTensor._device_array()``: no copy for a contiguous tensor),
  laid out time-major on the device (``batch_first``: ``swap01``; packed: ``scatter_steps``);
* each layer and direction through ``_dispatch.run_direction`` on the CUDA backend, each
  direction writing straight into its half of the layer's output; dropout between layers as a
  product with a mask drawn on the host exactly as the CPU path draws it (same seed, same mask);
* weights in the kernels' layout (``W_ihᵀ``, ``W_hhᵀ``, ``W_hrᵀ``) built on the device and cached
  per module until a parameter changes (its storage, its version, or a write to its host copy);
* no host round trip: every launch goes on one stream in order; the results are CUDA tensors
  wrapping the kernels' output arrays;
* backward: one autograd node per forward whose backward runs the BPTT kernels on the device
  (``_dispatch.backward_direction``) and returns device arrays for the CUDA parents;
* a trace keeps the device buffers (copying on the device what could change later: layer 0's
  input, the initial states, the parameters) and copies them to the host when it is first read.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import check_pair
from .._dispatch import backend_for, backward_direction, run_direction
from .._runs import BatchLayout, DirectionRun, Kept, LayerRun, StateGradients
from .._weights import WeightLayout
from ..autograd import make_node
from ..cell_kinds import KINDS, PARAMETERS, parameter_name, parameter_suffix
from ..cuda_tensor import CudaTensor, device_values, is_cuda
from ..dtypes import dtype_name
from ..memory import check_allocation, run_nbytes, trace_nbytes
from ..trace.build import _gradient, _split_result, trace_from_run
from ..trace.spec import RecordSpec
from ..trace.trace import Trace
from ..tensor import Tensor
from .rnn_graph import needs_graph
from .utils.rnn import PackedSequence, _packed_positions, as_packed, check_packed

__all__ = ["layer_run", "layer_traced", "cell_run", "cell_traced", "CudaRun"]


def _xp():
    """The CUDA backend: kernels and device array operations."""
    return backend_for("cuda")


@dataclass(frozen=True, slots=True)
class CudaRun:
    """A ``LayerRun`` of device arrays (its ``layout`` on the host, for the trace), and the same
    layout's index arrays on the device: ``active`` (T,), packed ``t_idx``/``b_idx`` (sum(lengths),),
    ``sorted_idx``/``unsorted_idx`` (N,) or None."""

    run: LayerRun
    active: Any
    t_idx: Any = None
    b_idx: Any = None
    sorted_idx: Any = None
    unsorted_idx: Any = None


#: (T, N) → the device array ``active`` of a batch without padding (np.full(T, N)): uploaded once
_FULL_ACTIVE: dict[tuple[int, int], Any] = {}


def _full_active(T: int, N: int) -> Any:
    """The device ``active`` (T,) int64 of an unpadded batch, cached: a forward uploads nothing."""
    a = _FULL_ACTIVE.get((T, N))
    if a is None:
        if len(_FULL_ACTIVE) >= 64:
            _FULL_ACTIVE.clear()
        a = _FULL_ACTIVE[(T, N)] = _xp().to_device(np.full(T, N, dtype=np.int64))
    return a


# -- checks ---------------------------------------------------------------------------------------

def _check_features(module: Any, x: Any) -> None:
    """``RNNBase._check_features`` on a device array's shape (the simulator's shapes take no negative index)."""
    module._check_features(np.empty((0, tuple(x.shape)[-1]), np.int8))


def _where(value: Any) -> str:
    return "cuda:0" if is_cuda(value) else "cpu"


def _check_module_on_cuda(module: Any) -> None:
    """PyTorch's error for CUDA input to a module whose parameters are on the CPU."""
    if module.device != "cuda" or not all(p.is_cuda for p in module._parameters.values() if p is not None):
        raise RuntimeError("Input and parameter tensors are not at the same device, found input tensor at cuda:0 "
                           "and parameter tensor at cpu")


def _device_input(value: Any, dtype: np.dtype, what: str) -> Any:
    """The device array of a CUDA tensor input; PyTorch's error for anything on the host."""
    if not is_cuda(value):
        raise RuntimeError("Input and parameter tensors are not at the same device, found input tensor at "
                           f"{_where(value)} and parameter tensor at cuda:0")
    return _checked_dtype(value._device_array(), dtype, what)


def _device_state(value: Any, dtype: np.dtype, what: str) -> Any:
    """The device array of a CUDA tensor state (h_0, c_0); PyTorch's error for one on the host."""
    if not is_cuda(value):
        raise RuntimeError("Input and hidden tensors are not at the same device, found input tensor at cuda:0 and "
                           f"hidden tensor at {_where(value)}")
    return _checked_dtype(value._device_array(), dtype, what)


def _checked_dtype(a: Any, dtype: np.dtype, what: str) -> Any:
    """``a`` when its dtype is the module's; else the messages of ``_checks.as_float_array``."""
    got = np.dtype(a.dtype)
    if got == dtype:
        return a
    if got.kind != "f" or got not in (np.dtype("float32"), np.dtype("float64")):
        raise ValueError(
            f"{what} must be a floating-point array (float32 or float64, as the model's weights are "
            f"{dtype_name(dtype)}), got {dtype_name(got)}. Convert {what}: {what}.to({dtype_name(dtype)})")
    raise ValueError(
        f"{what} dtype ({dtype_name(got)}) does not match weight dtype ({dtype_name(dtype)}). "
        f"Convert {what}: {what}.to({dtype_name(dtype)}), or convert model: model.to({dtype_name(got)})")


def _layer_states(module: Any, hx: Any, batched: bool) -> tuple[Any, Any]:
    """(h_0, c_0) as device arrays with a batch axis (c_0 None but for LSTM); None where not given.
    The checks and messages of ``RNNBase._state_arrays``."""
    if hx is None:
        return None, None
    want = 3 if batched else 2
    kind = "batched 3-D" if batched else "unbatched 2-D"
    if module._cell.has_cell_state:
        h, c = check_pair(hx, "LSTM expects hx as a tuple (h_0, c_0)")
        h0 = _device_state(h, module.dtype, "h_0")
        c0 = _device_state(c, module.dtype, "c_0")
        if h0.ndim != want or c0.ndim != want:
            raise RuntimeError(
                f"For {kind} input, hx and cx should also be {want}-D but got ({h0.ndim}-D, {c0.ndim}-D) tensors")
        if not batched:
            h0 = h0.reshape(h0.shape[0], 1, h0.shape[1])
            c0 = c0.reshape(c0.shape[0], 1, c0.shape[1])
        return h0, c0
    if isinstance(hx, tuple):
        raise TypeError(f"{module._name()} expects hx as one tensor h_0, got a {type(hx).__name__} "
                        "(only LSTM takes (h_0, c_0))")
    h0 = _device_state(hx, module.dtype, "h_0")
    if h0.ndim != want:
        raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {h0.ndim}-D tensor")
    return (h0 if batched else h0.reshape(h0.shape[0], 1, h0.shape[1])), None


# -- weights on the device ------------------------------------------------------------------------

class _DeviceWeights(dict):
    """(layer, direction) → (stamp, ``WeightLayout`` of device arrays). Copies and pickles of a module
    start empty (device arrays are not copied with the module; they are rebuilt on first use)."""

    def __reduce__(self) -> tuple:
        return (_DeviceWeights, ())


def _stamp(t: Any) -> Any:
    """What identifies a parameter's current values: its storage's generation (which changes on
    every host hand-out, rebind or device write, and never repeats across storages) and its
    version; None if absent. A CPU tensor (not yet moved) has no generation: never current."""
    if t is None:
        return None
    generation = getattr(t, "_generation", None)
    return (generation() if generation is not None else object(), t._version)


def _weights(module: Any, layer: int, direction: int, suffix: str) -> WeightLayout:
    """One layer and direction's weights on the device in the kernels' layout: built by transposing
    on the device, cached on the module until a parameter changes (a new version, or a new
    generation of its storage: another storage, its host copy handed out for writing, a device write)."""
    xp = _xp()
    params = module._parameters
    tensors = {short: params.get(full + suffix) for short, full in PARAMETERS}
    stamp = tuple(_stamp(tensors[short]) for short, _ in PARAMETERS)
    cache = module.__dict__.get("_cuda_weight_cache")
    if cache is None:
        cache = module.__dict__["_cuda_weight_cache"] = _DeviceWeights()
    entry = cache.get((layer, direction))
    if entry is not None and entry[0] == stamp:
        return entry[1]
    arrays = {short: None if t is None else t._device_array() for short, t in tensors.items()}
    w_ih, w_hh = arrays["w_ih"], arrays["w_hh"]
    forward = (xp.transpose2(w_ih), xp.transpose2(w_hh))
    if module._cell.has_cell_state:
        w_hr = arrays.get("w_hr")
        forward += (xp.zeros((0, 0), w_ih.dtype) if w_hr is None else xp.transpose2(w_hr),)
    G = w_ih.shape[0]
    b_ih, b_hh = arrays.get("b_ih"), arrays.get("b_hh")
    if b_ih is None or b_hh is None:
        zeros = xp.zeros((G,), w_ih.dtype)
        b_ih = zeros if b_ih is None else b_ih
        b_hh = zeros if b_hh is None else b_hh
    layout = WeightLayout(arrays, forward, (b_ih, b_hh), G // module._cell.rows_per_unit)
    cache[(layer, direction)] = (stamp, layout)
    return layout


# -- layers: forward ------------------------------------------------------------------------------

def _result(module: Any, out: Any, h_n: Any, c_n: Any) -> Any:
    wrap = CudaTensor._from_device
    if module._cell.has_cell_state:
        return out, (wrap(h_n), wrap(c_n))
    return out, wrap(h_n)


def _layer_forward(module: Any, input: Any, hx: Any, record: RecordSpec | None, keep_all: bool):
    """PyTorch's result (CUDA tensors) and the ``CudaRun`` the kernels filled."""
    xp = _xp()
    if isinstance(input, PackedSequence):
        return _layer_forward_packed(module, input, hx, record, keep_all)
    x = _device_input(input, module.dtype, "input")
    name = module._name()
    if x.ndim not in (2, 3):
        raise ValueError(f"{name}: Expected input to be 2D or 3D, got {x.ndim}D "
                         f"{'tensor ' if module.kind == 'rnn' else ''}instead")
    batched = x.ndim == 3
    _check_features(module, x)
    h0, c0 = _layer_states(module, hx, batched)
    if not batched:
        x = x.reshape(x.shape[0], 1, x.shape[1])
    elif module.batch_first:
        x = xp.swap01(x)  # (L, N, H_in)
    T, N = x.shape[0], x.shape[1]
    if T == 0 or N == 0:
        raise ValueError(f"{name}: Expected a non-empty input, got sequence length {T} and batch size {N}")
    module._check_state_shapes(h0, c0, N)
    form = "unbatched" if not batched else ("batch_first" if module.batch_first else "time_major")
    layout = BatchLayout(form, np.full(T, N, dtype=np.int64))
    crun = _run_layers(module, x, h0, c0, CudaRun(None, _full_active(T, N)), layout, record, keep_all)
    run = crun.run
    out, h_n, c_n = run.output, run.h_n, run.c_n
    if not batched:
        out = out.reshape(T, out.shape[2])
        h_n = h_n.reshape(h_n.shape[0], h_n.shape[2])
        c_n = None if c_n is None else c_n.reshape(c_n.shape[0], c_n.shape[2])
    elif module.batch_first:
        out = xp.swap01(out)
    return _result(module, CudaTensor._from_device(out), h_n, c_n), crun


def _layer_forward_packed(module: Any, packed: PackedSequence, hx: Any, record: RecordSpec | None, keep_all: bool):
    xp = _xp()
    data = _device_input(packed.data, module.dtype, "input")
    if data.ndim != 2:
        raise RuntimeError(f"input must have 2 dimensions, got {data.ndim}")
    _check_features(module, data)
    # the checks of the packing fields read only data's shape: no copy of the data to the host
    shape_only = packed._replace(data=np.empty((data.shape[0], 0), module.dtype))
    _, batch_sizes, sorted_idx, unsorted_idx = check_packed(shape_only, module._name())
    T, N = batch_sizes.shape[0], int(batch_sizes[0])
    h0, c0 = _layer_states(module, hx, batched=True)
    module._check_state_shapes(h0, c0, N)
    sorted_dev = None if sorted_idx is None else xp.to_device(sorted_idx.astype(np.int64))
    unsorted_dev = None if unsorted_idx is None else xp.to_device(unsorted_idx.astype(np.int64))
    if sorted_dev is not None and h0 is not None:
        h0 = xp.take_rows(h0, sorted_dev)
        c0 = None if c0 is None else xp.take_rows(c0, sorted_dev)
    t_idx, b_idx = _packed_positions(batch_sizes)
    t_dev, b_dev = xp.to_device(t_idx), xp.to_device(b_idx)
    x = xp.scatter_steps(data, t_dev, b_dev, T, N)  # (T, N, H_in), rows sorted by decreasing length
    layout = BatchLayout("packed", batch_sizes, t_idx, b_idx, sorted_idx, unsorted_idx)
    where = CudaRun(None, xp.to_device(batch_sizes.astype(np.int64)), t_dev, b_dev, sorted_dev, unsorted_dev)
    crun = _run_layers(module, x, h0, c0, where, layout, record, keep_all)
    run = crun.run
    out_data = xp.gather_steps(run.output, t_dev, b_dev)  # (sum(lengths), D*H_out)
    h_n, c_n = run.h_n, run.c_n
    if unsorted_dev is not None:
        h_n = xp.take_rows(h_n, unsorted_dev)
        c_n = None if c_n is None else xp.take_rows(c_n, unsorted_dev)
    out = PackedSequence(CudaTensor._from_device(out_data), packed.batch_sizes, packed.sorted_indices,
                         packed.unsorted_indices)
    return _result(module, out, h_n, c_n), crun


def _run_layers(module: Any, x: Any, h0: Any, c0: Any, where: CudaRun, layout: BatchLayout,
                record: RecordSpec | None, keep_all: bool) -> CudaRun:
    """Every layer and direction over time-major device ``x`` (T, N, H_in); dropout between layers.
    As ``RNNBase._run_layers``; every direction's buffers are kept whole (rows are picked when a
    trace is read), and each direction writes into its half of the layer's output."""
    from .rnn import _dropout_mask

    xp = _xp()
    T, N = x.shape[0], x.shape[1]
    D = module.num_directions
    LD, P = module.num_layers * D, module._real_hidden
    dtype = module.dtype
    has_c = module._cell.has_cell_state
    rows = None
    if record is not None:
        record.check_layers(module.num_layers)
        unsorted = None if layout.sorted_indices is None else np.argsort(layout.sorted_indices)
        rows = record.rows(N, unsorted)
        record.check_memory(*module.trace_nbytes(T, N, record))  # what reading the trace copies to the host
    if h0 is None:
        h0 = xp.zeros((LD, N, P), dtype)
    if has_c and c0 is None:
        c0 = xp.zeros((LD, N, module.hidden_size), dtype)
    h_n = xp.empty((LD, N, P), dtype)
    c_n = xp.empty((LD, N, module.hidden_size), dtype) if has_c else None
    runs: list[DirectionRun] = []
    inputs: list[Any] = []
    recorded: list[bool] = []
    masks: list[Any] = []
    weights: list[WeightLayout] = []
    layer_input = x
    for layer in range(module.num_layers):
        keep = record is not None and record.wants(layer)
        recorded.append(keep)
        keep = keep or keep_all
        inputs.append(layer_input if keep else None)
        out = xp.zeros((T, N, D * P), dtype)  # zeros: steps past a packed row's end stay 0
        for d in range(D):
            k = layer * D + d
            weights.append(_weights(module, layer, d, parameter_suffix(layer, d)))
            run = run_direction(module.kind, layer_input, weights[k], h0[k], None if c0 is None else c0[k],
                                where.active, reverse=d == 1, record=keep, nonlinearity=module.nonlinearity,
                                device="cuda", hs=out if D == 1 else out[:, :, d * P:(d + 1) * P])
            h_n[k].copy_to_device(run.h_n)
            if c_n is not None:
                c_n[k].copy_to_device(run.c_n)
            runs.append(run)
        mask = None
        if module.training and module.dropout > 0 and layer < module.num_layers - 1:
            # drawn on the host as the CPU path draws it (the same mask for the same seed), then uploaded
            mask = xp.to_device(_dropout_mask(np.empty(out.shape, dtype), module.dropout, layout.active))
            out = xp.multiply(out, mask)
        masks.append(mask)
        layer_input = out
    run = LayerRun(layer_input, h_n, c_n, h0, c0, layout, tuple(runs), tuple(inputs), tuple(weights),
                   tuple(masks), Kept(tuple(recorded), rows, False))
    return CudaRun(run, where.active, where.t_idx, where.b_idx, where.sorted_idx, where.unsorted_idx)


# -- layers: backward -----------------------------------------------------------------------------

def _layers_backward(module: Any, crun: CudaRun, dy: Any, dh_n: Any, dc_n: Any,
                     gradients: StateGradients | None):
    """BPTT through every layer, last first, on the device (``rnn_graph.layers_backward``).
    dy (T, N, D*H_out) time-major in kernel order; returns (dx, dh_0, dc_0 or None, {name: gradient})."""
    xp = _xp()
    run = crun.run
    D, P = module.num_directions, module._real_hidden
    dh0 = xp.empty(run.h0.shape, run.h0.dtype)
    dc0 = None if run.c0 is None else xp.empty(run.c0.shape, run.c0.dtype)
    grads: dict[str, Any] = {}
    for layer in reversed(range(module.num_layers)):
        d_input = None
        for d in range(D):
            k = layer * D + d
            g = backward_direction(
                module.kind, run.directions[k], run.inputs[layer], run.weights[k], run.h0[k],
                None if run.c0 is None else run.c0[k], crun.active, d == 1,
                dy if D == 1 else dy[:, :, d * P:(d + 1) * P], dh_n[k], None if dc_n is None else dc_n[k],
                module.nonlinearity, "cuda",
            )
            d_input = g.dx if d_input is None else xp.add(d_input, g.dx)
            dh0[k].copy_to_device(g.dh0)
            if dc0 is not None:
                dc0[k].copy_to_device(g.dc0)
            for short, value in g.params.items():
                grads[parameter_name(short, layer, d)] = value
            if gradients is not None:
                gradients.put(k, g.dh_all, g.dc_all)
        if layer > 0 and run.masks[layer - 1] is not None:
            d_input = xp.multiply(d_input, run.masks[layer - 1])  # through the dropout between layers
        dy = d_input
    return dy, dh0, dc0, grads


def _attach_layer_graph(module: Any, crun: CudaRun, input: Any, hx: Any, result: Any,
                        gradients: StateGradients | None) -> Any:
    """``result`` re-issued as outputs of one node whose backward runs the BPTT kernels on the device."""
    xp = _xp()
    run = crun.run
    layout = run.layout
    form = layout.form
    lstm = module._cell.has_cell_state
    packed = form == "packed"
    out_obj, state = result
    out_arr = (out_obj.data if packed else out_obj)._device_array()
    h_arr, c_arr = (state[0]._device_array(), state[1]._device_array()) if lstm else (state._device_array(), None)
    x_parent = input.data if packed else input
    h_parent, c_parent = (None, None) if hx is None else ((hx[0], hx[1]) if lstm else (hx, None))
    names = list(module._flat_weights_names)
    parents = tuple(p if isinstance(p, Tensor) else None
                    for p in (x_parent, h_parent, c_parent, *[getattr(module, n) for n in names]))
    T, N = layout.active.shape[0], run.h0.shape[1]

    def to_kernel_states(g: Any) -> Any:
        """A gradient of h_n/c_n as returned → (L*D, N, ·) in the kernels' batch order."""
        g = device_values(g)
        if form == "unbatched":
            return g.reshape(g.shape[0], 1, g.shape[1])
        if crun.sorted_idx is not None:
            return xp.take_rows(g, crun.sorted_idx)
        return g

    def to_caller_states(g: Any) -> Any:
        if form == "unbatched":
            return g.reshape(g.shape[0], g.shape[2])
        if crun.unsorted_idx is not None:
            return xp.take_rows(g, crun.unsorted_idx)
        return g

    def backward(grads: tuple) -> tuple:
        g_out = device_values(grads[0])
        if packed:
            dy = xp.scatter_steps(g_out, crun.t_idx, crun.b_idx, T, N)
        elif form == "unbatched":
            dy = g_out.reshape(T, 1, g_out.shape[1])
        elif form == "batch_first":
            dy = xp.swap01(g_out)
        else:
            dy = g_out
        dx, dh0, dc0, pgrads = _layers_backward(module, crun, dy, to_kernel_states(grads[1]),
                                                to_kernel_states(grads[2]) if lstm else None, gradients)
        if packed:
            dx = xp.gather_steps(dx, crun.t_idx, crun.b_idx)
        elif form == "unbatched":
            dx = dx.reshape(T, dx.shape[2])
        elif form == "batch_first":
            dx = xp.swap01(dx)
        return (dx, to_caller_states(dh0), None if dc0 is None else to_caller_states(dc0),
                *[pgrads[n] for n in names])

    name = KINDS[module.kind].display + "Backward"
    outputs = (out_arr, h_arr) if c_arr is None else (out_arr, h_arr, c_arr)
    made = make_node(outputs, parents, backward, name=name, save_outputs=True)
    out_t = made[0]
    out_new = PackedSequence(out_t, out_obj.batch_sizes, out_obj.sorted_indices, out_obj.unsorted_indices) \
        if packed else out_t
    return (out_new, (made[1], made[2])) if lstm else (out_new, made[1])


def layer_run(module: Any, input: Any, hx: Any, record: RecordSpec | None, gradients: StateGradients | None = None):
    """``RNNBase._run`` on CUDA: (result, the ``CudaRun``)."""
    _check_module_on_cuda(module)
    input = as_packed(input)
    graph = needs_graph(module, input, hx)
    result, crun = _layer_forward(module, input, hx, record, keep_all=graph)
    if graph:
        result = _attach_layer_graph(module, crun, input, hx, result, gradients)
    return result, crun


def layer_traced(module: Any, input: Any, hx: Any, spec: RecordSpec):
    """``RNNBase._traced`` on CUDA: (what forward returns, its Trace)."""
    gradients = _DeviceStateGradients()
    result, crun = layer_run(module, input, hx, spec, gradients)
    return result, _trace(module, crun, result, gradients=gradients)


# -- cells ----------------------------------------------------------------------------------------

def _cell_input(cell: Any, input: Any) -> Any:
    x = _device_input(input, cell.dtype, "input")
    if x.ndim not in (1, 2):
        raise ValueError(f"{type(cell).__name__}: Expected input to be 1D or 2D, got {x.ndim}D instead")
    features = tuple(x.shape)[-1]
    if features != cell.input_size:
        raise RuntimeError(f"input has inconsistent input_size: got {features} expected {cell.input_size}")
    return x


def _cell_state(cell: Any, value: Any, x: Any, what: str) -> Any:
    """A state as a (N, H) device array: zeros when None; the checks of ``RNNCellBase._state``."""
    xp = _xp()
    N = x.shape[0] if x.ndim == 2 else 1
    if value is None:
        return xp.zeros((N, cell.hidden_size), cell.dtype)
    h = _device_state(value, cell.dtype, what)
    name = type(cell).__name__
    if h.ndim not in (1, 2):
        raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {h.ndim}D instead")
    if h.ndim != x.ndim:
        raise RuntimeError(f"{name}: input is {x.ndim}-D so {what} must be {x.ndim}-D too, got {h.ndim}-D")
    h2 = h if h.ndim == 2 else h.reshape(1, h.shape[0])
    if h2.shape[0] != N:
        raise RuntimeError(f"Input batch size {N} doesn't match {what} batch size {h2.shape[0]}")
    if h2.shape[1] != cell.hidden_size:
        raise RuntimeError(f"{what} has inconsistent hidden_size: got {h2.shape[1]}, expected {cell.hidden_size}")
    return h2


def _cell_forward(cell: Any, input: Any, hx: Any, rows: np.ndarray | None):
    xp = _xp()
    x = _cell_input(cell, input)
    lstm = cell._cell.has_cell_state
    if lstm:
        h, c = (None, None) if hx is None else check_pair(hx, "LSTMCell expects hx as a tuple (h, c)")
        h0, c0 = _cell_state(cell, h, x, "hx[0]"), _cell_state(cell, c, x, "hx[1]")
    else:
        h0, c0 = _cell_state(cell, hx, x, "hidden"), None
    x2 = x if x.ndim == 2 else x.reshape(1, x.shape[0])
    N, H = x2.shape[0], cell.hidden_size
    check_allocation(run_nbytes(cell, 1, N, True), f"this {type(cell).__name__} step (N={N})")
    layout = BatchLayout("time_major" if x.ndim == 2 else "unbatched", np.array([N], dtype=np.int64))
    active = _full_active(1, N)
    weights = _weights(cell, 0, 0, "")
    x3 = x2.reshape(1, N, x2.shape[1])
    run = run_direction(cell.kind, x3, weights, h0, c0, active, reverse=False, record=True,
                        nonlinearity=cell.nonlinearity, device="cuda")
    layer_run_ = LayerRun(run.hs, run.h_n.reshape(1, N, H), None if c0 is None else run.c_n.reshape(1, N, H),
                          h0.reshape(1, N, H), None if c0 is None else c0.reshape(1, N, H), layout, (run,), (x3,),
                          (weights,), (None,), Kept((True,), rows))

    def shaped(a: Any) -> CudaTensor:
        return CudaTensor._from_device(a if x.ndim == 2 else a.reshape(H))

    result = (shaped(run.h_n), shaped(run.c_n)) if lstm else shaped(run.h_n)
    return result, CudaRun(layer_run_, active)


def _attach_cell_graph(cell: Any, crun: CudaRun, input: Any, hx: Any, result: Any) -> Any:
    """``rnn_graph.attach_cell_graph`` on the device."""
    xp = _xp()
    run = crun.run
    lstm = cell._cell.has_cell_state
    h_parent, c_parent = (hx[0], hx[1]) if lstm and hx is not None else (hx, None)
    shorts = ["w_ih", "w_hh"] + (["b_ih", "b_hh"] if cell.bias else [])
    names = [full for short, full in PARAMETERS if short in shorts]
    parents = tuple(p if isinstance(p, Tensor) else None
                    for p in (input, h_parent, c_parent, *[getattr(cell, n) for n in names]))
    unbatched = run.layout.form == "unbatched"
    outputs = (result[0]._device_array(), result[1]._device_array()) if lstm else (result._device_array(),)
    N = run.h0.shape[1]

    def batch(g: Any) -> Any:
        g = device_values(g)
        return g.reshape(1, g.shape[0]) if unbatched else g

    def caller(a: Any) -> Any:
        return a.reshape(a.shape[1]) if unbatched else a

    def backward(grads: tuple) -> tuple:
        dr = run.directions[0]
        g = backward_direction(cell.kind, dr, run.inputs[0], run.weights[0], run.h0[0],
                               None if run.c0 is None else run.c0[0], crun.active, False,
                               xp.zeros(dr.hs.shape, dr.hs.dtype), batch(grads[0]),
                               batch(grads[1]) if lstm else None, cell.nonlinearity, "cuda")
        dx = g.dx.reshape(N, g.dx.shape[2])
        return (caller(dx), caller(g.dh0), None if g.dc0 is None else caller(g.dc0),
                *[g.params[short] for short in shorts])

    made = make_node(outputs, parents, backward, name=type(cell).__name__ + "Backward", save_outputs=True)
    return (made[0], made[1]) if lstm else made[0]


def cell_run(cell: Any, input: Any, hx: Any, rows: np.ndarray | None = None):
    """``RNNCellBase._run`` on CUDA: (result, the ``CudaRun``)."""
    _check_module_on_cuda(cell)
    result, crun = _cell_forward(cell, input, hx, rows)
    if needs_graph(cell, input, hx):
        result = _attach_cell_graph(cell, crun, input, hx, result)
    return result, crun


def cell_traced(cell: Any, input: Any, hx: Any, spec: RecordSpec):
    """``RNNCellBase._traced`` on CUDA: (what forward returns, its one-step Trace)."""
    _check_module_on_cuda(cell)
    spec.check_layers(1)
    shape = tuple(input.shape) if is_cuda(input) else ()
    N = shape[0] if len(shape) == 2 else 1
    spec.check_memory(*trace_nbytes(cell, 1, N))
    rows = spec.rows(N, None)  # refuses a bad batch= before the step runs
    result, crun = cell_run(cell, input, hx, rows)
    return result, _trace(cell, crun, result, cell=True)


# -- traces ---------------------------------------------------------------------------------------

class _DeviceStateGradients(StateGradients):
    """``StateGradients`` whose arrays a backward leaves on the device; copied to the host when read."""

    __slots__ = ()

    def get(self, k: int):
        got = super().get(k)
        if got is None:
            return None
        xp = _xp()
        dh, dc = got
        host = (dh if isinstance(dh, np.ndarray) else xp.to_host(dh),
                dc if dc is None or isinstance(dc, np.ndarray) else xp.to_host(dc))
        self.put(k, *host)
        return host


def _copy(a: Any) -> Any:
    return None if a is None else _xp().copy(a)


def _host(a: Any) -> Any:
    return None if a is None or isinstance(a, np.ndarray) else _xp().to_host(a)


def _to_host_run(run: LayerRun, D: int) -> LayerRun:
    """The parts of a device ``LayerRun`` that a trace reads (recorded layers, initial states), on the host."""
    dirs: list[Any] = []
    weights: list[Any] = []
    inputs: list[Any] = []
    for layer, kept in enumerate(run.kept.layers):
        inputs.append(_host(run.inputs[layer]) if kept else None)
        for d in range(D):
            k = layer * D + d
            if kept:
                dr = run.directions[k]
                dirs.append(DirectionRun(*(_host(a) for a in (dr.hs, dr.h_n, dr.c_n, dr.gates, dr.pre, dr.cells))))
                w = run.weights[k]
                weights.append(WeightLayout({n: _host(v) for n, v in w.params.items()}, (), (), w.hidden_size))
            else:
                dirs.append(None)
                weights.append(None)
    return LayerRun(None, None, None, _host(run.h0), _host(run.c0), run.layout, tuple(dirs), tuple(inputs),
                    tuple(weights), (), run.kept)


_TRACED_ATTRIBUTES = ("kind", "input_size", "hidden_size", "nonlinearity", "bias", "dtype")
_LAYER_ATTRIBUTES = ("num_layers", "num_directions", "proj_size", "batch_first")


@functools.lru_cache(maxsize=None)
def _snapshot_type(name: str) -> type:
    """A plain class named ``name`` (the trace's ``meta['module']`` is the module's class name)."""
    return type(name, (), {})


def _module_snapshot(module: Any, cell: bool) -> Any:
    """What ``trace_from_run`` reads of ``module`` (kind, sizes, dtype, ...), as it is now: a later
    ``.to(dtype)`` or attribute change must not change what an earlier trace reports."""
    snap = _snapshot_type(type(module).__name__)()
    for name in _TRACED_ATTRIBUTES + (() if cell else _LAYER_ATTRIBUTES):
        snap.__dict__[name] = getattr(module, name)
    return snap


def _trace(module: Any, crun: CudaRun, result: Any, *, cell: bool = False,
           gradients: StateGradients | None = None) -> Trace:
    """A Trace whose arrays stay on the device until first read. What could change after the forward
    (layer 0's input may be the caller's tensor, the states, the parameters) is copied on the device now."""
    run = crun.run
    D = 1 if cell else module.num_directions
    kept = run.kept
    weights = list(run.weights)
    for layer, r in enumerate(kept.layers):
        if r:
            for d in range(D):
                w = weights[layer * D + d]
                weights[layer * D + d] = WeightLayout({n: _copy(v) for n, v in w.params.items()}, (), (),
                                                      w.hidden_size)
    inputs = list(run.inputs)
    if kept.layers[0]:
        inputs[0] = _copy(inputs[0])
    frozen = LayerRun(None, None, None, _copy(run.h0), _copy(run.c0), run.layout, run.directions, tuple(inputs),
                      tuple(weights), (), kept)
    held: list[LayerRun] = []
    module = _module_snapshot(module, cell)  # the metadata as at the forward, not at first read

    def host_run() -> LayerRun:
        if not held:
            held.append(_to_host_run(frozen, D))
        return held[0]

    def build() -> tuple[dict, dict]:
        return trace_from_run(module, host_run(), result, cell=cell)._build()

    tr = Trace(None, None, *_split_result(module.kind, result, cell), build=build)
    if gradients is not None:
        tr._gradients = lambda layer, d, which: _gradient(host_run(), gradients, D, layer, d, which)
    return tr
