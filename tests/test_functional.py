"""nn.functional, the loss modules, containers and dropout against PyTorch (float64, within 1e-10)."""
from __future__ import annotations

import warnings
import zlib
from collections import OrderedDict

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import steprnn as sr
import steprnn.nn as nn
import steprnn.nn.functional as F

TOL = 1e-10


def S(t, requires_grad=False):
    """A steprnn copy of a torch tensor (same dtype); anything else passes through."""
    if not isinstance(t, torch.Tensor):
        return t
    s = sr.tensor(t.detach().numpy().copy())
    if requires_grad:
        s.requires_grad_(True)
    return s


def close(ours, theirs, what="", tol=TOL):
    ours = ours.data if isinstance(ours, sr.Tensor) else np.asarray(ours)
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != torch's {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != torch's {theirs.dtype}"
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, err_msg=what)


def same_error(torch_call, sr_call):
    """Both raise, with the same exception type and message."""
    with pytest.raises(Exception) as te:
        torch_call()
    with pytest.raises(Exception) as se:
        sr_call()
    assert type(se.value) is type(te.value), f"{type(se.value).__name__}: {se.value} vs torch's " \
                                             f"{type(te.value).__name__}: {te.value}"
    assert str(se.value) == str(te.value)


def run_both(fn_torch, fn_sr, inputs, grad_inputs, seed=0, **kwargs):
    """Call both functions on the same values; backprop the same random upstream gradient; compare
    outputs and the gradients of the inputs listed in ``grad_inputs``."""
    t_args = [x.detach().clone().requires_grad_(i in grad_inputs) if isinstance(x, torch.Tensor) else x
              for i, x in enumerate(inputs)]
    s_args = [S(x, i in grad_inputs) for i, x in enumerate(inputs)]
    t_out = fn_torch(*t_args, **kwargs)
    s_kwargs = {k: S(v) for k, v in kwargs.items()}
    s_out = fn_sr(*s_args, **s_kwargs)
    close(s_out, t_out, "value")
    if grad_inputs:
        g = torch.from_numpy(np.random.default_rng(seed).standard_normal(tuple(t_out.shape)))
        t_out.backward(g)
        s_out.backward(sr.tensor(g.numpy()))
        for i in grad_inputs:
            close(s_args[i].grad, t_args[i].grad, f"grad of input {i}")
    return s_out, t_out


# --- activations -----------------------------------------------------------------------------

float_arrays = hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
                          elements=st.floats(-30, 30, allow_nan=False))


@given(float_arrays)
def test_relu_tanh_sigmoid_values_and_grads(a):
    x = torch.from_numpy(a)
    for name in ("relu", "tanh", "sigmoid"):
        run_both(getattr(TF, name), getattr(F, name), [x], [0])


def test_relu_inplace_changes_input():
    x = sr.tensor([-1.0, 2.0, -3.0], dtype=sr.float64)
    out = F.relu(x, inplace=True)
    assert out is x
    assert x.tolist() == [0.0, 2.0, 0.0]


def test_activation_modules_match_torch():
    x = torch.randn(3, 4, dtype=torch.float64)
    for cls, args in [("ReLU", ()), ("Tanh", ()), ("Sigmoid", ()), ("Softmax", (1,)), ("LogSoftmax", (0,))]:
        t, s = getattr(torch.nn, cls)(*args), getattr(nn, cls)(*args)
        close(s(S(x)), t(x), cls)
        assert repr(s) == repr(t)


# --- softmax and log_softmax -----------------------------------------------------------------

@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5),
                  elements=st.floats(-1e3, 1e3, allow_nan=False)), st.data())
def test_softmax_log_softmax_values_and_grads(a, data):
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    x = torch.from_numpy(a)
    run_both(TF.softmax, F.softmax, [x], [0], dim=dim)
    run_both(TF.log_softmax, F.log_softmax, [x], [0], dim=dim)


EXTREME = [
    [1e4, -1e4, 0.0],
    [710.0, 0.0, -710.0],
    [1e300, -1e300, 5.0],
    [1e308, -1e308, 0.0],
    [-np.inf, 0.0, 1.0],
    [-np.inf, -np.inf, -np.inf],
    [np.inf, 0.0, 1.0],
    [np.nan, 0.0, 1.0],
    [-745.0, -745.5, -800.0],
    [3.0, 3.0, 3.0],
]


