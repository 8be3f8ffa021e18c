"""A recurrent layer as one autograd node: forward by the kernels, backward by the BPTT kernels.

``attach_graph`` wraps what a layer's forward returned as outputs of a single graph node whose
parents are the input, the initial states and every parameter. Its backward maps the incoming
gradients to the kernels' time-major layout, runs each layer and direction's BPTT kernel (last
layer first), undoes dropout between layers, and maps the results back to the caller's layouts.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .._dispatch import backward_direction
from .._runs import LayerRun, StateGradients
from ..autograd import make_node
from ..cell_kinds import KINDS, PARAMETERS
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor
from .utils.rnn import PackedSequence


def _requires_grad(value: Any) -> bool:
    return isinstance(value, Tensor) and value.requires_grad


def _state_parents(module: Any, hx: Any) -> tuple[Any, Any]:
    if hx is None:
        return None, None
    if KINDS[module.kind].has_cell_state:
        return hx[0], hx[1]
    return hx, None


def _fresh_gradients(output: Tensor) -> None:
    """Mark the node that made ``output`` as returning arrays that nothing else holds (the BPTT
    kernels' new buffers and products, distinct for every parent): a leaf takes a first gradient
    as its ``.grad`` without a copy."""
    node = output.grad_fn
    if node is not None:
        node._fresh_grads = True


def needs_graph(module: Any, input: Any, hx: Any) -> bool:
    """Whether a forward must be kept for backward: grad mode on and anything requiring grad."""
    if not is_grad_enabled():
        return False
    for p in module._parameters.values():  # the parameters the layer's kernels read (no submodules)
        if p is not None and p.requires_grad:
            return True
    data = input.data if isinstance(input, PackedSequence) else input
    if _requires_grad(data):
        return True
    if hx is None:
        return False
    h, c = (_state_parents(module, hx) if isinstance(hx, (tuple, list)) or not KINDS[module.kind].has_cell_state
            else (None, None))
    return _requires_grad(h) or _requires_grad(c)


def layers_backward(module: Any, run: LayerRun, dy: np.ndarray, dh_n: np.ndarray, dc_n: np.ndarray | None,
                    gradients: StateGradients | None = None):
    """BPTT through every layer, last first. dy (T, N, D*H_out) time-major in kernel order.

    Returns (dx (T, N, H_in), dh_0 (L*D, N, H_out), dc_0 or None, {parameter name: gradient}).
    Also puts each direction's dL/dh_t, dL/dc_t in ``gradients`` (for gradient-flow plots).
    """
    D, P = module.num_directions, module._real_hidden
    if module.num_layers == 1 and D == 1:  # one layer and direction: its gradients as they come
        g = backward_direction(module.kind, run.directions[0], run.inputs[0], run.weights[0], run.h0[0],
                               None if run.c0 is None else run.c0[0], run.layout.active, False, dy,
                               dh_n[0], None if dc_n is None else dc_n[0], module.nonlinearity, module.device)
        if gradients is not None:
            gradients.put(0, g.dh_all, g.dc_all)
        full = module._parameter_names(0, 0)
        return (g.dx, g.dh0[None], None if g.dc0 is None else g.dc0[None],
                {full[short]: value for short, value in g.params.items()})
    dh0 = np.zeros_like(run.h0)
    dc0 = None if run.c0 is None else np.zeros_like(run.c0)
    grads: dict[str, np.ndarray] = {}
    for layer in reversed(range(module.num_layers)):
        d_input = None
        for d in range(D):
            k = layer * D + d
            g = backward_direction(
                module.kind, run.directions[k], run.inputs[layer], run.weights[k], run.h0[k],
                None if run.c0 is None else run.c0[k], run.layout.active, d == 1, dy[:, :, d * P:(d + 1) * P],
                dh_n[k], None if dc_n is None else dc_n[k], module.nonlinearity, module.device,
            )
            d_input = g.dx if d_input is None else d_input + g.dx
            dh0[k] = g.dh0
            if dc0 is not None:
                dc0[k] = g.dc0
            full = module._parameter_names(layer, d)
            for short, value in g.params.items():
                grads[full[short]] = value
            if gradients is not None:
                gradients.put(k, g.dh_all, g.dc_all)
        if layer > 0 and run.masks[layer - 1] is not None:
            d_input = d_input * run.masks[layer - 1]  # through the dropout between layers
        dy = d_input
    return dy, dh0, dc0, grads


def attach_graph(module: Any, run: LayerRun, input: Any, hx: Any, result: Any,
                 gradients: StateGradients | None = None) -> Any:
    """``result`` (as forward returns it) re-issued as outputs of one node with a BPTT backward;
    that backward puts every step's dL/dh_t, dL/dc_t in ``gradients``."""
    layout = run.layout
    form = layout.form
    lstm = KINDS[module.kind].has_cell_state
    out_obj, state = result
    packed = form == "packed"
    out_arr = (out_obj.data if packed else out_obj)._data
    h_arr, c_arr = (state[0]._data, state[1]._data) if lstm else (state._data, None)
    x_parent = input.data if packed else input
    h_parent, c_parent = _state_parents(module, hx)
    names = list(module._flat_weights_names)
    params = module._parameters
    parents = tuple(p if isinstance(p, Tensor) else None
                    for p in (x_parent, h_parent, c_parent, *[params.get(n) for n in names]))
    T, N = layout.active.shape[0], run.h0.shape[1]

    def to_kernel_states(g: np.ndarray) -> np.ndarray:
        """A gradient of h_n/c_n as returned → (L*D, N, ·) in the kernels' batch order."""
        if form == "unbatched":
            return g[:, None, :]
        if packed and layout.sorted_indices is not None:
            return g[:, layout.sorted_indices]
        return g

    def to_caller_states(g: np.ndarray) -> np.ndarray:
        """A gradient of h_0/c_0 in kernel order → the caller's layout."""
        if form == "unbatched":
            return g[:, 0, :]
        if packed and layout.sorted_indices is not None:
            return g[:, layout.unsorted_indices]
        return g

    def backward(grads: tuple) -> tuple:
        g_out, g_h = grads[0], grads[1]
        g_c = grads[2] if lstm else None
        if packed:
            dy = np.zeros((T, N, g_out.shape[-1]), dtype=g_out.dtype)
            dy[layout.t_idx, layout.b_idx] = g_out
        elif form == "unbatched":
            dy = g_out[:, None, :]
        elif form == "batch_first":
            dy = g_out.transpose(1, 0, 2)
        else:
            dy = g_out
        dx, dh0, dc0, pgrads = layers_backward(module, run, dy, to_kernel_states(g_h),
                                               None if g_c is None else to_kernel_states(g_c), gradients)
        if packed:
            dx = dx[layout.t_idx, layout.b_idx]
        elif form == "unbatched":
            dx = dx[:, 0, :]
        elif form == "batch_first":
            dx = dx.transpose(1, 0, 2)
        dh0 = to_caller_states(dh0)
        dc0 = None if dc0 is None else to_caller_states(dc0)
        return (dx, dh0, dc0, *[pgrads[n].astype(module.dtype, copy=False) for n in names])

    name = KINDS[module.kind].display + "Backward"
    outputs = (out_arr, h_arr) if c_arr is None else (out_arr, h_arr, c_arr)
    made = make_node(outputs, parents, backward, name=name, save_outputs=True)
    _fresh_gradients(made[0])
    out_t, h_t = made[0], made[1]
    out_new = PackedSequence(out_t, out_obj.batch_sizes, out_obj.sorted_indices, out_obj.unsorted_indices) if packed else out_t
    if lstm:
        return out_new, (h_t, made[2])
    return out_new, h_t


def attach_cell_graph(cell: Any, run: LayerRun, input: Any, hx: Any, result: Any) -> Any:
    """A cell's step (h', or (h', c') for LSTMCell) re-issued as outputs of one node."""
    lstm = KINDS[cell.kind].has_cell_state
    h_parent, c_parent = (hx[0], hx[1]) if lstm and hx is not None else (hx, None)
    shorts = ["w_ih", "w_hh"] + (["b_ih", "b_hh"] if cell.bias else [])
    names = [full for short, full in PARAMETERS if short in shorts]
    params = cell._parameters
    parents = tuple(p if isinstance(p, Tensor) else None
                    for p in (input, h_parent, c_parent, *[params.get(n) for n in names]))
    unbatched = run.layout.form == "unbatched"
    outputs = (result[0]._data, result[1]._data) if lstm else (result._data,)

    def backward(grads: tuple) -> tuple:
        g_h = grads[0][None] if unbatched else grads[0]
        g_c = None
        if lstm:
            g_c = grads[1][None] if unbatched else grads[1]
        dr = run.directions[0]
        g = backward_direction(cell.kind, dr, run.inputs[0], run.weights[0], run.h0[0],
                               None if run.c0 is None else run.c0[0], run.layout.active, False,
                               np.zeros_like(dr.hs), g_h, g_c, cell.nonlinearity, cell.device)
        squeeze = (lambda a: a[0]) if unbatched else (lambda a: a)  # noqa: E731
        dx = squeeze(g.dx[0])
        dh0 = squeeze(g.dh0)
        dc0 = None if g.dc0 is None else squeeze(g.dc0)
        return (dx, dh0, dc0, *[g.params[short].astype(cell.dtype, copy=False) for short in shorts])

    made = make_node(outputs, parents, backward, name=type(cell).__name__ + "Backward", save_outputs=True)
    _fresh_gradients(made[0])
    return (made[0], made[1]) if lstm else made[0]
