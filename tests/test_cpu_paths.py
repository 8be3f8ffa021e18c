"""The CPU backend's paths against PyTorch: serial or split over threads (``PARALLEL_FROM``), the
recurrent product in the kernels' own loop (small W_hh) or by BLAS (large, and transposed views),
forward and backward, packed input included. float64 within 1e-10 (gradients 1e-8)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import steprnn as sr
import steprnn.nn as nn
from steprnn.kernels.cpu import backend, jit
from steprnn.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CLASSES = {"rnn": ("RNN", 1), "lstm": ("LSTM", 4), "gru": ("GRU", 3)}


def _hidden_for_blas(kind: str) -> int:
    """The smallest H whose W_hhᵀ (H, G*H) is past the small-W limit: multiplied in the loop for few
    rows, by BLAS for more (``jit.product_in_loop``)."""
    g = CLASSES[kind][1]
    h = 1
    while g * h * h <= jit.IN_LOOP_MAX:
        h += 1
    return h


def _compare(kind: str, T: int, N: int, I: int, H: int, lengths: list[int] | None, seed: int) -> None:
    name = CLASSES[kind][0]
    torch.manual_seed(seed)
    t_layer = getattr(torch.nn, name)(I, H).double()
    s_layer = getattr(nn, name)(I, H, dtype=np.float64)
    s_layer.load_state_dict(t_layer.state_dict())
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, I))
    x_before = x.copy()
    xt = torch.from_numpy(x.copy()).requires_grad_()
    xs = sr.tensor(x, requires_grad=True)
    if lengths is None:
        out_t, _ = t_layer(xt)
        out_s, _ = s_layer(xs)
    else:
        packed_t = torch.nn.utils.rnn.pack_padded_sequence(xt, lengths)
        out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(t_layer(packed_t)[0])
        out_s, _ = pad_packed_sequence(s_layer(pack_padded_sequence(xs, lengths))[0])
    w = rng.standard_normal(tuple(out_t.shape))
    (out_t * torch.from_numpy(w)).sum().backward()
    (out_s * sr.tensor(w)).sum().backward()
    np.testing.assert_allclose(out_s.detach().numpy(), out_t.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=0, atol=1e-8)
    for (pname, p_t), p_s in zip(t_layer.named_parameters(), s_layer.parameters()):
        np.testing.assert_allclose(p_s.grad.numpy(), p_t.grad.numpy(), rtol=0, atol=1e-8, err_msg=pname)
    np.testing.assert_array_equal(x, x_before)


@pytest.fixture(params=["serial", "parallel"])
def policy(request, monkeypatch):
    """Run the layers serially (the threshold out of reach) or split over threads (threshold 0)."""
    monkeypatch.setattr(backend, "PARALLEL_FROM", 0 if request.param == "parallel" else 1 << 62)
    return request.param


@pytest.mark.parametrize("kind", sorted(CLASSES))
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_small_hidden_in_loop(kind, policy, data):
    # N up to 11: blocks of jit.ROW_BLOCK rows and a remainder, in one chunk and split over threads
    T, N, I, H = (data.draw(st.integers(1, 6)), data.draw(st.integers(1, 11)), data.draw(st.integers(1, 4)),
                  data.draw(st.integers(1, 9)))
    lengths = None
    if data.draw(st.booleans()):
        lengths = sorted(data.draw(st.lists(st.integers(1, T), min_size=N, max_size=N)), reverse=True)
    _compare(kind, T, N, I, H, lengths, data.draw(st.integers(0, 2**16)))


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_large_hidden_in_loop_or_by_blas(kind, policy):
    H = _hidden_for_blas(kind)
    w = np.zeros((H, CLASSES[kind][1] * H))  # float64, as _compare runs
    assert jit.product_in_loop(w, 3)  # wide (G*H >= 128 columns): the loop for 3 rows
    assert jit.product_in_loop(w, 16) and not jit.product_in_loop(w, 17)  # 16 float64 rows: LOOP_ROW_BYTES
    _compare(kind, 3, 3, 2, H, [3, 2, 1], seed=1)
    _compare(kind, 2, 2, 2, H, None, seed=2)
    _compare(kind, 2, 20, 2, H, [2] * 15 + [1] * 5, seed=8)


def test_threshold_is_work_not_rows(monkeypatch):
    """A one-row batch never splits; a large enough batch does."""
    assert backend._parallel(1, 1 << 40) == 1
    assert backend._parallel(64, 0) == 1
    monkeypatch.setattr(backend, "PARALLEL_FROM", 10)
    import numba
    assert backend._parallel(64, 100) == numba.get_num_threads()


@settings(max_examples=20, deadline=None)
@given(K=st.integers(1, 11), G=st.integers(1, 40), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_add_rows_product_is_four_row_products(K, G, dtype, seed):
    """The register-blocked product of four rows equals four ``add_row_product`` and NumPy's v @ w."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((K, G)).astype(dtype)
    v = rng.standard_normal((4, K)).astype(dtype)
    a = rng.standard_normal((4, G)).astype(dtype)
    blocked, single = a.copy(), a.copy()
    jit.add_rows_product(blocked[0], blocked[1], blocked[2], blocked[3], v[0], v[1], v[2], v[3], w)
    for i in range(4):
        jit.add_row_product(single[i], v[i], w)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(blocked, a + v.astype(np.float64) @ w.astype(np.float64), rtol=0, atol=tol * (K + 1))
    np.testing.assert_allclose(blocked, single, rtol=0, atol=tol * (K + 1))


