"""Large products on NumPy's BLAS split by rows over worker threads (``kernels/cpu/split_products``)."""
from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steprnn.kernels.cpu import backend, split_products


@settings(max_examples=30, deadline=None)
@given(M=st.integers(1, 40), G=st.integers(1, 12), K=st.integers(1, 9), parts=st.integers(1, 3),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_split_products_equal_numpy(M, G, K, parts, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((M, G)).astype(dtype)
    b = rng.standard_normal((M, K)).astype(dtype)
    w = rng.standard_normal((G, K)).astype(dtype)
    a0, b0, w0 = a.copy(), b.copy(), w.copy()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    tn = split_products.matmul_tn(a, b, parts)
    assert tn.shape == (G, K) and tn.dtype == dtype
    np.testing.assert_allclose(tn, a.astype(np.float64).T @ b, rtol=tol, atol=tol * M)
    mm = split_products.matmul(a, w, parts)
    assert mm.shape == (M, K) and mm.dtype == dtype
    np.testing.assert_allclose(mm, a.astype(np.float64) @ w, rtol=tol, atol=tol * G)
    for x, x0 in ((a, a0), (b, b0), (w, w0)):
        np.testing.assert_array_equal(x, x0)


def test_backend_takes_the_split_path_for_large_products(monkeypatch):
    """Above PARALLEL_FROM the backend's products go to the split path and still equal NumPy's."""
    monkeypatch.setattr(backend, "PARALLEL_FROM", 0)
    calls = []
    real = split_products.matmul_tn
    monkeypatch.setattr(split_products, "matmul_tn", lambda a, b, parts: calls.append(parts) or real(a, b, parts))
    monkeypatch.setattr(backend, "matmul_tn", backend._matmul_policy(backend.jit.matmul_tn_serial,
                                                                    split_products.matmul_tn))
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((30, 7)), rng.standard_normal((30, 5))
    np.testing.assert_allclose(backend.matmul_tn(a, b), a.T @ b, rtol=1e-12)
    import numba
    assert calls == ([numba.get_num_threads()] if numba.get_num_threads() > 1 else [])


def _child(queue):
    a = np.arange(12.0).reshape(6, 2)
    queue.put(split_products.matmul_tn(a, a, 2).tolist())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() only")
def test_works_in_a_forked_child_after_the_parent_used_it():
    a = np.arange(12.0).reshape(6, 2)
    split_products.matmul_tn(a, a, 2)  # the parent's pool exists now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue,))
    proc.start()
    got = queue.get(timeout=60)
    proc.join(timeout=60)
    assert proc.exitcode == 0
    np.testing.assert_allclose(got, a.T @ a)
