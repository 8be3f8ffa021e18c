"""The recurrent product out += v @ w in register tiles, with w packed once per call into panels.

A GEMM's micro-kernel, written in Numba with explicit vectors (``simd``). ``w`` (K, G) is
copied once per call into panels of ``P = 2 L`` columns (two registers: with AVX-512 32 float32,
16 float64; the last panel padded with zeros), each panel's K rows one after the other:

    wp[p*K + k, c] = w[k, p*P + c]          (wp: (panels*K, P))

so that a tile walks down a panel through contiguous memory (a 32-column strip of a row-major w
would stride by a whole row per k and fight over a few cache sets). A tile of four rows of ``v``
and one panel keeps its 4 x 2 vectors of sums in registers for the whole k loop: per k, two loads
of w, four broadcasts of v, eight fused multiply-adds, nothing stored until the end; with
AVX-512's 32 registers, a tile of eight rows keeps 8 x 2 (``EIGHT_ROWS``) and reads w half as
often. Measured here, one thread, float32 (GMAC/s, four-row tiles / OpenBLAS / the loop they
replace): (32, 32) @ (32, 128) 85 / 44 / 33; (16, 256) @ (256, 1024) 90 / 30 / 57; (32, 128) @
(128, 32) 88 / 72 / -; (1, 32) @ (32, 128) 36 / 28 / 22; eight-row tiles 100, 98, 116, -.

The tiles are written out register by register, one function per shape (four rows, eight rows,
one row, one row by four panels, and the transposed four-column tile of ``transposed_product``):
each sum is its own local variable, which is what keeps it in a register (a loop over rows would
keep the sums in an array, in memory).

Each tile sums from zero and adds the sum to ``out`` once at the end, as a GEMM followed by the
bias would: the sums do not carry ``out``'s larger values through every product.
"""
import numpy as np
from numba import njit

from .options import JIT
from .simd import VEC_BYTES, aligned_rows, lanes, vadd, vfma, vload, vsplat, vstore, vzero

#: rows of ``v`` per tile
TILE_ROWS = 4
#: tiles of eight rows where the CPU has 32 vector registers (AVX-512): w is read half as often
#: (measured, one thread, float32 GMAC/s, 4-row / 8-row tiles: (32, 512) @ (512, 2048) 75 / 85;
#: (16, 256) @ (256, 1024) 85 / 98; (32, 32) @ (32, 128) 84 / 100); an AVX2 CPU has 16
EIGHT_ROWS = VEC_BYTES == 64
#: the tiles and ``panel_product`` allocate nothing: compiled without NRT reference counting, a call
#: no longer pays atomic increments and decrements on each array it is passed (measured: a one-row
#: ``panel_product`` 87-96 ns -> 15-25 ns at K = 10-32, G = 32)
LEAF = dict(JIT, _nrt=False)


@njit(**JIT)
def panel_width(w):
    """Columns per panel: two vectors of w's dtype (AVX-512: 32 float32, 16 float64)."""
    return 2 * lanes(w)


#: the panels start on a vector boundary, so that no vector load of one straddles two cache lines
#: (measured: a start 16 or 32 bytes off, which the allocator gives, cost 1.1-1.3x with AVX-512)
ALIGN = VEC_BYTES


@njit(**JIT)
def pack_panels(w):
    """w (K, G), any strides → its panels (ceil(G / P) * K, P), zero past column G, aligned to a
    cache line."""
    K, G = w.shape
    P = panel_width(w)
    panels = (G + P - 1) // P
    wp = aligned_rows(np.empty(panels * K * P + lanes(w), dtype=w.dtype), panels * K, P)
    for p in range(panels):
        width = min(P, G - p * P)
        for k in range(K):
            for c in range(width):
                wp[p * K + k, c] = w[k, p * P + c]
            for c in range(width, P):
                wp[p * K + k, c] = 0
    return wp


