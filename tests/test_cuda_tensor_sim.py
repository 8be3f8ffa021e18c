"""CUDA tensors under Numba's CUDA simulator (or on a real GPU when there is one): transfers, operations, gradients, in-place writers,
``Module.to('cuda')`` and the interface the CUDA layers build on (``steprnn.cuda_tensor``).

Run by ``test_devices.py`` in a subprocess with ``NUMBA_ENABLE_CUDASIM=1`` (the variable must be set
before ``numba`` is first imported); skipped in a normal run. Every CUDA result is compared with the
same computation on the CPU: operations without a CUDA kernel run the same NumPy code on the host
copy, so values and gradients must be equal bit for bit, and the result must live on CUDA.
"""
from __future__ import annotations

import io
import os

import numpy as np
import pytest

pytest.importorskip("numba_cuda", reason="the CUDA tests need numba-cuda (the test and gpu extras)")
if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    import steprnn

    if not steprnn.cuda.is_available():  # on a machine with a GPU these tests run on it directly
        pytest.skip("runs under the CUDA simulator, in a subprocess started by test_devices.py",
                    allow_module_level=True)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from numba import cuda  # noqa: E402

import steprnn as sr  # noqa: E402
import steprnn.nn as nn  # noqa: E402
import steprnn.nn.functional as F  # noqa: E402
from steprnn import autograd  # noqa: E402
from steprnn.cuda_tensor import CudaTensor, device_values, is_cuda  # noqa: E402

NUMPY_MESSAGE = ("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host "
                 "memory first.")
MIXED = r"Expected all tensors to be on the same device, but found at least two devices, (cuda:0 and cpu|cpu and cuda:0)!"


def host(t):
    """The values of a Tensor on either device, as an ndarray (through ``.cpu()`` for CUDA)."""
    return t.detach().cpu().numpy()


def device_now(t) -> np.ndarray:
    """What the device array holds right now (what a kernel would read)."""
    return t._device_array().copy_to_host()


