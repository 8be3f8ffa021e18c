"""Random numbers drawn as PyTorch's CPU generator draws them: same seed, same numbers.

PyTorch's CPU generator is a 32-bit Mersenne Twister (MT19937) seeded with the low 32 bits of the seed
exactly as NumPy's legacy ``RandomState(seed)`` seeds it; :class:`Generator` holds one (NumPy's
``MT19937`` bit generator, whose state we set ourselves). On top of the raw 32-bit draws this module
reproduces ATen's transformations (``aten/src/ATen/core/TransformationHelper.h``,
``DistributionsHelper.h``, ``native/cpu/DistributionTemplates.h``):

=====================  =========================================================================
``uniform``            float32: the low 24 bits of one 32-bit draw times 2⁻²⁴, then ``x*(to-from)+from``
                       in float32; float64: the low 53 bits of a 64-bit draw (two 32-bit draws,
                       first one high) times 2⁻⁵³, in float64.
``normal``             16 elements or more: all uniforms first, then Box–Muller on blocks of 16
                       (``u1 = 1 - x[j]``, ``u2 = x[j+8]``), the last partial block recomputed from 16
                       fresh uniforms; float32 uses the AVX2 kernel's Cephes polynomials
                       (``avx_mathfun.h``), float64 the C library's ``log``/``cos``/``sin``.
                       Fewer than 16: one double Box–Muller pair per two values, the second cached
                       in the generator.
``integers``           ``from + draw % range`` with a 32-bit draw, or a 64-bit one when range ≥ 2³².
``permutation``        the Fisher–Yates swaps of ``randperm_cpu`` (``random() % (n - i)``).
=====================  =========================================================================

``normal_`` on float32 (16 values or more) follows the ATen kernel PyTorch runs on this CPU: the AVX2 one
on x86 CPUs with AVX2 and FMA, AVX-512 ones included (PyTorch's AVX512 build runs that kernel too:
``torch.backends.cpu.get_cpu_capability()`` 'AVX2' or 'AVX512'; both verified bit for bit), the generic
one (C ``logf``/``cosf``/``sinf``) elsewhere: older x86 CPUs, ARM, and PyTorch told
``ATEN_CPU_CAPABILITY=default`` (verified bit for bit against that build on x86).
``STEPRNN_NORMAL_KERNEL=avx2|scalar`` chooses explicitly.
"""
from __future__ import annotations

import math
import os
import struct
import time
from typing import Any

import numpy as np

__all__ = [
    "Generator",
    "manual_seed",
    "seed",
    "initial_seed",
    "get_rng_state",
    "set_rng_state",
    "default_generator",
]

#: The seed PyTorch's default generator starts from (``c10::detail::default_rng_seed_val``).
DEFAULT_SEED = 67280421310721

_N = 624
# PyTorch's CPUGeneratorImplState: seed, left, seeded, next, state[624] (as uint64), normal_x, normal_y,
# normal_rho, normal_is_valid, then next_float_normal_sample and its flag (5056 bytes with padding).
_STATE_FORMAT = f"<QiiQ{_N}Qdddi4xf?3x"
_STATE_BYTES = struct.calcsize(_STATE_FORMAT)


def _mt_key(seed: int) -> np.ndarray:
    """MT19937's ``init_genrand(seed & 0xffffffff)``: the 624-word state PyTorch and NumPy's legacy seeding build."""
    key = np.empty(_N, dtype=np.uint32)
    x = seed & 0xFFFFFFFF
    key[0] = x
    for j in range(1, _N):
        x = (1812433253 * (x ^ (x >> 30)) + j) & 0xFFFFFFFF
        key[j] = x
    return key


