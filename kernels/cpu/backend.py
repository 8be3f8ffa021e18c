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
import numpy as np

from . import gru, jit, lstm, rnn, split_products, weight_grads
from .threads import kernel_launch

DEVICE = "cpu"


#: multiply-adds per call from which a kernel is split over the Numba threads; below it, the
#: calling thread runs it alone (a parallel launch costs tens of microseconds, more on a busy
#: machine, and its compiled form takes longer to build)
PARALLEL_FROM = 2_000_000


_POLICY_DOC = "``{}`` without ``parts`` (the CPU policy supplies it).\n\n{}"

_layer_started = False


def _parallel(rows: int, work: int) -> int:
    """How many threads a kernel over ``rows`` batch rows and ``work`` multiply-adds gets (1: serial).
    The first call asks Numba's thread count even for a serial kernel: that starts its threading
    layer at the first forward, before any fork, so that ``threads`` knows which layer a forked
    child inherits; later serial calls skip the question (0.6 µs)."""
    global _layer_started
    if rows > 1 and work >= PARALLEL_FROM:
        parts = numba.get_num_threads()
        return parts if parts > 1 else 1
    if not _layer_started:
        numba.get_num_threads()
        _layer_started = True
    return 1


def _with_cpu_policy(kernel: Callable[..., Any], rows: Callable[..., Any],
                     fold: Callable[[int], int]) -> Callable[..., Any]:
    """A forward ``kernel(parts, x, weights, biases, active, reverse, ..., state, rec)`` as
    ``f(x, weights, ...)``: split over the Numba threads where the batch has rows to share and the
    work pays for a parallel launch (``PARALLEL_FROM``); else the input projection as one BLAS
    call where the time loop does not make it itself (``jit.project_serial``), and that loop
    ``rows(0, N, (x, xp), weights, biases, active, reverse, ..., state, rec)``
    on this thread (``fold(G)``: the columns of b_hh folded into the projection). One launch at
    a time, BLAS on one thread inside a parallel launch.
    """

    @functools.wraps(kernel, updated=())
    def run_forward(x: Any, weights: Any, biases: Any, active: Any, reverse: Any, *rest: Any) -> Any:
        w_hh = weights[1]
        n_rows = rest[-2][0].shape[0]  # state[0]: (N, ·)
        parts = _parallel(n_rows, x.shape[0] * w_hh.shape[1] * (x.shape[1] + w_hh.shape[0]))
        with kernel_launch():
            if parts > 1:
                return kernel(parts, x, weights, biases, active, reverse, *rest)
            w_ih, steps = weights[0], active.shape[0]
            if jit.input_loop_takes(w_ih.shape[0], w_ih.shape[1], w_ih.itemsize, n_rows, steps):
                xp = np.empty((0, w_ih.shape[1]), dtype=x.dtype)  # the loop makes W_ih x_t: no call, no compile
            else:
                xp = jit.project_serial(x, w_ih, biases[0], biases[1], fold(w_hh.shape[1]), n_rows, steps)
            return rows(0, n_rows, (x, xp), weights, biases, active, reverse, *rest)

    run_forward.__doc__ = _POLICY_DOC.format(kernel.__name__, kernel.__doc__ or "")
    return run_forward


def _backward_policy(kernel: Callable[..., Any], rows: Callable[..., Any], n_rows: Callable[..., int],
                     work: Callable[..., int]) -> Callable[..., Any]:
    """A backward ``kernel(parts, *args)`` as ``f(*args)``: over the Numba threads where it pays,
    else ``rows(0, N, *args)`` on this thread."""

    @functools.wraps(kernel, updated=())
    def run(*args: Any) -> Any:
        n = n_rows(*args)
        parts = _parallel(n, work(*args))
        with kernel_launch():
            if parts > 1:
                return kernel(parts, *args)
            return rows(0, n, *args)

    run.__doc__ = _POLICY_DOC.format(kernel.__name__, kernel.__doc__ or "")
    return run


