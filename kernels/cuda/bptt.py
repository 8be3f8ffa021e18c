"""What a backward pass needs around the recurrence kernels, kept on the GPU.

On the CPU the dispatcher does these with NumPy (``previous_states``, ``d_gi.sum(axis=0)``,
``o * tanh(c)``); on CUDA they are small elementwise kernels so that nothing leaves the device
between the forward's records and the parameter gradients. Arguments are C-contiguous device
arrays; results are new device arrays.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .jit import elementwise_grid, for_dtype

__all__ = ["previous_states", "column_sums", "cell_outputs", "previous_kernel", "column_sums_kernel",
           "cell_outputs_kernel"]


def previous_kernel(dt):
    """The kernel of ``previous_states`` (element type ``dt`` fixed per build)."""

    @cuda.jit
    def previous(hs, h0, active, reverse, out):
        """out[t, b] = the state step t of row b read: hs (T, N, W), h0 (N, W), active (T,), out (T, N, W)."""
        i = cuda.grid(1)
        T, N, W = hs.shape
        if i >= T * N * W:
            return
        t = i // (N * W)
        b = (i // W) % N
        k = i % W
        if reverse:
            # a row starts at its last step: t = T-1, or the first t at which it is active
            starts = t == T - 1 or b >= active[t + 1]
            out[t, b, k] = h0[b, k] if starts else hs[t + 1, b, k]
        else:
            # rows active at t were active at t-1 (lengths sorted decreasing)
            out[t, b, k] = h0[b, k] if t == 0 else hs[t - 1, b, k]

    return previous


def column_sums_kernel(dt):
    """The kernel of ``column_sums``."""

    @cuda.jit
    def column_sums_(a, out):
        """out[j] = Σ_m a[m, j]: a (M, G), M >= 1, out (G,); thread j walks column j (coalesced across j)."""
        j = cuda.grid(1)
        M, G = a.shape
        if j >= G:
            return
        acc = a[0, j]
        for m in range(1, M):
            acc += a[m, j]
        out[j] = acc

    return column_sums_


def cell_outputs_kernel(dt):
    """The kernel of ``cell_outputs``."""

    @cuda.jit
    def cell_outputs_(gates, cells, active, out):
        """out[q, j] = o ⊙ tanh(c): gates (T, N*4H) i|f|g|o, cells (T, N*H), active (T,), out (T*N, H);
        0 at the steps a row does not take (whatever the records hold there)."""
        i = cuda.grid(1)
        M, H = out.shape
        if i >= M * H:
            return
        q = i // H
        j = i % H
        N = cells.shape[1] // H
        r = q // N
        b = q % N
        if b >= active[r]:
            out[q, j] = 0
            return
        # m_t = o_t ⊙ tanh(c_t): the input of the projection h_t = W_hr m_t
        out[q, j] = gates[r, b * 4 * H + 3 * H + j] * math.tanh(cells[r, b * H + j])

    return cell_outputs_


def _grid(n: int) -> tuple[int, int]:
    return elementwise_grid(n)


def previous_states(hs, h0, active, reverse, stream=0):
    """(T, N, W): the state each step read (h_{t-1}, or h_{t+1} in reverse; h_0 where a row starts).

    hs (T, N, W) the states a forward wrote; h0 (N, W); active (T,) int64; as ``_dispatch.previous_states``.
    """
    out = cuda.device_array(hs.shape, dtype=hs.dtype, stream=stream)
    if out.size:
        for_dtype(previous_kernel, hs.dtype)[_grid(out.size) + (stream,)](hs, h0, active, reverse, out)
    return out


def column_sums(a, stream=0):
    """(G,) the sum of the rows of a (M, G): bias gradients, Σ over all steps and rows of dL/da."""
    if a.shape[0] == 0:
        return cuda.to_device(np.zeros(a.shape[1], dtype=a.dtype), stream=stream)
    out = cuda.device_array(a.shape[1], dtype=a.dtype, stream=stream)
    if a.shape[1]:
        for_dtype(column_sums_kernel, a.dtype)[_grid(a.shape[1]) + (stream,)](a, out)
    return out


def cell_outputs(gates, cells, H: int, active, stream=0):
    """(T*N, H): m = o ⊙ tanh(c) of every step, from the records gates (T, N*4H) and cells (T, N*H),
    the input of an LSTM projection (its weight gradient is Σ_t dL/dh_t m_tᵀ); 0 at the steps a
    row does not take (``active`` (T,) as in the forward), so records there need no initialising."""
    R = cells.shape[0]
    N = cells.shape[1] // H if H else 0
    out = cuda.device_array((R * N, H), dtype=cells.dtype, stream=stream)
    if out.size:
        for_dtype(cell_outputs_kernel, cells.dtype)[_grid(out.size) + (stream,)](gates, cells, active, out)
    return out