def _check_seed(seed: Any, fname: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        try:
            seed = int(seed)  # torch accepts anything int() accepts (a 0-d tensor, a float-looking str fails)
        except (TypeError, ValueError):
            raise TypeError(f"{fname} expected an int, got {type(seed).__name__}") from None
    seed = int(seed)
    if not -(2**63) <= seed < 2**64:
        raise RuntimeError(
            f"Overflow when unpacking long long: {fname} expected a seed in [-2**63, 2**64), got {seed}"
        )
    return seed % 2**64  # negative seeds wrap around, as in PyTorch


class Generator:
    """A PyTorch-compatible CPU random generator (``torch.Generator``): ``Generator().manual_seed(s)``
    draws the very numbers ``torch.Generator().manual_seed(s)`` draws, for every function this module
    documents. Pass it as ``generator=`` to ``sr.rand``, ``sr.randn``, ``sr.randint``, ``sr.randperm``,
    ``sr.multinomial``, ``DataLoader``, ``random_split``, ``RandomSampler``.
    """

    def __init__(self, device: Any = "cpu") -> None:
        if str(device) != "cpu":
            raise RuntimeError(f"steprnn's Generator draws on the CPU only; expected device 'cpu', got {device!r}")
        self.device = device
        self._bits = np.random.MT19937(0)
        self._seed = DEFAULT_SEED
        self._next_double_normal: float | None = None
        self._next_float_normal: float | None = None
        self.manual_seed(DEFAULT_SEED)

    # --- seeding and state ------------------------------------------------------------------------

    def manual_seed(self, seed: int) -> Generator:
        """Reseed (negative seeds wrap modulo 2⁶⁴, as PyTorch's); returns ``self``."""
        self._seed = _check_seed(seed, "manual_seed")
        self._bits.state = {"bit_generator": "MT19937", "state": {"key": _mt_key(self._seed), "pos": _N}}
        self._fresh = True  # PyTorch's ``next`` is 0 right after seeding, 624 after a used-up block
        self._next_double_normal = None
        self._next_float_normal = None
        return self

    def initial_seed(self) -> int:
        """The seed given to the last ``manual_seed`` (or ``seed``)."""
        return self._seed

    def seed(self) -> int:
        """Reseed from the clock and the OS's entropy, as ``torch.Generator.seed``; returns the new seed."""
        s = int.from_bytes(os.urandom(8), "little") ^ time.time_ns()
        self.manual_seed(s % 2**63)
        return self._seed

    def get_state(self) -> Any:
        """The whole state as PyTorch's 5056-byte uint8 Tensor (``CPUGeneratorImplState``): it can be
        passed to ``torch.set_rng_state``, and ``torch.get_rng_state()`` to :meth:`set_state`."""
        from .tensor import Tensor

        st = self._bits.state["state"]
        pos = int(st["pos"])
        nd, nf = self._next_double_normal, self._next_float_normal
        raw = struct.pack(_STATE_FORMAT, self._seed, _N + 1 - pos, 1, 0 if self._fresh else pos,
                          *np.asarray(st["key"], dtype=np.uint64).tolist(),
                          0.0, 0.0 if nd is None else nd, 0.0, int(nd is not None),
                          0.0 if nf is None else nf, nf is not None)
        return Tensor(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state: Any) -> Generator:
        """Restore a state from :meth:`get_state` or ``torch.get_rng_state()``; returns ``self``."""
        data = new_state.detach().numpy() if hasattr(new_state, "detach") else None
        data = np.asarray(getattr(new_state, "_data", new_state) if data is None else data)
        if data.dtype != np.uint8 or data.ndim != 1:
            raise TypeError(f"set_state expected a 1-D uint8 tensor from get_rng_state(), got "
                            f"{data.dtype} of shape {tuple(data.shape)}")
        if data.size != _STATE_BYTES:
            raise RuntimeError(f"Expected either a THGeneratorState of size 5048 or a CPUGeneratorImplState of "
                               f"size {_STATE_BYTES} but found the input RNG state size to be {data.size}")
        fields = struct.unpack(_STATE_FORMAT, data.tobytes())
        seed_, left, _seeded, _next = fields[:4]
        key = np.array(fields[4:4 + _N], dtype=np.uint64)
        _nx, ny, _rho, ny_valid, nf, nf_valid = fields[4 + _N:]
        if not 1 <= left <= _N or np.any(key > 0xFFFFFFFF):
            raise RuntimeError(f"set_state: the state is not a Mersenne Twister state (left={left})")
        self._bits.state = {"bit_generator": "MT19937",
                            "state": {"key": key.astype(np.uint32), "pos": _N + 1 - left}}
        self._seed = seed_
        self._fresh = left == 1 and _next == 0
        self._next_double_normal = ny if ny_valid else None
        self._next_float_normal = nf if nf_valid else None
        return self

    def __repr__(self) -> str:
        return "<steprnn.Generator object>"

    # --- raw draws --------------------------------------------------------------------------------

    def random32(self, n: int) -> np.ndarray:
        """``n`` raw 32-bit draws (``generator->random()``), as uint64 values below 2³²."""
        if n <= 0:
            return np.zeros(0, dtype=np.uint64)
        self._fresh = False
        return self._bits.random_raw(int(n))

    def random64(self, n: int) -> np.ndarray:
        """``n`` 64-bit draws (``generator->random64()``): two 32-bit draws each, the first the high word."""
        raw = self.random32(2 * n).reshape(-1, 2)
        return (raw[:, 0] << np.uint64(32)) | raw[:, 1]

    # --- distributions ----------------------------------------------------------------------------

    def uniform_array(self, shape: Any, low: float = 0.0, high: float = 1.0, dtype: Any = np.float32) -> np.ndarray:
        """U[low, high) of ``shape`` as ``tensor.uniform_(low, high)`` draws it, element by element in order."""
        shape = _shape(shape)
        dt = np.dtype(dtype)
        n = _numel(shape)
        if dt == np.float64:
            x = (self.random64(n) & np.uint64((1 << 53) - 1)).astype(np.float64) * (2.0 ** -53)
            lo, hi = np.float64(low), np.float64(high)
            out = x if (lo, hi) == (0.0, 1.0) else _fma64(x, hi - lo, lo)  # x*(to-from)+from, one rounding
        elif dt in (np.float32, np.float16):
            digits = 24 if dt == np.float32 else 11
            lo, hi = np.float32(low), np.float32(high)
            if dt == np.float16:
                lo, hi = np.float32(np.float16(low)), np.float32(np.float16(high))
            x = (self.random32(n) & np.uint64((1 << digits) - 1)).astype(np.float32) * np.float32(2.0 ** -digits)
            out = x if (lo, hi) == (0.0, 1.0) else _fma32(x, hi - lo, lo)
        else:
            raise RuntimeError(f"\"uniform_kernel_cpu\" not implemented for '{dt.name}': expected a float dtype")
        return out.astype(dt, copy=False).reshape(shape)

    def normal_array(self, shape: Any, mean: float = 0.0, std: float = 1.0, dtype: Any = np.float32) -> np.ndarray:
        """N(mean, std²) of ``shape`` as ``tensor.normal_(mean, std)`` draws it (see the module docstring)."""
        shape = _shape(shape)
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise RuntimeError(f"\"normal_kernel_cpu\" not implemented for '{dt.name}': expected a float dtype")
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        n = _numel(shape)
        if n < 16:
            return self._normal_pairs(n, mean, std).astype(dt).reshape(shape)
        data = self.uniform_array(n, 0.0, 1.0, dt)
        tail = self.uniform_array(16, 0.0, 1.0, dt) if n % 16 else None
        if dt == np.float32 and _normal_kernel() == "avx2":
            fill = _normal_fill_16_avx2
            m, s = np.float32(mean), np.float32(std)
        else:
            fill = _normal_fill_16_libm
            m, s = dt.type(mean), dt.type(std)
        full = n - n % 16
        if full:
            data[:full] = fill(data[:full].reshape(-1, 16), m, s).reshape(-1)
        if tail is not None:
            data[n - 16:] = fill(tail.reshape(1, 16), m, s).reshape(-1)
        return data.reshape(shape)

    def _normal_pairs(self, n: int, mean: float, std: float) -> np.ndarray:
        """``at::normal_distribution<double>`` element by element, with the generator's cached second value."""
        out = np.empty(n, dtype=np.float64)
        for i in range(n):
            if self._next_double_normal is not None:
                ret, self._next_double_normal = self._next_double_normal, None
            else:
                u1, u2 = self.uniform_array(2, 0.0, 1.0, np.float64)
                r = math.sqrt(-2.0 * math.log1p(-float(u2)))
                theta = 2.0 * math.pi * float(u1)
                self._next_double_normal = r * math.sin(theta)
                ret = r * math.cos(theta)
            out[i] = _fma64(ret, float(std), float(mean))
        return out

    def integers_array(self, low: int, high: int, shape: Any) -> np.ndarray:
        """Integers in ``[low, high)`` as ``tensor.random_(low, high)`` draws them (int64)."""
        shape = _shape(shape)
        n = _numel(shape)
        span = int(high) - int(low)
        if span <= 0:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
        raw = self.random64(n) if span >= 2**32 else self.random32(n)
        vals = raw % np.uint64(span)
        out = (vals.astype(np.int64) + np.int64(low)) if low >= 0 or span < 2**63 else _wrap_add(vals, low)
        return out.reshape(shape)

    def random_int64(self, n: int = 1) -> np.ndarray:
        """``torch.empty(n, dtype=torch.int64).random_()``: 64-bit draws modulo 2⁶³."""
        return (self.random64(n) % np.uint64(2**63)).astype(np.int64)

    def permutation(self, n: int) -> np.ndarray:
        """``torch.randperm(n)`` (int64): Fisher–Yates, swap ``i`` with ``i + random() % (n - i)``."""
        n = int(n)
        if n < 0:
            raise RuntimeError(f"randperm expects n >= 0, but got n={n}")
        if n >= (2**32 - 1) // 20:
            raise RuntimeError(f"randperm: n={n} is beyond the sizes steprnn reproduces (below {(2**32 - 1) // 20})")
        perm = np.arange(n, dtype=np.int64)
        if n > 1:
            raw = self.random32(n - 1)
            z = (raw % np.arange(n, 1, -1, dtype=np.uint64)).astype(np.int64)
            _swap_loop(perm, z)
        return perm

    # --- NumPy-Generator-style names (older steprnn code draws through these) ---------------------

    def random(self, size: Any = None, dtype: Any = np.float64) -> Any:
        """U[0, 1) as ``torch.rand`` draws it."""
        out = self.uniform_array(() if size is None else size, 0.0, 1.0, dtype)
        return out[()] if size is None else out

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None, dtype: Any = np.float64) -> Any:
        out = self.uniform_array(() if size is None else size, low, high, dtype)
        return out[()] if size is None else out

    def standard_normal(self, size: Any = None, dtype: Any = np.float64) -> Any:
        out = self.normal_array(() if size is None else size, 0.0, 1.0, dtype)
        return out[()] if size is None else out

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: Any = None, dtype: Any = np.float64) -> Any:
        out = self.normal_array(() if size is None else size, loc, scale, dtype)
        return out[()] if size is None else out

    def integers(self, low: int, high: int | None = None, size: Any = None, dtype: Any = np.int64) -> Any:
        if high is None:
            low, high = 0, low
        out = self.integers_array(int(low), int(high), () if size is None else size).astype(dtype, copy=False)
        return out[()] if size is None else out