@pytest.mark.parametrize("row", EXTREME, ids=[str(r) for r in EXTREME])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_extreme_inputs_match_torch(row, name):
    x = torch.tensor([row, [0.5, -0.5, 2.0]], dtype=torch.float64, requires_grad=True)
    xs = S(x, True)
    t_out = getattr(TF, name)(x, dim=1)
    s_out = getattr(F, name)(xs, dim=1)
    np.testing.assert_allclose(s_out.data, t_out.detach().numpy(), rtol=1e-12, atol=TOL, equal_nan=True)
    g = torch.tensor([[1.0, -2.0, 0.5], [0.25, 1.0, -1.0]], dtype=torch.float64)
    t_out.backward(g)
    s_out.backward(sr.tensor(g.numpy()))
    np.testing.assert_allclose(xs.grad.data, x.grad.numpy(), rtol=1e-12, atol=TOL, equal_nan=True)


def test_log_softmax_is_stable_where_the_naive_formula_is_not():
    x = sr.tensor([[1000.0, 0.0, -1000.0]], dtype=sr.float64)
    out = F.log_softmax(x, dim=1)
    np.testing.assert_allclose(out.data, [[0.0, -1000.0, -2000.0]], rtol=1e-15)
    assert np.all(np.isfinite(out.data))


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 70), dtype=st.sampled_from([np.float32, np.float64]),
       special=st.sampled_from([None, np.nan, np.inf, -np.inf]), seed=st.integers(0, 2**16))
