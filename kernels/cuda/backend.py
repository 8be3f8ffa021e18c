"""The CUDA backend: the names of ``kernels/cpu/backend.py``, on ``numba.cuda`` device arrays.

``steprnn._dispatch`` picks a backend by device (``steprnn.kernels.<device>.backend``) and calls
only these names. The kernels take the arguments of the CPU backend's, in the same order and
buffer layouts, with C-contiguous device arrays in place of NumPy arrays (``active`` too: a
device array of int64). Every launch goes on the default stream, in order, so nothing here
waits for the GPU or copies to the host: a layer's forward and backward run without a host
round trip.

Forward:  ``rnn_forward(x, weights, biases, active, reverse, use_relu, hs, state, rec)``,
          ``lstm_forward(x, weights, biases, active, reverse, hs, state, rec)``,
          ``gru_forward(x, weights, biases, active, reverse, hs, state, rec)``
          (``hs`` may be a strided view: one direction's half of a bidirectional output).
Backward: ``rnn_backward(w_hh, active, reverse, use_relu, rec, grads_in, grads_out)``,
          ``lstm_backward(weights, active, reverse, rec, prev, grads_in, grads_out)``,
          ``gru_backward(w_hh, active, reverse, rec, h_prev, grads_in, grads_out)``.
Products: ``matmul(a, b)`` a @ b, ``matmul_tn(a, b)`` aᵀ @ b (tiled shared-memory GEMM).
Arrays:   what the layers do between kernels, each a NumPy one-liner on the CPU
          (``steprnn._dispatch.CpuArrays`` holds those twins): ``zeros``, ``empty``, ``copy``,
          ``contiguous``, ``transpose2``, ``previous_states``, ``column_sums``, ``cell_outputs``,
          ``add``, ``multiply``, ``gather_steps``, ``scatter_steps``, ``take_rows``, ``swap01``, ``to_device``,
          ``to_host``, ``is_device_array``.
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from . import bptt, glue, gru, lstm, matmul as _matmul, rnn
from .jit import device_full

DEVICE = "cuda"


def rnn_forward(x, weights, biases, active, reverse, use_relu, hs, state, rec):
    """``kernels/cuda/rnn.rnn_forward`` without ``parts``."""
    rnn.rnn_forward(0, x, weights, biases, active, reverse, use_relu, hs, state, rec)


def rnn_backward(w_hh, active, reverse, use_relu, rec, grads_in, grads_out):
    """``kernels/cuda/rnn.rnn_backward`` without ``parts``."""
    rnn.rnn_backward(0, w_hh, active, reverse, use_relu, rec, grads_in, grads_out)


def lstm_forward(x, weights, biases, active, reverse, hs, state, rec):
    """``kernels/cuda/lstm.lstm_forward`` without ``parts``."""
    lstm.lstm_forward(0, x, weights, biases, active, reverse, hs, state, rec)


def lstm_backward(weights, active, reverse, rec, prev, grads_in, grads_out):
    """``kernels/cuda/lstm.lstm_backward`` without ``parts``."""
    lstm.lstm_backward(0, weights, active, reverse, rec, prev, grads_in, grads_out)


def gru_forward(x, weights, biases, active, reverse, hs, state, rec):
    """``kernels/cuda/gru.gru_forward`` without ``parts``."""
    gru.gru_forward(0, x, weights, biases, active, reverse, hs, state, rec)


def gru_backward(w_hh, active, reverse, rec, h_prev, grads_in, grads_out):
    """``kernels/cuda/gru.gru_backward`` without ``parts``."""
    gru.gru_backward(0, w_hh, active, reverse, rec, h_prev, grads_in, grads_out)


def matmul(a, b):
    """a @ b: (M, K) @ (K, N) → (M, N), a new device array."""
    return _matmul.matmul(0, a, b)


def matmul_tn(a, b):
    """aᵀ @ b: (M, G)ᵀ @ (M, K) → (G, K), a new device array."""
    return _matmul.matmul_tn(0, a, b)


# -- arrays ---------------------------------------------------------------------------------------

def zeros(shape, dtype):
    """A new C-contiguous device array of zeros (filled on the device)."""
    return device_full(shape, 0.0, dtype)


def empty(shape, dtype):
    """A new C-contiguous device array, uninitialised."""
    return cuda.device_array(shape, dtype=dtype)


def _same_dtype(a, dtype) -> None:
    if dtype is not None and np.dtype(dtype) != np.dtype(a.dtype):
        raise TypeError(f"expected a {np.dtype(dtype)} device array, got {a.dtype}")


def copy(a, dtype=None):
    """A new C-contiguous copy of ``a`` (any strides); ``dtype`` (if given) must be a's."""
    _same_dtype(a, dtype)
    return glue.copy(a)


def contiguous(a, dtype=None):
    """``a`` itself when C-contiguous, else a C-contiguous copy; ``dtype`` (if given) must be a's:
    ``np.ascontiguousarray``'s arguments, without its conversions."""
    _same_dtype(a, dtype)
    return glue.contiguous(a)


transpose2 = glue.transpose2
add = glue.add
multiply = glue.multiply
gather_steps = glue.gather_steps
scatter_steps = glue.scatter_steps
take_rows = glue.take_rows
swap01 = glue.swap01
previous_states = bptt.previous_states
column_sums = bptt.column_sums


def cell_outputs(gates, cells, H: int, active):
    """(T*N, H) o ⊙ tanh(c) of every step, 0 where a row takes no step (``bptt.cell_outputs``)."""
    return bptt.cell_outputs(gates, cells, H, active)


def is_device_array(a) -> bool:
    """Whether ``a`` is a ``numba.cuda`` device array (the simulator's too)."""
    return hasattr(a, "copy_to_host") and not isinstance(a, np.ndarray)


def to_device(a: np.ndarray):
    """A device copy of the NumPy array ``a`` (C-contiguous)."""
    return cuda.to_device(np.ascontiguousarray(a))


def to_host(a) -> np.ndarray:
    """A NumPy copy of the device array ``a`` (any strides; waits for the work that writes it)."""
    return glue.contiguous(a).copy_to_host()


__all__ = ["DEVICE", "rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward",
           "gru_backward", "matmul", "matmul_tn", "zeros", "empty", "copy", "contiguous", "transpose2",
           "previous_states", "column_sums", "cell_outputs", "add", "multiply", "gather_steps",
           "scatter_steps", "take_rows", "swap01", "is_device_array", "to_device", "to_host"]