def _shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _numel(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def _wrap_add(vals: np.ndarray, low: int) -> np.ndarray:
    return ((vals + np.uint64(low % 2**64)) & np.uint64(2**64 - 1)).view(np.int64)




_JITTED: dict[str, Any] = {}


def _loops() -> Any:
    """``steprnn.kernels.cpu.rng_loops``: the loops below, as plain Python."""
    from .kernels.cpu import rng_loops

    return rng_loops


def _jitted(name: str) -> Any:
    """The loop ``name`` of ``steprnn.kernels.cpu.rng_loops`` compiled by Numba (``cache=True,
    nogil=True``; cached with the kernels), made on first use so that ``import steprnn`` does not
    import Numba; None where Numba cannot be imported."""
    if name not in _JITTED:
        try:
            from numba import njit

            _JITTED[name] = njit(cache=True, nogil=True)(getattr(_loops(), name))
        except Exception:  # pragma: no cover - numba is a dependency; this only guards odd installs
            _JITTED[name] = None
    return _JITTED[name]


def _swap_loop(perm: np.ndarray, z: np.ndarray) -> None:
    # the swaps depend on each other: one compiled loop instead of a Python one for big n
    jit = _jitted("swap_loop") if len(z) > 2000 else None
    (jit or _loops().swap_loop)(perm, z)


# --- Box–Muller blocks of 16 --------------------------------------------------------------------

def _normal_kernel() -> str:
    """Which of ATen's float32 normal kernels PyTorch runs on this CPU: ``'avx2'`` (its AVX2 and AVX512
    builds: x86 CPUs with AVX2 and FMA) or ``'scalar'`` (the generic build: other CPUs, ARM).
    ``STEPRNN_NORMAL_KERNEL=avx2|scalar`` overrides; PyTorch's own ``ATEN_CPU_CAPABILITY`` is honoured."""
    env = os.environ.get("STEPRNN_NORMAL_KERNEL", "").lower()
    if env in ("avx2", "scalar"):
        return env
    aten = os.environ.get("ATEN_CPU_CAPABILITY", "").lower()
    if aten:
        return "avx2" if aten in ("avx2", "avx512") else "scalar"
    return _cpu_default_kernel()


_CPU_KERNEL: list[str] = []


def _cpu_default_kernel() -> str:
    if not _CPU_KERNEL:
        import platform

        kernel = "scalar"
        if platform.machine().lower() in ("x86_64", "amd64"):
            flags: set[str] = set()
            try:
                with open("/proc/cpuinfo") as fh:
                    for line in fh:
                        if line.startswith("flags"):
                            flags = set(line.split(":", 1)[1].split())
                            break
            except OSError:
                flags = {"avx2", "fma"}  # no cpuinfo (macOS, Windows): assume the common AVX2 machine
            if {"avx2", "fma"} <= flags:  # AVX-512 CPUs too: torch's AVX512 build runs the AVX2 kernel
                kernel = "avx2"
        _CPU_KERNEL.append(kernel)
    return _CPU_KERNEL[0]


def _normal_fill_16_libm(u: np.ndarray, mean: Any, std: Any) -> np.ndarray:
    """``normal_fill_16`` of the generic build on rows of 16 uniforms, (N, 16) -> (N, 16): the C library's
    ``log``/``cos``/``sin`` (``logf``/``cosf``/``sinf`` for float32) on each value, then ``r*cos*std + mean``
    as one FMA."""
    dt = u.dtype
    u1 = (dt.type(1) - u[:, :8]).reshape(-1)
    u2 = np.ascontiguousarray(u[:, 8:]).reshape(-1)
    radius, cos_t, sin_t = (np.empty_like(u1) for _ in range(3))
    _box_muller(u1, u2, radius, cos_t, sin_t)
    fma = _fma64 if dt == np.float64 else _fma32
    out = np.empty_like(u)
    out[:, :8] = fma(radius * cos_t, std, mean).reshape(-1, 8)
    out[:, 8:] = fma(radius * sin_t, std, mean).reshape(-1, 8)
    return out




def _box_muller_libm(u1: np.ndarray, u2: np.ndarray, radius: np.ndarray, cos_t: np.ndarray, sin_t: np.ndarray) -> None:
    """``rng_loops.box_muller`` through ctypes, where Numba cannot be imported (slow, same values)."""
    f = "f" if u1.dtype == np.float32 else ""
    radius[...] = np.sqrt(-2.0 * _libm_vec("log" + f)(u1))
    theta = (6.283185307179586 * u2.astype(np.float64)).astype(u1.dtype)
    cos_t[...] = _libm_vec("cos" + f)(theta)
    sin_t[...] = _libm_vec("sin" + f)(theta)


def _box_muller(u1: np.ndarray, u2: np.ndarray, radius: np.ndarray, cos_t: np.ndarray, sin_t: np.ndarray) -> None:
    (_jitted("box_muller") or _box_muller_libm)(u1, u2, radius, cos_t, sin_t)


_LIBM: dict[str, Any] = {}


def _libm_vec(name: str) -> Any:
    """A C math-library function (``log``, ``cosf`` ...) applied element by element (exact libm results)."""
    if name not in _LIBM:
        import ctypes
        import ctypes.util

        lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        fn = getattr(lib, name)
        ct = ctypes.c_float if name.endswith("f") else ctypes.c_double
        fn.restype, fn.argtypes = ct, [ct]
        dt = np.float32 if ct is ctypes.c_float else np.float64
        _LIBM[name] = lambda a, fn=fn, dt=dt: np.frompyfunc(fn, 1, 1)(a).astype(dt)
    return _LIBM[name]


_F = np.float32


def _fma32_numpy(a: Any, b: Any, c: Any) -> np.ndarray:
    """float32 fused multiply-add ``a*b + c`` rounded once, as the FMA instructions GCC emits for ATen.

    The float32 product is exact in float64; the float64 sum's rounding error (TwoSum) settles the one
    case where rounding twice could differ: a float64 sum that lands exactly halfway between two floats.
    """
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    c64 = np.asarray(c, np.float32).astype(np.float64)
    p = a.astype(np.float64) * b.astype(np.float64)
    s = p + c64
    bb = s - p
    err = (p - (s - bb)) + (c64 - bb)
    r = s.astype(np.float32)
    up = np.nextafter(r, _F(np.inf))
    dn = np.nextafter(r, _F(-np.inf))
    r64 = r.astype(np.float64)
    fix_up = (s == (r64 + up.astype(np.float64)) * 0.5) & (err > 0)
    fix_dn = (s == (r64 + dn.astype(np.float64)) * 0.5) & (err < 0)
    return np.where(fix_up, up, np.where(fix_dn, dn, r))




def _fma32(a: Any, b: Any, c: Any) -> np.ndarray:
    """float32 ``a*b + c`` with one rounding (see :func:`_fma32_numpy`); arrays broadcast."""
    a, b, c = np.broadcast_arrays(np.asarray(a, np.float32), np.asarray(b, np.float32), np.asarray(c, np.float32))
    jit = None if a.size < 64 else _jitted("fma32_loop")
    if jit is None:
        return _fma32_numpy(a, b, c)
    out = np.empty(a.shape, dtype=np.float32)
    jit(np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1),
               np.ascontiguousarray(c).reshape(-1), out.reshape(-1))
    return out