def twins(*arrays, grad=True):
    """Each array as a CPU leaf and as a CUDA leaf (same values)."""
    cpu = [sr.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    gpu = [sr.tensor(a, device="cuda", requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    return cpu, gpu


# --- devices, transfers and refusals ----------------------------------------------------------------

def test_cuda_queries_reflect_the_simulator():
    assert sr.cuda.is_available() and sr.cuda.device_count() == 1
    assert sr.cuda.current_device() == 0 and isinstance(sr.cuda.get_device_name(), str)
    sr.cuda.synchronize()
    sr.cuda.manual_seed(1)
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        sr.zeros(2, device="cuda:1")


@given(st.lists(st.floats(-1e3, 1e3, width=32), min_size=1, max_size=12), st.sampled_from(["float32", "float64"]),
       st.sampled_from(["1-d", "0-d", "2-d", "transposed", "empty"]))
def test_transfers_round_trip_and_report_the_device(values, dtype, layout):
    a = np.asarray(values, dtype=dtype)
    a = {"1-d": a, "0-d": a[0, ...] if a.ndim else a, "2-d": np.stack([a, a]), "transposed": np.stack([a, a]).T,
         "empty": a[:0]}[layout]
    if layout == "0-d":
        a = np.asarray(a)
        assert a.shape == ()
    for t in (sr.tensor(a).cuda(), sr.tensor(a).to("cuda"), sr.tensor(a, device="cuda"), sr.tensor(a).to("cuda:0"),
              sr.tensor(a).to(sr.device("cuda", 0)), sr.as_tensor(a, device="cuda")):
        assert isinstance(t, CudaTensor) and is_cuda(t) and t.is_cuda
        assert t.device == sr.device("cuda:0") and repr(t.device) == "device(type='cuda', index=0)"
        assert t.dtype == a.dtype and t.shape == a.shape
        np.testing.assert_array_equal(host(t), a)
        np.testing.assert_array_equal(device_now(t), a)
        back = t.cpu()
        assert not is_cuda(back) and back.device == sr.device("cpu")
        np.testing.assert_array_equal(back.numpy(), a)
        assert t.to("cuda") is t and t.cuda() is t
        assert t.to("cpu", sr.float64).dtype == np.float64 and not t.to("cpu", sr.float64).is_cuda
        assert t.to(sr.float64).is_cuda


def test_numpy_and_asarray_refuse_with_torchs_message():
    t = sr.ones(2, 3, device="cuda")
    for convert in (t.numpy, lambda: np.asarray(t), lambda: np.array(t), lambda: t.detach().numpy()):
        with pytest.raises(TypeError) as err:
            convert()
        assert str(err.value) == NUMPY_MESSAGE
    assert t.cpu().numpy().shape == (2, 3)
    assert t.sum().item() == 6.0 and t.tolist() == [[1.0] * 3] * 2
    assert t.type() == "steprnn.cuda.FloatTensor" and t.long().type() == "steprnn.cuda.LongTensor"
    assert is_cuda(t.type(sr.float64)) and t.type(sr.float64).dtype == np.float64


def test_repr_is_torchs():
    t = sr.tensor([1.0, 2.5], device="cuda", requires_grad=True)
    assert repr(t) == "tensor([1.0000, 2.5000], device='cuda:0', requires_grad=True)"
    assert repr(t * 2) == "tensor([2., 5.], device='cuda:0', grad_fn=<MulBackward0>)"
    m = nn.Linear(1, 2)
    with sr.no_grad():
        m.bias.fill_(0.5)
    m.cuda()
    assert repr(m.bias) == "Parameter containing:\ntensor([0.5000, 0.5000], device='cuda:0', requires_grad=True)"


def test_creation_functions_take_device_and_like_functions_follow_it():
    sr.manual_seed(0)
    made = [sr.zeros(2, 3, device="cuda"), sr.ones(2, device="cuda"), sr.empty(2, device="cuda"),
            sr.full((2,), 3.0, device="cuda"), sr.arange(4, device="cuda"), sr.randn(3, device="cuda"),
            sr.rand(3, device="cuda"), sr.randint(0, 5, (3,), device="cuda")]
    assert all(is_cuda(t) for t in made)
    x = sr.zeros(2, device="cuda")
    for t in (sr.zeros_like(x), sr.ones_like(x), sr.full_like(x, 2.0), sr.rand_like(x), sr.randn_like(x),
              x.new_zeros(3), x.new_ones(3), x.new_full((3,), 1.0), x.new_tensor([1.0]), x.new_empty(2)):
        assert is_cuda(t), t
    assert not is_cuda(sr.zeros_like(x, device="cpu")) and not is_cuda(x.new_zeros(2, device="cpu"))
    probs = sr.tensor([[0.2, 0.8], [0.5, 0.5]], device="cuda")
    for t in (sr.tensor(x), sr.multinomial(probs, 1), sr.bernoulli(probs), sr.normal(probs, 1.0),
              sr.randperm(3, device="cuda"), *sr.where(probs > 0.3)):
        assert is_cuda(t), t
    assert not is_cuda(sr.tensor(x, device="cpu"))
    # same seed, same values on either device (steprnn draws on the host from one generator)
    sr.manual_seed(3)
    a = sr.randn(5, device="cuda")
    sr.manual_seed(3)
    np.testing.assert_array_equal(host(a), sr.randn(5).numpy())


# --- operations: CUDA results equal the CPU results, live on CUDA, gradients too -----------------------

OPS = {
    "add": lambda a, b, c, y: a + b,
    "sub_scalar": lambda a, b, c, y: 2.0 - a,
    "mul_0d_cpu": lambda a, b, c, y: a * sr.tensor(3.0),
    "div": lambda a, b, c, y: a / (b.abs() + 1),
    "matmul": lambda a, b, c, y: a @ c,
    "pow": lambda a, b, c, y: a ** 2,
    "unary": lambda a, b, c, y: (-a).exp().tanh() + a.sigmoid() + a.relu(),
    "reductions": lambda a, b, c, y: a.sum(0) * a.mean(1).sum() + a.var(1).sum() + a.norm(),
    "indexing": lambda a, b, c, y: a[1:, ::2] * 2 + a[0].sum(),
    "fancy_index": lambda a, b, c, y: a[[0, 0]] + a[a.shape[0] - 1],
    "views": lambda a, b, c, y: a.reshape(-1).view(a.shape).t().transpose(0, 1).unsqueeze(0).squeeze(0).permute(1, 0),
    "cat_stack": lambda a, b, c, y: sr.cat([a, b], 1) @ sr.stack([c, c], 0).reshape(-1, c.shape[1]),
    "softmax": lambda a, b, c, y: F.softmax(a, 1) * F.log_softmax(b, 1),
    "max_clamp": lambda a, b, c, y: a.max(1).values + a.clamp(-0.5, 0.5).sum(1),
    "where_mask": lambda a, b, c, y: sr.where(a > 0, a, b).masked_fill(b > 0.5, 0.0),
    "linear": lambda a, b, c, y: F.linear(a, c.t(), c[0]),
    "mse": lambda a, b, c, y: F.mse_loss(a, b),
    "cross_entropy": lambda a, b, c, y: F.cross_entropy(a @ c, y),
    "inplace": lambda a, b, c, y: (a * 1).mul_(b).add_(1.0).clamp_(-1.0, 1.0),
    "setitem": lambda a, b, c, y: _setitem(a, b),
    "clone_copy": lambda a, b, c, y: a.clone().copy_(b * 2),
}


def _setitem(a, b):
    out = a * 1
    out[0] = b[0]
    return out


@settings(max_examples=12)
@given(st.sampled_from(sorted(OPS)), st.integers(2, 4), st.integers(1, 4), st.integers(1, 3),
       st.sampled_from(["float32", "float64"]), st.integers(0, 2**16))
def test_operations_on_cuda_tensors_equal_the_cpu_and_stay_on_cuda(name, n, m, k, dtype, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((2, n, m)).astype(dtype)
    c = rng.standard_normal((m, k)).astype(dtype)
    y = rng.integers(0, k, n)
    (ca, cb, cc, cy), (ga, gb, gc, gy) = twins(a, b, c, y)
    out_cpu, out_gpu = OPS[name](ca, cb, cc, cy), OPS[name](ga, gb, gc, gy)
    assert is_cuda(out_gpu) and not is_cuda(out_cpu), name
    np.testing.assert_array_equal(host(out_gpu), out_cpu.detach().numpy(), err_msg=name)
    w = rng.standard_normal(out_cpu.shape).astype(dtype)
    (out_cpu * sr.tensor(w)).sum().backward()
    (out_gpu * sr.tensor(w, device="cuda")).sum().backward()
    for cpu_leaf, gpu_leaf, what in ((ca, ga, "a"), (cb, gb, "b"), (cc, gc, "c")):
        if cpu_leaf.grad is None:
            assert gpu_leaf.grad is None, (name, what)
            continue
        assert is_cuda(gpu_leaf.grad), (name, what)
        np.testing.assert_array_equal(host(gpu_leaf.grad), cpu_leaf.grad.numpy(), err_msg=f"{name}: d/d{what}")


def test_results_without_history_stay_on_cuda():
    a = sr.tensor([[1.0, -2.0], [3.0, 0.5]], device="cuda")
    for t in (a > 0, a == a, a.argmax(1), a.argmin(), (a > 0).any(), (a > 0).all(), a.sort(1).indices,
              a.max(1).indices, a.topk(1).indices, a.long(), a.bool(), ~(a > 0), (a > 0) & (a < 2), a.detach(),
              a.data, a.clone(), a.contiguous(), a.float(), a.double(), a.sum(0, keepdim=True)):
        assert is_cuda(t), repr(t)
    with sr.no_grad():
        assert is_cuda(a * 2)


@pytest.mark.parametrize("mix", [
    lambda g, c: g + c, lambda g, c: c * g, lambda g, c: g @ c, lambda g, c: sr.cat([g, c]),
    lambda g, c: sr.stack([c, g]), lambda g, c: F.mse_loss(g, c), lambda g, c: sr.where(c > 0, g, c),
    lambda g, c: F.linear(g, c), lambda g, c: g > c, lambda g, c: g.maximum(c),
], ids=["add", "rmul", "matmul", "cat", "stack", "mse", "where", "linear", "compare", "maximum"])
def test_mixing_cuda_and_cpu_raises_torchs_error(mix):
    g = sr.ones(2, 2, device="cuda", requires_grad=True)
    c = sr.ones(2, 2)
    with pytest.raises(RuntimeError, match=MIXED):
        mix(g, c)
    with sr.no_grad(), pytest.raises(RuntimeError, match=MIXED):
        mix(g.detach(), c)


def test_a_model_on_cuda_refuses_cpu_input_and_a_cpu_target():
    model = nn.Linear(3, 2).cuda()
    with pytest.raises(RuntimeError, match=MIXED):
        model(sr.ones(4, 3))
    out = model(sr.ones(4, 3, device="cuda"))
    with pytest.raises(RuntimeError, match=MIXED):
        F.cross_entropy(out, sr.zeros(4, dtype=sr.int64))
    assert is_cuda(F.cross_entropy(out, sr.zeros(4, dtype=sr.int64, device="cuda")))


# --- differentiable transfers --------------------------------------------------------------------

@given(st.integers(1, 5), st.sampled_from(["float32", "float64"]), st.integers(0, 2**16))
def test_gradients_flow_back_across_transfers(n, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n).astype(dtype)
    x = sr.tensor(a, requires_grad=True)            # CPU leaf → CUDA → CPU
    y = (x.cuda() * 3).cpu().to("cuda").exp()
    assert is_cuda(y) and y.grad_fn is not None
    y.sum().backward()
    assert not is_cuda(x.grad)
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp(3 * a), rtol=1e-6)
    g = sr.tensor(a, device="cuda", requires_grad=True)  # CUDA leaf used on the CPU
    (g.cpu() ** 2).sum().backward()
    assert is_cuda(g.grad)
    np.testing.assert_array_equal(host(g.grad), 2 * a)


# --- where the values are: the storage contract -------------------------------------------------------

def test_from_device_wraps_without_copy_and_metadata_transfers_nothing():
    dev = cuda.to_device(np.arange(12, dtype=np.float32).reshape(3, 4))
    t = CudaTensor._from_device(dev)
    assert t._device_array() is dev
    assert (t.shape, t.dtype, t.ndim, t.dim(), t.size(), t.size(1), t.numel(), len(t)) == \
        ((3, 4), np.float32, 2, 2, (3, 4), 4, 12, 3)
    assert t._st.host is None, "metadata must not download"
    np.testing.assert_array_equal(host(t), np.arange(12).reshape(3, 4))
    assert t._device_array() is dev, "a read did not need a new upload"


def test_host_writes_are_seen_by_the_device_and_device_writes_by_the_host():
    t = sr.zeros(2, 3, device="cuda")
    d0 = t._device_array()
    t._data[0, 1] = 5.0                     # a host writer (as an optimizer does)
    assert device_now(t)[0, 1] == 5.0
    assert t._device_array() is d0, "the re-upload goes into the same device memory"
    d0[1, 2] = 7.0                          # a kernel writes into the device array
    t._device_written()
    assert host(t)[1, 2] == 7.0
    t._data = np.ones((4,), np.float32)      # rebinding
    assert t.shape == (4,) and device_now(t).tolist() == [1.0] * 4


ACTIONS = st.one_of(
    st.tuples(st.just("host_write"), st.integers(0, 2), st.integers(0, 3), st.integers(-9, 9)),
    st.tuples(st.just("kernel_write"), st.integers(0, 2), st.integers(0, 3), st.integers(-9, 9)),
    st.tuples(st.just("row_fill"), st.integers(0, 2), st.integers(-9, 9)),
    st.tuples(st.just("column_mul"), st.integers(0, 3), st.integers(-3, 3)),
    st.tuples(st.just("old_view_add"), st.integers(-9, 9)),
    st.tuples(st.just("setitem"), st.integers(0, 2), st.integers(-9, 9)),
    st.tuples(st.just("optimizer_like"), st.integers(-9, 9)),
    st.tuples(st.just("read"), st.sampled_from(["device", "host", "row", "old_view", "transposed", "column"])),
)


@settings(max_examples=60)
@given(st.lists(ACTIONS, max_size=25))
def test_no_stale_copy_on_either_side_whatever_the_order_of_reads_and_writes(actions):
    """A model array follows every write; every read, on either side, through any view, must equal it."""
    t = sr.zeros(3, 4, device="cuda")
    model = np.zeros((3, 4), np.float32)
    old_view = t[1]
    for action in actions + [("read", r) for r in ("device", "host", "row", "old_view", "transposed", "column")]:
        kind = action[0]
        stamp = (t._generation(), t._version)  # what a cache of arrays derived from t is keyed on
        with sr.no_grad():
            if kind == "host_write":
                _, i, j, v = action
                t._data[i, j] = v
                model[i, j] = v
            elif kind == "kernel_write":
                _, i, j, v = action
                d = t._device_array()
                d[i, j] = v
                t._device_written()
                model[i, j] = v
            elif kind == "row_fill":
                t[action[1]].fill_(action[2])
                model[action[1]] = action[2]
            elif kind == "column_mul":
                t[:, action[1]].mul_(action[2])
                model[:, action[1]] *= action[2]
            elif kind == "old_view_add":
                old_view.add_(action[1])
                model[1] += action[1]
            elif kind == "setitem":
                t[action[1], 1:3] = action[2]
                model[action[1], 1:3] = action[2]
            elif kind == "optimizer_like":  # what SGD does: read the values, write new ones in place
                np.copyto(t._data, t._data * 0.5 + action[1], casting="same_kind")
                model[...] = model * np.float32(0.5) + action[1]
            else:
                what = action[1]
                got, want = {
                    "device": (lambda: device_now(t), model), "host": (lambda: host(t), model),
                    "row": (lambda: device_now(t[2]), model[2]), "old_view": (lambda: device_now(old_view), model[1]),
                    "transposed": (lambda: device_now(t.t()), model.T), "column": (lambda: host(t[:, 3]), model[:, 3]),
                }[what]
                np.testing.assert_array_equal(got(), want, err_msg=f"{what} after {actions}")
        if kind != "read":
            assert (t._generation(), t._version) != stamp, f"{action} left the cache key unchanged"


def test_generation_changes_on_host_hand_outs_rebinds_and_device_writes_only():
    """``_generation()``: a new number after ``_data`` (a hand-out for writing), a rebind and a kernel's
    write; not after uploads or host reads; never the same number on two storages."""
    t = sr.zeros(2, 3, device="cuda")
    u = sr.zeros(2, 3, device="cuda")
    assert t._generation() != u._generation()
    g = t._generation()
    t._device_array()
    host(t)
    repr(t)
    assert t._generation() == g, "reads and uploads keep the generation"
    seen = {g}
    for write in (lambda: t._data, lambda: t._device_written(), lambda: setattr(t, "_data", t._data[:1]),
                  lambda: setattr(t, "_data", np.ones((2,), np.float32)), lambda: setattr(t, "data", u)):
        write()
        assert t._generation() not in seen
        seen.add(t._generation())
    t._data.flat[0] = 4.0                 # a host write without a version bump ...
    g = t._generation()
    d = t._device_array()                 # ... someone else uploads it: the generation still says it changed
    assert t._generation() == g and d.copy_to_host().flat[0] == 4.0


def test_views_share_memory_with_their_base_on_cuda():
    t = sr.zeros(3, 4, device="cuda")
    row, col, flat = t[1], t[:, 2], t.view(-1)
    assert all(is_cuda(v) and v._st is t._st for v in (row, col, flat))
    row.add_(1.0)
    col.fill_(2.0)
    flat[0] = 9.0
    expected = np.zeros((3, 4), np.float32)
    expected[1] += 1
    expected[:, 2] = 2
    expected[0, 0] = 9
    np.testing.assert_array_equal(device_now(t), expected)
    np.testing.assert_array_equal(device_now(row), expected[1])
    np.testing.assert_array_equal(device_now(col), expected[:, 2])  # a non-contiguous view: a contiguous copy
    t.data.mul_(2)                                                  # .data writes through
    np.testing.assert_array_equal(device_now(row), 2 * expected[1])
    d = t.detach()
    d.zero_()
    assert not host(t).any()


def test_device_values_and_make_node_with_device_arrays():
    """The interface of cuda-layers: a kernel-made op whose outputs and gradients are device arrays."""
    x = sr.tensor([1.0, 2.0, 3.0], device="cuda", requires_grad=True)
    assert device_values(x) is x._device_array()
    assert device_values(np.ones(2)).copy_to_host().tolist() == [1.0, 1.0]
    assert device_values(sr.ones(2)).copy_to_host().tolist() == [1.0, 1.0]
    received = []

    def backward(g):
        received.append(type(g).__name__)
        gd = device_values(g)
        out = cuda.device_array(gd.shape, gd.dtype)
        out.copy_to_device(gd.copy_to_host() * 2)
        return (out,)

    def double(t):
        return autograd.make_node(cuda.to_device(t._device_array().copy_to_host() * 2), (t,), backward,
                                  name="DoubleBackward")

    y = double(x)
    assert is_cuda(y) and y.grad_fn.name() == "DoubleBackward"
    z = double(y) + y          # two gradient contributions for y: summed (on the device when both are)
    z.sum().backward()
    assert is_cuda(x.grad)
    np.testing.assert_array_equal(host(x.grad), [6.0, 6.0, 6.0])
    y2 = double(x)
    y2.sum().backward()          # accumulation into an existing CUDA .grad
    np.testing.assert_array_equal(host(x.grad), [8.0, 8.0, 8.0])
    (gx,) = sr.autograd.grad(double(x).sum(), x)
    assert is_cuda(gx) and host(gx).tolist() == [2.0] * 3
    with sr.no_grad():
        assert is_cuda(double(x)) and double(x).grad_fn is None
    from steprnn.cuda_tensor import _glue, add_arrays, is_device_array
    s = add_arrays(cuda.to_device(np.ones(3)), cuda.to_device(np.full(3, 2.0)))
    assert (s if isinstance(s, np.ndarray) else s.copy_to_host()).tolist() == [3.0] * 3
    assert is_device_array(s) == (_glue() is not None), "two device gradients are summed on the device"


# --- in-place writers never leave a stale copy -----------------------------------------------------------

def _fresh_device(t):
    """Make both copies current (the state after a kernel read the values)."""
    t._device_array()
    return t


WRITERS = {
    "copy_from_cpu": lambda t: t.copy_(sr.full(t.shape, 4.0)),
    "copy_to_cpu": None,
    "setitem": lambda t: t.__setitem__((0,), 3.0),
    "fill_zero": lambda t: t.fill_(2.0).add_(t).zero_().add_(1.5),
    "uniform_": lambda t: nn.init.uniform_(t, -1, 1),
    "xavier": lambda t: nn.init.xavier_uniform_(t),
    "data_assign": lambda t: setattr(t, "data", sr.full(t.shape, 6.0, device="cuda")),
}


@pytest.mark.parametrize("name", [n for n in WRITERS if WRITERS[n] is not None])
def test_in_place_writers_keep_both_copies_right(name):
    sr.manual_seed(0)
    t = _fresh_device(sr.zeros(3, 4, device="cuda"))
    c = sr.zeros(3, 4)
    with sr.no_grad():
        WRITERS[name](t)
        sr.manual_seed(0)
        WRITERS[name](c) if name != "data_assign" else setattr(c, "data", sr.full(c.shape, 6.0))
    np.testing.assert_array_equal(device_now(t), c.numpy(), err_msg=name)
    np.testing.assert_array_equal(host(t), c.numpy(), err_msg=name)


def test_setitem_copies_values_between_devices_with_gradients():
    g = sr.zeros(2, 3, device="cuda", requires_grad=True)
    out = g * 1
    v = sr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out[0] = v                                  # a CPU value into a CUDA tensor
    assert is_cuda(out)
    (out * sr.tensor([[1.0], [2.0]], device="cuda")).sum().backward()
    assert not is_cuda(v.grad) and v.grad.numpy().tolist() == [1.0, 1.0, 1.0]
    assert is_cuda(g.grad) and host(g.grad).tolist() == [[0.0] * 3, [2.0] * 3]
    c = sr.zeros(2)
    c[:] = sr.ones(2, device="cuda")            # and a CUDA value into a CPU tensor
    assert not is_cuda(c) and c.numpy().tolist() == [1.0, 1.0]


def test_copy_into_a_cpu_tensor_from_cuda():
    c = sr.zeros(3, requires_grad=False)
    g = sr.tensor([1.0, 2.0, 3.0], device="cuda", requires_grad=True)
    out = c.clone().requires_grad_(False)
    out.copy_(g)
    assert not is_cuda(out)
    np.testing.assert_array_equal(out.detach().numpy(), [1.0, 2.0, 3.0])


def _train_steps(model, opt, x, y, steps=3, clip=None):
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("make_opt", [
    lambda p: sr.optim.SGD(p, lr=0.3, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda p: sr.optim.Adam(p, lr=0.05, amsgrad=True), lambda p: sr.optim.AdamW(p, lr=0.05),
], ids=["sgd", "adam", "adamw"])
def test_optimizer_made_before_to_cuda_trains_the_same_as_on_the_cpu(make_opt):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 3, 8)

    def build():
        sr.manual_seed(1)
        return nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.BatchNorm1d(6), nn.Linear(6, 3))

    cpu, gpu = build(), build()
    cpu_opt = make_opt(cpu.parameters())
    params = list(gpu.parameters())
    gpu_opt = make_opt(gpu.parameters())            # made before .to: keeps working, as in torch
    assert gpu.to("cuda") is gpu
    assert all(p is q and is_cuda(p) and isinstance(p, nn.Parameter) for p, q in zip(gpu.parameters(), params))
    assert all(is_cuda(b) for b in gpu.buffers())
    for p in gpu.parameters():
        _fresh_device(p)  # the device copy is current, as after a kernel read it
    l_cpu = _train_steps(cpu, cpu_opt, sr.tensor(x), sr.tensor(y), clip=1.0)
    l_gpu = _train_steps(gpu, gpu_opt, sr.tensor(x, device="cuda"), sr.tensor(y, device="cuda"), clip=1.0)
    assert l_cpu == l_gpu
    for (name, p), q in zip(cpu.named_parameters(), gpu.parameters()):
        np.testing.assert_array_equal(device_now(q), p.detach().numpy(), err_msg=name)
        assert is_cuda(q.grad)
    for (name, b), q in zip(cpu.named_buffers(), gpu.buffers()):
        np.testing.assert_array_equal(host(q), b.numpy(), err_msg=name)
    assert all(is_cuda(v) for s in gpu_opt.state.values() for k, v in s.items() if k != "step" and
               isinstance(v, sr.Tensor))
    gpu.cpu()
    assert all(not is_cuda(p) and not is_cuda(p.grad) for p in gpu.parameters())
    for (name, p), q in zip(cpu.named_parameters(), gpu.parameters()):
        np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy(), err_msg=name)


def test_state_dicts_and_save_load_on_cuda(tmp_path):
    sr.manual_seed(0)
    model = nn.Linear(3, 2).cuda()
    sd = model.state_dict()
    assert all(type(v) is np.ndarray for v in sd.values())
    other = nn.Linear(3, 2).cuda()
    for p in other.parameters():
        _fresh_device(p)
    other.load_state_dict(sd)
    for p, q in zip(model.parameters(), other.parameters()):
        np.testing.assert_array_equal(device_now(q), host(p))
    buf = io.BytesIO()
    sr.save({"w": model.weight, "sd": model.state_dict()}, buf)
    buf.seek(0)
    loaded = sr.load(buf)
    assert is_cuda(loaded["w"]) and isinstance(loaded["w"], nn.Parameter)
    np.testing.assert_array_equal(host(loaded["w"]), host(model.weight))
    buf.seek(0)
    assert not is_cuda(sr.load(buf, map_location="cpu")["w"])


def test_module_to_device_and_dtype_together():
    m = nn.Linear(2, 2)
    w = m.weight
    m.to("cuda", sr.float64)
    assert m.weight is w and is_cuda(w) and w.dtype == np.float64
    assert is_cuda(m(sr.ones(1, 2, device="cuda", dtype=sr.float64)))
    m.to(sr.zeros(1))   # a CPU float32 tensor: both its device and dtype
    assert not is_cuda(w) and w.dtype == np.float32


def test_layers_built_with_device_cuda_hold_cuda_parameters():
    for m in (nn.Linear(2, 3, device="cuda"), nn.Embedding(4, 2, device="cuda"), nn.BatchNorm1d(3, device="cuda"),
              nn.Sequential(nn.Linear(2, 2, device="cuda"))):
        assert all(is_cuda(p) and isinstance(p, nn.Parameter) for p in m.parameters()), m
        assert all(is_cuda(b) for b in m.buffers()), m
    assert not any(is_cuda(p) for p in nn.Linear(2, 3).parameters())

    class Model(nn.Module):  # a user's module: moves only when told to, as in torch
        def __init__(self):
            super().__init__()
            self.device = "cuda"
            self.head = nn.Linear(2, 2)

    model = Model()
    assert not any(is_cuda(p) for p in model.parameters())
    assert all(is_cuda(p) for p in model.to(model.device).parameters())


def test_grad_assignment_checks_the_device():
    p = sr.zeros(2, device="cuda", requires_grad=True)
    with pytest.raises(RuntimeError, match="different device"):
        p.grad = sr.zeros(2)
    p.grad = np.ones(2, np.float32)
    assert is_cuda(p.grad)


def test_packing_parameters_copies_and_pickles_keep_the_device():
    import copy
    import pickle

    from steprnn.nn.utils.rnn import pack_padded_sequence, pack_sequence, pad_packed_sequence, pad_sequence

    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 3, 2)).astype(np.float32)
    (c,), (g,) = twins(a)
    pc, pg = pack_padded_sequence(c, [4, 3, 2]), pack_padded_sequence(g, [4, 3, 2])
    assert pg.is_cuda and is_cuda(pg.data) and not pc.is_cuda
    assert not pg.batch_sizes.is_cuda  # batch sizes stay on the CPU, as in torch
    (oc, lc), (og, lg) = pad_packed_sequence(pc), pad_packed_sequence(pg)
    assert is_cuda(og) and not is_cuda(lg)
    np.testing.assert_array_equal(host(og), oc.detach().numpy())
    (og * og).sum().backward()
    (oc * oc).sum().backward()
    assert is_cuda(g.grad)
    np.testing.assert_array_equal(host(g.grad), c.grad.numpy())
    assert is_cuda(pad_sequence([g[0], g[1, :2]])) and pack_sequence([g[0], g[1, :2]]).is_cuda
    assert not pg.cpu().is_cuda and pg.cpu().cuda().is_cuda and pg.to(sr.float64).is_cuda
    p = nn.Parameter(sr.ones(2, device="cuda"))
    assert is_cuda(p) and isinstance(p, nn.Parameter) and p.requires_grad
    model = nn.Linear(2, 3).cuda()
    twin = copy.deepcopy(model)
    assert is_cuda(twin.weight) and twin.weight is not model.weight
    np.testing.assert_array_equal(host(twin.weight), host(model.weight))
    t = pickle.loads(pickle.dumps(sr.arange(3.0, device="cuda")))
    assert is_cuda(t) and host(t).tolist() == [0.0, 1.0, 2.0]
    assert not is_cuda(sr.Tensor(t)) and sr.Tensor(t).numpy().tolist() == [0.0, 1.0, 2.0]


