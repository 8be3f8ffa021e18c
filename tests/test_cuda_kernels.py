"""The CUDA kernels without a GPU: each compiles to PTX for sm_80 and sm_90 (NVVM from numba-cuda),
fits a launch of MAX_THREADS threads (ptxas' register count), and computes what the CPU kernels and
``tests/reference.py`` compute, under Numba's CUDA simulator (``test_cuda_sim.py``, run here in a
subprocess: ``NUMBA_ENABLE_CUDASIM`` must be set before ``numba`` is first imported).
"""
from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import types as pytypes
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

pytest.importorskip("numba_cuda", reason="the CUDA tests need numba-cuda (the test and gpu extras)")

from numba import cuda, int64, types  # noqa: E402

from steprnn.kernels.cuda import bptt, glue, gru, jit, lstm, matmul, rnn  # noqa: E402
from steprnn.kernels.cuda.jit import MAX_THREADS, numba_type  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CCS = [(8, 0), (9, 0)]


def kernel_arg_types(dt) -> dict:
    """Each kernel factory → the Numba types of its arguments, as a launch with C-contiguous device
    arrays of element type ``dt`` (and Python bools) types them."""
    A1, A2, A3 = dt[::1], dt[:, ::1], dt[:, :, ::1]
    I1, B = int64[::1], types.boolean
    T = types.Tuple
    return {
        matmul.gemm_kernel: (A2, A2, A1, B, A2),
        rnn.forward_kernel: (A2, A2, A1, I1, B, B, B, A3, A2, A2),
        rnn.backward_kernel: (A2, B, I1, B, B, T((A2, A3)), T((A3, A2)), T((A2, A2, A3))),
        lstm.forward_kernel: (A2, A2, A2, A1, I1, B, B, A3, T((A2, A2)), T((A2, A2, A2))),
        lstm.backward_kernel: (A2, A2, B, I1, B, T((A2, A2)), T((A3, A3)), T((A3, A2, A2)),
                               T((A2, A2, A2, A3, A3))),
        gru.forward_kernel: (A2, A2, A1, I1, B, B, A3, A2, T((A2, A2))),
        gru.backward_kernel: (A2, B, I1, B, T((A2, A2)), A3, T((A3, A2)), T((A2, A2, A2, A3))),
        jit.fill_kernel: (A1, types.float64),
        bptt.previous_kernel: (A3, A2, I1, B, A3),
        bptt.column_sums_kernel: (A2, A1),
        bptt.cell_outputs_kernel: (A2, A2, I1, A2),
    }


KERNELS = list(kernel_arg_types(numba_type(np.float32)))


def layer_arg_types(dt) -> dict:
    """The launches the layers add (``nn/rnn_cuda.py`` through ``_dispatch``): the glue kernels, and the
    kernels above with a strided ``hs`` (one direction's half of a bidirectional output) → argument types."""
    A1, A2, A3 = dt[::1], dt[:, ::1], dt[:, :, ::1]
    S1, S2, S3 = (types.Array(dt, n, "A") for n in (1, 2, 3))
    I1, B = int64[::1], types.boolean
    T = types.Tuple
    return {
        "glue.copy1": (glue.copy1_kernel, (S1, A1)),
        "glue.copy2": (glue.copy2_kernel, (S2, A2)),
        "glue.copy2-contiguous": (glue.copy2_kernel, (A2, A2)),
        "glue.copy3": (glue.copy3_kernel, (S3, A3)),
        "glue.swap01": (glue.swap01_kernel, (A3, A3)),
        "glue.add": (glue.add_kernel, (A1, A1, A1)),
        "glue.multiply": (glue.multiply_kernel, (A1, A1, A1)),
        "glue.gather": (glue.gather_kernel, (A3, I1, I1, A2)),
        "glue.scatter": (glue.scatter_kernel, (A2, I1, I1, A3)),
        "glue.take_rows": (glue.take_rows_kernel, (A3, I1, A3)),
        "bptt.previous-strided": (bptt.previous_kernel, (S3, A2, I1, B, A3)),
        "rnn.forward-strided-hs": (rnn.forward_kernel, (A2, A2, A1, I1, B, B, B, S3, A2, A2)),
        "lstm.forward-strided-hs": (lstm.forward_kernel, (A2, A2, A2, A1, I1, B, B, S3, T((A2, A2)),
                                                          T((A2, A2, A2)))),
        "gru.forward-strided-hs": (gru.forward_kernel, (A2, A2, A1, I1, B, B, S3, A2, T((A2, A2)))),
    }


LAYER_LAUNCHES = list(layer_arg_types(numba_type(np.float32)))


def compile_ptx(factory, dtype, cc) -> str:
    """PTX of ``factory``'s kernel for ``dtype`` and compute capability ``cc``, without a GPU.

    numba-cuda asks the current device for its compute capability when it compiles a device
    function (``jit.sigmoid``, ``jit.col_dot`` …) that a kernel calls; with no driver that fails,
    so the question is answered with ``cc`` for the duration of the compilation.
    """
    import numba.cuda.dispatcher as dispatcher

    dt = numba_type(dtype)
    kernel = factory(dt)
    fake = pytypes.SimpleNamespace(compute_capability=cc)
    with mock.patch.object(dispatcher, "get_current_device", lambda: fake):
        ptx, _ = cuda.compile_ptx(kernel.py_func, kernel_arg_types(dt)[factory], cc=cc,
                                  launch_bounds=kernel.targetoptions.get("launch_bounds"))
    return ptx


