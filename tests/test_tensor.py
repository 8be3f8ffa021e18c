"""steprnn.Tensor, the creation functions, grad mode and autograd, checked against PyTorch.

Most tests run the same expression through ``steprnn`` and ``torch`` (the APIs mirror each other,
so one lambda taking the library as ``lib`` serves both) and compare values, dtypes, shapes,
reprs, error messages and gradients (float64, within 1e-10).
"""
from __future__ import annotations

import copy
import pickle
import re
import threading

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import steprnn as sr
from steprnn import autograd
from steprnn.random import default_generator
from steprnn.tensor import Tensor, to_numpy

TOL64 = 1e-10


def name(dtype) -> str:
    """``'float32'`` for np.dtype('float32') and torch.float32 alike."""
    return str(dtype).replace("torch.", "").replace("steprnn.", "")


def assert_same(ours, theirs, atol: float = 0.0) -> None:
    """Same shape, dtype and values (within ``atol``) as a torch tensor."""
    assert isinstance(ours, Tensor), type(ours)
    want = theirs.detach().numpy()
    assert ours.shape == tuple(theirs.shape), (ours.shape, tuple(theirs.shape))
    assert name(ours.dtype) == name(theirs.dtype), (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours.data, want, rtol=0, atol=atol)


def twins(*arrays, requires_grad=True):
    """The same float64 arrays as steprnn and torch leaves."""
    ours = [sr.tensor(a, requires_grad=requires_grad) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=requires_grad) for a in arrays]
    return ours, theirs


def errors_of(fn_ours, fn_theirs):
    """The messages of the exceptions both raise (asserting both raise the same type)."""
    with pytest.raises(Exception) as theirs:
        fn_theirs()
    with pytest.raises(type(theirs.value)) as ours:
        fn_ours()
    return str(ours.value), str(theirs.value)


# ---------------------------------------------------------------------------------------------
# creation
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    1.5, 3, True, [1, 2], [1.0, 2], [True, False], [[1, 2], [3, 4.5]], [], [[True], [2]],
    np.array([1, 2], dtype=np.int32), np.array([1.0], dtype=np.float64), np.float32(2.5), np.int32(4),
    np.array(2.0), [np.float32(1.0), 2.0], [np.int32(1), 2], np.float64(2.0), [np.float64(1.0)],
])
def test_tensor_infers_dtype_like_torch(data):
    ours, theirs = sr.tensor(data), torch.tensor(data)
    assert_same(ours, theirs)


@pytest.mark.parametrize("dtype", ["float64", "int32", "bool", "float16"])
def test_tensor_dtype_argument_accepts_every_spelling(dtype):
    for spelling in (getattr(sr, dtype), getattr(torch, dtype), np.dtype(dtype), dtype):
        t = sr.tensor([1, 0, 2], dtype=spelling)
        assert t.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(t.data, np.array([1, 0, 2]).astype(dtype))


def test_tensor_copies_and_from_numpy_shares():
    a = np.arange(6.0).reshape(2, 3)
    copied, shared = sr.tensor(a), sr.from_numpy(a)
    a[0, 0] = 100.0
    assert copied[0, 0].item() == 0.0
    assert shared[0, 0].item() == 100.0
    shared[1, 2] = -1.0
    assert a[1, 2] == -1.0
    assert shared.dtype == np.float64
    assert sr.tensor(shared).data is not shared.data


def test_from_numpy_refuses_what_torch_refuses():
    with pytest.raises(TypeError, match="expected np.ndarray"):
        sr.from_numpy([1.0, 2.0])
    with pytest.raises(TypeError, match="can't convert np.ndarray of type numpy.object_"):
        sr.from_numpy(np.array([object()]))


def test_tensor_from_torch_and_tensor_copies():
    src = torch.arange(4.0, dtype=torch.float64)
    t = sr.tensor(src)
    src[0] = 9.0
    assert t.dtype == np.float64 and t[0].item() == 0.0
    u = sr.tensor(t, requires_grad=True)
    assert u.requires_grad and u.is_leaf and u.data is not t.data


@pytest.mark.parametrize("fn", ["zeros", "ones", "empty"])
@pytest.mark.parametrize("args,kwargs", [((2, 3), {}), (((2, 3),), {}), (([2, 3],), {}), ((), {"size": (2, 3)}),
                                         ((), {"size": ()}), ((0,), {}), ((np.int64(2), 1), {})])
def test_filled_creation_shapes(fn, args, kwargs):
    ours, theirs = getattr(sr, fn)(*args, **kwargs), getattr(torch, fn)(*args, **kwargs)
    assert ours.shape == tuple(theirs.shape)
    assert ours.dtype == np.float32
    if fn != "empty":
        assert_same(ours, theirs)


def test_creation_dtype_and_requires_grad():
    t = sr.zeros(2, dtype=sr.float64, requires_grad=True)
    assert t.dtype == np.float64 and t.requires_grad and t.is_leaf
    assert sr.ones(3, dtype=torch.int64).dtype == np.int64
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        sr.zeros(2, dtype=sr.int64, requires_grad=True)


def test_creation_size_errors_match_torch():
    for fn, size in (("ones", (-3,)), ("randn", (2, -1))):
        ours, theirs = errors_of(lambda fn=fn, size=size: getattr(sr, fn)(*size),
                                 lambda fn=fn, size=size: getattr(torch, fn)(*size))
        assert ours == theirs
    with pytest.raises(TypeError, match="must be tuple of ints"):
        sr.ones(2.5)


@pytest.mark.parametrize("value", [1, 2.5, True, -3])
def test_full_and_like_functions(value):
    assert_same(sr.full((2, 3), value), torch.full((2, 3), value))
    base = sr.tensor([[1, 2]], dtype=sr.int32)
    assert_same(sr.zeros_like(base), torch.zeros_like(torch.tensor([[1, 2]], dtype=torch.int32)))
    assert_same(sr.ones_like(base, dtype=sr.float64),
                torch.ones_like(torch.tensor([[1, 2]], dtype=torch.int32), dtype=torch.float64))
    assert_same(sr.full_like(base, 7), torch.full_like(torch.tensor([[1, 2]], dtype=torch.int32), 7))


@pytest.mark.parametrize("args,kwargs", [((5,), {}), ((1, 5), {}), ((0, 1, 0.25), {}), ((5, 0, -1), {}),
                                         ((3.0,), {}), ((0, 10, 3), {}), ((4,), {"dtype": "float64"}),
                                         ((1, 2.5, 0.5), {"dtype": "float64"})])
