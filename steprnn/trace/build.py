"""Turn the buffers a forward filled (a ``LayerRun``) into a ``Trace``: no recomputation."""
from __future__ import annotations

from typing import Any

import numpy as np

from .trace import FORMAT_VERSION, Trace


def _mask(a: np.ndarray, invalid: np.ndarray | None) -> np.ndarray:
    """NaN where ``invalid`` (T, N) is True (None: nowhere); ``a`` (T, N, W) is ours, changed in place."""
    if invalid is not None:
        a[invalid] = np.nan
    return a


def trace_from_run(module: Any, run: Any, result: Any, *, cell: bool = False) -> Trace:
    """A Trace of ``module``'s forward from the ``LayerRun`` its kernels filled.

    ``run.rows`` are the kernel batch rows that were recorded (None: all, in order); packed input
    ran in sorted order, and ``rows`` already put the recorded ones back in input order.
    """
    T, N = run.active.shape[0], run.h0.shape[1]
    every_row = run.rows is None
    rows = np.arange(N) if every_row else np.asarray(run.rows)
    valid = rows[None, :] < run.active[:, None]  # (T, n): row takes part in step t
    lengths = valid.sum(axis=0)
    invalid = None if lengths.min() == T else ~valid
    batch = rows if run.sorted_indices is None else run.sorted_indices[rows]
    D = 1 if cell else module.num_directions
    kind = module.kind
    arrays: dict[str, np.ndarray] = {}
    for layer, recorded in enumerate(run.recorded):
        if not recorded:
            continue
        x = np.array(run.inputs[layer]) if every_row else run.inputs[layer][:, rows]  # (T, n, I_l), a copy
        for d in range(D):
            k = layer * D + d
            dr = run.runs[k]
            key = f"l{layer}d{d}."
            # the gate buffers belong to this run alone; hs is also the layer's output: copy it
            # unless select() already did
            if dr.gates is not None:
                arrays[key + "gates"] = _mask(dr.gates, invalid)
            arrays[key + "pre"] = _mask(dr.pre, invalid)
            if dr.cells is not None:
                arrays[key + "c"] = _mask(dr.cells, invalid)
            arrays[key + "h"] = _mask(dr.hs if run.rows is not None else dr.hs.copy(), invalid)
            arrays[key + "x"] = _mask(x.copy() if d else x, invalid)
            arrays[key + "h0"] = np.array(run.h0[k][rows])
            if run.c0 is not None:
                arrays[key + "c0"] = np.array(run.c0[k][rows])
            for name, value in module._direction_params(layer, d).items():
                if value is not None:
                    arrays[key + name] = np.array(value)
    meta = {
        "format": "steprnn-trace",
        "version": FORMAT_VERSION,
        "kind": kind,
        "cell": cell,
        "module": type(module).__name__,
        "num_layers": 1 if cell else module.num_layers,
        "num_directions": D,
        "input_size": module.input_size,
        "hidden_size": module.hidden_size,
        "proj_size": 0 if cell else module.proj_size,
        "nonlinearity": module.nonlinearity,
        "bias": bool(module.bias),
        "batch_first": False if cell else bool(module.batch_first),
        "dtype": np.dtype(module.dtype).name,
        "seq_len": int(T),
        "layers": [i for i, r in enumerate(run.recorded) if r],
        "batch": [int(b) for b in batch],
        "lengths": [int(n) for n in lengths],
    }
    output, h_n, c_n = _split_result(kind, result, cell)
    return Trace(meta, arrays, output, h_n, c_n)


def _split_result(kind: str, result: Any, cell: bool) -> tuple[Any, Any, Any]:
    """(output, h_n, c_n) as the module returned them."""
    if cell:
        if kind == "lstm":
            return result[0], result[0], result[1]
        return result, result, None
    output, state = result
    if kind == "lstm":
        return output, state[0], state[1]
    return output, state, None