@pytest.mark.parametrize("n, K, G, order, in_loop", [
    (20, 32, 128, "C", True),  # the forward's wide W_hhᵀ: the loop at any number of rows
    (20, 128, 32, "C", False),  # the backward's narrow W_hh: BLAS from LOOP_ROWS rows on
    (3, 128, 32, "C", True),  # ... and the loop below
    (5, 32, 128, "F", False),  # not C-contiguous: BLAS
    (2, 200, 200, "C", True),  # past IN_LOOP_MAX, wide: the loop for few rows ...
    (40, 200, 200, "C", False),  # ... BLAS for more (past LOOP_ROW_BYTES)
    (2, 1100, 1000, "C", False),  # past LARGE_IN_LOOP_MAX: BLAS
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_times_both_branches(n, K, G, order, in_loop, dtype):
    """``add_times`` adds v @ w to ``out`` on either branch, and takes the branch its rule names."""
    rng = np.random.default_rng(n * K + G)
    w = np.asarray(rng.standard_normal((K, G)).astype(dtype), order=order)
    v = rng.standard_normal((n, K)).astype(dtype)
    out = rng.standard_normal((n, G)).astype(dtype)
    expected = out.astype(np.float64) + v.astype(np.float64) @ w.astype(np.float64)
    assert jit.product_in_loop(w, n) == in_loop
    scratch = np.empty((0 if in_loop else n, G), dtype=dtype)
    w_before, v_before = w.copy(), v.copy()
    jit.add_times(out, v, w, scratch)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * K)
    np.testing.assert_array_equal(w, w_before)
    np.testing.assert_array_equal(v, v_before)


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_many_rows_narrow_backward_product_by_blas(kind, policy):
    # N = 20 rows: the backward's dL/da W_hh (narrow W_hh) goes to BLAS, the forward's stays in the loop
    assert jit.LOOP_ROWS <= 20
    _compare(kind, 3, 20, 2, 7, [3] * 12 + [2] * 5 + [1] * 3, seed=3)
    _compare(kind, 2, 20, 3, 5, None, seed=4)


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_input_projection_in_the_loop_or_before_it(kind, policy):
    """W_ih x_t is multiplied in the time loop where W_ih is small (``jit.input_in_loop``), else for
    all steps before it; both give PyTorch's numbers, forward and backward."""
    H = 5
    G = CLASSES[kind][1] * H
    wide = jit.IN_LOOP_MAX // G + 1  # the smallest I whose W_ihᵀ (I, G) is past the in-loop limit
    assert jit.input_in_loop(np.zeros((3, G)), 2)
    assert not jit.input_in_loop(np.zeros((wide, G)), 2)  # narrow and past the small-W limit
    big = np.zeros((300, 300), np.float32)  # wide, past the small-W limit: the loop for few rows only
    assert jit.input_in_loop(big, 16) and not jit.input_in_loop(big, 17) and jit.product_in_loop(big, 32)
    assert jit.projected_inputs(2, np.ones((8, 300), np.float32), big, np.zeros(300, np.float32),
                                np.zeros(300, np.float32), 300, jit.chunk_bounds(40, 2)).shape == (8, 300)
    x = np.ones((6, 3))
    assert jit.project_serial(x, np.zeros((3, G)), np.zeros(G), np.zeros(G), G, 4).shape == (0, G)
    assert jit.project_serial(x, np.asfortranarray(np.zeros((3, G))), np.zeros(G), np.zeros(G), G, 4).shape == (6, G)
    _compare(kind, 3, 4, 3, H, None, seed=5)
    _compare(kind, 3, 4, 3, H, [3, 2, 2, 1], seed=6)
    _compare(kind, 3, 4, wide, H, [3, 2, 2, 1], seed=7)


def test_a_large_transposed_view_is_copied_where_the_loop_takes_it():
    """``backend._loop_layout``: W_ihᵀ and W_hhᵀ as C copies where W_hhᵀ is a view that the time loop
    would take, for calls long enough to pay for the copy; else the weights as they came."""
    w_ih = np.zeros((1024, 128), np.float32).T  # views, as steprnn._weights passes large parameters
    w_hh = np.zeros((1024, 256), np.float32).T
    w_hr = np.zeros((0, 0), np.float32)
    copied = backend._loop_layout((w_ih, w_hh, w_hr), 100, 16)
    assert all(w.flags.c_contiguous for w in copied[:2]) and copied[2] is w_hr
    np.testing.assert_array_equal(copied[1], w_hh)
    for steps, rows in ((1, 16), (100, 40)):  # too short to pay; too many rows for the loop
        same = backend._loop_layout((w_ih, w_hh, w_hr), steps, rows)
        assert same[0] is w_ih and same[1] is w_hh
    big = np.zeros((2048, 512), np.float32).T  # past COPY_LARGEST_FROM: only for up to 16 rows
    assert backend._loop_layout((w_ih, big), 100, 32)[1] is big
    assert backend._loop_layout((w_ih, big), 100, 16)[1].flags.c_contiguous


@pytest.mark.parametrize("kind, H", [("lstm", 128), ("gru", 148), ("rnn", 256)])
def test_large_layers_whose_weights_are_copied_for_the_loop(kind, H, policy):
    # W_hh past _weights.VIEW_FROM (a view), 26 steps of 10-20 rows: copied for the loop
    from steprnn import _weights
    assert CLASSES[kind][1] * H * H >= _weights.VIEW_FROM
    _compare(kind, 26, 20, 3, H, None, seed=9)