def test_arange_matches_torch(args, kwargs):
    tk = {k: getattr(torch, v) for k, v in kwargs.items()}
    assert_same(sr.arange(*args, **kwargs), torch.arange(*args, **tk), atol=1e-12)


def test_manual_seed_makes_random_functions_reproducible():
    draws = []
    for _ in range(2):
        sr.manual_seed(1234)
        draws.append((sr.randn(3, 4), sr.rand(5, dtype=sr.float64), sr.randint(10, (6,)),
                      default_generator().random()))
    for first, second in zip(*draws):
        if isinstance(first, Tensor):
            assert first.dtype == second.dtype
            np.testing.assert_array_equal(first.data, second.data)
        else:
            assert first == second
    sr.manual_seed(1235)
    assert not np.array_equal(sr.randn(3, 4).data, draws[0][0].data)
    assert isinstance(sr.manual_seed(-1), sr.Generator)  # negative seeds wrap, as in torch


def test_random_creation_shapes_ranges_and_dtypes():
    sr.manual_seed(0)
    r = sr.rand(1000)
    assert r.dtype == np.float32 and r.shape == (1000,)
    assert 0.0 <= r.min().item() and r.max().item() < 1.0
    n = sr.randn((200, 5), dtype=sr.float64)
    assert n.dtype == np.float64 and n.shape == (200, 5)
    assert abs(n.mean().item()) < 0.2 and 0.8 < n.numpy().std() < 1.2
    assert sr.randn(size=(2,)).shape == (2,)
    with pytest.raises(RuntimeError, match="not implemented for 'int64'"):
        sr.randn(2, dtype=sr.int64)


def test_randint_signatures():
    sr.manual_seed(0)
    a = sr.randint(5, (1000,))
    assert a.dtype == np.int64 and a.shape == (1000,)
    assert set(np.unique(a.data)) == set(range(5))
    b = sr.randint(3, 7, (20, 30))
    assert b.shape == (20, 30) and b.min().item() >= 3 and b.max().item() <= 6
    c = sr.randint(-2, 2, size=(4,), dtype=sr.float64)
    assert c.dtype == np.float64 and c.shape == (4,)
    assert sr.randint(3, size=[2]).shape == (2,) and sr.randint(high=3, size=(2,)).shape == (2,)
    assert sr.randint(low=1, high=2, size=(3,)).tolist() == [1, 1, 1]
    ours, theirs = errors_of(lambda: sr.randint(5, 5, (2,)), lambda: torch.randint(5, 5, (2,)))
    assert ours == theirs
    with pytest.raises(TypeError):
        sr.randint(5, 3)


# ---------------------------------------------------------------------------------------------
# grad mode
# ---------------------------------------------------------------------------------------------

def test_no_grad_context_manager_restores_even_after_errors():
    x = sr.ones(2, requires_grad=True)
    assert sr.is_grad_enabled()
    with sr.no_grad():
        assert not sr.is_grad_enabled()
        y = x * 2
        with sr.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    with pytest.raises(ValueError), sr.no_grad():
        raise ValueError("boom")
    assert sr.is_grad_enabled()


def test_no_grad_as_decorator_with_and_without_parentheses():
    x = sr.ones(2, requires_grad=True)

    @sr.no_grad()
    def f(t):
        return t * 3

    @sr.no_grad
    def g(t):
        return t * 3

    @sr.no_grad()
    def gen(t):
        yield t * 3
        yield t * 4

    assert not f(x).requires_grad and not g(x).requires_grad
    assert all(not v.requires_grad for v in gen(x))
    assert f.__name__ == "f" and g.__name__ == "g"
    assert (x * 3).requires_grad and sr.is_grad_enabled()


def test_set_grad_enabled_and_thread_locality():
    sr.set_grad_enabled(False)
    try:
        assert not sr.is_grad_enabled()
        seen = []
        th = threading.Thread(target=lambda: seen.append(sr.is_grad_enabled()))
        th.start()
        th.join()
        assert seen == [True]
    finally:
        sr.set_grad_enabled(True)
    with sr.set_grad_enabled(False):
        assert not sr.is_grad_enabled()
    assert sr.is_grad_enabled()


# ---------------------------------------------------------------------------------------------
# basics, conversion, repr
# ---------------------------------------------------------------------------------------------

def test_shape_queries():
    t = sr.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.dim() == 3 and t.ndim == 3 and t.numel() == 24 and len(t) == 2
    assert t.dtype == sr.float32 == np.dtype("float32")
    ours, theirs = errors_of(lambda: t.size(3), lambda: torch.zeros(2, 3, 4).size(3))
    assert ours == theirs
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(sr.tensor(1.0))


REPR_CASES = [
    lambda lib: lib.tensor([[1.0, 2.0]]),
    lambda lib: lib.tensor([1.5, -2.25, 3.125]),
    lambda lib: lib.tensor([1, 2, 3]),
    lambda lib: lib.tensor([True, False]),
    lambda lib: lib.tensor(3.5),
    lambda lib: lib.tensor(-7),
    lambda lib: lib.tensor([1e-5, 1.0, 1e5]),
    lambda lib: lib.tensor([1e10, 2e10]),
    lambda lib: lib.tensor([float("nan"), float("inf"), -float("inf"), 1.0]),
    lambda lib: lib.tensor([float("nan"), 1.5]),
    lambda lib: lib.tensor([0.0, -0.0]),
    lambda lib: lib.tensor([1, 2], dtype=lib.int32),
    lambda lib: lib.tensor([[1.0, 2.0]], dtype=lib.float64),
    lambda lib: lib.tensor([1.5, 2.0], dtype=lib.float16),
    lambda lib: lib.zeros(0),
    lambda lib: lib.zeros(0, 3),
    lambda lib: lib.zeros(2, 0, dtype=lib.int64),
    lambda lib: lib.zeros(0, dtype=lib.float64),
    lambda lib: lib.arange(2000),
    lambda lib: lib.arange(1200.0).reshape(30, 40),
    lambda lib: lib.arange(1200).reshape(6, 200),
    lambda lib: lib.arange(24).reshape(2, 3, 4),
    lambda lib: (lib.arange(24.0) / 7).reshape(2, 3, 4),
    lambda lib: lib.arange(100.0) / 3,
    lambda lib: lib.tensor([[-1.5, 2.0], [3.0, 400.0]]),
    lambda lib: lib.ones(2, 2, requires_grad=True),
    lambda lib: lib.ones(2, requires_grad=True) * 2,
    lambda lib: lib.ones(2, requires_grad=True).sum(),
    lambda lib: lib.ones(2, requires_grad=True) + 1,
    lambda lib: lib.ones(2, requires_grad=True).tanh(),
    lambda lib: lib.arange(20.0, dtype=lib.float64).reshape(4, 5).requires_grad_(),
    lambda lib: lib.arange(12.0, dtype=lib.float64).reshape(3, 4) * 1e6 + 0.5,
]


