"""A vectorisable ``exp`` over a contiguous 1-D block, for float32 and float64.

libm's ``exp`` is called element by element (no SVML here), which leaves the gate loops scalar.
This one runs one register of lanes at a time (``simd.vexp``; LLVM's own vectoriser would stop at
256 bits on an AVX-512 CPU), the block's last elements by a loop that LLVM vectorises: Cody–Waite range reduction
``x = k ln2 + r`` (|r| <= ln2 / 2), a Taylor polynomial for ``e^r``, and ``2^k`` assembled from its
exponent bits. Error: under 2 ulp in float64 and 1 ulp in float32 (checked in the tests
against ``np.exp``). NaN in gives NaN out; ±inf give inf and 0. Within about one unit of the ends of the range
(|x| > 87 in float32, > 708 in float64) the result may already be inf or 0: no gate can tell.

Compiled without ``reassoc``: reassociation would fold ``x - k ln2_hi - k ln2_lo`` back into one
product and lose the extra precision of the split constant.
"""
import numpy as np
from numba import njit, types
from numba.extending import intrinsic, overload

from ..cache import ENABLED as CACHE
from .simd import lanes, vexp, vload1, vstore1

EXP_FLAGS = {"contract", "afn", "nsz", "arcp"}
EXP_JIT = dict(cache=CACHE, nogil=True, error_model="numpy", fastmath=EXP_FLAGS)


@intrinsic
def _as_float(typingctx, bits):
    """The float whose bits are ``bits`` (int32 → float32, int64 → float64): LLVM's ``bitcast``,
    which vectorises and types in microseconds (``ndarray.view`` costs a second of compile)."""
    to = {types.int32: types.float32, types.int64: types.float64}.get(bits)
    if to is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(to))

    return to(bits), codegen


def _exp_block(x):
    """Interpreted fallback, run only under ``NUMBA_DISABLE_JIT=1`` (compiled code uses the overload below)."""
    with np.errstate(over="ignore", under="ignore"):
        np.exp(x, out=x)


@overload(_exp_block, inline="always", fastmath=EXP_FLAGS)
def _exp_block_impl(x):
    if x.dtype == types.float64:
        def impl(x):
            """x ← e^x over a block: e^r by its polynomial, times 2^k assembled from exponent bits."""
            for i in range(x.shape[0]):
                v = x[i]
                v = -709.0 if v < -709.0 else v  # below: 2^k = 0, e^x flushes to 0
                v = 710.0 if v > 710.0 else v  # above: 2^k = inf
                k = np.floor(v * 1.4426950408889634 + 0.5)
                r = v - k * 0.6931471803691238  # ln2_hi
                r = r - k * 1.9082149292705877e-10  # ln2_lo
                p = 1.0 / 479001600.0
                p = p * r + 1.0 / 39916800.0
                p = p * r + 1.0 / 3628800.0
                p = p * r + 1.0 / 362880.0
                p = p * r + 1.0 / 40320.0
                p = p * r + 1.0 / 5040.0
                p = p * r + 1.0 / 720.0
                p = p * r + 1.0 / 120.0
                p = p * r + 1.0 / 24.0
                p = p * r + 1.0 / 6.0
                p = p * r + 0.5
                p = p * r + 1.0
                p = p * r + 1.0
                x[i] = p * _as_float((np.int64(k) + 1023) << 52)
        return impl
    if x.dtype == types.float32:
        def impl(x):
            for i in range(x.shape[0]):
                v = x[i]
                v = np.float32(-88.0) if v < np.float32(-88.0) else v  # below: 2^k = 0
                v = np.float32(89.0) if v > np.float32(89.0) else v  # above: 2^k = inf
                k = np.floor(v * np.float32(1.442695) + np.float32(0.5))
                r = v - k * np.float32(0.693359375)  # ln2_hi
                r = r - k * np.float32(-2.12194440e-4)  # ln2_lo
                p = np.float32(1.0 / 5040.0)
                p = p * r + np.float32(1.0 / 720.0)
                p = p * r + np.float32(1.0 / 120.0)
                p = p * r + np.float32(1.0 / 24.0)
                p = p * r + np.float32(1.0 / 6.0)
                p = p * r + np.float32(0.5)
                p = p * r + np.float32(1.0)
                p = p * r + np.float32(1.0)
                x[i] = p * _as_float(np.int32((np.int32(k) + np.int32(127)) << np.int32(23)))  # Numba widens int32 sums
        return impl
    return None


@njit(**EXP_JIT)
def exp_inplace(x):
    """x ← e^x over a contiguous 1-D float block (float32 or float64): one register of lanes at a
    time (``simd.vexp``, the same method), the last few elements by the loop above."""
    L = lanes(x)
    i = 0
    while i + L <= x.shape[0]:
        vstore1(x, i, vexp(vload1(x, i)))
        i += L
    _exp_block(x[i:])