def _ptxas() -> str | None:
    import nvidia

    for base in nvidia.__path__:
        found = glob.glob(os.path.join(base, "cuda_nvcc", "bin", "ptxas"))
        if found:
            return found[0]
    return None


def _name(factory) -> str:
    return f"{factory.__module__.rsplit('.', 1)[-1]}.{factory.__name__}"


@pytest.mark.parametrize("cc", CCS, ids=lambda cc: f"sm_{cc[0]}{cc[1]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("factory", KERNELS, ids=_name)
def test_kernel_compiles_to_ptx(factory, dtype, cc):
    ptx = compile_ptx(factory, dtype, cc)
    assert f".target sm_{cc[0]}{cc[1]}" in ptx
    assert ".entry" in ptx
    if factory.__name__ in ("forward_kernel", "backward_kernel"):
        # the recurrence kernels size their dynamic shared array at run time from the launch
        assert "%dynamic_smem_size" in ptx, "dynamic shared memory read with a compile-time size"
        assert re.search(rf"\.maxntid {MAX_THREADS}\b", ptx), "no launch bounds"
    if dtype == np.float32:
        # float32 kernels stay in float32: no stray double-precision arithmetic from a constant
        f64 = [line for line in ptx.splitlines() if re.search(r"\b(add|sub|mul|fma|div)\.\w*f64\b", line)]
        assert not f64, f"{_name(factory)} computes in float64: {f64[:3]}"
    ptxas = _ptxas()
    if ptxas is None or cc != CCS[-1]:
        return  # registers per thread barely depend on the architecture: assemble for one
    # ptxas assembles the PTX as the driver would, and says how many registers a thread needs:
    # a launch of MAX_THREADS (or TILE*TILE) threads must fit in the 64K registers of a block
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"steprnn_{_name(factory)}_{np.dtype(dtype)}_{cc[0]}{cc[1]}.ptx"
    path.write_text(ptx)
    try:
        res = subprocess.run([ptxas, "-v", f"-arch=sm_{cc[0]}{cc[1]}", str(path), "-o", os.devnull],
                             capture_output=True, text=True, timeout=120)
    finally:
        path.unlink(missing_ok=True)
    assert res.returncode == 0, res.stderr
    regs = [int(r) for r in re.findall(r"Used (\d+) registers", res.stderr)]
    threads = {matmul.gemm_kernel: matmul.TILE ** 2}.get(factory, MAX_THREADS)
    assert regs and max(regs) * threads <= 65536, f"{_name(factory)}: {regs} registers × {threads} threads"


@pytest.mark.parametrize("cc", CCS, ids=lambda cc: f"sm_{cc[0]}{cc[1]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("launch", LAYER_LAUNCHES)
def test_layer_launches_compile_to_ptx(launch, dtype, cc):
    """What the CUDA layers launch beyond the kernel tests above compiles for sm_80 and sm_90."""
    import numba.cuda.dispatcher as dispatcher

    dt = numba_type(dtype)
    factory, argtypes = layer_arg_types(dt)[launch]
    kernel = factory(dt)
    fake = pytypes.SimpleNamespace(compute_capability=cc)
    with mock.patch.object(dispatcher, "get_current_device", lambda: fake):
        ptx, _ = cuda.compile_ptx(kernel.py_func, argtypes, cc=cc,
                                  launch_bounds=kernel.targetoptions.get("launch_bounds"))
    assert f".target sm_{cc[0]}{cc[1]}" in ptx and ".entry" in ptx
    if dtype == np.float32:
        f64 = [line for line in ptx.splitlines() if re.search(r"\b(add|sub|mul|fma|div)\.\w*f64\b", line)]
        assert not f64, f"{launch} computes in float64: {f64[:3]}"


@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.complex64])
def test_kernels_refuse_other_dtypes(dtype):
    with pytest.raises(TypeError, match=f"float32 or float64 arrays, got {np.dtype(dtype)}"):
        jit.for_dtype(lstm.forward_kernel, dtype)


def test_numba_cuda_is_the_active_numba_cuda():
    """numba 0.68 still ships a deprecated built-in numba.cuda; numba-cuda must be the one imported."""
    import numba.cuda

    assert "numba_cuda" in Path(numba.cuda.__file__).parts, numba.cuda.__file__


def test_ptx_compilation_needs_no_gpu():
    """The checks above are meaningful here because no GPU is used: compile_ptx talks to NVVM only."""
    assert compile_ptx(rnn.forward_kernel, np.float32, (8, 0))


def _run_under_simulator(test_file: str):
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / test_file)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_cuda_layers_equal_the_cpu_layers_under_the_simulator():
    """Runs ``test_cuda_layers_sim.py`` (every layer and cell on 'cuda' against the CPU and torch) in a
    fresh interpreter with ``NUMBA_ENABLE_CUDASIM=1``."""
    res = _run_under_simulator("test_cuda_layers_sim.py")
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    assert re.search(r"\d+ passed", res.stdout), res.stdout[-3000:]
    assert "skipped" not in res.stdout.splitlines()[-1], res.stdout[-3000:]


@pytest.mark.slow
def test_cuda_kernels_equal_the_cpu_kernels_under_the_simulator():
    """Runs ``test_cuda_sim.py`` in a fresh interpreter with ``NUMBA_ENABLE_CUDASIM=1``."""
    res = _run_under_simulator("test_cuda_sim.py")
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    assert re.search(r"\d+ passed", res.stdout), res.stdout[-3000:]
    assert "skipped" not in res.stdout.splitlines()[-1], res.stdout[-3000:]