def torch_repr(t: torch.Tensor) -> str:
    """torch's repr with ``steprnn.`` dtype names. "steprnn.float64" is 2 characters longer than
    "torch.float64", so where torch's suffix just fits on the last line ours may wrap: suffixes are
    compared without the line break before them."""
    return repr(t).replace("torch.", "steprnn.")


def unwrap_suffixes(text: str) -> str:
    return re.sub(r",\s+(dtype|requires_grad|grad_fn)=", r", \1=", text)


@pytest.mark.parametrize("case", range(len(REPR_CASES)))
def test_repr_matches_torch(case):
    build = REPR_CASES[case]
    ours, theirs = repr(build(sr)), torch_repr(build(torch))
    assert ours == theirs or unwrap_suffixes(ours) == unwrap_suffixes(theirs)
    assert max(len(line) for line in ours.splitlines()) <= 80
    assert str(build(sr)) == ours


@given(exponent=st.integers(-6, 9), shape=st.sampled_from([(3,), (2, 3), (4, 1), (1, 7), (2, 2, 2)]),
       seed=st.integers(0, 2**16), dtype=st.sampled_from(["float32", "float64"]), whole=st.booleans())
def test_repr_matches_torch_on_random_values(exponent, shape, seed, dtype, whole):
    a = np.random.default_rng(seed).standard_normal(shape) * 10.0**exponent
    if whole:
        a = np.round(a)
    a = a.astype(dtype)
    ours, theirs = repr(sr.from_numpy(a)), torch_repr(torch.from_numpy(a))
    assert ours == theirs or unwrap_suffixes(ours) == unwrap_suffixes(theirs)


def test_numpy_shares_memory_and_refuses_tensors_that_require_grad():
    t = sr.zeros(3)
    arr = t.numpy()
    arr[0] = 5.0
    assert t[0].item() == 5.0
    w = sr.zeros(3, requires_grad=True)
    ours, theirs = errors_of(lambda: w.numpy(), lambda: torch.zeros(3, requires_grad=True).numpy())
    assert ours == theirs == ("Can't call numpy() on Tensor that requires grad. "
                              "Use tensor.detach().numpy() instead.")
    assert w.detach().numpy() is not None
    assert np.shares_memory(w.detach().numpy(), w.data)


def test_array_protocol_honours_numpy2_copy_keyword():
    t = sr.tensor([1.0, 2.0])
    assert np.shares_memory(np.asarray(t), t.data)
    assert not np.shares_memory(np.array(t), t.data)
    assert not np.shares_memory(np.array(t, copy=True), t.data)
    assert np.shares_memory(np.array(t, copy=False), t.data)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError):
        np.array(t, dtype=np.float64, copy=False)
    w = sr.ones(2, requires_grad=True)
    np.testing.assert_array_equal(np.asarray(w), [1.0, 1.0])  # layers and tests read outputs this way
    assert isinstance(np.exp(t), np.ndarray)


def test_item_tolist_and_python_scalars():
    assert sr.tensor([2.5]).item() == 2.5 and isinstance(sr.tensor(2.5).item(), float)
    assert isinstance(sr.tensor(3).item(), int) and isinstance(sr.tensor(True).item(), bool)
    ours, theirs = errors_of(lambda: sr.ones(3).item(), lambda: torch.ones(3).item())
    assert ours == theirs == "a Tensor with 3 elements cannot be converted to Scalar"
    assert sr.tensor([[1, 2], [3, 4]]).tolist() == torch.tensor([[1, 2], [3, 4]]).tolist()
    assert sr.tensor(1.5).tolist() == 1.5
    assert float(sr.tensor([2.0])) == 2.0 and int(sr.tensor(7)) == 7
    assert [10, 20, 30][sr.tensor(1)] == 20
    assert f"{sr.tensor(1.23456):.2f}" == "1.23"
    assert bool(sr.tensor([1.0])) is True
    ours, theirs = errors_of(lambda: bool(sr.ones(2)), lambda: bool(torch.ones(2)))
    assert ours == theirs


def test_dtype_conversions():
    t = sr.tensor([1.7, -2.2])
    assert t.double().dtype == np.float64 and t.float() is t
    assert_same(t.long(), torch.tensor([1.7, -2.2]).long())
    assert t.to(sr.float64).dtype == np.float64
    assert t.to(torch.float64).dtype == np.float64
    assert t.to("cpu") is t and t.cpu() is t and t.to("cpu", sr.float64).dtype == np.float64
    assert t.to(dtype=sr.float64, device="cpu").dtype == np.float64
    assert t.to(sr.zeros(1, dtype=sr.float64)).dtype == np.float64
    assert t.to(sr.float32, copy=True) is not t
    assert t.int().dtype == np.int32 and t.bool().dtype == np.bool_ and t.half().dtype == np.float16


def test_device():
    t = sr.zeros(2)
    assert str(t.device) == "cpu" and t.device == "cpu" and t.device == sr.device("cpu")
    assert repr(t.device) == repr(torch.zeros(2).device)
    assert str(sr.device("cuda:1")) == "cuda:1" and sr.device("cuda", 1) == "cuda:1"
    for bad in (lambda: t.to("cuda"), lambda: t.cuda(), lambda: sr.zeros(2, device="cuda"),
                lambda: t.to(sr.device("cuda:0"))):
        with pytest.raises(RuntimeError, match="'cuda.*' is not available"):
            bad()
    with pytest.raises(RuntimeError):
        sr.device("tpu")


def test_clone_and_detach():
    a = sr.tensor([1.0, 2.0], requires_grad=True)
    c = a.clone()
    d = a.detach()
    assert c.requires_grad and c.grad_fn is not None and not np.shares_memory(c.data, a.data)
    assert not d.requires_grad and d.grad_fn is None and np.shares_memory(d.data, a.data)
    (c * 3).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [3.0, 3.0])


def test_hashable_and_iterable():
    a, b = sr.zeros(2), sr.zeros(2)
    assert len({a, b}) == 2 and {a: 1}[a] == 1
    rows = list(sr.arange(6).reshape(3, 2))
    assert [r.tolist() for r in rows] == [[0, 1], [2, 3], [4, 5]]
    assert 3 in sr.arange(6) and 9 not in sr.arange(6)