@njit(**LEAF)
def _tile4(out, q, j, v, wp, r0):
    """out[q:q+4, j:j+P] += v[q:q+4] @ panel (rows r0..r0+K-1 of wp)."""
    K = v.shape[1]
    L = lanes(wp)
    a0 = vzero(wp)
    a1, a2, a3 = a0, a0, a0
    b0, b1, b2, b3 = a0, a0, a0, a0
    for k in range(K):
        x = vload(wp, r0 + k, 0)
        y = vload(wp, r0 + k, L)
        s = vsplat(v[q, k])
        a0 = vfma(s, x, a0)
        b0 = vfma(s, y, b0)
        s = vsplat(v[q + 1, k])
        a1 = vfma(s, x, a1)
        b1 = vfma(s, y, b1)
        s = vsplat(v[q + 2, k])
        a2 = vfma(s, x, a2)
        b2 = vfma(s, y, b2)
        s = vsplat(v[q + 3, k])
        a3 = vfma(s, x, a3)
        b3 = vfma(s, y, b3)
    vstore(out, q, j, vadd(vload(out, q, j), a0))
    vstore(out, q, j + L, vadd(vload(out, q, j + L), b0))
    vstore(out, q + 1, j, vadd(vload(out, q + 1, j), a1))
    vstore(out, q + 1, j + L, vadd(vload(out, q + 1, j + L), b1))
    vstore(out, q + 2, j, vadd(vload(out, q + 2, j), a2))
    vstore(out, q + 2, j + L, vadd(vload(out, q + 2, j + L), b2))
    vstore(out, q + 3, j, vadd(vload(out, q + 3, j), a3))
    vstore(out, q + 3, j + L, vadd(vload(out, q + 3, j + L), b3))


@njit(**LEAF)
def _tile8(out, q, j, v, wp, r0):
    """``_tile4`` for eight rows: 16 vectors of sums, two loads of w per eight broadcasts (w read
    half as often: per k 2 loads, 8 broadcasts, 16 fused multiply-adds). Needs 19 vector registers:
    only where the CPU has 32 (AVX-512, ``EIGHT_ROWS``)."""
    K = v.shape[1]
    L = lanes(wp)
    a0 = vzero(wp)
    a1, a2, a3, a4, a5, a6, a7 = a0, a0, a0, a0, a0, a0, a0
    b0, b1, b2, b3, b4, b5, b6, b7 = a0, a0, a0, a0, a0, a0, a0, a0
    for k in range(K):
        x = vload(wp, r0 + k, 0)
        y = vload(wp, r0 + k, L)
        s = vsplat(v[q, k])
        a0 = vfma(s, x, a0)
        b0 = vfma(s, y, b0)
        s = vsplat(v[q + 1, k])
        a1 = vfma(s, x, a1)
        b1 = vfma(s, y, b1)
        s = vsplat(v[q + 2, k])
        a2 = vfma(s, x, a2)
        b2 = vfma(s, y, b2)
        s = vsplat(v[q + 3, k])
        a3 = vfma(s, x, a3)
        b3 = vfma(s, y, b3)
        s = vsplat(v[q + 4, k])
        a4 = vfma(s, x, a4)
        b4 = vfma(s, y, b4)
        s = vsplat(v[q + 5, k])
        a5 = vfma(s, x, a5)
        b5 = vfma(s, y, b5)
        s = vsplat(v[q + 6, k])
        a6 = vfma(s, x, a6)
        b6 = vfma(s, y, b6)
        s = vsplat(v[q + 7, k])
        a7 = vfma(s, x, a7)
        b7 = vfma(s, y, b7)
    vstore(out, q, j, vadd(vload(out, q, j), a0))
    vstore(out, q, j + L, vadd(vload(out, q, j + L), b0))
    vstore(out, q + 1, j, vadd(vload(out, q + 1, j), a1))
    vstore(out, q + 1, j + L, vadd(vload(out, q + 1, j + L), b1))
    vstore(out, q + 2, j, vadd(vload(out, q + 2, j), a2))
    vstore(out, q + 2, j + L, vadd(vload(out, q + 2, j + L), b2))
    vstore(out, q + 3, j, vadd(vload(out, q + 3, j), a3))
    vstore(out, q + 3, j + L, vadd(vload(out, q + 3, j + L), b3))
    vstore(out, q + 4, j, vadd(vload(out, q + 4, j), a4))
    vstore(out, q + 4, j + L, vadd(vload(out, q + 4, j + L), b4))
    vstore(out, q + 5, j, vadd(vload(out, q + 5, j), a5))
    vstore(out, q + 5, j + L, vadd(vload(out, q + 5, j + L), b5))
    vstore(out, q + 6, j, vadd(vload(out, q + 6, j), a6))
    vstore(out, q + 6, j + L, vadd(vload(out, q + 6, j + L), b6))
    vstore(out, q + 7, j, vadd(vload(out, q + 7, j), a7))
    vstore(out, q + 7, j + L, vadd(vload(out, q + 7, j + L), b7))


