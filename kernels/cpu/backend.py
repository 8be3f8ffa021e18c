"""The CPU backend: this device's kernels, run the way this device wants them run.

``steprnn._dispatch`` picks a backend by device (``steprnn.kernels.<device>.backend``) and calls
only the names below; ``kernels/cuda/backend.py`` offers the same names with the same arguments.
Each is the kernel of the same name in ``rnn.py``/``lstm.py``/``gru.py``/``jit.py`` without its
first argument, ``parts``, which the CPU policy supplies:

* ``parts`` = Numba's thread count: each kernel splits the batch into one chunk of rows per
  thread, and each thread runs the whole time loop for its rows;
* one kernel launch at a time per process, on a fork-safe threading layer, with BLAS (SciPy's
  OpenBLAS, under Numba's ``np.dot``) held to one thread while it runs, so that two thread pools
  never compete for the same cores (``threads.kernel_launch``, ``blas_threads``).

Forward:  ``rnn_forward(x, weights, biases, active, reverse, use_relu, hs, state, rec)``,
          ``lstm_forward(x, weights, biases, active, reverse, hs, state, rec)``,
          ``gru_forward(x, weights, biases, active, reverse, hs, state, rec)``.
Backward: ``rnn_backward(w_hh, active, reverse, use_relu, rec, grads_in, grads_out)``,
          ``lstm_backward(weights, active, reverse, rec, prev, grads_in, grads_out)``,
          ``gru_backward(w_hh, active, reverse, rec, h_prev, grads_in, grads_out)``.
Products: ``matmul(a, b)`` a @ b, ``matmul_tn(a, b)`` aᵀ @ b.
Arrays:   ``DEVICE`` the device name; the arguments and their shapes are documented on each kernel.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numba

from . import gru, jit, lstm, rnn
from .threads import kernel_launch

DEVICE = "cpu"


def _with_cpu_policy(kernel: Callable[..., Any]) -> Callable[..., Any]:
    """``kernel(parts, *args)`` as ``f(*args)``: one batch chunk per Numba thread, one launch at a
    time, BLAS on one thread."""

    @functools.wraps(kernel, updated=())
    def run(*args: Any) -> Any:
        with kernel_launch():
            return kernel(numba.get_num_threads(), *args)

    run.__doc__ = f"``{kernel.__name__}`` without ``parts`` (the CPU policy supplies it).\n\n{kernel.__doc__ or ''}"
    return run


rnn_forward = _with_cpu_policy(rnn.rnn_forward)
rnn_backward = _with_cpu_policy(rnn.rnn_backward)
lstm_forward = _with_cpu_policy(lstm.lstm_forward)
lstm_backward = _with_cpu_policy(lstm.lstm_backward)
gru_forward = _with_cpu_policy(gru.gru_forward)
gru_backward = _with_cpu_policy(gru.gru_backward)
matmul = _with_cpu_policy(jit.matmul)
matmul_tn = _with_cpu_policy(jit.matmul_tn)

__all__ = ["DEVICE", "rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward",
           "gru_backward", "matmul", "matmul_tn"]