def test_to_numpy():
    t = sr.tensor([1.0])
    assert to_numpy(t) is t.numpy()
    w = torch.ones(2, requires_grad=True)
    assert isinstance(to_numpy(w), np.ndarray) and to_numpy(w).tolist() == [1.0, 1.0]
    assert to_numpy([1, 2]).tolist() == [1, 2]


def test_pickle_and_deepcopy():
    a = sr.tensor([1.0, 2.0], requires_grad=True)
    (a * 2).sum().backward()
    b = pickle.loads(pickle.dumps(a))
    c = copy.deepcopy(a)
    for x in (b, c):
        assert x.requires_grad and x.tolist() == [1.0, 2.0] and x.grad.tolist() == [2.0, 2.0]
        assert not np.shares_memory(x.data, a.data)
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(a * 2)


# ---------------------------------------------------------------------------------------------
# indexing
# ---------------------------------------------------------------------------------------------

INDEX_KEYS = [
    lambda lib: (slice(None), -1, slice(None)),
    lambda lib: 0,
    lambda lib: -1,
    lambda lib: (Ellipsis, 1),
    lambda lib: (None, 1),
    lambda lib: (slice(1, 3), slice(None, None, 2)),
    lambda lib: [0, 2],
    lambda lib: [0, 0, 2],
    lambda lib: lib.tensor([2, 0, 2]),
    lambda lib: (slice(None), [0, 1], 1),
    lambda lib: (0, 1, 2),
    lambda lib: (lib.tensor(1), slice(None)),
    lambda lib: lib.tensor([True, False, True]),
    lambda lib: (slice(None), lib.tensor([[0, 1], [1, 1]])),
]


@pytest.mark.parametrize("case", range(len(INDEX_KEYS)))
def test_indexing_values_and_gradients_match_torch(case):
    a = np.random.default_rng(case).standard_normal((3, 4, 5))
    (x,), (tx,) = twins(a)
    y, ty = x[INDEX_KEYS[case](sr)], tx[INDEX_KEYS[case](torch)]
    assert_same(y, ty)
    w = np.random.default_rng(100 + case).standard_normal(tuple(ty.shape))
    (y * sr.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    assert_same(x.grad, tx.grad, TOL64)


def test_mask_indexing_with_a_comparison():
    a = np.array([[-1.0, 2.0], [3.0, -4.0]])
    (x,), (tx,) = twins(a)
    y, ty = x[x > 0], tx[tx > 0]
    assert_same(y, ty)
    (y ** 2).sum().backward()
    (ty ** 2).sum().backward()
    assert_same(x.grad, tx.grad, TOL64)


def test_basic_indexing_is_a_view_and_advanced_indexing_a_copy():
    t = sr.zeros(3, 4)
    row, picked = t[1], t[[1]]
    t[1, 2] = 7.0
    assert row[2].item() == 7.0 and picked[0, 2].item() == 0.0
    with pytest.raises(IndexError, match="out of bounds for dimension 0"):
        t[5]


@pytest.mark.parametrize("case", range(5))
def test_setitem_matches_torch(case):
    def write(lib, t):
        if case == 0:
            t[0] = 5
        elif case == 1:
            t[:, 1] = lib.tensor([1.0, 2.0, 3.0])
        elif case == 2:
            t[t > 0.5] = 0.0
        elif case == 3:
            t[[0, 2], 1:3] = lib.tensor([[9.0], [8.0]])
        else:
            t[..., -1] = lib.tensor(4.5, dtype=lib.float64)
        return t
    a = np.random.default_rng(case).random((3, 4)).astype(np.float32)
    assert_same(write(sr, sr.tensor(a)), write(torch, torch.tensor(a)))


def test_setitem_records_gradients_like_torch():
    # the "fill an output buffer step by step" pattern of hand-written RNN loops
    rng = np.random.default_rng(0)
    w_a, x0_a, c_a = rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal((4, 3))
    results = []
    for lib in (sr, torch):
        w = lib.tensor(w_a, requires_grad=True)
        h0 = lib.tensor(x0_a, requires_grad=True)
        h = h0
        out = lib.zeros(4, 3, dtype=lib.float64)
        for t in range(4):
            h = (w @ h).tanh()
            out[t] = h
        out[1, 0] = 0.0  # overwritten values get no gradient
        (out * lib.tensor(c_a)).sum().backward()
        results.append((out, w.grad, h0.grad))
    for ours, theirs in zip(*results):
        assert_same(ours, theirs, TOL64)
    assert results[0][0].grad_fn is not None


def test_setitem_on_a_leaf_that_requires_grad_is_refused_like_torch():
    def bad(lib):
        t = lib.zeros(3, requires_grad=True)
        t[0] = 1.0
    ours, theirs = errors_of(lambda: bad(sr), lambda: bad(torch))
    assert ours == theirs
    w = sr.zeros(3, requires_grad=True)
    with sr.no_grad():
        w[0] = 1.0  # allowed without grad mode, as in torch (optimizer updates)
    assert w.is_leaf and w.tolist() == [1.0, 0.0, 0.0]


def test_setitem_into_a_view_with_gradients_is_refused_clearly():
    h = sr.ones(2, requires_grad=True)
    buf = sr.zeros(3, 2)
    row = buf[0]
    with pytest.raises(RuntimeError, match="in-place operation on a view"):
        row[:] = h
    buf[1] = h * 2
    with pytest.raises(RuntimeError, match="take the view again"):
        _ = row * 1  # row was taken before buf got a history


# ---------------------------------------------------------------------------------------------
# arithmetic
# ---------------------------------------------------------------------------------------------

DTYPES = ["bool", "int32", "int64", "float32", "float64"]
OPS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "rsub": lambda a, b: b - a, "rdiv": lambda a, b: b / a,
    "lt": lambda a, b: a < b, "eq": lambda a, b: a == b, "ge": lambda a, b: a >= b,
    "pow": lambda a, b: a ** b, "floordiv": lambda a, b: a // b, "mod": lambda a, b: a % b,
}


def _operand(kind: str, dtype: str, lib, values):
    if kind == "tensor":
        return lib.tensor(values, dtype=getattr(lib, dtype))
    if kind == "zerodim":
        return lib.tensor(values[0], dtype=getattr(lib, dtype))
    return {"bool": bool, "int32": int, "int64": int, "float32": float, "float64": float}[dtype](values[0])