@njit(**LEAF)
def _tile1(out, q, j, v, qv, wp, r0):
    """out[q, j:j+P] += v[qv] @ panel: one row, its k loop split in two chains of sums (even and
    odd k), so that two fused multiply-adds in flight do not wait on each other."""
    K = v.shape[1]
    L = lanes(wp)
    a0 = vzero(wp)
    b0, a1, b1 = a0, a0, a0
    k = 0
    while k + 2 <= K:
        s = vsplat(v[qv, k])
        a0 = vfma(s, vload(wp, r0 + k, 0), a0)
        b0 = vfma(s, vload(wp, r0 + k, L), b0)
        s = vsplat(v[qv, k + 1])
        a1 = vfma(s, vload(wp, r0 + k + 1, 0), a1)
        b1 = vfma(s, vload(wp, r0 + k + 1, L), b1)
        k += 2
    if k < K:
        s = vsplat(v[qv, k])
        a0 = vfma(s, vload(wp, r0 + k, 0), a0)
        b0 = vfma(s, vload(wp, r0 + k, L), b0)
    vstore(out, q, j, vadd(vload(out, q, j), vadd(a0, a1)))
    vstore(out, q, j + L, vadd(vload(out, q, j + L), vadd(b0, b1)))


@njit(**LEAF)
def _tile1x4(out, q, j, v, qv, wp, r0):
    """out[q, j:j+4P] += v[qv] @ four panels side by side (rows r0.., r0+K.., r0+2K.., r0+3K.. of
    wp): one row, eight vectors of sums, enough fused multiply-adds in flight to keep both FMA
    units busy (one row by one panel waits on its sums' latency)."""
    K = v.shape[1]
    L = lanes(wp)
    r1 = r0 + K
    r2 = r1 + K
    r3 = r2 + K
    a0 = vzero(wp)
    b0, a1, b1, a2, b2, a3, b3 = a0, a0, a0, a0, a0, a0, a0
    for k in range(K):
        s = vsplat(v[qv, k])
        a0 = vfma(s, vload(wp, r0 + k, 0), a0)
        b0 = vfma(s, vload(wp, r0 + k, L), b0)
        a1 = vfma(s, vload(wp, r1 + k, 0), a1)
        b1 = vfma(s, vload(wp, r1 + k, L), b1)
        a2 = vfma(s, vload(wp, r2 + k, 0), a2)
        b2 = vfma(s, vload(wp, r2 + k, L), b2)
        a3 = vfma(s, vload(wp, r3 + k, 0), a3)
        b3 = vfma(s, vload(wp, r3 + k, L), b3)
    vstore(out, q, j, vadd(vload(out, q, j), a0))
    vstore(out, q, j + L, vadd(vload(out, q, j + L), b0))
    vstore(out, q, j + 2 * L, vadd(vload(out, q, j + 2 * L), a1))
    vstore(out, q, j + 3 * L, vadd(vload(out, q, j + 3 * L), b1))
    vstore(out, q, j + 4 * L, vadd(vload(out, q, j + 4 * L), a2))
    vstore(out, q, j + 5 * L, vadd(vload(out, q, j + 5 * L), b2))
    vstore(out, q, j + 6 * L, vadd(vload(out, q, j + 6 * L), a3))
    vstore(out, q, j + 7 * L, vadd(vload(out, q, j + 7 * L), b3))