def _fma64(a: Any, b: Any, c: Any) -> Any:
    """float64 ``a*b + c`` rounded once, as the C library's ``fma`` (Boldo & Melquiond 2008).

    Dekker's exact product ``p + e == a*b`` and TwoSum ``s + t == p + c``; then ``t + e`` rounded
    to odd, so that the one last rounding of ``s + (t + e)`` is the correct one (plain rounding
    there rounds twice, wrong where ``a*b`` falls on a tie and ``c`` is tiny).
    """
    a, b, c = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), np.asarray(c, dtype=np.float64)
    p = a * b
    t = 134217729.0 * a
    ah = t - (t - a)
    al = a - ah
    t = 134217729.0 * b
    bh = t - (t - b)
    bl = b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl  # p + e == a*b exactly
    s = p + c
    bb = s - p
    t = (p - (s - bb)) + (c - bb)  # s + t == p + c exactly
    u = t + e
    bb = u - t
    err = (t - (u - bb)) + (e - bb)  # u + err == t + e exactly
    even = (np.asarray(u).view(np.int64) & 1) == 0
    u = np.where((err != 0) & even, np.nextafter(u, np.where(err > 0, np.inf, -np.inf)), u)  # round to odd
    out = s + u
    return out if out.ndim else out[()]


# GCC contracts ``a*b`` followed by ``+ c`` into one FMA when the product has no other use; the
# functions below spell out each contraction where ATen's AVX2 build has one.

