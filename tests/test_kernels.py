"""The kernels' building blocks: the vectorised exp, batch chunking, packed steps."""
from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import steprnn.nn as nn
from steprnn.kernels.cpu.jit import chunk_bounds
from steprnn.kernels.cpu.vexp import exp_inplace


@pytest.mark.parametrize("dtype,ulps", [(np.float32, 1.0), (np.float64, 2.0)])
def test_vexp_accuracy_over_the_whole_range(dtype, ulps):
    info = np.finfo(dtype)
    # within half a binade of the ends, 2^k leaves the normal range: e^x flushes to 0 or goes to inf
    lo, hi = np.log(info.tiny) + 1, np.log(info.max) - 1
    x = np.concatenate([np.linspace(lo, hi, 200_001), np.random.default_rng(0).standard_normal(10_000) * 4]).astype(dtype)
    y = x.copy()
    exp_inplace(y)
    ref = np.exp(x.astype(np.float64))
    ok = (ref > info.tiny) & (ref < info.max)
    rel = np.abs(y[ok].astype(np.float64) - ref[ok]) / ref[ok]
    assert rel.max() <= ulps * info.eps, f"max error {rel.max() / info.eps:.2f} ulp"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vexp_special_values(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, 1e4, -1e4, 1.0], dtype=dtype)
    y = x.copy()
    exp_inplace(y)
    assert np.isnan(y[0])
    assert y[1] == np.inf and y[4] == np.inf
    assert y[2] == 0.0 and y[5] == 0.0
    assert y[3] == 1.0
    np.testing.assert_allclose(y[6], np.e, rtol=2 * np.finfo(dtype).eps)


def test_vexp_works_on_a_slice_and_leaves_the_rest_alone():
    x = np.linspace(-3, 3, 20)
    y = x.copy()
    exp_inplace(y[5:15])
    np.testing.assert_allclose(y[5:15], np.exp(x[5:15]), rtol=2 * np.finfo(x.dtype).eps)
    np.testing.assert_array_equal(y[:5], x[:5])
    np.testing.assert_array_equal(y[15:], x[15:])


@given(n=st.integers(1, 200), parts=st.integers(1, 16))
def test_chunk_bounds_cover_every_row_once(n, parts):
    b = chunk_bounds(n, parts)
    assert b[0] == 0 and b[-1] == n
    assert len(b) - 1 == min(parts, n)
    sizes = np.diff(b)
    assert sizes.min() >= 1 and sizes.max() - sizes.min() <= 1


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_thread_count_does_not_change_results(kind):
    layer = getattr(nn, kind)(5, 7, num_layers=2, bidirectional=True, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((9, 7, 5))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one, _ = layer(x)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many, _ = layer(x)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_allclose(np.asarray(one), np.asarray(many), rtol=0, atol=1e-14)