def test_log_softmax_rows_with_one_large_value_anywhere_match_torch(rows, cols, dtype, special, seed):
    """Each row has one value far above the others (e^x overflows without the shift by the row's
    maximum) at a random column, so the maximum must be found whichever column holds it (the
    compiled loops over rows, ``_by_rows``); a NaN or ±inf in some rows; forward and backward."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((rows, cols)).astype(dtype)
    a[np.arange(rows), rng.integers(0, cols, rows)] = 200.0 if dtype == np.float32 else 1000.0
    if special is not None:
        a[rng.random(rows) < 0.3, rng.integers(0, cols)] = special
    x = torch.from_numpy(a.copy()).requires_grad_(True)
    xs = S(x, True)
    t_out, s_out = TF.log_softmax(x, dim=1), F.log_softmax(xs, dim=1)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(s_out.data, t_out.detach().numpy(), rtol=tol, atol=tol, equal_nan=True)
    g = rng.standard_normal((rows, cols)).astype(dtype)
    t_out.backward(torch.from_numpy(g))
    s_out.backward(sr.tensor(g))
    np.testing.assert_allclose(xs.grad.data, x.grad.numpy(), rtol=tol, atol=tol, equal_nan=True)


def test_softmax_implicit_dim_warns_and_picks_torchs_dim():
    for shape in [(4,), (3, 4), (2, 3, 4), (2, 3, 4, 5)]:
        x = torch.randn(*shape, dtype=torch.float64)
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
            s = F.softmax(S(x))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = TF.softmax(x)
        close(s, t, str(shape))


def test_softmax_dtype_argument_casts_first():
    x = torch.randn(3, 4)
    run_both(TF.softmax, F.softmax, [x], [0], dim=1, dtype=torch.float64)


@settings(max_examples=40, deadline=None)
@given(st.integers(64, 300), st.integers(1, 40), st.booleans(), st.sampled_from([np.float32, np.float64]),
       st.sampled_from(["softmax", "log_softmax"]), st.integers(0, 2**32 - 1))
def test_softmax_over_many_short_rows(rows, c, three_d, dtype, name, seed):
    """Many rows of a short last axis (``_reduced`` goes column by column there): values and
    gradients as PyTorch's, a row holding NaN and a row holding -inf included."""
    rng = np.random.default_rng(seed)
    shape = (4, rows // 4, c) if three_d else (rows, c)
    a = (rng.standard_normal(shape) * 10).astype(dtype)
    flat = a.reshape(-1, c)
    flat[1, 0] = np.nan
    flat[2, -1] = -np.inf
    x = torch.from_numpy(a)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    t_in, s_in = x.clone().requires_grad_(), S(x, True)
    t_out, s_out = getattr(TF, name)(t_in, dim=-1), getattr(F, name)(s_in, dim=-1)
    np.testing.assert_allclose(s_out.data, t_out.detach().numpy(), **tol)
    g = rng.standard_normal(shape).astype(dtype)
    t_out.backward(torch.from_numpy(g))
    s_out.backward(sr.tensor(g))
    np.testing.assert_allclose(s_in.grad.data, t_in.grad.numpy(), **tol)


def test_softmax_bad_input():
    same_error(lambda: TF.softmax(torch.tensor([1, 2]), dim=0), lambda: F.softmax(sr.tensor([1, 2]), dim=0))
    same_error(lambda: TF.log_softmax(torch.tensor([1, 2]), dim=0), lambda: F.log_softmax(sr.tensor([1, 2]), dim=0))
    x = torch.randn(3, 5)
    same_error(lambda: TF.softmax(x, dim=2), lambda: F.softmax(S(x), dim=2))


# --- linear ----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5,), (3, 5), (2, 3, 5)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_values_and_grads(shape, bias):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(*shape, dtype=torch.float64, generator=g)
    w = torch.randn(4, 5, dtype=torch.float64, generator=g)
    b = torch.randn(4, dtype=torch.float64, generator=g)
    inputs = [x, w, b] if bias else [x, w]
    run_both(TF.linear, F.linear, inputs, list(range(len(inputs))))


@given(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4), st.integers(0, 5), st.booleans(),
       st.sampled_from([np.float32, np.float64]), st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_linear_one_node_matches_torch(lead, out_features, bias, dtype, wants):
    """``linear`` as one node (``_linear_node``): values and the gradients of whichever of x, w, b
    require grad, for inputs of one to four dimensions (empty ones too); PyTorch's node names for a
    2-D input."""
    rng = np.random.default_rng(len(lead) * 100 + out_features)
    x = rng.standard_normal(lead).astype(dtype)
    w = rng.standard_normal((out_features, lead[-1])).astype(dtype)
    b = rng.standard_normal(out_features).astype(dtype)
    arrays = [x, w, b] if bias else [x, w]
    t_args = [torch.from_numpy(a).requires_grad_(r) for a, r in zip(arrays, wants)]
    s_args = [sr.tensor(a, requires_grad=r) for a, r in zip(arrays, wants)]
    t_out, s_out = TF.linear(*t_args), F.linear(*s_args)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert s_out.shape == tuple(t_out.shape) and s_out.dtype == S(t_out).dtype
    np.testing.assert_allclose(s_out.data, t_out.detach().numpy(), **tol)
    if x.ndim == 2 and any(wants[:len(arrays)]):
        assert s_out.grad_fn.name() == t_out.grad_fn.name()  # AddmmBackward0 / MmBackward0
    if any(wants[:len(arrays)]):
        g = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
        t_out.backward(torch.from_numpy(g))
        s_out.backward(sr.tensor(g))
        for s_a, t_a in zip(s_args, t_args):
            if t_a.requires_grad:
                np.testing.assert_allclose(s_a.grad.data, t_a.grad.numpy(), **tol)
            else:
                assert s_a.grad is None


def test_linear_bad_input():
    x = torch.randn(3, 5, dtype=torch.float64)
    cases = [
        (torch.zeros(4, 6, dtype=torch.float64), None),
        (torch.zeros(4, 5), None),
        (torch.zeros(4, 5, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)),
    ]
    for w, b in cases:
        same_error(lambda: TF.linear(x, w, b), lambda: F.linear(S(x), S(w), S(b)))
    x3 = torch.randn(2, 3, 5, dtype=torch.float64)
    w = torch.zeros(4, 6, dtype=torch.float64)
    same_error(lambda: TF.linear(x3, w), lambda: F.linear(S(x3), S(w)))


# --- mse_loss --------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((5,), (5,)), ((), ())])
def test_mse_loss_values_and_grads(reduction, shapes):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(shapes[0], dtype=torch.float64, generator=g)
    t = torch.randn(shapes[1], dtype=torch.float64, generator=g)
    run_both(TF.mse_loss, F.mse_loss, [x, t], [0, 1], reduction=reduction)
    module_t, module_s = torch.nn.MSELoss(reduction=reduction), nn.MSELoss(reduction=reduction)
    close(module_s(S(x), S(t)), module_t(x, t), "module")


def test_mse_loss_broadcast_warns_like_torch():
    x = torch.randn(3, dtype=torch.float64)
    t = torch.randn(3, 1, dtype=torch.float64)
    with pytest.warns(UserWarning, match="Using a target size"):
        s, _ = run_both(TF.mse_loss, F.mse_loss, [x, t], [0, 1], reduction="sum")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(S(x), S(x))  # same shapes: no warning


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_weighted(reduction):
    g = torch.Generator().manual_seed(3)
    x, t, w = (torch.randn(4, 3, dtype=torch.float64, generator=g) for _ in range(3))
    run_both(TF.mse_loss, F.mse_loss, [x, t], [0, 1], reduction=reduction, weight=w.abs())


def test_mse_loss_mixed_dtypes_promote_and_empty_mean_is_nan():
    x, t = torch.randn(3), torch.randn(3, dtype=torch.float64)
    run_both(TF.mse_loss, F.mse_loss, [x, t], [0, 1])
    out = F.mse_loss(sr.zeros(0, dtype=sr.float64), sr.zeros(0, dtype=sr.float64))
    assert np.isnan(out.item()) and np.isnan(TF.mse_loss(torch.zeros(0), torch.zeros(0)).item())


def test_mse_loss_legacy_size_average_and_reduce():
    x, t = torch.randn(4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    for kwargs in [dict(size_average=False), dict(reduce=False), dict(size_average=True, reduce=True)]:
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            s = F.mse_loss(S(x), S(t), **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            close(s, TF.mse_loss(x, t, **kwargs), str(kwargs))


def test_mse_loss_bad_input():
    x = torch.zeros(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same_error(lambda: TF.mse_loss(x, torch.zeros(4)), lambda: F.mse_loss(S(x), sr.zeros(4)))
    i = torch.zeros(3, dtype=torch.long)
    same_error(lambda: TF.mse_loss(i, i), lambda: F.mse_loss(S(i), S(i)))
    same_error(lambda: TF.mse_loss(x, x, reduction="avg"), lambda: F.mse_loss(S(x), S(x), reduction="avg"))
    same_error(lambda: TF.mse_loss(x, x, weight=torch.ones(2)), lambda: F.mse_loss(S(x), S(x), weight=sr.ones(2)))
    with pytest.raises(TypeError, match="argument 'target' .* must be Tensor, not list"):
        F.mse_loss(S(x), [1.0, 2.0, 3.0])


# --- cross_entropy and nll_loss --------------------------------------------------------------

SHAPES = [(5,), (4, 5), (3, 5, 2), (2, 5, 3, 2), (2, 5, 2, 1, 3)]


def class_targets(shape, rng, ignore=None):
    c = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = rng.integers(0, c, tshape)
    if ignore is not None and t.size > 1:
        t.reshape(-1)[::3] = ignore
    return torch.from_numpy(np.asarray(t, dtype=np.int64))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25, 1.0])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_cross_entropy_class_indices(shape, reduction, weighted, label_smoothing, ignore_index):
    rng = np.random.default_rng(zlib.crc32(repr((shape, reduction, weighted, label_smoothing, ignore_index)).encode()))
    c = shape[0] if len(shape) == 1 else shape[1]
    x = torch.from_numpy(rng.standard_normal(shape) * 3)
    t = class_targets(shape, rng, ignore=ignore_index if ignore_index >= 0 else -100)
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing, ignore_index=ignore_index)
    if weighted:
        kwargs["weight"] = torch.from_numpy(rng.random(c) + 0.1)
    run_both(TF.cross_entropy, F.cross_entropy, [x, t], [0], **kwargs)
    module_t = torch.nn.CrossEntropyLoss(**kwargs)
    module_s = nn.CrossEntropyLoss(**{k: S(v) for k, v in kwargs.items()})
    close(module_s(S(x), S(t)), module_t(x, t), "module")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.4])