def _log256_ps(x: np.ndarray) -> np.ndarray:
    """``log256_ps`` of ``avx_mathfun.h`` (Cephes logf polynomial), operation for operation in float32."""
    one = _F(1.0)
    invalid = x <= 0
    x = np.maximum(x, np.array(0x00800000, dtype=np.int32).view(np.float32))
    bits = x.view(np.int32)
    imm0 = (bits.view(np.uint32) >> np.uint32(23)).astype(np.int32)
    x = ((bits & np.int32(~0x7F800000)) | np.array(0.5, dtype=np.float32).view(np.int32)).view(np.float32)
    e = (imm0 - np.int32(0x7F)).astype(np.float32) + one
    mask = x < _F(0.707106781186547524)  # if x < sqrt(1/2): e -= 1, x = x + x - 1 else x = x - 1
    tmp = np.where(mask, x, _F(0.0))
    x = x - one
    e = e - np.where(mask, one, _F(0.0))
    x = x + tmp
    z = x * x
    y = _F(7.0376836292e-2)
    for c in (-1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
              2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1):
        y = _fma32(y, x, _F(c))
    y = y * x
    tmp = e * _F(-2.12194440e-4)
    y = _fma32(y, z, tmp)
    y = _fma32(-z, _F(0.5), y)
    x = _fma32(e, _F(0.693359375), x + y)
    return np.where(invalid, np.float32(np.nan), x)


