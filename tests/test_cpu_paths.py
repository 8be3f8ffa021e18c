"""The CPU backend's paths against PyTorch: serial or split over threads (``PARALLEL_FROM``), the
recurrent product in register tiles (small W_hh, and large W_hh for few rows over enough steps,
transposed views included) or by BLAS, forward and backward, packed input included. float64
within 1e-10 (gradients 1e-8). And the tiles themselves against NumPy, at any shape."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import steprnn as sr
import steprnn.nn as nn
from steprnn.kernels.cpu import backend, jit, simd, tiles
from steprnn.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CLASSES = {"rnn": ("RNN", 1), "lstm": ("LSTM", 4), "gru": ("GRU", 3)}


def _hidden_for_blas(kind: str) -> int:
    """The smallest H whose W_hhᵀ (H, G*H) is past the small-W limit: multiplied in the tiles for few
    rows over enough steps, else by BLAS (``jit.product_in_loop``)."""
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
    # N up to 11: tiles of tiles.TILE_ROWS rows and a remainder, in one chunk and split over threads;
    # H up to 9: G = 9..36 columns, a narrow last panel on every path
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
    assert jit.product_in_loop(w, 16, 16) and not jit.product_in_loop(w, 17, 100)  # 16 float64 rows: LOOP_ROW_BYTES
    assert not jit.product_in_loop(w, 3, 2)  # 6 row-steps: packing W would not pay (PACK_FROM_ROW_STEPS)
    _compare(kind, 3, 3, 2, H, [3, 2, 1], seed=1)  # BLAS
    _compare(kind, 2, 20, 2, H, [2] * 15 + [1] * 5, seed=8)  # BLAS
    _compare(kind, 60, 10, 2, H, None, seed=2)  # tiles: 10 (serial) or 5 (parallel) rows x 60 steps


def test_threshold_is_work_not_rows(monkeypatch):
    """A one-row batch never splits; a large enough batch does."""
    assert backend._parallel(1, 1 << 40) == 1
    assert backend._parallel(64, 0) == 1
    monkeypatch.setattr(backend, "PARALLEL_FROM", 10)
    import numba
    assert backend._parallel(64, 100) == numba.get_num_threads()


def _weight(rng, K: int, G: int, dtype, layout: str) -> np.ndarray:
    """W (K, G) in one of the layouts the kernels get: C, F, a transposed view, every other column."""
    if layout == "C":
        return rng.standard_normal((K, G)).astype(dtype)
    if layout == "F":
        return np.asfortranarray(rng.standard_normal((K, G)).astype(dtype))
    if layout == "T":
        return rng.standard_normal((G, K)).astype(dtype).T
    return rng.standard_normal((K, 2 * G)).astype(dtype)[:, ::2]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 13), K=st.integers(1, 40), G=st.integers(1, 200), dtype=st.sampled_from([np.float32, np.float64]),
       layout=st.sampled_from("CFTS"), seed=st.integers(0, 2**16))
def test_panel_product_is_v_times_w(n, K, G, dtype, layout, seed):
    """``pack_panels`` lays w out panel by panel (zeros past G), aligned; ``panel_product`` adds
    v @ w to ``out`` at any n (eight- and four-row tiles, rows left over two and one at a time, by
    four panels and by one), K and G (a narrow last panel),
    from w of any strides; w and v untouched."""
    rng = np.random.default_rng(seed)
    w = _weight(rng, K, G, dtype, layout)
    v = rng.standard_normal((n, K)).astype(dtype)
    out = rng.standard_normal((n, G)).astype(dtype)
    expected = out.astype(np.float64) + v.astype(np.float64) @ w.astype(np.float64)
    wp = tiles.pack_panels(w)
    P = 2 * simd.VEC_BYTES // np.dtype(dtype).itemsize
    panels = -(-G // P)
    assert wp.shape == (panels * K, P) and wp.ctypes.data % tiles.ALIGN == 0
    padded = np.zeros((K, panels * P), dtype)
    padded[:, :G] = w
    np.testing.assert_array_equal(wp, padded.reshape(K, panels, P).transpose(1, 0, 2).reshape(panels * K, P))
    w_before, v_before = w.copy(), v.copy()
    tiles.panel_product(out, v, wp, np.empty((tiles.TILE_ROWS, P), dtype))
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * (K + 1))
    np.testing.assert_array_equal(w, w_before)
    np.testing.assert_array_equal(v, v_before)


def test_add_times_into_rows_that_are_not_contiguous():
    """``add_times`` into an ``out`` whose rows are strided still adds v @ w (not by the tiles)."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((5, 40))
    v = rng.standard_normal((3, 5))
    base = rng.standard_normal((3, 80))
    out = base[:, ::2]
    expected = out + v @ w
    jit.add_times(out, v, jit.product_plan(w, 3, 1))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(base[:, ::2], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n, K, G, layout, steps, in_loop", [
    (20, 32, 128, "C", 1, True),  # the forward's small W_hhᵀ: the tiles at any number of rows and steps
    (3, 128, 32, "C", 1, True),  # the backward's narrow W_hh for few rows ...
    (16, 128, 32, "C", 1, False),  # ... by BLAS from LOOP_ROWS rows on
    (5, 32, 128, "T", 1, True),  # any strides: packing reads them
    (2, 200, 200, "T", 200, True),  # past IN_LOOP_MAX: the tiles for few rows over enough steps ...
    (2, 200, 200, "C", 100, False),  # ... not for a call too short to pay for packing
    (40, 200, 200, "C", 100, False),  # ... BLAS for more rows (past LOOP_ROW_BYTES)
    (2, 1100, 1000, "C", 1000, False),  # past LARGE_IN_LOOP_MAX: BLAS
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_times_both_branches(n, K, G, layout, steps, in_loop, dtype):
    """``add_times`` adds v @ w to ``out`` on either branch, and takes the branch its rule names."""
    rng = np.random.default_rng(n * K + G)
    w = _weight(rng, K, G, dtype, layout)
    v = rng.standard_normal((n, K)).astype(dtype)
    out = rng.standard_normal((n, G)).astype(dtype)
    expected = out.astype(np.float64) + v.astype(np.float64) @ w.astype(np.float64)
    assert jit.product_in_loop(w, n, steps) == in_loop
    assert jit.loop_takes(K, G, w.itemsize, n, steps) == in_loop  # the same rule, from Python
    plan = jit.product_plan(w, n, steps)
    assert (plan[1].shape[0] > 0) == in_loop and plan[2].shape == ((tiles.TILE_ROWS, plan[1].shape[1]) if in_loop else (n, G))
    w_before, v_before = w.copy(), v.copy()
    jit.add_times(out, v, plan)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * K)
    np.testing.assert_array_equal(w, w_before)
    np.testing.assert_array_equal(v, v_before)


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_many_rows_narrow_backward_product_by_blas(kind, policy):
    # N = 20 rows: the backward's dL/da W_hh (narrow W_hh) by BLAS, the forward's in the tiles
    assert not jit.product_in_loop(np.zeros((4 * 7, 7)), 20, 3) and jit.LOOP_ROWS <= 20
    _compare(kind, 3, 20, 2, 7, [3] * 12 + [2] * 5 + [1] * 3, seed=3)
    _compare(kind, 2, 20, 3, 5, None, seed=4)


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_input_projection_in_the_loop_or_before_it(kind, policy):
    """W_ih x_t is multiplied in the time loop where W_ih is small (``jit.input_in_loop``), else for
    all steps before it; both give PyTorch's numbers, forward and backward."""
    H = 5
    G = CLASSES[kind][1] * H
    wide = jit.IN_LOOP_MAX // G + 1  # the smallest I whose W_ihᵀ (I, G) is past the in-loop limit
    assert jit.input_in_loop(np.zeros((3, G)), 2, 1)
    assert not jit.input_in_loop(np.zeros((wide, G)), 2, 1)  # past the small-W limit, a short call
    big = np.zeros((300, 300), np.float32)  # past the small-W limit: the loop for few rows over enough steps
    assert jit.input_in_loop(big, 16, 100) and not jit.input_in_loop(big, 17, 100)
    assert not jit.input_in_loop(big, 16, 10) and jit.product_in_loop(big, 32, 100)
    assert jit.projected_inputs(2, np.ones((8, 300), np.float32), big, np.zeros(300, np.float32),
                                np.zeros(300, np.float32), 300, jit.chunk_bounds(40, 2), 100).shape == (8, 300)
    x = np.ones((6, 3))
    assert jit.project_serial(x, np.zeros((3, G)), np.zeros(G), np.zeros(G), G, 4, 1).shape == (0, G)
    assert jit.project_serial(x, np.asfortranarray(np.zeros((3, G))), np.zeros(G), np.zeros(G), G, 4, 1).shape == (0, G)
    x = np.ones((6, wide))
    assert jit.project_serial(x, np.zeros((wide, G)), np.zeros(G), np.zeros(G), G, 4, 1).shape == (6, G)
    _compare(kind, 3, 4, 3, H, None, seed=5)
    _compare(kind, 3, 4, 3, H, [3, 2, 2, 1], seed=6)
    _compare(kind, 3, 4, wide, H, [3, 2, 2, 1], seed=7)