def test_cross_entropy_class_probabilities(shape, reduction, weighted, label_smoothing):
    rng = np.random.default_rng(7)
    c = shape[0] if len(shape) == 1 else shape[1]
    x = torch.from_numpy(rng.standard_normal(shape))
    p = torch.softmax(torch.from_numpy(rng.standard_normal(shape)), dim=0 if len(shape) == 1 else 1)
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)
    if weighted:
        kwargs["weight"] = torch.from_numpy(rng.random(c))
    run_both(TF.cross_entropy, F.cross_entropy, [x, p], [0, 1], **kwargs)


@given(st.integers(1, 6), st.integers(1, 6), st.sampled_from(["mean", "sum", "none"]),
       st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_cross_entropy_random_batches(n, c, reduction, label_smoothing, seed):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((n, c)) * 10)
    t = torch.from_numpy(rng.integers(-1, c, n))  # -1 stands for ignored
    w = torch.from_numpy(rng.random(c))
    run_both(TF.cross_entropy, F.cross_entropy, [x, t], [0], seed=seed % 1000, weight=w, ignore_index=-1,
             reduction=reduction, label_smoothing=label_smoothing)


@given(st.integers(0, 7), st.integers(1, 6), st.sampled_from(["mean", "sum", "none"]),
       st.sampled_from([-100, -1, 0, 2]), st.sampled_from([np.float32, np.float64]), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_cross_entropy_and_nll_without_weights(n, c, reduction, ignore_index, dtype, one_row, seed):
    """The unweighted (N, C) / (C,) path (``_nll_rows``): values and gradients as PyTorch's, with
    ignored targets in and out of the class range, and an out-of-range target refused alike."""
    rng = np.random.default_rng(seed)
    shape = (c,) if one_row else (n, c)
    x = torch.from_numpy((rng.standard_normal(shape) * 5).astype(dtype))
    t = torch.from_numpy(np.asarray(rng.integers(0, c, () if one_row else n), dtype=np.int64))
    if not one_row and n > 1:
        t[::3] = ignore_index
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else {}
    for fn_t, fn_s, inp in ((TF.cross_entropy, F.cross_entropy, x), (TF.nll_loss, F.nll_loss, torch.log_softmax(x, -1))):
        kwargs = dict(reduction=reduction, ignore_index=ignore_index)
        if one_row and reduction == "none":
            continue  # (C,) input with 'none': PyTorch's own path, covered by test_cross_entropy_class_indices
        t_in = inp.detach().clone().requires_grad_()
        s_in = S(inp, True)
        t_out, s_out = fn_t(t_in, t, **kwargs), fn_s(s_in, S(t), **kwargs)
        assert s_out.shape == tuple(t_out.shape) and s_out.dtype == S(t_out).dtype
        np.testing.assert_allclose(s_out.data, t_out.detach().numpy(), **tol)
        g = torch.from_numpy(rng.standard_normal(tuple(t_out.shape)).astype(dtype))
        t_out.backward(g)
        s_out.backward(sr.tensor(g.numpy()))
        np.testing.assert_allclose(s_in.grad.data, t_in.grad.numpy(), **tol)
    if not one_row and n > 0:
        bad = t.clone()
        bad[-1] = c if seed % 2 else -2  # past the classes, or negative (and not ignore_index)
        if int(bad[-1]) != ignore_index:
            same_error(lambda: TF.cross_entropy(x, bad, ignore_index=ignore_index),
                       lambda: F.cross_entropy(S(x), S(bad), ignore_index=ignore_index))


def test_cross_entropy_uint8_targets_and_float32():
    x = torch.randn(4, 5)
    t = torch.tensor([0, 4, 2, 2], dtype=torch.uint8)
    s, tt = run_both(TF.cross_entropy, F.cross_entropy, [x.double(), t], [0], label_smoothing=0.1)
    out_s = F.cross_entropy(S(x), S(t))
    assert out_s.dtype == sr.float32
    np.testing.assert_allclose(out_s.item(), TF.cross_entropy(x, t).item(), rtol=1e-6)


def test_cross_entropy_all_ignored_and_empty():
    x = torch.randn(3, 5, dtype=torch.float64)
    t = torch.full((3,), -100)
    for ls in (0.0, 0.1):
        for reduction in ("mean", "sum", "none"):
            s_x = S(x, True)
            s = F.cross_entropy(s_x, S(t), reduction=reduction, label_smoothing=ls)
            tt = TF.cross_entropy(x, t, reduction=reduction, label_smoothing=ls)
            np.testing.assert_array_equal(s.data, tt.numpy())
            s.sum().backward()
            assert np.all(s_x.grad.data == 0)
    empty = torch.zeros(0, 5, dtype=torch.float64)
    et = torch.zeros(0, dtype=torch.long)
    for ls in (0.0, 0.2):
        for reduction in ("mean", "sum", "none"):
            s = F.cross_entropy(S(empty), S(et), reduction=reduction, label_smoothing=ls)
            tt = TF.cross_entropy(empty, et, reduction=reduction, label_smoothing=ls)
            assert s.shape == tuple(tt.shape)
            np.testing.assert_array_equal(s.data, tt.numpy())


def test_cross_entropy_negative_label_smoothing_is_ignored_like_torch():
    x = torch.randn(3, 5, dtype=torch.float64)
    t = torch.tensor([1, 2, 3])
    run_both(TF.cross_entropy, F.cross_entropy, [x, t], [0], label_smoothing=-0.3)


def test_cross_entropy_is_log_softmax_then_nll():
    x = sr.tensor(np.random.default_rng(0).standard_normal((4, 6)), requires_grad=True)
    t = sr.tensor([0, 5, 3, 3])
    loss = F.cross_entropy(x, t)
    assert loss.grad_fn.name() == "NllLossBackward0"
    assert loss.grad_fn.next_functions[0][0].name() == "LogSoftmaxBackward0"
    np.testing.assert_allclose(loss.item(), F.nll_loss(F.log_softmax(x, 1), t).item(), rtol=0, atol=0)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(shape, reduction):
    rng = np.random.default_rng(11)
    c = shape[0] if len(shape) == 1 else shape[1]
    x = torch.from_numpy(rng.standard_normal(shape))
    t = class_targets(shape, rng, ignore=1)
    w = torch.from_numpy(rng.random(c))
    run_both(TF.nll_loss, F.nll_loss, [x, t], [0], weight=w, ignore_index=1, reduction=reduction)
    close(nn.NLLLoss(weight=S(w), ignore_index=1, reduction=reduction)(S(x), S(t)),
          torch.nn.NLLLoss(weight=w, ignore_index=1, reduction=reduction)(x, t), "module")


def test_cross_entropy_legacy_arguments_warn_and_map():
    x = torch.randn(3, 5, dtype=torch.float64)
    t = torch.tensor([1, 0, 4])
    for kwargs in [dict(size_average=False), dict(reduce=False)]:
        with pytest.warns(UserWarning, match="size_average and reduce"):
            s = F.cross_entropy(S(x), S(t), **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            close(s, TF.cross_entropy(x, t, **kwargs))


X2 = torch.randn(3, 5, dtype=torch.float64)
X3 = torch.randn(2, 5, 3, dtype=torch.float64)
X4 = torch.randn(2, 5, 3, 4, dtype=torch.float64)
X5 = torch.randn(2, 5, 3, 4, 2, dtype=torch.float64)
L = torch.long
F64 = torch.float64
BAD_CROSS_ENTROPY = {
    "float target": (X2, torch.tensor([1.0, 2.0, 3.0], dtype=F64), {}),
    "int32 target": (X2, torch.tensor([1, 2, 3], dtype=torch.int32), {}),
    "bool target": (X2, torch.tensor([True, False, True]), {}),
    "int32 target ls": (X2, torch.tensor([1, 2, 3], dtype=torch.int32), dict(label_smoothing=0.1)),
    "target batch": (X2, torch.tensor([1, 2]), {}),
    "float target batch": (X2, torch.tensor([1.0, 2.0], dtype=F64), {}),
    "long target like input": (X2, torch.zeros(3, 5, dtype=L), {}),
    "int32 target like input": (X2, torch.zeros(3, 5, dtype=torch.int32), {}),
    "2d target": (X2, torch.zeros(3, 2, dtype=L), {}),
    "2d int32 target": (X2, torch.zeros(3, 2, dtype=torch.int32), {}),
    "target too big": (X2, torch.tensor([1, 2, 5]), {}),
    "target negative": (X2, torch.tensor([1, 2, -1]), {}),
    "target too big ls": (X2, torch.tensor([1, 2, 5]), dict(label_smoothing=0.1)),
    "weight size": (X2, torch.tensor([1, 2, 3]), dict(weight=torch.ones(4, dtype=F64))),
    "weight 2d": (X2, torch.tensor([1, 2, 3]), dict(weight=torch.ones(1, 5, dtype=F64))),
    "weight dtype": (X2, torch.tensor([1, 2, 3]), dict(weight=torch.ones(5))),
    "weight long": (X2, torch.tensor([1, 2, 3]), dict(weight=torch.ones(5, dtype=L))),
    "weight dtype ls": (X2, torch.tensor([1, 2, 3]), dict(weight=torch.ones(5), label_smoothing=0.1)),
    "weight dtype before bounds": (X2, torch.full((3,), 9), dict(weight=torch.ones(5))),
    "int32 before weight": (X2, torch.zeros(3, dtype=torch.int32), dict(weight=torch.ones(4, dtype=F64))),
    "reduction": (X2, torch.tensor([1, 2, 3]), dict(reduction="foo")),
    "label smoothing > 1": (X2, torch.tensor([1, 2, 3]), dict(label_smoothing=1.5)),
    "0-d input": (torch.tensor(1.0, dtype=F64), torch.tensor(0), {}),
    "0-d input 1-d target": (torch.tensor(1.0, dtype=F64), torch.tensor([0]), {}),
    "0-d input and prob target": (torch.tensor(1.0, dtype=F64), torch.tensor(1.0, dtype=F64), {}),
    "1-d input 2-d target": (torch.randn(5, dtype=F64), torch.zeros(1, 1, dtype=L), {}),
    "1-d input 1-d target size 2": (torch.randn(5, dtype=F64), torch.zeros(2, dtype=L), {}),
    "1-d input 1-d target ls": (torch.randn(5, dtype=F64), torch.tensor([2]), dict(label_smoothing=0.1)),
    "2-d input 0-d target": (X2, torch.tensor(1), {}),
    "3d target shape": (X3, torch.zeros(2, 4, dtype=L), {}),
    "3d target 1d": (X3, torch.zeros(2, dtype=L), {}),
    "3d float target": (X3, torch.zeros(2, 3), {}),
    "3d weight size": (X3, torch.zeros(2, 3, dtype=L), dict(weight=torch.ones(4, dtype=F64))),
    "3d target too big": (X3, torch.full((2, 3), 7), {}),
    "4d target shape": (X4, torch.zeros(2, 3, 3, dtype=L), {}),
    "4d target dims": (X4, torch.zeros(2, 12, dtype=L), {}),
    "4d target batch": (X4, torch.zeros(3, 3, 4, dtype=L), {}),
    "4d int32 target wrong shape": (X4, torch.zeros(2, 3, 3, dtype=torch.int32), {}),
    "4d weight size": (X4, torch.zeros(2, 3, 4, dtype=L), dict(weight=torch.ones(4, dtype=F64))),
    "4d weight dtype": (X4, torch.zeros(2, 3, 4, dtype=L), dict(weight=torch.ones(5))),
    "5d target shape": (X5, torch.zeros(2, 3, 4, 3, dtype=L), {}),
    "prob target wrong shape": (X2, torch.zeros(3, 4, dtype=F64), {}),
    "prob ignore_index": (X2, torch.rand(3, 5, dtype=F64), dict(ignore_index=1)),
    "prob weight size": (X2, torch.rand(3, 5, dtype=F64), dict(weight=torch.ones(4, dtype=F64))),
    "prob label smoothing": (X2, torch.rand(3, 5, dtype=F64), dict(label_smoothing=2.0)),
    "int input": (torch.zeros(3, 5, dtype=L), torch.tensor([1, 2, 3]), {}),
    "int input prob": (torch.zeros(3, 5, dtype=L), torch.zeros(3, 5), {}),
    "uint8 target weight smoothing mean": (X2, torch.tensor([1, 2, 3], dtype=torch.uint8),
                                           dict(weight=torch.ones(5, dtype=F64), label_smoothing=0.1)),
    "target list": (X2, [1, 2, 3], {}),
    "input list": ([[1.0]], torch.tensor([0]), {}),
    "weight list": (X2, torch.tensor([1, 2, 3]), dict(weight=[1.0] * 5)),
    "ignore_index float": (X2, torch.tensor([1, 2, 3]), dict(ignore_index=1.0)),
    "ignore_index bool": (X2, torch.tensor([1, 2, 3]), dict(ignore_index=True)),
}


@pytest.mark.parametrize("case", list(BAD_CROSS_ENTROPY))
def test_cross_entropy_bad_input_raises_torchs_error(case):
    x, t, kwargs = BAD_CROSS_ENTROPY[case]
    same_error(lambda: TF.cross_entropy(x, t, **kwargs),
               lambda: F.cross_entropy(S(x), S(t), **{k: S(v) for k, v in kwargs.items()}))


def test_nll_loss_bad_input_raises_torchs_error():
    same_error(lambda: TF.nll_loss(torch.tensor(1.0), torch.tensor(0)),
               lambda: F.nll_loss(sr.tensor(1.0), sr.tensor(0)))
    same_error(lambda: TF.nll_loss(X2, torch.tensor([1, 2, 9])), lambda: F.nll_loss(S(X2), sr.tensor([1, 2, 9])))


def test_losses_leave_inputs_unchanged():
    x = sr.tensor(np.random.default_rng(1).standard_normal((3, 5)), requires_grad=True)
    t = sr.tensor([1, -100, 4])
    before_x, before_t = x.detach().numpy().copy(), t.detach().numpy().copy()
    F.cross_entropy(x, t, label_smoothing=0.2, weight=sr.ones(5, dtype=sr.float64)).backward()
    np.testing.assert_array_equal(x.data, before_x)
    np.testing.assert_array_equal(t.data, before_t)


def test_loss_module_reprs_and_attributes():
    for cls, kwargs in [("CrossEntropyLoss", dict(ignore_index=3, label_smoothing=0.1, reduction="sum")),
                        ("MSELoss", dict(reduction="none")), ("NLLLoss", dict())]:
        t, s = getattr(torch.nn, cls)(**kwargs), getattr(nn, cls)(**kwargs)
        assert repr(s) == repr(t)
        for k in ("reduction", "ignore_index", "label_smoothing"):
            assert getattr(s, k, None) == getattr(t, k, None), k
        assert list(s.parameters()) == []


# --- dropout ---------------------------------------------------------------------------------

def test_dropout_training_zeroes_and_scales():
    sr.manual_seed(0)
    x = sr.ones(200, 50, dtype=sr.float64, requires_grad=True)
    out = F.dropout(x, p=0.3)
    values = np.unique(out.data)
    np.testing.assert_allclose(values, [0.0, 1 / 0.7])
    frac = np.mean(out.detach().numpy() == 0)
    assert abs(frac - 0.3) < 0.02
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, out.data)  # d(x * mask)/dx = mask


def test_dropout_uses_the_global_generator():
    x = sr.ones(10, 10, dtype=sr.float64)
    sr.manual_seed(3)
    a = F.dropout(x, 0.5).detach().numpy().copy()
    sr.manual_seed(3)
    b = F.dropout(x, 0.5).detach().numpy().copy()
    c = F.dropout(x, 0.5).detach().numpy().copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_dropout_identity_cases_and_p_one():
    x = sr.tensor([[1.0, -2.0], [3.0, 4.0]], dtype=sr.float64)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    out = F.dropout(x, 1.0)
    np.testing.assert_array_equal(out.data, np.zeros((2, 2)))
    assert F.dropout(x, 0.5, inplace=True) is x


def test_dropout_bad_p():
    for p in (-0.1, 1.5):
        same_error(lambda: TF.dropout(torch.ones(2), p=p), lambda: F.dropout(sr.ones(2), p=p))
    same_error(lambda: torch.nn.Dropout(2), lambda: nn.Dropout(2))


def test_dropout_module_train_eval():
    d = nn.Dropout(0.5)
    assert repr(d) == repr(torch.nn.Dropout(0.5))
    x = sr.ones(1000, dtype=sr.float64)
    sr.manual_seed(1)
    out = d(x)
    assert np.any(out.data == 0) and np.any(out.data == 2.0)
    d.eval()
    assert d(x) is x
    d.train()
    assert np.any(d(x).data == 0)


# --- containers ------------------------------------------------------------------------------

def twin_mlp(seed=0):
    torch.manual_seed(seed)
    t = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                            torch.nn.Linear(8, 3)).double()
    s = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3)).double()
    s.load_state_dict(t.state_dict())
    return t, s