@given(da=st.sampled_from(DTYPES), db=st.sampled_from(DTYPES), op=st.sampled_from(sorted(OPS)),
       kind=st.sampled_from(["tensor", "zerodim", "scalar"]),
       va=st.lists(st.integers(1, 4), min_size=3, max_size=3), vb=st.lists(st.integers(1, 3), min_size=3, max_size=3))
def test_arithmetic_promotion_and_values_match_torch(da, db, op, kind, va, vb):
    fn = OPS[op]
    a_t, b_t = torch.tensor(va, dtype=getattr(torch, da)), _operand(kind, db, torch, vb)
    a_s, b_s = sr.tensor(va, dtype=getattr(sr, da)), _operand(kind, db, sr, vb)
    try:
        want = fn(a_t, b_t)
    except (RuntimeError, TypeError) as err:
        with pytest.raises(type(err)):
            fn(a_s, b_s)
        return
    got = fn(a_s, b_s)
    assert_same(got, want, atol=1e-6 if "float32" in (da, db) or want.dtype == torch.float32 else 1e-12)


def test_reflected_operators_and_numpy_operands():
    t = sr.tensor([1.0, 2.0, 4.0])
    assert_same(2 - t, 2 - torch.tensor([1.0, 2.0, 4.0]))
    assert_same(2 / t, 2 / torch.tensor([1.0, 2.0, 4.0]))
    assert_same(2 ** t, 2 ** torch.tensor([1.0, 2.0, 4.0]))
    arr = np.array([1.0, 1.0, 1.0], dtype=np.float32)
    for result in (arr + t, t + arr, arr * t, arr - t, np.float32(2.0) * t, arr < t):
        assert isinstance(result, Tensor), type(result)
    assert (arr - t).tolist() == [0.0, -1.0, -3.0]
    assert (np.float64(2.0) * t).dtype == np.float32  # a NumPy float64 scalar is a Python float: weak
    m = np.eye(3, dtype=np.float32)
    assert isinstance(m @ t, Tensor) and (m @ t).tolist() == t.tolist()
    assert (-t).tolist() == [-1.0, -2.0, -4.0] and abs(-t).tolist() == t.tolist()
    assert ((t > 1) & (t < 4)).tolist() == [False, True, False] and (~(t > 1)).tolist() == [True, False, False]
    assert (t == None) is False


def test_division_variants_match_torch():
    for mode in ("floor", "trunc"):
        (a,), (ta,) = twins(np.array([-3.5, 5.0, 7.25]))
        y, ty = a.div(2, rounding_mode=mode), ta.div(2, rounding_mode=mode)
        assert_same(y, ty)
        (y * a).sum().backward()
        (ty * ta).sum().backward()
        assert_same(a.grad, ta.grad, TOL64)
    assert_same(sr.tensor([-7, 7]).div(2, rounding_mode="trunc"), torch.tensor([-7, 7]).div(2, rounding_mode="trunc"))
    ours, theirs = errors_of(lambda: (sr.ones(2, requires_grad=True) // 2).sum().backward(),
                             lambda: (torch.ones(2, requires_grad=True) // 2).sum().backward())
    assert ours == theirs
    ours, theirs = errors_of(lambda: sr.tensor([1, 2]) // 0, lambda: torch.tensor([1, 2]) // 0)
    assert ours == theirs
    assert_same(sr.tensor([1.0, -1.0, 0.0]) / 0, torch.tensor([1.0, -1.0, 0.0]) / 0)


def test_broadcast_error_matches_torch():
    ours, theirs = errors_of(lambda: sr.ones(2, 3) + sr.ones(4), lambda: torch.ones(2, 3) + torch.ones(4))
    assert ours == theirs


def test_matmul_errors_match_torch():
    ours, theirs = errors_of(lambda: sr.ones(2, 3) @ sr.ones(4, 5), lambda: torch.ones(2, 3) @ torch.ones(4, 5))
    assert ours == theirs
    ours, theirs = errors_of(lambda: sr.ones(2, 2) @ sr.ones(2, 2, dtype=sr.float64),
                             lambda: torch.ones(2, 2) @ torch.ones(2, 2, dtype=torch.float64))
    assert ours == theirs


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 2)), ((4,), (4,)), ((4,), (4, 2)), ((3, 4), (4,)),
                                   ((5, 3, 4), (4, 2)), ((4,), (5, 4, 2)), ((5, 3, 4), (4,)),
                                   ((2, 1, 3, 4), (5, 4, 2))])
