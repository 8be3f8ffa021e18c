"""SIMD vectors in Numba, one register wide: 16 float32 or 8 float64 lanes with AVX-512, 8 or 4
with AVX2, held in registers.

LLVM's loop vectoriser targets 256-bit registers on these CPUs, even where they have AVX-512, and
it cannot keep a sum in a register across a loop that stores to another array (Numba's arrays may
alias). The register tiles of ``tiles.py`` therefore spell their vectors out: a ``Vec`` is an LLVM
vector value (``<16 x float>`` with AVX-512), loaded from and stored to a row of a 2-D array, and a
local ``Vec`` variable stays in a register for a whole loop. Its width is the CPU's register
(``vector_bytes``, read once at import): the tiles hold eight sums, which fit in the 16 ymm
registers of an AVX2 CPU only as eight single registers.

    L = lanes(a)            lanes of a vector of a's dtype (AVX-512: 16 float32, 8 float64)
    vload(a, i, j)          a[i, j:j+L] as a vector      (a 2-D, its rows contiguous: a.strides[1] == itemsize)
    vstore(a, i, j, v)      a[i, j:j+L] = v
    vsplat(x)               x in every lane (x float32 or float64)
    vzero(a)                zeros of a's dtype
    vfma(x, y, z)           x * y + z, lane by lane, fused (one rounding)
    vadd(x, y), vsub, vmul, vdiv   x + y, x - y, x * y, x / y
    vexp(x)                 e^x by ``vexp.py``'s method (the same constants), lane by lane
    vload1(a, i), vstore1(a, i, v)   the same on a contiguous 1-D array: a[i:i+L]
    aligned_rows(buf, r, c) a (r, c) view of the 1-D buf, its first element on a VEC_BYTES boundary

Nothing checks bounds: callers keep j + L within the row. Each name is a plain function as well,
on NumPy arrays of L elements, which runs under ``NUMBA_DISABLE_JIT=1``.
"""
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, models, overload, register_model

#: CPU names whose model LLVM gives AVX-512 / no AVX at all: what a name decides where the feature
#: list Numba passes (``NUMBA_CPU_FEATURES``) says nothing of the feature
_AVX512_CPUS = {"skylake-avx512", "cascadelake", "cooperlake", "cannonlake", "icelake-client", "icelake-server",
                "tigerlake", "rocketlake", "sapphirerapids", "emeraldrapids", "graniterapids", "graniterapids-d",
                "alderlake-avx512", "znver4", "znver5", "x86-64-v4"}
_NO_AVX_CPUS = {"generic", "x86-64", "x86-64-v2", "core2", "penryn", "nehalem", "westmere", "bonnell",
                "silvermont", "goldmont", "goldmont-plus", "tremont", "btver1", "amdfam10", "k8"}


def vector_bytes() -> int:
    """Bytes in the widest vector register of the CPU Numba compiles for: 64 with AVX-512, 32 with
    AVX (AVX2), else 16. As Numba does: the features are ``NUMBA_CPU_FEATURES`` where set, else
    the host's (also when ``NUMBA_CPU_NAME`` names another CPU); a feature the list does not
    mention is the named CPU model's."""
    from llvmlite import binding
    from numba.core import config

    if config.CPU_FEATURES is not None:
        listed = [f.strip() for f in config.CPU_FEATURES.split(",") if f.strip()]
    else:
        listed = binding.get_host_cpu_features().flatten().split(",")
    name = (binding.get_host_cpu_name() if config.CPU_NAME in (None, "host") else config.CPU_NAME).lower()

    def has(feature: str, by_name: bool) -> bool:
        if f"+{feature}" in listed:
            return True
        return False if f"-{feature}" in listed else by_name

    if has("avx512f", name in _AVX512_CPUS):
        return 64
    return 32 if has("avx", name not in _NO_AVX_CPUS) else 16


#: bytes in one vector: one register (a wider vector would take two registers for each of the
#: tiles' sums, more than an AVX2 CPU has)
VEC_BYTES = vector_bytes()