def test_sequential_forward_backward_in_eval_matches_torch():
    t, s = twin_mlp()
    assert list(s.state_dict()) == list(t.state_dict())
    assert repr(s) == repr(t)
    t.eval()
    s.eval()
    x = torch.randn(5, 4, dtype=torch.float64)
    out_t = t(x)
    out_s = s(S(x))
    close(out_s, out_t)
    out_t.sum().backward()
    out_s.sum().backward()
    for (name, p_s), (_, p_t) in zip(s.named_parameters(), t.named_parameters()):
        close(p_s.grad, p_t.grad, name)


def test_sequential_train_mode_reaches_dropout():
    _, s = twin_mlp()
    x = sr.ones(64, 4, dtype=sr.float64)
    s.eval()
    a, b = s(x).data, s(x).data
    np.testing.assert_array_equal(a, b)
    s.train()
    assert s[2].training
    sr.manual_seed(0)
    c = s(x).data
    assert not np.allclose(a, c)


def test_sequential_container_protocol():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    assert len(seq) == 2 and seq[0] is a and seq[-1] is b and list(seq) == [a, b]
    seq.append(c)
    assert len(seq) == 3 and seq[2] is c
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    assert [n for n, _ in sub.named_children()] == ["1", "2"]
    named = nn.Sequential(OrderedDict([("fc", a), ("act", b)]))
    assert named.fc is a and named[1] is b
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    del seq[0]
    assert list(seq) == [b, c] and [n for n, _ in seq.named_children()] == ["0", "1"]
    seq.insert(0, a)
    assert list(seq) == [a, b, c]
    assert seq.pop(1) is b and list(seq) == [a, c]
    seq[1] = b
    assert seq[1] is b
    seq.extend([c])
    assert list(seq) == [a, b, c]
    assert list(nn.Sequential(a) + nn.Sequential(b)) == [a, b]
    assert list(nn.Sequential(b) * 2) == [b, b]
    with pytest.raises(IndexError, match="index 5 is out of range"):
        seq[5]