@njit(**LEAF)
def _tile2x4(out, q, j, v, wp, r0):
    """out[q:q+2, j:j+4P] += v[q:q+2] @ four panels side by side: two rows, sixteen vectors of
    sums; per k, eight loads of w for two broadcasts and sixteen fused multiply-adds, so the rows
    left after the four- and eight-row tiles stay bound by the multiply-adds, not by the loads of w
    (one row by four panels: a load per multiply-add). Needs 26 vector registers: only where the
    CPU has 32 (AVX-512, ``EIGHT_ROWS``)."""
    K = v.shape[1]
    L = lanes(wp)
    r1 = r0 + K
    r2 = r1 + K
    r3 = r2 + K
    a0 = vzero(wp)
    b0, c0, d0, e0, f0, g0, h0 = a0, a0, a0, a0, a0, a0, a0
    a1, b1, c1, d1, e1, f1, g1, h1 = a0, a0, a0, a0, a0, a0, a0, a0
    for k in range(K):
        w0 = vload(wp, r0 + k, 0)
        w1 = vload(wp, r0 + k, L)
        w2 = vload(wp, r1 + k, 0)
        w3 = vload(wp, r1 + k, L)
        w4 = vload(wp, r2 + k, 0)
        w5 = vload(wp, r2 + k, L)
        w6 = vload(wp, r3 + k, 0)
        w7 = vload(wp, r3 + k, L)
        s = vsplat(v[q, k])
        a0 = vfma(s, w0, a0)
        b0 = vfma(s, w1, b0)
        c0 = vfma(s, w2, c0)
        d0 = vfma(s, w3, d0)
        e0 = vfma(s, w4, e0)
        f0 = vfma(s, w5, f0)
        g0 = vfma(s, w6, g0)
        h0 = vfma(s, w7, h0)
        s = vsplat(v[q + 1, k])
        a1 = vfma(s, w0, a1)
        b1 = vfma(s, w1, b1)
        c1 = vfma(s, w2, c1)
        d1 = vfma(s, w3, d1)
        e1 = vfma(s, w4, e1)
        f1 = vfma(s, w5, f1)
        g1 = vfma(s, w6, g1)
        h1 = vfma(s, w7, h1)
    vstore(out, q, j, vadd(vload(out, q, j), a0))
    vstore(out, q, j + L, vadd(vload(out, q, j + L), b0))
    vstore(out, q, j + 2 * L, vadd(vload(out, q, j + 2 * L), c0))
    vstore(out, q, j + 3 * L, vadd(vload(out, q, j + 3 * L), d0))
    vstore(out, q, j + 4 * L, vadd(vload(out, q, j + 4 * L), e0))
    vstore(out, q, j + 5 * L, vadd(vload(out, q, j + 5 * L), f0))
    vstore(out, q, j + 6 * L, vadd(vload(out, q, j + 6 * L), g0))
    vstore(out, q, j + 7 * L, vadd(vload(out, q, j + 7 * L), h0))
    vstore(out, q + 1, j, vadd(vload(out, q + 1, j), a1))
    vstore(out, q + 1, j + L, vadd(vload(out, q + 1, j + L), b1))
    vstore(out, q + 1, j + 2 * L, vadd(vload(out, q + 1, j + 2 * L), c1))
    vstore(out, q + 1, j + 3 * L, vadd(vload(out, q + 1, j + 3 * L), d1))
    vstore(out, q + 1, j + 4 * L, vadd(vload(out, q + 1, j + 4 * L), e1))
    vstore(out, q + 1, j + 5 * L, vadd(vload(out, q + 1, j + 5 * L), f1))
    vstore(out, q + 1, j + 6 * L, vadd(vload(out, q + 1, j + 6 * L), g1))
    vstore(out, q + 1, j + 7 * L, vadd(vload(out, q + 1, j + 7 * L), h1))


@njit(**LEAF)
def panel_product(out, v, wp, tail):
    """out += v @ w: out (n, G) with contiguous rows, v (n, K), wp = ``pack_panels(w)``;
    ``tail`` (TILE_ROWS, P) scratch for a last panel narrower than P (its columns go through it).

    Eight rows (``EIGHT_ROWS``), then four, by one panel per tile, panel by panel (a panel stays
    in L1 while the rows pass); the rows left over two at a time by four panels (``EIGHT_ROWS``),
    then one at a time by four panels; the last, narrow panel through ``tail``."""
    n, K = v.shape
    G = out.shape[1]
    P = panel_width(wp)  # a constant of the dtype: the divisions below are shifts
    full = G // P
    n8 = n - n % 8 if EIGHT_ROWS else 0
    n4 = n - n % TILE_ROWS
    for p in range(full):
        for q in range(0, n8, 8):
            _tile8(out, q, p * P, v, wp, p * K)
        for q in range(n8, n4, TILE_ROWS):
            _tile4(out, q, p * P, v, wp, p * K)
    q = n4
    while EIGHT_ROWS and q + 2 <= n and full >= 4:  # two rows at a time, by four panels
        p = 0
        while p + 4 <= full:
            _tile2x4(out, q, p * P, v, wp, p * K)
            p += 4
        while p < full:
            _tile1(out, q, p * P, v, q, wp, p * K)
            _tile1(out, q + 1, p * P, v, q + 1, wp, p * K)
            p += 1
        q += 2
    for q in range(q, n):
        p = 0
        while p + 4 <= full:
            _tile1x4(out, q, p * P, v, q, wp, p * K)
            p += 4
        while p < full:
            _tile1(out, q, p * P, v, q, wp, p * K)
            p += 1
    if full * P == G:
        return
    j = full * P  # the last panel: its columns through ``tail``
    width = G - j
    r0 = full * K
    origin = np.int64(0)  # not the literal 0, which would compile the tiles once more for it
    q = 0
    while q < n:
        rows = min(TILE_ROWS, n - q)
        for a in range(rows):
            for c in range(width):
                tail[a, c] = out[q + a, j + c]
        if rows == TILE_ROWS:
            _tile4(tail, origin, origin, v[q:q + TILE_ROWS], wp, r0)
        else:
            for a in range(rows):
                _tile1(tail, a, origin, v, q + a, wp, r0)
        for a in range(rows):
            for c in range(width):
                out[q + a, j + c] = tail[a, c]
        q += rows