# --- the whole model: needs the CUDA layer path (cuda-layers) -----------------------------------------

def _layers_on_cuda() -> bool:
    try:
        import steprnn.nn.rnn_cuda  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.xfail(not _layers_on_cuda(), strict=True,
                   reason="needs the recurrent layers' CUDA path (steprnn/nn/rnn_cuda.py, cuda-layers' branch)")
def test_lstm_classifier_trained_on_cuda_ends_with_the_cpu_parameters():
    """LSTM + Linear + cross-entropy + Adam, a few steps: the same parameters on both devices."""

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 4, batch_first=True)
            self.head = nn.Linear(4, 3)

        def forward(self, x):
            out, (h, c) = self.lstm(x)
            return self.head(out[:, -1])

    rng = np.random.default_rng(0)
    # small: the simulator runs every CUDA thread as a Python thread
    x, y = rng.standard_normal((3, 4, 3)).astype(np.float32), rng.integers(0, 3, 3)
    sr.manual_seed(0)
    cpu = Classifier()
    sr.manual_seed(0)
    gpu = Classifier()
    opt_cpu, opt_gpu = sr.optim.Adam(cpu.parameters(), lr=0.05), sr.optim.Adam(gpu.parameters(), lr=0.05)
    gpu.to("cuda")
    l_cpu = _train_steps(cpu, opt_cpu, sr.tensor(x), sr.tensor(y), steps=3)
    l_gpu = _train_steps(gpu, opt_gpu, sr.tensor(x, device="cuda"), sr.tensor(y, device="cuda"), steps=3)
    np.testing.assert_allclose(l_gpu, l_cpu, rtol=0, atol=1e-5)
    for (name, p), q in zip(cpu.named_parameters(), gpu.parameters()):
        assert is_cuda(q) and is_cuda(q.grad), name
        np.testing.assert_allclose(device_now(q), p.detach().numpy(), rtol=0, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(host(q.grad), p.grad.numpy(), rtol=0, atol=1e-5, err_msg=name)
    assert is_cuda(gpu(sr.tensor(x, device="cuda")))