def test_sequential_and_modulelist_bad_input():
    same_error(lambda: torch.nn.Sequential(1), lambda: nn.Sequential(1))
    same_error(lambda: torch.nn.Sequential(torch.nn.ReLU())[3], lambda: nn.Sequential(nn.ReLU())[3])
    same_error(lambda: torch.nn.ModuleList([torch.nn.ReLU()])[3], lambda: nn.ModuleList([nn.ReLU()])[3])
    same_error(lambda: torch.nn.ModuleList(3), lambda: nn.ModuleList(3))
    same_error(lambda: torch.nn.ModuleList().append(3), lambda: nn.ModuleList().append(3))


def test_sequential_with_a_recurrent_layer_passes_the_tuple_on():
    class Last(nn.Module):
        def forward(self, pair):
            output, h_n = pair
            return output[-1]

    seq = nn.Sequential(nn.GRU(3, 4, dtype=sr.float64), Last(), nn.Linear(4, 2, dtype=sr.float64))
    out = seq(sr.randn(5, 2, 3, dtype=sr.float64))
    assert out.shape == (2, 2)
    raw = nn.Sequential(nn.LSTM(3, 4))(sr.randn(5, 2, 3))
    assert isinstance(raw, tuple) and len(raw) == 2


def test_modulelist_registers_and_reprs_like_torch():
    t = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.ReLU()])
    s = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU()])
    assert repr(s) == repr(t)
    assert [n for n, _ in s.named_parameters()] == [n for n, _ in t.named_parameters()]
    s.append(nn.Tanh())
    assert len(s) == 4 and isinstance(s[-1], nn.Tanh)
    assert isinstance(s[1:], nn.ModuleList) and len(s[1:]) == 3
    del s[0]
    assert [n for n, _ in s.named_children()] == ["0", "1", "2"]


def test_identity():
    x = sr.randn(3)
    assert nn.Identity(54, unused="x")(x) is x
    assert repr(nn.Identity()) == repr(torch.nn.Identity())