def test_matmul_values_and_gradients_match_torch(sa, sb):
    rng = np.random.default_rng(0)
    (a, b), (ta, tb) = twins(rng.standard_normal(sa), rng.standard_normal(sb))
    y, ty = a @ b, ta @ tb
    assert_same(y, ty, TOL64)
    w = rng.standard_normal(tuple(ty.shape))
    (y * sr.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    assert_same(a.grad, ta.grad, TOL64)
    assert_same(b.grad, tb.grad, TOL64)


# ---------------------------------------------------------------------------------------------
# shapes and reductions
# ---------------------------------------------------------------------------------------------

SHAPE_OPS = [
    lambda t: t.view(6, 4), lambda t: t.view(-1), lambda t: t.reshape(4, -1), lambda t: t.reshape((3, 8)),
    lambda t: t.permute(2, 0, 1), lambda t: t.permute((1, 2, 0)), lambda t: t.transpose(0, 2),
    lambda t: t.transpose(-1, 1), lambda t: t.unsqueeze(0), lambda t: t.unsqueeze(-1), lambda t: t.unsqueeze(2),
    lambda t: t[:, :1].squeeze(), lambda t: t[:, :1].squeeze(1), lambda t: t.squeeze(0),
    lambda t: t[:1, :, :1].squeeze((0, 2)), lambda t: t.flatten(), lambda t: t.flatten(1),
    lambda t: t.flatten(0, 1), lambda t: t[0].t(), lambda t: t[0].T, lambda t: t.contiguous(),
    lambda t: t.transpose(0, 1).contiguous(), lambda t: t[:, :1].expand(2, 3, 4),
    lambda t: t[:1].expand(5, -1, -1, -1), lambda t: t.sum(), lambda t: t.sum(1), lambda t: t.sum(-1, keepdim=True),
    lambda t: t.sum((0, 2)), lambda t: t.mean(), lambda t: t.mean(0), lambda t: t.mean((1, 2), keepdim=True),
    lambda t: t.max(), lambda t: t.min(), lambda t: t.max(1).values, lambda t: t.max(1)[1],
    lambda t: t.min(-1, keepdim=True).values, lambda t: t.min(0).indices, lambda t: t.argmax(),
    lambda t: t.argmax(2), lambda t: t.argmin(1, keepdim=True), lambda t: t.exp(), lambda t: t.abs().log(),
    lambda t: t.tanh(), lambda t: t.sigmoid(), lambda t: t.relu(), lambda t: t.abs().sqrt(), lambda t: t.abs(),
    lambda t: t.clamp(-0.5, 0.5), lambda t: t.clamp(min=0.1), lambda t: t.maximum(t[0]),
    lambda t: t.chunk(2, 2)[1], lambda t: t.split(2, 1)[1], lambda t: t.split([1, 3], 2)[1], lambda t: t.unbind(1)[2],
    lambda t: t.view_as(t.reshape(6, 4)),
]


@pytest.mark.parametrize("case", range(len(SHAPE_OPS)))
def test_shape_ops_and_reductions_match_torch(case):
    a = np.random.default_rng(case).standard_normal((2, 3, 4))
    (x,), (tx,) = twins(a)
    y, ty = SHAPE_OPS[case](x), SHAPE_OPS[case](tx)
    assert_same(y, ty, TOL64)
    if ty.requires_grad:
        w = np.random.default_rng(1).standard_normal(tuple(ty.shape))
        (y * sr.tensor(w)).sum().backward()
        (ty * torch.tensor(w)).sum().backward()
        assert_same(x.grad, tx.grad, TOL64)
    else:
        assert not y.requires_grad


def test_views_share_memory():
    t = sr.zeros(2, 3)
    for v in (t.view(6), t.reshape(3, 2), t.transpose(0, 1), t.permute(1, 0), t.unsqueeze(0), t[None].squeeze(0),
              t.t(), t.detach()):
        assert np.shares_memory(v.data, t.data)


@pytest.mark.parametrize("case", range(6))
def test_shape_errors_match_torch(case):
    ops_ = [
        lambda lib: lib.zeros(2, 3).transpose(0, 1).view(6),
        lambda lib: lib.zeros(2, 3).reshape(4, 2),
        lambda lib: lib.zeros(2, 3).view(-1, 4),
        lambda lib: lib.zeros(2, 3).sum(2),
        lambda lib: lib.zeros(2, 3).unsqueeze(3),
        lambda lib: lib.zeros(2, 3, dtype=lib.int64).mean(),
    ]
    ours, theirs = errors_of(lambda: ops_[case](sr), lambda: ops_[case](torch))
    assert ours == theirs


def test_ties_share_the_gradient_like_torch():
    (a, b), (ta, tb) = twins(np.array([1.0, 3.0, 3.0, -2.0]), np.array([1.0, 0.0, 3.0, -2.0]))
    (a.max() * 2 + a.min() + a.maximum(b).sum() * 3 + a.minimum(b).sum() * 5).backward()
    (ta.max() * 2 + ta.min() + ta.maximum(tb).sum() * 3 + ta.minimum(tb).sum() * 5).backward()
    assert_same(a.grad, ta.grad, TOL64)
    assert_same(b.grad, tb.grad, TOL64)


@pytest.mark.parametrize("shape", [(3, 4), (1, 1, 32), (4096,), (65, 64)])  # a new array up to 4096 elements, a view above
@pytest.mark.parametrize("reduce", ["sum", "mean", "sum_keepdim"])
def test_full_reduction_gradients_small_and_large_like_torch(shape, reduce):
    """A reduction over every element sends its gradient back to each element (``ops._expand_grad``:
    a filled array for small inputs, a broadcast view for large ones); the next op reads it alike."""
    a = np.random.default_rng(len(shape)).standard_normal(shape)
    (x,), (tx,) = twins(a)
    w = 1.0 + np.arange(a.size, dtype=np.float64).reshape(shape) / a.size

    def run(t, lib_w):
        y = t * lib_w
        out = y.sum() if reduce == "sum" else y.mean() if reduce == "mean" else y.sum(dim=tuple(range(len(shape))), keepdim=True)
        (out * 3.0).sum().backward()

    run(x, sr.tensor(w))
    run(tx, torch.tensor(w))
    assert_same(x.grad, tx.grad, TOL64)
    assert x.grad.numpy().flags.writeable


def test_sum_dtypes_like_torch():
    assert_same(sr.tensor([True, True]).sum(), torch.tensor([True, True]).sum())
    assert_same(sr.tensor([1, 2], dtype=sr.int32).sum(), torch.tensor([1, 2], dtype=torch.int32).sum())
    assert_same(sr.tensor(2.5).sum(0), torch.tensor(2.5).sum(0))


# ---------------------------------------------------------------------------------------------
# autograd
# ---------------------------------------------------------------------------------------------

EXPRESSIONS = [
    lambda lib, a, b, c: (a * b + c).sum(),
    lambda lib, a, b, c: (a / (b.abs() + 1) - c ** 2).mean(),
    lambda lib, a, b, c: (a @ b.unsqueeze(1)).tanh().sum(),
    lambda lib, a, b, c: a.exp().sigmoid().log().sum(),
    lambda lib, a, b, c: ((a.relu() + 1).sqrt() * c).sum(),
    lambda lib, a, b, c: (a.permute(1, 0).reshape(2, 6)[1:, ::2] ** 3).sum(),
    lambda lib, a, b, c: (a.unsqueeze(0).transpose(0, 2).squeeze() * b.unsqueeze(1)).sum(0).pow(2).sum(),
    lambda lib, a, b, c: (lib.cat([a, c, a * 2], 0) ** 2).sum() + lib.stack([b, b * c[0]], 1).tanh().sum(),
    lambda lib, a, b, c: a.max() + a.max(dim=1).values.sum() + a.min(0)[0].sum() + a.max(a * 0.5).sum(),
    lambda lib, a, b, c: (2 ** a + 1 / (a + 5) - (3 - a) * 2).sum(),
    lambda lib, a, b, c: (a.abs() + 0.5).pow(b).sum() + (2.0 ** b).sum(),
    lambda lib, a, b, c: a[[0, 0, 2]].sum() + a[:, lib.tensor([3, 3])].exp().sum(),
    lambda lib, a, b, c: (a.sum(dim=(0, 1), keepdim=True) * a).sum(),
    lambda lib, a, b, c: (a.t() @ a).tanh().mean(),
    lambda lib, a, b, c: a.clamp(-0.5, 0.5).sum() + a.maximum(c).sum() + a.minimum(b).sum(),
    lambda lib, a, b, c: (a.sum(1, keepdim=True) - a).pow(2).mean() + (a % 0.7).sum(),
    lambda lib, a, b, c: -(a.sigmoid() * b).sum() / (c.abs() + 1).sum(),
    lambda lib, a, b, c: (a.expand(2, 3, 4) * b).sum() + (a.flatten().view(2, 6).sum(0) ** 2).sum(),
    lambda lib, a, b, c: sum((row * b).tanh().sum() for row in a),
    lambda lib, a, b, c: (a.mean(1) + a.double().float().double().sum(1)).sum(),
    lambda lib, a, b, c: (lib.zeros(3, 4, dtype=lib.float64) + a).clone().contiguous().sum(),
]


@pytest.mark.parametrize("case", range(len(EXPRESSIONS)))
def test_gradients_match_torch_float64(case):
    rng = np.random.default_rng(case)
    arrays = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((1, 4))
    ours, theirs = twins(*arrays)
    y, ty = EXPRESSIONS[case](sr, *ours), EXPRESSIONS[case](torch, *theirs)
    assert_same(y, ty, TOL64)
    y.backward()
    ty.backward()
    for o, t in zip(ours, theirs):
        if t.grad is None:
            assert o.grad is None
        else:
            assert_same(o.grad, t.grad, TOL64)


@st.composite
def broadcastable_shapes(draw):
    """Two shapes that broadcast: b is a suffix of a with some dims set to 1 (or the reverse)."""
    shape = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    keep = draw(st.integers(0, len(shape)))
    other = [1 if draw(st.booleans()) else n for n in shape[len(shape) - keep:]]
    return (shape, other) if draw(st.booleans()) else (other, shape)


@given(shapes=broadcastable_shapes(), op=st.sampled_from(["add", "sub", "mul", "div", "pow", "max"]),
       seed=st.integers(0, 1000))
def test_broadcast_gradients_match_torch(shapes, op, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.random(shapes[0]) + 0.5, rng.random(shapes[1]) + 0.5
    fn = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
          "div": lambda x, y: x / y, "pow": lambda x, y: x ** y, "max": lambda x, y: x.maximum(y)}[op]
    (x, y), (tx, ty) = twins(a, b)
    out, tout = fn(x, y), fn(tx, ty)
    assert_same(out, tout, TOL64)
    w = rng.standard_normal(tuple(tout.shape))
    (out * sr.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    assert_same(x.grad, tx.grad, TOL64)
    assert_same(y.grad, ty.grad, TOL64)


@given(shapes=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3)), min_size=1, max_size=4),
       dim=st.integers(-3, 2), seed=st.integers(0, 100))