class Vec(types.Type):
    """A vector of ``VEC_BYTES`` bytes of one float dtype, in registers."""

    def __init__(self, dtype: types.Float) -> None:
        self.dtype = dtype
        self.lanes = VEC_BYTES // (dtype.bitwidth // 8)
        super().__init__(name=f"Vec({dtype} x {self.lanes})")


@register_model(Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.lanes))


_FLOATS = (types.float32, types.float64)


def _float_array(a, ndim: int) -> bool:
    return isinstance(a, types.Array) and a.ndim == ndim and a.dtype in _FLOATS


def _vector_pointer(context, builder, sig, args):
    """Pointer to the vector at a[i] (1-D) or a[i, j] (2-D; row i at i * strides[0]), from an
    intrinsic's (a, i[, j], ...) arguments: the rows' elements are taken to be contiguous."""
    aty = sig.args[0]
    a = context.make_array(aty)(context, builder, args[0])
    item = ir.Constant(ir.IntType(64), aty.dtype.bitwidth // 8)
    i = _index(context, builder, args[1], sig.args[1])
    if aty.ndim == 1:
        offset = builder.mul(i, item)
    else:
        j = _index(context, builder, args[2], sig.args[2])
        offset = builder.add(builder.mul(i, builder.extract_value(a.strides, 0)), builder.mul(j, item))
    byte = builder.gep(builder.bitcast(a.data, ir.IntType(8).as_pointer()), [offset], inbounds=True)
    return builder.bitcast(byte, context.get_value_type(Vec(aty.dtype)).as_pointer())


def _index(context, builder, value, ty):
    return context.cast(builder, value, ty, types.intp)


def _load(context, builder, sig, args):
    return builder.load(_vector_pointer(context, builder, sig, args), align=sig.args[0].dtype.bitwidth // 8)


def _store(context, builder, sig, args):
    builder.store(args[-1], _vector_pointer(context, builder, sig, args), align=sig.args[0].dtype.bitwidth // 8)
    return context.get_dummy_value()


def _integers(*ts) -> bool:
    return all(isinstance(t, types.Integer) for t in ts)


@intrinsic
def _vload(typingctx, a, i, j):
    if not (_float_array(a, 2) and _integers(i, j)):
        return None
    return Vec(a.dtype)(a, i, j), _load


@intrinsic
def _vstore(typingctx, a, i, j, v):
    if not (_float_array(a, 2) and _integers(i, j) and v == Vec(a.dtype)):
        return None
    return types.none(a, i, j, v), _store


@intrinsic
def _vload1(typingctx, a, i):
    if not (_float_array(a, 1) and _integers(i)):
        return None
    return Vec(a.dtype)(a, i), _load


@intrinsic
def _vstore1(typingctx, a, i, v):
    if not (_float_array(a, 1) and _integers(i) and v == Vec(a.dtype)):
        return None
    return types.none(a, i, v), _store


@intrinsic
def _vsplat(typingctx, x):
    if x not in _FLOATS:
        return None
    V = Vec(x)

    def codegen(context, builder, sig, args):
        vt = context.get_value_type(V)
        undef = ir.Constant(vt, ir.Undefined)
        first = builder.insert_element(undef, args[0], ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(first, undef, ir.Constant(ir.VectorType(ir.IntType(32), V.lanes), [0] * V.lanes))

    return V(x), codegen


@intrinsic
def _vzero(typingctx, a):
    if not (isinstance(a, types.Array) and a.dtype in _FLOATS):
        return None
    V = Vec(a.dtype)

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(V), None)

    return V(a), codegen


@intrinsic
def _lanes(typingctx, a):
    if not (isinstance(a, types.Array) and a.dtype in _FLOATS):
        return None
    n = Vec(a.dtype).lanes

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, n)

    return types.intp(a), codegen


@intrinsic
def _aligned_rows(typingctx, buf, rows, cols):
    if not (isinstance(buf, types.Array) and buf.ndim == 1 and buf.layout == "C" and buf.dtype in _FLOATS
            and isinstance(rows, types.Integer) and isinstance(cols, types.Integer)):
        return None
    out_ty = types.Array(buf.dtype, 2, "C")

    def codegen(context, builder, sig, args):
        src = context.make_array(buf)(context, builder, args[0])
        i64 = ir.IntType(64)
        item = context.get_abi_sizeof(context.get_value_type(buf.dtype))
        n_rows = context.cast(builder, args[1], sig.args[1], types.intp)
        n_cols = context.cast(builder, args[2], sig.args[2], types.intp)
        address = builder.ptrtoint(src.data, i64)
        align = ir.Constant(i64, VEC_BYTES)
        skip = builder.urem(builder.sub(align, builder.urem(address, align)), align)  # bytes to the boundary
        data = builder.bitcast(builder.gep(builder.bitcast(src.data, ir.IntType(8).as_pointer()), [skip]),
                               src.data.type)
        out = context.make_array(out_ty)(context, builder)
        item_c = ir.Constant(i64, item)
        context.populate_array(out, data=data, shape=[n_rows, n_cols],
                               strides=[builder.mul(n_cols, item_c), item_c], itemsize=item_c,
                               meminfo=src.meminfo)
        result = out._getvalue()
        context.nrt.incref(builder, out_ty, result)  # the view keeps the buffer alive
        return result

    return out_ty(buf, rows, cols), codegen


def _splat(context, V, value):
    element = context.get_value_type(V.dtype)
    return ir.Constant(ir.VectorType(element, V.lanes), [ir.Constant(element, value)] * V.lanes)


def _call(builder, name, vt, args):
    fn = builder.module.declare_intrinsic(name, (), ir.FunctionType(vt, [vt] * len(args)))
    return builder.call(fn, args)


#: ``vexp``'s constants, as ``vexp.py``'s scalar code has them: the clamps, log2(e), ln 2 split in
#: two, the Taylor coefficients of e^r (highest first), the exponent bias and the mantissa bits
_EXP = {
    32: (-88.0, 89.0, 1.442695, 0.693359375, -2.12194440e-4,
         [1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0], 127, 23),
    64: (-709.0, 710.0, 1.4426950408889634, 0.6931471803691238, 1.9082149292705877e-10,
         [1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0,
          1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0], 1023, 52),
}


@intrinsic
def _vexp(typingctx, x):
    if not isinstance(x, Vec):
        return None
    bits = x.dtype.bitwidth

    def codegen(context, builder, sig, args):
        low, high, log2e, ln2_hi, ln2_lo, taylor, bias, mantissa = _EXP[bits]
        vt = args[0].type
        fma = "llvm.fma.v%df%d" % (x.lanes, bits)
        v = args[0]
        # the clamps as the scalar code has them: NaN fails both comparisons and stays NaN
        v = builder.select(builder.fcmp_ordered("<", v, _splat(context, x, low)), _splat(context, x, low), v)
        v = builder.select(builder.fcmp_ordered(">", v, _splat(context, x, high)), _splat(context, x, high), v)
        # k = floor(x log2 e + 1/2);  r = x - k ln2 (in two parts)
        k = _call(builder, "llvm.floor.v%df%d" % (x.lanes, bits), vt,
                  [_call(builder, fma, vt, [v, _splat(context, x, log2e), _splat(context, x, 0.5)])])
        r = _call(builder, fma, vt, [k, _splat(context, x, -ln2_hi), v])
        r = _call(builder, fma, vt, [k, _splat(context, x, -ln2_lo), r])
        # e^r by its Taylor polynomial (Horner), times 2^k from exponent bits
        p = _splat(context, x, taylor[0])
        for c in taylor[1:]:
            p = _call(builder, fma, vt, [p, r, _splat(context, x, c)])
        it = ir.VectorType(ir.IntType(bits), x.lanes)
        e = builder.add(builder.fptosi(k, it), ir.Constant(it, [ir.Constant(ir.IntType(bits), bias)] * x.lanes))
        e = builder.shl(e, ir.Constant(it, [ir.Constant(ir.IntType(bits), mantissa)] * x.lanes))
        return builder.fmul(p, builder.bitcast(e, vt))

    return x(x), codegen


def _binary(op):
    @intrinsic
    def _vop(typingctx, x, y):
        if not (isinstance(x, Vec) and x == y):
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, op)(args[0], args[1])

        return x(x, y), codegen

    return _vop


_vadd, _vsub, _vmul, _vdiv = _binary("fadd"), _binary("fsub"), _binary("fmul"), _binary("fdiv")


@intrinsic
def _vfma(typingctx, x, y, z):
    if not (isinstance(x, Vec) and x == y == z):
        return None

    def codegen(context, builder, sig, args):
        return _call(builder, f"llvm.fma.v{x.lanes}f{x.dtype.bitwidth}", args[0].type, args)

    return x(x, y, z), codegen


# Plain functions: what the kernels call, interpreted under NUMBA_DISABLE_JIT=1; compiled code
# gets the intrinsics above through the overloads below.

def lanes(a: np.ndarray) -> int:
    """Lanes of a vector of ``a``'s dtype."""
    return VEC_BYTES // a.itemsize


def vload(a: np.ndarray, i: int, j: int) -> np.ndarray:
    """a[i, j:j+L]."""
    return a[i, j:j + lanes(a)].copy()


def vstore(a: np.ndarray, i: int, j: int, v: np.ndarray) -> None:
    """a[i, j:j+L] = v."""
    a[i, j:j + v.shape[0]] = v


def vsplat(x) -> np.ndarray:
    """x in every lane."""
    x = np.asarray(x)
    return np.full(VEC_BYTES // x.itemsize, x, dtype=x.dtype)


def vzero(a: np.ndarray) -> np.ndarray:
    """Zeros of ``a``'s dtype."""
    return np.zeros(lanes(a), dtype=a.dtype)


def vfma(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """x * y + z."""
    return x * y + z


def vadd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x + y."""
    return x + y


def vsub(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x - y."""
    return x - y


def vmul(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x * y."""
    return x * y


def vdiv(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x / y."""
    return x / y


def vexp(x: np.ndarray) -> np.ndarray:
    """e^x, lane by lane, by ``vexp.py``'s method (interpreted: NumPy's exp)."""
    with np.errstate(over="ignore", under="ignore"):
        return np.exp(x)


def vload1(a: np.ndarray, i: int) -> np.ndarray:
    """a[i:i+L] of a contiguous 1-D array."""
    return a[i:i + lanes(a)].copy()


def vstore1(a: np.ndarray, i: int, v: np.ndarray) -> None:
    """a[i:i+L] = v."""
    a[i:i + v.shape[0]] = v


def aligned_rows(buf: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """A (rows, cols) C-contiguous view of the 1-D ``buf`` from its first element on a ``VEC_BYTES``
    boundary (``buf`` needs ``VEC_BYTES // itemsize`` elements to spare)."""
    skip = (-buf.ctypes.data % VEC_BYTES) // buf.itemsize
    return buf[skip:skip + rows * cols].reshape(rows, cols)


@overload(lanes)
def _lanes_impl(a):
    return lambda a: _lanes(a)


@overload(vload)
def _vload_impl(a, i, j):
    return lambda a, i, j: _vload(a, i, j)


@overload(vstore)
def _vstore_impl(a, i, j, v):
    return lambda a, i, j, v: _vstore(a, i, j, v)


@overload(vsplat)
def _vsplat_impl(x):
    return lambda x: _vsplat(x)


@overload(vzero)
def _vzero_impl(a):
    return lambda a: _vzero(a)


@overload(vfma)
def _vfma_impl(x, y, z):
    return lambda x, y, z: _vfma(x, y, z)


@overload(vadd)
def _vadd_impl(x, y):
    return lambda x, y: _vadd(x, y)


@overload(aligned_rows)
def _aligned_rows_impl(buf, rows, cols):
    return lambda buf, rows, cols: _aligned_rows(buf, rows, cols)


@overload(vsub)
def _vsub_impl(x, y):
    return lambda x, y: _vsub(x, y)


@overload(vmul)
def _vmul_impl(x, y):
    return lambda x, y: _vmul(x, y)


@overload(vdiv)
def _vdiv_impl(x, y):
    return lambda x, y: _vdiv(x, y)


@overload(vexp)
def _vexp_impl(x):
    return lambda x: _vexp(x)


@overload(vload1)
def _vload1_impl(a, i):
    return lambda a, i: _vload1(a, i)


@overload(vstore1)
def _vstore1_impl(a, i, v):
    return lambda a, i, v: _vstore1(a, i, v)
