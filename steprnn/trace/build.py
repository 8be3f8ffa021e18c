"""Turn the buffers a forward filled (a ``LayerRun``) into a ``Trace``: no recomputation, except
the pre-activations a forward does not keep (``cell_kinds.CellKind.kept_pre``): the LSTM's four,
the GRU's a_r, a_z and a_n (two products over all steps, when the trace is first read)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._runs import LayerRun, StateGradients
from .._weights import read_only
from ..cell_kinds import KINDS, direction_key
from .trace import FORMAT_VERSION, Trace


def _masked(a: np.ndarray, invalid: np.ndarray | None) -> np.ndarray:
    """``a`` (T, N, W) with NaN where ``invalid`` (T, N) is True: a new array, ``a`` untouched.

    The buffers a forward filled are shared: the autograd node reads them in backward (states,
    gates, each layer's input) and the last layer's ``hs`` may be the very output the caller holds.
    A trace therefore never writes into them; with nothing to mask (every sequence full length)
    it shares them as they are.
    """
    if invalid is None:
        return a
    out = a.copy()
    out[invalid] = np.nan
    return out


_DTYPE_NAMES = {np.dtype("float32"): "float32", np.dtype("float64"): "float64"}  # str(dtype) costs µs


#: where each weight's transpose sits in ``WeightLayout.forward``
_FORWARD_INDEX = {"w_ih": 0, "w_hh": 1, "w_hr": 2}


def _weight_copies(layout: Any) -> dict[str, np.ndarray]:
    """Each parameter of one layer and direction as it was at the forward, in PyTorch's layout,
    read-only: the transposed copy the forward made for its kernels (small weights,
    ``_weights.weight_layout``; never written, though the weight cache may share it) seen
    transposed back, else a copy."""
    out = {}
    forward = layout.forward
    for name, value in layout.params.items():
        if value is None:
            continue
        i = _FORWARD_INDEX.get(name, len(forward))
        if i < len(forward):
            t = forward[i]
            if type(t) is np.ndarray and t.base is None and t.shape[::-1] == value.shape:
                out[name] = read_only(t.T)  # the weight cache may hold it too
                continue
        out[name] = read_only(value.copy())
    return out


def trace_config(module: Any, cell: bool = False) -> dict:
    """What a trace records about the layer or cell ``module`` itself (its ``meta``, less the run's
    facts); a layer caches it with its other facts (``RNNBase._facts``): treat it as read-only."""
    return {
        "kind": module.kind,
        "cell": cell,
        "module": type(module).__name__,
        "num_layers": 1 if cell else module.num_layers,
        "num_directions": 1 if cell else module.num_directions,
        "input_size": module.input_size,
        "hidden_size": module.hidden_size,
        "proj_size": 0 if cell else module.proj_size,
        "nonlinearity": module.nonlinearity,
        "bias": bool(module.bias),
        "batch_first": False if cell else bool(module.batch_first),
        "dtype": _DTYPE_NAMES.get(module.dtype) or str(module.dtype),
    }


def trace_from_run(module: Any, run: LayerRun, result: Any, *, cell: bool = False,
                   gradients: StateGradients | None = None, config: dict | None = None) -> Trace:
    """A Trace of ``module``'s forward from the ``LayerRun`` its kernels filled.

    ``run.kept.rows`` are the kernel batch rows that were recorded (None: all, in order); packed
    input ran in sorted order, and ``rows`` already put the recorded ones back in input order.
    What could change after the forward (the caller's input array, the parameters) is copied
    now; masking and naming the buffers wait until the trace is first read. ``gradients``: what
    a backward through this forward will put there (None: the forward has no autograd node).
    ``config``: ``trace_config(module, cell)`` where the caller has it already.
    """
    config = trace_config(module, cell) if config is None else config
    D = config["num_directions"]
    kept = run.kept
    # the parameters the kernels used, copied (training may change them later)
    if D == 1 and kept.layers == (True,):  # one layer and direction, or a cell: the common case
        recorded = [0]
        w = run.weights[0]
        weights = {(0, 0): w.owned if w.owned is not None else _weight_copies(w)}
    else:
        recorded = [layer for layer, r in enumerate(kept.layers) if r]
        weights = {}
        for layer in recorded:
            for d in range(D):
                w = run.weights[layer * D + d]
                weights[layer, d] = w.owned if w.owned is not None else _weight_copies(w)
    x0 = None  # layer 0 read the caller's array: copy what the trace keeps of it now
    if kept.layers[0]:
        x0 = run.inputs[0].copy() if kept.rows is None else run.inputs[0][:, kept.rows]
    if run.own_states:  # zeros the forward made: nobody else can change them
        states = (run.h0, run.c0)
    else:  # h0 may be the caller's hx
        states = (np.array(run.h0), None if run.c0 is None else np.array(run.c0))
    output, h_n, c_n = _split_result(config["kind"], result, cell)
    tr = Trace(None, None, output, h_n, c_n, build=lambda: _build(run, config, recorded, weights, x0, states))
    if gradients is not None:
        tr._gradients = lambda layer, d, which: _gradient(run, gradients, D, layer, d, which)
    return tr


def _gradient(run: LayerRun, gradients: StateGradients, D: int, layer: int, d: int, which: int) -> np.ndarray | None:
    """dL/dh_t (which=0) or dL/dc_t (which=1) of every step, as the trace lays out arrays; None
    until a backward through this forward has run."""
    got = gradients.get(layer * D + d)
    if got is None or got[which] is None:
        return None
    g = got[which]
    rows = run.kept.rows
    if rows is not None:
        g = g[:, rows]
        rows = np.asarray(rows)
        g = np.where((rows[None, :] < run.layout.active[:, None])[:, :, None], g, np.nan)
    return g


def _build(run: LayerRun, config: dict, recorded: list[int], weights: dict, x0: np.ndarray | None, states: tuple):
    """(meta, arrays) of a trace, from the run's buffers (shared, or masked copies where padded)."""
    active, sorted_indices = run.layout.active, run.layout.sorted_indices
    T, N = active.shape[0], run.h0.shape[1]
    every_row = run.kept.rows is None
    rows = np.arange(N) if every_row else np.asarray(run.kept.rows)
    valid = rows[None, :] < active[:, None]  # (T, n): row takes part in step t
    lengths = valid.sum(axis=0)
    invalid = None if lengths.size == 0 or lengths.min() == T else ~valid  # N may be 0
    batch = rows if sorted_indices is None else sorted_indices[rows]
    D = config["num_directions"]
    arrays: dict[str, np.ndarray] = {}
    for layer in recorded:
        # (T, n, I_l): layer 0's was copied at trace time; deeper layers read arrays of this
        # forward that nobody else holds
        if layer == 0:
            x = x0
        else:
            x = run.inputs[layer] if every_row else run.inputs[layer][:, rows]
        x = _masked(x, invalid)  # one masked input per layer, shared by both directions
        for d in range(D):
            k = layer * D + d
            dr = run.directions[k]
            if not every_row and not run.kept.selected:  # a forward kept whole for backward
                dr = dr.select(rows)
            key = direction_key(layer, d)
            # the graph's backward may still read these buffers: _masked copies, never writes
            if dr.gates is not None:
                arrays[key + "gates"] = _masked(dr.gates, invalid)
            pre = dr.pre
            if pre.shape[0] != T or pre.shape[2] != KINDS[config["kind"]].pre_width * config["hidden_size"]:
                # a one-step scratch, or the terms the backward reads: recompute every step's
                h_prev = _previous_states(dr.hs, states[0][k][rows], valid, d == 1)
                pre = _RECOMPUTE[config["kind"]](x, h_prev, weights[(layer, d)], dr.gates, pre)
            arrays[key + "pre"] = _masked(pre, invalid)
            if dr.cells is not None:
                arrays[key + "c"] = _masked(dr.cells, invalid)
            arrays[key + "h"] = _masked(dr.hs, invalid)
            arrays[key + "x"] = x
            arrays[key + "h0"] = states[0][k][rows]
            if states[1] is not None:
                arrays[key + "c0"] = states[1][k][rows]
            for name, value in weights[(layer, d)].items():
                arrays[key + name] = value
    meta = {"format": "steprnn-trace", "version": FORMAT_VERSION, **config, "seq_len": int(T),
            "layers": recorded, "batch": [int(b) for b in batch], "lengths": [int(n) for n in lengths]}
    return meta, arrays


def _previous_states(hs: np.ndarray, h0: np.ndarray, valid: np.ndarray, reverse: bool) -> np.ndarray:
    """(T, n, P) h_{t-1} of every step (h_{t+1} in reverse) from the states a forward wrote, hs
    (T, n, P), and h_0 (n, P); ``valid`` (T, n) which rows take each step (in reverse, a row starts
    where its next step is not valid). Rows past a sequence's end hold no meaning (the caller masks
    them).

    ``_dispatch.previous_states`` does the same from counts of active rows; a trace may keep rows
    in input order, which such counts cannot describe, hence the mask."""
    if reverse:
        h_prev = np.concatenate([hs[1:], h0[None]], axis=0)
        starts = ~np.concatenate([valid[1:], np.zeros_like(valid[:1])], axis=0)
        h_prev[starts] = np.broadcast_to(h0, h_prev.shape)[starts]
        return h_prev
    return np.concatenate([h0[None], hs[:-1]], axis=0)


def _lstm_preactivations(x: np.ndarray, h_prev: np.ndarray, weights: dict[str, np.ndarray],
                         gates: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """(T, n, 4H): a_t = W_ih x_t + b_ih + b_hh + W_hh h_{t-1} of every step, as the kernel summed
    them, from the layer's input x (T, n, I) and the states it read h_prev (T, n, P) (the gates and
    the kept pre-activations, none, are not needed: ``_RECOMPUTE``'s signature)."""
    pre = x @ weights["w_ih"].T
    if "b_ih" in weights:
        pre += weights["b_ih"] + weights["b_hh"]
    pre += h_prev @ weights["w_hh"].T
    return pre


def _gru_preactivations(x: np.ndarray, h_prev: np.ndarray, weights: dict[str, np.ndarray],
                        gates: np.ndarray, hn: np.ndarray) -> np.ndarray:
    """(T, n, 4H): a_r | a_z | a_n | W_hn h_{t-1} + b_hn of every step, from the layer's input x
    (T, n, I), the states it read h_prev (T, n, H), its gates r | z | n (T, n, 3H) and the
    W_hn h_{t-1} + b_hn it kept (T, n, H):

        a_r, a_z = W_i· x_t + b_i· + W_h· h_{t-1} + b_h·      a_n = W_in x_t + b_in + r_t ⊙ hn_t
    """
    H = hn.shape[2]
    w_ih, w_hh = weights["w_ih"], weights["w_hh"]
    pre = np.empty(hn.shape[:2] + (4 * H,), dtype=hn.dtype)
    pre[..., :3 * H] = x @ w_ih.T
    if "b_ih" in weights:
        pre[..., :3 * H] += weights["b_ih"]
        pre[..., :2 * H] += weights["b_hh"][:2 * H]
    pre[..., :2 * H] += h_prev @ w_hh[:2 * H].T
    with np.errstate(all="ignore"):  # steps a padded row does not take hold whatever was there (masked later)
        pre[..., 2 * H:3 * H] += gates[..., :H] * hn
    pre[..., 3 * H:] = hn
    return pre


#: how a trace makes the pre-activations a forward did not keep, by cell kind
_RECOMPUTE = {"lstm": _lstm_preactivations, "gru": _gru_preactivations}


def _split_result(kind: str, result: Any, cell: bool) -> tuple[Any, Any, Any]:
    """(output, h_n, c_n) as the module returned them."""
    if cell:
        if KINDS[kind].has_cell_state:
            return result[0], result[0], result[1]
        return result, result, None
    output, state = result
    if KINDS[kind].has_cell_state:
        return output, state[0], state[1]
    return output, state, None