def test_cat_and_stack_match_torch(shapes, dim, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    ours, theirs = twins(*arrays)
    for fn in ("cat", "stack"):
        try:
            want = getattr(torch, fn)(theirs, dim)
        except (RuntimeError, IndexError) as err:
            with pytest.raises(type(err)) as got:
                getattr(sr, fn)(ours, dim)
            assert str(got.value) == str(err)
            continue
        y = getattr(sr, fn)(ours, dim)
        assert_same(y, want)
        w = rng.standard_normal(tuple(want.shape))
        (y * sr.tensor(w)).sum().backward()
        (want * torch.tensor(w)).sum().backward()
        for o, t in zip(ours, theirs):
            assert_same(o.grad, t.grad, TOL64)


def test_cat_promotes_and_refuses_an_empty_list():
    assert_same(sr.cat([sr.ones(2), sr.ones(1, dtype=sr.float64)]),
                torch.cat([torch.ones(2), torch.ones(1, dtype=torch.float64)]))
    ours, theirs = errors_of(lambda: sr.cat([]), lambda: torch.cat([]))
    assert ours == theirs


def test_gradients_accumulate_across_backward_calls_like_torch():
    (a,), (ta,) = twins(np.array([1.0, -2.0, 3.0]))
    for _ in range(3):
        (a * a).sum().backward()
        (ta * ta).sum().backward()
    assert_same(a.grad, ta.grad, TOL64)
    a.grad = None
    (a * 2).sum().backward()
    assert a.grad.tolist() == [2.0, 2.0, 2.0]


def test_backward_twice_through_one_graph():
    def run(lib, retain):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        y = (a.tanh() * a).sum()
        y.backward(retain_graph=retain)
        y.backward()
        return a.grad
    ours, theirs = errors_of(lambda: run(sr, False), lambda: run(torch, False))
    assert ours == theirs
    assert_same(run(sr, True), run(torch, True), TOL64)


def test_backward_argument_errors_match_torch():
    ours, theirs = errors_of(lambda: (sr.ones(2, requires_grad=True) * 2).backward(),
                             lambda: (torch.ones(2, requires_grad=True) * 2).backward())
    assert ours == theirs
    ours, theirs = errors_of(lambda: sr.ones(2).sum().backward(), lambda: torch.ones(2).sum().backward())
    assert ours == theirs
    y = sr.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        y.backward(sr.ones(3))


def test_backward_with_a_gradient_argument_and_retain_grad():
    (a,), (ta,) = twins(np.array([[1.0, -2.0], [0.5, 3.0]]))
    h, th = a.tanh(), ta.tanh()
    h.retain_grad()
    th.retain_grad()
    y, ty = h * a, th * ta
    g = np.array([[1.0, 2.0], [3.0, 4.0]])
    y.backward(sr.tensor(g))
    ty.backward(torch.tensor(g))
    assert_same(a.grad, ta.grad, TOL64)
    assert_same(h.grad, th.grad, TOL64)
    assert h.retains_grad and y.grad is None


def test_requires_grad_rules_like_torch():
    x = sr.ones(2, requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.requires_grad
    ours, theirs = errors_of(lambda: y.requires_grad_(False),
                             lambda: (torch.ones(2, requires_grad=True) * 2).requires_grad_(False))
    assert ours == theirs
    with pytest.raises(RuntimeError, match="floating point"):
        sr.tensor([1, 2]).requires_grad_()
    z = sr.ones(2)
    assert z.requires_grad_() is z and z.requires_grad
    assert not (x.detach() * 2).requires_grad


def test_float32_leaf_gets_a_float32_gradient():
    a = sr.ones(3, requires_grad=True)
    (a * sr.ones(3, dtype=sr.float64)).sum().backward()
    assert a.grad.dtype == np.float32


def test_inplace_operators_record_gradients_like_torch():
    def run(lib, x_a, b_a):
        x = lib.tensor(x_a, requires_grad=True)
        b = lib.tensor(b_a, requires_grad=True)
        y = x * 1
        y += b
        y *= x
        y -= 1
        y /= b
        y.add_(b, alpha=2).mul_(2).clamp_(-3, 3)
        y.sum().backward()
        return y, x.grad, b.grad
    x_a, b_a = np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.7, -0.4])
    for o, t in zip(run(sr, x_a, b_a), run(torch, x_a, b_a)):
        assert_same(o, t, TOL64)


