"""The Tensor API that ported PyTorch programs use, against torch on the same numbers: integer dtypes and
legacy types, Size and dtype printing, ``.data``, sort/topk/narrow/gather/..., comparisons, ``new_*``,
the in-place family and its version counters, and the function forms (``sr.max``, ``sr.bmm``, ...)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import steprnn as sr

TOL64 = 1e-12


def twins(*arrays, grad=True):
    """The same float64 values as a steprnn and a torch tensor (both requiring grad)."""
    ours = [sr.tensor(a, requires_grad=grad) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=grad) for a in arrays]
    return ours, theirs


def same(ours, theirs, atol=0.0, what=""):
    want = theirs.detach().numpy()
    assert isinstance(ours, sr.Tensor), f"{what}: {type(ours).__name__}"
    assert tuple(ours.shape) == tuple(want.shape), f"{what}: shape {ours.shape} vs {tuple(want.shape)}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} vs {theirs.dtype}"
    np.testing.assert_allclose(ours.detach().numpy(), want, rtol=0, atol=atol, err_msg=what)


def distinct(shape, seed):
    """Values without ties (so that sort and topk orders are unique), float64."""
    n = int(np.prod(shape))
    rng = np.random.default_rng(seed)
    return (rng.permutation(n) + rng.uniform(0, 0.5, n)).reshape(shape) - n / 2


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


# --- dtypes, Size, legacy types ---------------------------------------------------------------

def test_size_and_dtype_print_like_torch():
    t = sr.zeros(2, 3)
    assert repr(t.shape) == "steprnn.Size([2, 3])" == str(t.size())
    assert repr(torch.zeros(2, 3).shape).replace("torch", "steprnn") == repr(t.shape)
    assert t.shape == (2, 3) and t.size() == torch.Size([2, 3]) and isinstance(t.shape, tuple)
    assert isinstance(t.shape[1:], sr.Size) and t.shape.numel() == 6 and t.size(1) == 3
    for ours, theirs in [(sr.float32, torch.float32), (sr.float64, torch.float64), (sr.long, torch.long),
                         (sr.int32, torch.int32), (sr.bool, torch.bool)]:
        assert str(ours) == str(theirs).replace("torch", "steprnn") == repr(ours)
        assert ours == theirs and ours == np.dtype(str(theirs).split(".")[1])
    assert sr.float32 == np.float32 and np.dtype("float32") == sr.float32 and sr.float32 != sr.float64
    assert sr.zeros(2, dtype=sr.int64).dtype is sr.int64 and sr.float32.is_floating_point and not sr.long.is_floating_point
    assert np.zeros(2, dtype=sr.int32).dtype == np.int32 and {np.dtype("float64"): 1}[sr.float64] == 1
    assert pickle.loads(pickle.dumps(sr.float64)) is sr.float64 and pickle.loads(pickle.dumps(t.shape)) == (2, 3)


def test_integer_dtypes_index_and_convert_like_torch():
    x = np.array([[0.7, 2.2], [3.9, -1.5]])
    for method in ("long", "int", "bool", "float", "double"):
        same(getattr(sr.tensor(x), method)(), getattr(torch.tensor(x), method)(), what=method)
    assert sr.tensor([1, 2]).dtype == sr.int64 and sr.arange(3).dtype == sr.long
    assert sr.tensor([1.0], dtype=sr.int32).dtype == sr.int32
    same(sr.LongTensor([1, 2, 3]), torch.LongTensor([1, 2, 3]))
    same(sr.FloatTensor([[1, 2]]), torch.FloatTensor([[1, 2]]))
    assert sr.FloatTensor(2, 3).shape == (2, 3) and sr.LongTensor(4).dtype == sr.long
    assert isinstance(sr.tensor([1]), sr.LongTensor) and not isinstance(sr.tensor([1.0]), sr.LongTensor)
    assert isinstance(sr.zeros(1), sr.FloatTensor)
    assert sr.zeros(1).type() == "steprnn.FloatTensor" and sr.tensor([1]).type() == "steprnn.LongTensor"
    assert sr.zeros(2).type(sr.LongTensor).dtype == sr.long and sr.zeros(2).type("torch.DoubleTensor").dtype == sr.double
    with pytest.raises(TypeError, match="data .* or sizes"):
        sr.LongTensor(1.5, 2)


# --- .data and messages -------------------------------------------------------------------------

def test_data_is_a_tensor_sharing_memory_outside_autograd():
    p = sr.nn.Parameter(np.array([1.0, 2.0]))
    (p * 3).sum().backward()
    d = p.data
    assert isinstance(d, sr.Tensor) and not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), p.detach().numpy())
    p.data.add_(p.grad, alpha=-0.5)
    np.testing.assert_array_equal(p.detach().numpy(), [-0.5, 0.5])
    assert p.requires_grad and p.is_leaf
    p.data = sr.tensor([5.0, 6.0], dtype=sr.float64)
    np.testing.assert_array_equal(p.detach().numpy(), [5.0, 6.0])
    values, indices = sr.tensor([[1.0, 5.0], [7.0, 2.0]]).data.max(1)  # "outputs.data.max(1)"
    np.testing.assert_array_equal(indices.numpy(), [1, 0])


def test_missing_attributes_say_what_steprnn_covers():
    with pytest.raises(AttributeError, match="'Tensor' object has no attribute 'stft': steprnn implements") as e:
        sr.zeros(2).stft
    assert "recurrent models" in str(e.value)
    with pytest.raises(AttributeError, match="no attribute 'fft': steprnn implements the part of torch"):
        sr.fft
    assert not hasattr(sr.zeros(1), "_missing") and hasattr(sr.zeros(1), "sort")


# --- selection, with gradients ------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(shapes, st.integers(0, 10**6), st.data())
def test_sort_topk_argsort_match_torch(shape, seed, data):
    x = distinct(shape, seed)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    descending = data.draw(st.booleans())
    (a,), (ta,) = twins(x)
    v, i = a.sort(dim, descending=descending)
    tv, ti = ta.sort(dim, descending=descending)
    same(v, tv, what="sort values")
    same(i, ti, what="sort indices")
    same(sr.argsort(a, dim, descending), torch.argsort(ta, dim, descending), what="argsort")
    k = data.draw(st.integers(0, shape[dim]))
    largest = data.draw(st.booleans())
    tv2, ti2 = ta.topk(k, dim, largest=largest)
    v2, i2 = sr.topk(a, k, dim, largest=largest)
    same(v2, tv2, what="topk values")
    same(i2, ti2, what="topk indices")
    w = np.random.default_rng(seed).standard_normal(x.shape)
    ((v * sr.tensor(w)).sum() + (v2 ** 2).sum()).backward()
    ((tv * torch.tensor(w)).sum() + (tv2 ** 2).sum()).backward()
    same(a.grad, ta.grad, TOL64, "grad")


def test_sort_keeps_ties_in_order_and_nan_largest_like_torch():
    x = np.array([2.0, 1.0, 2.0, np.nan, 1.0, 0.5])
    for descending in (False, True):
        v, i = sr.tensor(x).sort(descending=descending, stable=True)
        tv, ti = torch.tensor(x).sort(descending=descending, stable=True)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        sr.zeros(3).topk(4)


@settings(max_examples=30, deadline=None)
@given(shapes, st.data())
def test_narrow_is_a_view_with_torchs_gradient(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    start = data.draw(st.integers(-n, n - 1))
    length = data.draw(st.integers(0, n - (start % n)))
    (a,), (ta,) = twins(distinct(shape, 0))
    out, tout = a.narrow(dim, start, length), ta.narrow(dim, start, length)
    same(out, tout, what="narrow")
    (out * 2).sum().backward()
    (tout * 2).sum().backward()
    same(a.grad, ta.grad, what="grad")
    base = sr.zeros(*shape)
    if length:
        base.narrow(dim, start, length).fill_(1.0)
        assert base.sum().item() == out.numel()
    with pytest.raises(RuntimeError, match="exceeds dimension size"):
        sr.zeros(*shape).narrow(dim, 0, n + 1)


@settings(max_examples=25, deadline=None)
@given(shapes, st.integers(0, 10**6))
def test_where_masked_fill_gather_index_select_repeat_match_torch(shape, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape[-1:])
    mask = rng.random(shape) < 0.4
    (a, b), (ta, tb) = twins(x, y)
    d = len(shape) - 1
    idx = rng.integers(0, shape[d], size=shape)
    sel = rng.integers(0, shape[0], size=3)
    reps = (2,) + tuple(rng.integers(1, 3, size=len(shape)))
    pairs = [
        (sr.where(sr.tensor(mask), a, b), torch.where(torch.tensor(mask), ta, tb)),
        (sr.where(sr.tensor(mask), a, 0.5), torch.where(torch.tensor(mask), ta, 0.5)),
        (a.masked_fill(sr.tensor(mask), -1.0), ta.masked_fill(torch.tensor(mask), -1.0)),
        (a.gather(d, sr.tensor(idx)), ta.gather(d, torch.tensor(idx))),
        (a.index_select(0, sr.tensor(sel)), ta.index_select(0, torch.tensor(sel))),
        (a.repeat(*reps), ta.repeat(*reps)),
        (a.cumsum(0), ta.cumsum(0)),
        (a.var(d), ta.var(d)),
        (a.std(), ta.std()),
        (a.norm(), ta.norm()),
        (a.round(), ta.round()),
    ]
    total, ttotal = 0, 0
    for k, (ours, theirs) in enumerate(pairs):
        same(ours, theirs, 1e-12, f"op {k}")
        w = rng.standard_normal(tuple(theirs.shape))
        total = total + (ours * sr.tensor(w)).sum()
        ttotal = ttotal + (theirs * torch.tensor(w)).sum()
    total.backward()
    ttotal.backward()
    same(a.grad, ta.grad, 1e-10, "grad a")
    same(b.grad, tb.grad, 1e-10, "grad b")


@settings(max_examples=25, deadline=None)
@given(shapes, st.integers(0, 10**6))
def test_comparisons_match_torch(shape, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.integers(-2, 3, size=shape).astype(float), rng.integers(-2, 3, size=shape[-1:]).astype(float)
    a, b, ta, tb = sr.tensor(x), sr.tensor(y), torch.tensor(x), torch.tensor(y)
    for op in ("eq", "ne", "lt", "le", "gt", "ge"):
        same(getattr(a, op)(b), getattr(ta, op)(tb), what=op)
        same(getattr(sr, op)(a, 1.0), getattr(torch, op)(ta, 1.0), what=f"sr.{op}")
    assert sr.equal(a, a.clone()) and a.equal(b) == torch.equal(ta, tb)
    same(a.any(), ta.any())
    same((a > 0).all(-1), (ta > 0).all(-1))


def test_new_tensors_take_this_dtype():
    for dt, tdt in [(sr.float64, torch.float64), (sr.long, torch.long)]:
        a, ta = sr.zeros(2, dtype=dt), torch.zeros(2, dtype=tdt)
        same(a.new_zeros(2, 3), ta.new_zeros(2, 3))
        same(a.new_ones((3,)), ta.new_ones((3,)))
        same(a.new_full((2,), 7), ta.new_full((2,), 7))
        same(a.new_tensor([1, 2]), ta.new_tensor([1, 2]))
        same(a.new_empty(4).zero_(), ta.new_empty(4).zero_())
    assert sr.zeros(1).new_zeros(2, dtype=sr.float64, requires_grad=True).requires_grad


# --- in place --------------------------------------------------------------------------------------

def test_inplace_family_values_and_version_counters_match_torch():
    x = np.array([[0.5, -1.5, 2.0], [1.0, 3.0, -0.25]])
    a, ta = sr.tensor(x), torch.tensor(x)
    steps = [("add_", (1.5,), {}), ("add_", (np.ones(3),), {"alpha": 2}), ("mul_", (0.5,), {}),
             ("sub_", (np.full(3, 0.25),), {}), ("div_", (2.0,), {}), ("clamp_", (), {"min": -0.5, "max": 1.0}),
             ("exp_", (), {}), ("pow_", (2,), {}), ("neg_", (), {}), ("tanh_", (), {}), ("sigmoid_", (), {}),
             ("copy_", (x[::-1].copy(),), {}), ("unsqueeze_", (0,), {}), ("squeeze_", (0,), {}),
             ("t_", (), {}), ("fill_", (3.0,), {}), ("zero_", (), {})]
    for name, args, kwargs in steps:
        ours = getattr(a, name)(*[sr.tensor(v) if isinstance(v, np.ndarray) else v for v in args], **kwargs)
        theirs = getattr(ta, name)(*[torch.tensor(v) if isinstance(v, np.ndarray) else v for v in args], **kwargs)
        assert ours is a and theirs is ta
        same(a, ta, 1e-15, name)
        assert a._version == ta._version, f"{name}: version {a._version} vs torch's {ta._version}"


def test_inplace_changes_are_recorded_and_checked_like_torch():
    (w,), (tw,) = twins(np.array([1.0, -2.0, 3.0]))
    y, ty = w * 2, tw * 2
    y.mul_(w), ty.mul_(tw)
    y.masked_fill_(sr.tensor([False, True, False]), 0.0)
    ty.masked_fill_(torch.tensor([False, True, False]), 0.0)
    y.sum().backward()
    ty.sum().backward()
    same(w.grad, tw.grad, what="grad through mul_ and masked_fill_")
    z = w.exp()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.add_(1.0)
    z.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
    u = sr.zeros(3)
    u.unsqueeze_(1)
    assert u.shape == (3, 1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [5, 16, 37])
def test_normal_and_uniform_draw_torchs_numbers(dtype, n):
    for seed in (0, 7):
        sr.manual_seed(seed)
        torch.manual_seed(seed)
        a, ta = sr.zeros(n, dtype=getattr(sr, dtype)), torch.zeros(n, dtype=getattr(torch, dtype))
        a.normal_(0.5, 2.0), ta.normal_(0.5, 2.0)
        same(a, ta, what="normal_")
        a.uniform_(-1.0, 3.0), ta.uniform_(-1.0, 3.0)
        same(a, ta, what="uniform_")
    with pytest.raises(RuntimeError, match="not implemented for 'int64'"):
        sr.zeros(2, dtype=sr.long).normal_()


# --- function forms ------------------------------------------------------------------------------

FUNCTIONS = [
    ("max", lambda m, x, y: m.max(x)), ("max_dim", lambda m, x, y: m.max(x, 1)[0]),
    ("max_idx", lambda m, x, y: m.max(x, 1, keepdim=True)[1]), ("min_dim", lambda m, x, y: m.min(x, 0).values),
    ("argmax", lambda m, x, y: m.argmax(x, 1)), ("argmin", lambda m, x, y: m.argmin(x)),
    ("softmax", lambda m, x, y: m.softmax(x, dim=1)), ("log_softmax", lambda m, x, y: m.log_softmax(x, 1)),
    ("sigmoid", lambda m, x, y: m.sigmoid(x)), ("tanh", lambda m, x, y: m.tanh(x)),
    ("exp", lambda m, x, y: m.exp(x)), ("log", lambda m, x, y: m.log(m.abs(x) + 1)),
    ("sum", lambda m, x, y: m.sum(x, 1)), ("mean", lambda m, x, y: m.mean(x)),
    ("matmul", lambda m, x, y: m.matmul(x, y)), ("mm", lambda m, x, y: m.mm(x, y)),
    ("bmm", lambda m, x, y: m.bmm(x.unsqueeze(0).repeat(2, 1, 1), y.unsqueeze(0).repeat(2, 1, 1))),
    ("where", lambda m, x, y: m.where(x > 0, x, x * 3)), ("cat", lambda m, x, y: m.cat([x, x * 2], 1)),
    ("stack", lambda m, x, y: m.stack([x, -x], 2)), ("sqrt", lambda m, x, y: m.sqrt(x * x + 1)),
    ("clamp", lambda m, x, y: m.clamp(x, -0.5, 0.5)), ("transpose", lambda m, x, y: m.transpose(x, 0, 1)),
    ("squeeze", lambda m, x, y: m.squeeze(m.unsqueeze(x, 0))), ("flatten", lambda m, x, y: m.flatten(x)),
    ("narrow", lambda m, x, y: m.narrow(x, 1, 1, 2)), ("topk", lambda m, x, y: m.topk(x, 2).values),
    ("sort", lambda m, x, y: m.sort(x, 0, descending=True).values), ("relu", lambda m, x, y: m.relu(x)),
    ("maximum", lambda m, x, y: m.maximum(x, x * 0.5)), ("pow", lambda m, x, y: m.pow(x, 2)),
    ("zeros_like", lambda m, x, y: m.zeros_like(x) + x), ("ones_like", lambda m, x, y: m.ones_like(x) * x),
]


@pytest.mark.parametrize("name,fn", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_function_forms_match_torch_with_gradients(name, fn):
    rng = np.random.default_rng(len(name))
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    (a, b), (ta, tb) = twins(x, y)
    ours, theirs = fn(sr, a, b), fn(torch, ta, tb)
    same(ours, theirs, 1e-12, name)
    if theirs.requires_grad:
        w = rng.standard_normal(tuple(theirs.shape))
        (ours * sr.tensor(w)).sum().backward()
        (theirs * torch.tensor(w)).sum().backward()
        for p, tp in ((a, ta), (b, tb)):
            if tp.grad is None:
                assert p.grad is None or not np.any(p.grad.numpy()), name
            else:
                same(p.grad, tp.grad, 1e-12, f"{name} grad")


def test_arange_and_bmm_errors_and_default_device():
    same(sr.arange(5), torch.arange(5))
    same(sr.arange(1, 2, 0.25), torch.arange(1, 2, 0.25))
    with pytest.raises(RuntimeError, match="batch1 must be a 3D tensor"):
        sr.bmm(sr.zeros(2, 3), sr.zeros(2, 3, 4))
    with pytest.raises(RuntimeError, match=r"Expected size for first two dimensions of batch2 tensor"):
        sr.bmm(sr.zeros(2, 3, 4), sr.zeros(2, 5, 4))
    assert sr.get_default_device() == sr.device("cpu")
    sr.set_default_device("cpu")
    assert sr.get_default_device() == "cpu"


def test_multinomial_follows_torchs_stream():
    w = np.array([[0.1, 0.5, 0.4, 0.0], [1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    for replacement in (True, False):
        sr.manual_seed(3)
        torch.manual_seed(3)
        same(sr.multinomial(sr.tensor(w), 3, replacement=replacement),
             torch.multinomial(torch.tensor(w), 3, replacement=replacement))


def test_sizes_and_dtypes_round_trip_through_save_load(tmp_path):
    path = tmp_path / "meta.pt"
    sr.save({"shape": sr.zeros(2, 3).shape, "dtype": sr.float64, "ids": sr.LongTensor([1, 2])}, path)
    back = sr.load(path)  # weights_only=True by default: Size and dtypes are allowed, as in torch
    assert back["shape"] == (2, 3) and isinstance(back["shape"], sr.Size) and back["dtype"] is sr.float64
    assert back["ids"].dtype == sr.long


def test_numpy_reductions_accept_tensors():
    """``np.sum(t)``, ``np.all(t)``: NumPy calls the methods with ``axis=``/``out=`` (torch refuses; we accept)."""
    x = np.array([[1.0, 0.0], [2.0, 3.0]])
    for fn, kw in [(np.sum, {}), (np.mean, {"axis": 1}), (np.all, {}), (np.any, {"axis": 0}),
                   (np.sum, {"axis": 0, "keepdims": True})]:
        ours = fn(sr.tensor(x), **kw)
        assert isinstance(ours, sr.Tensor)
        np.testing.assert_array_equal(ours.numpy(), fn(x, **kw), err_msg=fn.__name__)