# --- zᵀ a: sums over rows, for the weight gradients (Σ_t dL/da_tᵀ x_t) ----------------------------

@njit(**LEAF)
def _tile4_tn(out, qo, jo, z, q, a, j):
    """out[qo:qo+4, jo:jo+P] += z[:, q:q+4]ᵀ @ a[:, j:j+P] (z and a: the same rows); per row of a,
    two loads, four broadcasts of z, eight fused multiply-adds."""
    L = lanes(a)
    a0 = vzero(a)
    a1, a2, a3 = a0, a0, a0
    b0, b1, b2, b3 = a0, a0, a0, a0
    for m in range(a.shape[0]):
        x = vload(a, m, j)
        y = vload(a, m, j + L)
        s = vsplat(z[m, q])
        a0 = vfma(s, x, a0)
        b0 = vfma(s, y, b0)
        s = vsplat(z[m, q + 1])
        a1 = vfma(s, x, a1)
        b1 = vfma(s, y, b1)
        s = vsplat(z[m, q + 2])
        a2 = vfma(s, x, a2)
        b2 = vfma(s, y, b2)
        s = vsplat(z[m, q + 3])
        a3 = vfma(s, x, a3)
        b3 = vfma(s, y, b3)
    vstore(out, qo, jo, vadd(vload(out, qo, jo), a0))
    vstore(out, qo, jo + L, vadd(vload(out, qo, jo + L), b0))
    vstore(out, qo + 1, jo, vadd(vload(out, qo + 1, jo), a1))
    vstore(out, qo + 1, jo + L, vadd(vload(out, qo + 1, jo + L), b1))
    vstore(out, qo + 2, jo, vadd(vload(out, qo + 2, jo), a2))
    vstore(out, qo + 2, jo + L, vadd(vload(out, qo + 2, jo + L), b2))
    vstore(out, qo + 3, jo, vadd(vload(out, qo + 3, jo), a3))
    vstore(out, qo + 3, jo + L, vadd(vload(out, qo + 3, jo + L), b3))