def test_inplace_changes_of_saved_values_are_detected_like_torch():
    def run(lib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        x = a * 1
        y = x * x
        x += 1
        y.sum().backward()

    def run_out(lib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        y = a.tanh()
        y.add_(1)
        y.sum().backward()

    for fn in (run, run_out):
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            fn(torch)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            fn(sr)


def test_optimizer_style_updates_under_no_grad():
    w = sr.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(2):
        (w * w).sum().backward()
        with sr.no_grad():
            w -= 0.1 * w.grad
        w.grad.zero_()
    assert w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.data, np.array([1.0, 2.0]) * 0.8 * 0.8, rtol=1e-6)
    ours, theirs = errors_of(lambda: sr.ones(2, requires_grad=True).add_(1),
                             lambda: torch.ones(2, requires_grad=True).add_(1))
    assert ours == theirs


def test_deep_graphs_do_not_hit_the_recursion_limit():
    a = sr.tensor(0.5, dtype=sr.float64, requires_grad=True)
    y = a
    for _ in range(5000):
        y = y * 1.0001 + 0.0
    y.backward()
    assert a.grad.item() == pytest.approx(1.0001 ** 5000, rel=1e-9)


def test_autograd_grad_matches_torch_and_leaves_grad_alone():
    (a, b), (ta, tb) = twins(np.array([1.0, 2.0]), np.array([3.0, -1.0]))
    h, th = a * b, ta * tb
    y, ty = (h.tanh() * a).sum(), (th.tanh() * ta).sum()
    ga, gh = autograd.grad(y, [a, h], retain_graph=True)
    tga, tgh = torch.autograd.grad(ty, [ta, th], retain_graph=True)
    assert_same(ga, tga, TOL64)
    assert_same(gh, tgh, TOL64)
    assert a.grad is None and b.grad is None
    unused = sr.ones(1, requires_grad=True)
    assert autograd.grad(y, [a, unused], allow_unused=True)[1] is None
    with pytest.raises(RuntimeError, match="not have been used"):
        autograd.grad((a * 2).sum(), [unused])


# --- make_node: registering an externally computed op -----------------------------------------

def _cumsum(x):
    def backward(g):
        return (np.flip(np.cumsum(np.flip(g, 0), 0), 0),)
    return autograd.make_node(np.cumsum(x.detach().numpy(), 0), (x,), backward, name="CumsumBackward0")


def test_make_node_registers_a_differentiable_op():
    (a,), (ta,) = twins(np.array([[1.0, 2.0], [3.0, 4.0], [-1.0, 0.5]]))
    y, ty = _cumsum(a), torch.cumsum(ta, 0)
    assert_same(y, ty)
    assert repr(y).endswith("grad_fn=<CumsumBackward0>)")
    ((y * y).tanh().sum()).backward()
    ((ty * ty).tanh().sum()).backward()
    assert_same(a.grad, ta.grad, TOL64)
    with sr.no_grad():
        assert _cumsum(a).grad_fn is None
    assert _cumsum(a.detach()).grad_fn is None


def test_make_node_with_several_outputs():
    (a, b), (ta, tb) = twins(np.array([1.0, 2.0]), np.array([0.5, -3.0]))
    received = []

    def backward(grads):
        g1, g2 = grads
        received.append((g1.copy(), g2.copy()))
        return g1 * 2 + g2 * b.detach().numpy(), g2 * a.detach().numpy()

    y1, y2 = autograd.make_node((a.detach().numpy() * 2, a.detach().numpy() * b.detach().numpy()), (a, b), backward)
    assert y1.grad_fn is y2.grad_fn and y1.requires_grad and y2.requires_grad
    (y1.exp().sum() + (y2 * y2).sum()).backward()
    ((ta * 2).exp().sum() + ((ta * tb) * (ta * tb)).sum()).backward()
    assert_same(a.grad, ta.grad, TOL64)
    assert_same(b.grad, tb.grad, TOL64)
    a.grad = b.grad = None
    y1, y2 = autograd.make_node((a.detach().numpy() * 2, a.detach().numpy() * b.detach().numpy()), (a, b), backward)
    y1.sum().backward()  # y2 unused: its gradient arrives as zeros
    np.testing.assert_array_equal(received[-1][1], [0.0, 0.0])
    np.testing.assert_array_equal(a.grad.data, [2.0, 2.0])


def test_make_node_checks_gradients_and_saved_inputs():
    a = sr.ones(3, dtype=sr.float64, requires_grad=True)
    bad = autograd.make_node(a.detach().numpy() * 2, (a,), lambda g: (np.ones(4),), name="BadBackward")
    with pytest.raises(RuntimeError, match="BadBackward returned an invalid gradient at index 0"):
        bad.sum().backward()
    x = a * 1
    y = autograd.make_node(x.detach().numpy() * 2, (x,), lambda g: (g * 2,))
    x[0] = 5.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    z = autograd.make_node(a.detach().numpy() * 2, (a,), lambda g: (g * 2,))
    z.sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        z.sum().backward()


@given(st.integers(1, 400), st.integers(1, 20), st.booleans(), st.booleans(),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1))
def test_sum_over_the_last_dim_of_many_short_rows_matches_torch(rows, c, keepdim, three_d, dtype, seed):
    """``sum(-1)`` (``ops.reduce_last``: column by column where the rows are many and short):
    values and gradient as PyTorch's, with NaN and inf in some rows."""
    rng = np.random.default_rng(seed)
    shape = (2, rows, c) if three_d else (rows, c)
    a = rng.standard_normal(shape).astype(dtype)
    flat = a.reshape(-1, c)
    flat[0, 0] = np.nan
    if flat.shape[0] > 1:
        flat[1, -1] = np.inf
    t_in = torch.from_numpy(a).requires_grad_()
    s_in = sr.tensor(a, requires_grad=True)
    t_out, s_out = t_in.sum(-1, keepdim=keepdim), s_in.sum(-1, keepdim=keepdim)
    assert s_out.shape == tuple(t_out.shape) and s_out.dtype == s_in.dtype
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s_out.detach().numpy(), t_out.detach().numpy(), **tol)
    g = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
    t_out.backward(torch.from_numpy(g))
    s_out.backward(sr.tensor(g))
    np.testing.assert_allclose(s_in.grad.numpy(), t_in.grad.numpy(), **tol)