def _matmul_policy(serial: Callable[..., Any], split: Callable[..., np.ndarray]) -> Callable[..., Any]:
    """``matmul``/``matmul_tn``: on this thread in Numba where the product is small, else on NumPy's
    BLAS in row chunks over the Numba thread count (``split_products``).

    Small products stay off NumPy's ``@``: its OpenBLAS wakes every core for them and, on a busy
    machine, takes milliseconds over what one thread does in microseconds."""

    @functools.wraps(serial, updated=())
    def run(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        parts = _parallel(a.shape[0], a.shape[0] * a.shape[1] * b.shape[1])
        if parts == 1:
            with kernel_launch():
                return serial(a, b)
        return split(a, b, parts)

    run.__doc__ = f"{serial.__doc__ or ''} Small products on this thread, large ones on NumPy's BLAS, split by rows."
    return run


def _all_columns(g: int) -> int:
    return g


def _gru_fold(g: int) -> int:
    return 2 * g // 3  # r and z: b_hn stays apart (r_t multiplies W_hn h + b_hn)


rnn_forward = _with_cpu_policy(rnn.rnn_forward, rnn.rnn_rows, _all_columns)
rnn_backward = _backward_policy(
    rnn.rnn_backward, rnn.rnn_rows_backward,
    lambda w_hh, active, reverse, use_relu, rec, grads_in, grads_out: grads_in[1].shape[0],
    lambda w_hh, active, reverse, use_relu, rec, grads_in, grads_out: rec[0].size * (w_hh.shape[1] + 4))
lstm_forward = _with_cpu_policy(lstm.lstm_forward, lstm.lstm_rows, _all_columns)
lstm_backward = _backward_policy(
    lstm.lstm_backward, lstm.lstm_rows_backward,
    lambda weights, active, reverse, rec, prev, grads_in, grads_out: prev[0].shape[1],
    lambda weights, active, reverse, rec, prev, grads_in, grads_out: rec[0].size * (weights[0].shape[1] + 8))
gru_forward = _with_cpu_policy(gru.gru_forward, gru.gru_rows, _gru_fold)
gru_backward = _backward_policy(
    gru.gru_backward, gru.gru_rows_backward,
    lambda w_hh, active, reverse, rec, h_prev, grads_in, grads_out: h_prev.shape[1],
    lambda w_hh, active, reverse, rec, h_prev, grads_in, grads_out: rec[0].size * (w_hh.shape[1] + 8))
matmul = _matmul_policy(jit.matmul_serial, split_products.matmul)
matmul_tn = _matmul_policy(jit.matmul_tn_serial, split_products.matmul_tn)


def weight_gradients(d_in: np.ndarray, d_h: np.ndarray, x: np.ndarray, h: np.ndarray,
                     w_ih: np.ndarray) -> tuple[np.ndarray, ...]:
    """A layer's sums after its BPTT loop, in one pass over dL/da (``weight_grads``; CPU only,
    where ``weight_gradients_take``): d_in, d_h (M, G) dL/da's input and hidden parts (one array
    for RNN/LSTM), x (M, I), h (M, P), w_ih (G, I), all C-contiguous. Returns (dL/dW_ih (G, I),
    dL/dW_hh (G, P), Σ d_in (G,), Σ d_h (G,), dL/dx = d_in W_ih (M, I))."""
    M, G = d_in.shape
    I, P = x.shape[1], h.shape[1]
    joint = d_in is d_h
    dx = np.empty((M, I), dtype=d_in.dtype)
    parts = _parallel(M, M * G * (2 * I + P))
    with kernel_launch():
        run = weight_grads.weight_gradients if parts > 1 else weight_grads.weight_gradients_serial
        acc_in, acc_h = run(parts, d_in, d_h, joint, x, h, w_ih, dx)
    if joint:
        return acc_in[:I].T.copy(), acc_in[I:I + P].T.copy(), acc_in[I + P], acc_in[I + P].copy(), dx
    return acc_in[:I].T.copy(), acc_h[:P].T.copy(), acc_in[I], acc_h[P], dx


weight_gradients_take = weight_grads.takes

__all__ = ["DEVICE", "rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward",
           "gru_backward", "matmul", "matmul_tn", "weight_gradients", "weight_gradients_take"]