@njit(**LEAF)
def _tile8_tn(out, qo, jo, z, q, a, j):
    """``_tile4_tn`` for eight columns of z: sixteen vectors of sums, per row of a two loads for
    eight broadcasts and sixteen fused multiply-adds (a read half as often). Needs 19 vector
    registers: only where the CPU has 32 (AVX-512, ``EIGHT_ROWS``)."""
    L = lanes(a)
    a0 = vzero(a)
    a1, a2, a3, a4, a5, a6, a7 = a0, a0, a0, a0, a0, a0, a0
    b0, b1, b2, b3, b4, b5, b6, b7 = a0, a0, a0, a0, a0, a0, a0, a0
    for m in range(a.shape[0]):
        x = vload(a, m, j)
        y = vload(a, m, j + L)
        s = vsplat(z[m, q])
        a0 = vfma(s, x, a0)
        b0 = vfma(s, y, b0)
        s = vsplat(z[m, q + 1])
        a1 = vfma(s, x, a1)
        b1 = vfma(s, y, b1)
        s = vsplat(z[m, q + 2])
        a2 = vfma(s, x, a2)
        b2 = vfma(s, y, b2)
        s = vsplat(z[m, q + 3])
        a3 = vfma(s, x, a3)
        b3 = vfma(s, y, b3)
        s = vsplat(z[m, q + 4])
        a4 = vfma(s, x, a4)
        b4 = vfma(s, y, b4)
        s = vsplat(z[m, q + 5])
        a5 = vfma(s, x, a5)
        b5 = vfma(s, y, b5)
        s = vsplat(z[m, q + 6])
        a6 = vfma(s, x, a6)
        b6 = vfma(s, y, b6)
        s = vsplat(z[m, q + 7])
        a7 = vfma(s, x, a7)
        b7 = vfma(s, y, b7)
    vstore(out, qo, jo, vadd(vload(out, qo, jo), a0))
    vstore(out, qo, jo + L, vadd(vload(out, qo, jo + L), b0))
    vstore(out, qo + 1, jo, vadd(vload(out, qo + 1, jo), a1))
    vstore(out, qo + 1, jo + L, vadd(vload(out, qo + 1, jo + L), b1))
    vstore(out, qo + 2, jo, vadd(vload(out, qo + 2, jo), a2))
    vstore(out, qo + 2, jo + L, vadd(vload(out, qo + 2, jo + L), b2))
    vstore(out, qo + 3, jo, vadd(vload(out, qo + 3, jo), a3))
    vstore(out, qo + 3, jo + L, vadd(vload(out, qo + 3, jo + L), b3))
    vstore(out, qo + 4, jo, vadd(vload(out, qo + 4, jo), a4))
    vstore(out, qo + 4, jo + L, vadd(vload(out, qo + 4, jo + L), b4))
    vstore(out, qo + 5, jo, vadd(vload(out, qo + 5, jo), a5))
    vstore(out, qo + 5, jo + L, vadd(vload(out, qo + 5, jo + L), b5))
    vstore(out, qo + 6, jo, vadd(vload(out, qo + 6, jo), a6))
    vstore(out, qo + 6, jo + L, vadd(vload(out, qo + 6, jo + L), b6))
    vstore(out, qo + 7, jo, vadd(vload(out, qo + 7, jo), a7))
    vstore(out, qo + 7, jo + L, vadd(vload(out, qo + 7, jo + L), b7))


@njit(**LEAF)
def _tile1_tn(out, q, z, a, j):
    """out[q, j:j+P] += z[:, q]ᵀ @ a[:, j:j+P]."""
    L = lanes(a)
    a0 = vzero(a)
    b0 = a0
    for m in range(a.shape[0]):
        s = vsplat(z[m, q])
        a0 = vfma(s, vload(a, m, j), a0)
        b0 = vfma(s, vload(a, m, j + L), b0)
    vstore(out, q, j, vadd(vload(out, q, j), a0))
    vstore(out, q, j + L, vadd(vload(out, q, j + L), b0))


@njit(**LEAF)
def transposed_product(out, z, a, scratch):
    """out += zᵀ a: out (K, G), z (m, K), a (m, G), all with contiguous rows; ``scratch`` (4, P).

    Eight columns of z (``EIGHT_ROWS``), then four, by one panel of a per tile, the rows of a (a
    block that stays in cache) in its k loop. Where K is not a multiple of four, the last tile takes z's last four columns again
    into ``scratch`` and adds only the rows not yet summed; a's columns past the last full panel
    go one by one."""
    K = z.shape[1]
    G = a.shape[1]
    P = panel_width(a)
    full = G // P
    origin = np.int64(0)
    for p in range(full):
        j = p * P
        q = 0
        while EIGHT_ROWS and q + 8 <= K:
            _tile8_tn(out, q, j, z, q, a, j)
            q += 8
        while q + TILE_ROWS <= K:
            _tile4_tn(out, q, j, z, q, a, j)
            q += TILE_ROWS
        if q < K and K >= TILE_ROWS:
            for r in range(TILE_ROWS):
                for c in range(P):
                    scratch[r, c] = 0
            first = K - TILE_ROWS
            _tile4_tn(scratch, origin, origin, z, first, a, j)
            for r in range(q - first, TILE_ROWS):
                for c in range(P):
                    out[first + r, j + c] += scratch[r, c]
        else:
            for r in range(q, K):
                _tile1_tn(out, r, z, a, j)
    for m in range(a.shape[0]):
        for q in range(K):
            s = z[m, q]
            for c in range(full * P, G):
                out[q, c] += s * a[m, c]