def _sincos256_ps(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sincos256_ps`` of ``avx_mathfun.h`` (Cephes sinf/cosf), operation for operation in float32."""
    sign_sin = np.signbit(x)
    x = np.abs(x)
    y = x * _F(1.27323954473516)  # 4/pi
    j = y.astype(np.int32)  # truncation, as cvttps
    j = (j + 1) & ~1
    y = j.astype(np.float32)
    swap_sin = (j & 4) != 0
    poly_mask = (j & 2) == 0
    x = _fma32(y, _F(-0.78515625), x)  # extended-precision reduction x - y*pi/4
    x = _fma32(y, _F(-2.4187564849853515625e-4), x)
    x = _fma32(y, _F(-3.77489497744594108e-8), x)
    sign_cos = (~(j - 2) & 4) != 0
    sign_sin = sign_sin ^ swap_sin
    z = x * x
    y = _fma32(_F(2.443315711809948e-005), z, _F(-1.388731625493765e-003))  # cos polynomial
    y = _fma32(y, z, _F(4.166664568298827e-002))
    y = y * z
    y = _fma32(y, z, -(z * _F(0.5)))
    y = y + _F(1.0)
    y2 = _fma32(_F(-1.9515295891e-4), z, _F(8.3321608736e-3))  # sin polynomial
    y2 = _fma32(y2, z, _F(-1.6666654611e-1))
    y2 = y2 * z
    y2 = _fma32(y2, x, x)
    s = np.where(poly_mask, y2, y)
    c = np.where(poly_mask, y, y2)
    return np.where(sign_sin, -s, s), np.where(sign_cos, -c, c)


def _normal_fill_16_avx2(u: np.ndarray, mean: np.float32, std: np.float32) -> np.ndarray:
    """``normal_fill_16_AVX2`` on rows of 16 float32 uniforms: (N, 16) -> (N, 16)."""
    u1 = _F(1.0) - u[:, :8]
    u2 = u[:, 8:]
    radius = np.sqrt(_F(-2.0) * _log256_ps(u1))
    theta = _F(2.0 * math.pi) * u2
    s, c = _sincos256_ps(theta)
    out = np.empty_like(u)
    out[:, :8] = _fma32(radius * c, std, mean)
    out[:, 8:] = _fma32(radius * s, std, mean)
    return out


# --- the global generator ------------------------------------------------------------------------

_default = Generator()


def default_generator() -> Generator:
    """The generator that every random steprnn function draws from unless given ``generator=``."""
    return _default


def manual_seed(seed: int) -> Generator:
    """Reseed steprnn's global generator, as ``torch.manual_seed``; returns the generator."""
    return _default.manual_seed(seed)


def seed() -> int:
    """Reseed the global generator nondeterministically (``torch.seed``); returns the seed."""
    return _default.seed()


def initial_seed() -> int:
    """The global generator's seed (``torch.initial_seed``)."""
    return _default.initial_seed()


def get_rng_state() -> Any:
    """The global generator's state as PyTorch's 5056-byte uint8 Tensor (``torch.get_rng_state``)."""
    return _default.get_state()


def set_rng_state(new_state: Any) -> None:
    """Restore the global generator's state from :func:`get_rng_state` (``torch.set_rng_state``)."""
    _default.set_state(new_state)


def resolve(generator: Any) -> Generator:
    """``generator`` if given (a steprnn or torch-seeded :class:`Generator`), else the global one."""
    if generator is None:
        return _default
    if isinstance(generator, Generator):
        return generator
    raise TypeError(f"generator must be a steprnn.Generator, got {type(generator).__name__}")