@pytest.mark.parametrize("kind, H", [("lstm", 128), ("gru", 148), ("rnn", 256)])
def test_large_layers_whose_weights_are_views_packed_for_the_tiles(kind, H, policy):
    # W_hh past _weights.VIEW_FROM (it reaches the kernels as a transposed view), 40 steps of 8-16
    # rows: packed into panels for the tiles, forward and backward
    from steprnn import _weights
    assert CLASSES[kind][1] * H * H >= _weights.VIEW_FROM
    assert jit.loop_takes(H, CLASSES[kind][1] * H, 8, 16, 40) and jit.loop_takes(H, CLASSES[kind][1] * H, 8, 8, 40)
    _compare(kind, 40, 16, 3, H, None, seed=9)


@settings(max_examples=40, deadline=None)
@given(M=st.integers(1, 150), G=st.integers(1, 100), I=st.integers(1, 12), P=st.integers(1, 20),
       joint=st.booleans(), parts=st.sampled_from([1, 2, 3]), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_weight_gradients_are_the_sums_over_rows(M, G, I, P, joint, parts, dtype, seed):
    """``weight_grads.weight_gradients`` gives d_inᵀ [x | 1], d_hᵀ [h | 1] (one [x | h | 1] when the
    two parts are one array) and d_in W_ih at any rows (blocks and threads' chunks not multiples of
    anything), G (a narrow last panel), K = I + P + 1 (tiles of eight, of four, the columns left), on
    one thread (the serial kernel) or several; its inputs untouched."""
    from steprnn.kernels.cpu import weight_grads
    rng = np.random.default_rng(seed)
    d_in = rng.standard_normal((M, G)).astype(dtype)
    d_h = d_in if joint else rng.standard_normal((M, G)).astype(dtype)
    x, h = rng.standard_normal((M, I)).astype(dtype), rng.standard_normal((M, P)).astype(dtype)
    w_ih = rng.standard_normal((G, I)).astype(dtype)
    before = [a.copy() for a in (d_in, d_h, x, h, w_ih)]
    dx = np.full((M, I), np.nan, dtype)
    run = weight_grads.weight_gradients_serial if parts == 1 else weight_grads.weight_gradients
    acc_in, acc_h = run(parts, d_in, d_h, joint, x, h, w_ih, dx)
    D_in, D_h = d_in.astype(np.float64), d_h.astype(np.float64)
    ones = np.ones((M, 1))
    if joint:
        expected_in = D_in.T @ np.concatenate([x, h, ones], axis=1)
        assert acc_h.shape == (0, G)
    else:
        expected_in = D_in.T @ np.concatenate([x, ones], axis=1)
        np.testing.assert_allclose(acc_h.T, D_h.T @ np.concatenate([h, ones], axis=1),
                                   rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-4 if dtype == np.float32 else 1e-11)
    tol = (1e-5, 1e-4) if dtype == np.float32 else (1e-12, 1e-11)
    np.testing.assert_allclose(acc_in.T, expected_in, rtol=tol[0], atol=tol[1] * M ** 0.5)
    np.testing.assert_allclose(dx, D_in @ w_ih, rtol=tol[0], atol=tol[1] * G ** 0.5)
    for a, b in zip((d_in, d_h, x, h, w_ih), before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", sorted(CLASSES))
@pytest.mark.parametrize("tiles_take", [True, False])
def test_weight_gradients_by_tiles_or_by_blas(kind, tiles_take, policy, monkeypatch):
    """A layer's weight, bias and input gradients are PyTorch's whichever way they are made: in one
    pass of the tiles (``weight_grads.takes``) or as BLAS products, packed input included."""
    from steprnn.kernels.cpu import weight_grads
    monkeypatch.setattr(weight_grads, "ACCUMULATOR_BYTES_MAX", 1 << 40 if tiles_take else 0)
    assert backend.weight_gradients_take(4, 3, 5, 8) is tiles_take
    _compare(kind, 9, 70, 3, 5, None, seed=4)
    _compare(kind, 4, 6, 13, 7, [4, 4, 3, 2, 2, 1], seed=5)
