"""The recurrent layers and cells on ``device='cuda'`` equal the same layers on the CPU and PyTorch,
under Numba's CUDA simulator. Run by ``test_cuda_kernels.py`` in a subprocess with
``NUMBA_ENABLE_CUDASIM=1`` (set before ``numba`` is first imported); skipped in a normal run.

Covered: forward, trace and backward (input, initial states, every parameter) of every layer and
cell; stacked, bidirectional, ``proj_size``, ``batch_first``, unbatched, packed (unsorted) input,
given and default states, dropout between layers; the weight cache following parameter changes
(host writes uploaded by others too) and dropped by ``.cpu()``; a trace's metadata fixed at the forward;
the glue kernels (``kernels/cuda/glue.py``) and ``_dispatch`` on raw device arrays; the
wrong-device errors. The simulator runs each CUDA thread as a Python thread: sizes are tiny.
"""
from __future__ import annotations

import copy
import os

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    pytest.skip("runs under the CUDA simulator, in a subprocess started by test_cuda_kernels.py",
                allow_module_level=True)
pytest.importorskip("numba_cuda", reason="the CUDA tests need numba-cuda (the test and gpu extras)")

import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from numba import cuda  # noqa: E402

import steprnn as sr  # noqa: E402
import steprnn.nn as nn  # noqa: E402
from helpers import TOL, twin_layers  # noqa: E402
from steprnn.nn.utils.rnn import PackedSequence, pack_padded_sequence  # noqa: E402

KINDS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def host(t) -> np.ndarray:
    """The values of a steprnn or torch tensor (CUDA ones copied back) as a NumPy array."""
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.detach().cpu().numpy()


def same(got, want, dtype, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN pattern")
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL[np.dtype(dtype)], err_msg=what)


def states_of(kind: str, result):
    """(output, [h_n] or [h_n, c_n]) of a layer's result; output a tensor or PackedSequence's data."""
    out, state = result
    out = out.data if isinstance(out, (PackedSequence, torch.nn.utils.rnn.PackedSequence)) else out
    return out, (list(state) if kind == "lstm" else [state])


def cuda_twin(module):
    """The same module on CUDA: a deep copy moved with ``.to('cuda')``."""
    return copy.deepcopy(module).to("cuda")


def loss_weights(shapes, dtype, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def weighted_sum(tensors, weights, device):
    total = None
    for t, w in zip(tensors, weights):
        if isinstance(t, torch.Tensor):
            term = (t * torch.from_numpy(w)).sum()
        else:
            wt = sr.from_numpy(w)
            term = (t * (wt.to("cuda") if device == "cuda" else wt)).sum()
        total = term if total is None else total + term
    return total


def check_layer(kind: str, dtype, T: int, N: int, I: int, H: int, *, num_layers=1, bidirectional=False,
                batch_first=False, proj_size=0, lengths=None, unbatched=False, with_hx=True, seed=0,
                nonlinearity=None) -> None:
    """Forward, trace and backward of one configuration on CUDA against the CPU layer and torch."""
    dtype = np.dtype(dtype)
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    if proj_size:
        kw["proj_size"] = proj_size
    if nonlinearity:
        kw["nonlinearity"] = nonlinearity
    tm, cpu = twin_layers(kind, I, H, dtype, seed=seed, **kw)
    gpu = cuda_twin(cpu)
    assert all(p.is_cuda for p in gpu.parameters())
    rng = np.random.default_rng(seed + 1)
    D = 2 if bidirectional else 1
    P = proj_size or H
    LD = num_layers * D
    shape = (T, I) if unbatched else ((N, T, I) if batch_first else (T, N, I))
    x = rng.standard_normal(shape).astype(dtype)
    hx_np = []
    if with_hx:
        sshape = (LD, P) if unbatched else (LD, N, P)
        hx_np.append(rng.standard_normal(sshape).astype(dtype))
        if kind == "lstm":
            hx_np.append(rng.standard_normal(sshape[:-1] + (H,)).astype(dtype))

    def leaves(device):
        if device == "torch":
            ts = [torch.tensor(a, requires_grad=True) for a in [x, *hx_np]]
        else:
            ts = [sr.tensor(a, requires_grad=True) for a in [x, *hx_np]]
            if device == "cuda":
                ts = [t.detach().to("cuda").requires_grad_() for t in ts]
        return ts[0], ts[1:]

    def call(module, device):
        xl, hl = leaves(device)
        inp = xl
        if lengths is not None:
            if device == "torch":
                inp = torch.nn.utils.rnn.pack_padded_sequence(xl, torch.tensor(lengths), batch_first=batch_first,
                                                              enforce_sorted=False)
                data = inp.data.detach().requires_grad_()
                inp = torch.nn.utils.rnn.PackedSequence(data, inp.batch_sizes, inp.sorted_indices,
                                                        inp.unsorted_indices)
            else:
                packed = pack_padded_sequence(sr.from_numpy(x), np.array(lengths), batch_first=batch_first,
                                              enforce_sorted=False)
                data = packed.data.detach()
                data = (data.to("cuda") if device == "cuda" else data).requires_grad_()
                inp = PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
            xl = data
        hx = None
        if hl:
            hx = tuple(hl) if kind == "lstm" else hl[0]
        return module(inp, hx), xl, hl

    results = {}
    traces = {}
    for device, module in (("torch", tm), ("cpu", cpu), ("cuda", gpu)):
        if device == "torch":
            result, xl, hl = call(module, device)
        else:  # one traced forward: the trace, and the graph backward runs through
            with sr.tracing(module) as rec:
                result, xl, hl = call(module, device)
            traces[device] = rec[""]
        out, st_ = states_of(kind, result)
        ws = loss_weights([tuple(out.shape)] + [tuple(s.shape) for s in st_], dtype, seed + 2)
        weighted_sum([out, *st_], ws, device).backward()
        grads = {"x": xl.grad, **{f"hx{i}": h.grad for i, h in enumerate(hl)}}
        grads.update({n: p.grad for n, p in module.named_parameters()})
        results[device] = (out, st_, grads)
    out, st_, grads = results["cuda"]
    assert out.is_cuda and all(s.is_cuda for s in st_)
    for name, g in grads.items():
        assert g is not None and g.is_cuda, f"{name}: gradient not on CUDA"
    what = f"{kind} {dtype} T={T} N={N} L={num_layers} D={D} proj={proj_size} bf={batch_first} lengths={lengths}"
    for ref in ("cpu", "torch"):
        r_out, r_st, r_grads = results[ref]
        same(host(out), host(r_out), dtype, f"{what}: output vs {ref}")
        for i, (a, b) in enumerate(zip(st_, r_st)):
            same(host(a), host(b), dtype, f"{what}: state {i} vs {ref}")
        for name, g in grads.items():
            same(host(g), host(r_grads[name]), dtype, f"{what}: d/d{name} vs {ref}")

    # the trace: every recorded array equals the CPU trace's, and so do dL/dh_t, dL/dc_t of every step
    tr_c, tr_g = traces["cpu"], traces["cuda"]
    assert sorted(tr_g.arrays) == sorted(tr_c.arrays)
    for key, value in tr_c.arrays.items():
        assert isinstance(tr_g.arrays[key], np.ndarray), key
        same(tr_g.arrays[key], value, dtype, f"{what}: trace {key}")
    assert tr_g.meta == tr_c.meta
    for layer in range(num_layers):
        for d in range(D):
            same(tr_g.grad_h(layer, d), tr_c.grad_h(layer, d), dtype, f"{what}: trace grad_h l{layer}d{d}")
            if kind == "lstm":
                same(tr_g.grad_c(layer, d), tr_c.grad_c(layer, d), dtype, f"{what}: trace grad_c l{layer}d{d}")


# -- layers ----------------------------------------------------------------------------------------

def test_lstm_stacked_bidirectional_projection_batch_first():
    check_layer("lstm", np.float64, 3, 2, 3, 3, num_layers=2, bidirectional=True, batch_first=True, proj_size=2)


def test_gru_packed_unsorted_bidirectional():
    check_layer("gru", np.float32, 4, 3, 2, 3, bidirectional=True, lengths=[2, 4, 1], with_hx=True)


def test_lstm_packed_unsorted_default_state():
    check_layer("lstm", np.float64, 3, 3, 2, 2, lengths=[1, 3, 2], with_hx=False, seed=3)


def test_rnn_relu_unbatched_stacked():
    check_layer("rnn", np.float64, 3, 1, 2, 3, num_layers=2, unbatched=True, nonlinearity="relu", seed=5)


@settings(max_examples=int(os.environ.get("STEPRNN_CUDASIM_EXAMPLES", "3")))
@given(kind=st.sampled_from(["rnn", "lstm", "gru"]), dtype=st.sampled_from([np.float32, np.float64]),
       T=st.integers(1, 3), N=st.integers(1, 2), H=st.integers(1, 2), bidirectional=st.booleans(),
       batch_first=st.booleans(), with_hx=st.booleans(), seed=st.integers(0, 1000))
def test_drawn_layers(kind, dtype, T, N, H, bidirectional, batch_first, with_hx, seed):
    check_layer(kind, dtype, T, N, 2, H, bidirectional=bidirectional, batch_first=batch_first, with_hx=with_hx,
                seed=seed)


def test_dropout_between_layers_draws_the_cpu_mask():
    """In training mode a CUDA layer drops the same units as the CPU layer under the same seed."""
    sr.manual_seed(0)
    cpu = nn.GRU(2, 3, num_layers=2, dropout=0.5, dtype=np.float64)
    gpu = cuda_twin(cpu)
    x = np.random.default_rng(0).standard_normal((3, 2, 2))
    results = []
    for module, dev in ((cpu, "cpu"), (gpu, "cuda")):
        module.train()
        sr.manual_seed(7)
        xt = sr.from_numpy(x).to(dev).requires_grad_() if dev == "cuda" else sr.from_numpy(x).requires_grad_()
        out, h = module(xt)
        (out.sum() + (h * h).sum()).backward()
        results.append((host(out), host(h), host(xt.grad), host(module.weight_ih_l0.grad)))
    for a, b in zip(*results):
        same(a, b, np.float64, "dropout")


def test_cells_equal_cpu_and_torch():
    for kind in ("rnncell", "lstmcell", "grucell"):
        for unbatched in (False, True):
            dtype = np.float64
            tm, cpu = twin_layers(kind, 2, 3, dtype, seed=1)
            gpu = cuda_twin(cpu)
            rng = np.random.default_rng(2)
            x = rng.standard_normal((2,) if unbatched else (2, 2))
            hs = [rng.standard_normal((3,) if unbatched else (2, 3)) for _ in range(2 if kind == "lstmcell" else 1)]
            got = {}
            for dev, module in (("torch", tm), ("cpu", cpu), ("cuda", gpu)):
                if dev == "torch":
                    leaves = [torch.tensor(a, requires_grad=True) for a in [x, *hs]]
                else:
                    leaves = [sr.tensor(a, requires_grad=True) for a in [x, *hs]]
                    if dev == "cuda":
                        leaves = [t.detach().to("cuda").requires_grad_() for t in leaves]
                hx = tuple(leaves[1:]) if kind == "lstmcell" else leaves[1]
                res = module(leaves[0], hx)
                outs = list(res) if kind == "lstmcell" else [res]
                ws = loss_weights([tuple(o.shape) for o in outs], dtype, 3)
                weighted_sum(outs, ws, dev).backward()
                got[dev] = [host(o) for o in outs] + [host(t.grad) for t in leaves] + \
                    [host(p.grad) for _, p in module.named_parameters()]
                if dev == "cuda":
                    assert all(o.is_cuda for o in outs)
            for ref in ("cpu", "torch"):
                for i, (a, b) in enumerate(zip(got["cuda"], got[ref])):
                    same(a, b, dtype, f"{kind} unbatched={unbatched} item {i} vs {ref}")
            xt = sr.from_numpy(x)
            hxt = tuple(sr.from_numpy(h) for h in hs) if kind == "lstmcell" else sr.from_numpy(hs[0])
            hxg = tuple(h.to("cuda") for h in hxt) if kind == "lstmcell" else hxt.to("cuda")
            tr_c, tr_g = sr.trace(cpu, xt, hxt), sr.trace(gpu, xt.to("cuda"), hxg)
            assert sorted(tr_g.arrays) == sorted(tr_c.arrays)
            for key, value in tr_c.arrays.items():
                same(tr_g.arrays[key], value, dtype, f"{kind} trace {key}")


def test_device_argument_and_tracing_a_model():
    """``device='cuda'`` at construction gives CUDA parameters with the CPU's initial values; ``sr.tracing``
    records a CUDA layer inside a model; the recorded arrays are host arrays equal to the CPU's."""
    sr.manual_seed(3)
    cpu = nn.LSTM(2, 3)
    sr.manual_seed(3)
    gpu = nn.LSTM(2, 3, device="cuda")
    assert all(p.is_cuda and isinstance(p, nn.Parameter) for p in gpu.parameters())
    for (n, a), (_, b) in zip(cpu.named_parameters(), gpu.named_parameters()):
        np.testing.assert_array_equal(host(a), host(b), err_msg=n)
    model_c, model_g = nn.Sequential(cpu), nn.Sequential(gpu)
    x = sr.randn(4, 2, 2)
    with sr.tracing(model_c) as rc:
        model_c(x)
    with sr.tracing(model_g) as rg:
        out, _ = model_g(x.to("cuda"))
    assert out.is_cuda
    tc, tg = rc["0"], rg["0"]
    for g in ("i", "f", "g", "o"):
        same(tg.gate(g), tc.gate(g), np.float32, g)
    same(tg.c(), tc.c(), np.float32, "c")
    same(tg.h(), host(out), np.float32, "h equals the output")


def test_weights_follow_parameter_changes():
    """The device weight layouts are cached, and rebuilt after an optimizer step or load_state_dict."""
    sr.manual_seed(0)
    cpu = nn.GRU(2, 2, dtype=np.float64)
    gpu = cuda_twin(cpu)
    x = sr.randn(3, 1, 2, dtype=sr.float64)
    xg = x.to("cuda")
    opt_c = sr.optim.SGD(cpu.parameters(), lr=0.5)
    opt_g = sr.optim.SGD(gpu.parameters(), lr=0.5)
    for step in range(2):
        for module, opt, xin in ((cpu, opt_c, x), (gpu, opt_g, xg)):
            opt.zero_grad()
            out, h = module(xin)
            (out * out).sum().backward()
            opt.step()
        with sr.no_grad():
            same(host(gpu(xg)[0]), host(cpu(x)[0]), np.float64, f"after step {step}")
    state = {k: np.ones_like(v) * 0.1 for k, v in cpu.state_dict().items()}
    cpu.load_state_dict(state)
    gpu.load_state_dict(state)
    with sr.no_grad():
        same(host(gpu(xg)[0]), host(cpu(x)[0]), np.float64, "after load_state_dict")


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_weight_cache_sees_a_host_write_uploaded_by_someone_else(kind):
    """A host write into a parameter without a version bump, then another reader's ``_device_array()``
    (which uploads it) before the next forward: the next forward must use the new values."""
    sr.manual_seed(4)
    cpu = getattr(nn, kind)(2, 3, dtype=np.float64)
    gpu = cuda_twin(cpu)
    x = sr.randn(3, 2, 2, dtype=sr.float64)
    xg = x.to("cuda")
    with sr.no_grad():
        gpu(xg)  # fills the weight cache
        for module in (cpu, gpu):
            module.weight_hh_l0._data[...] = 0.25  # no version bump
        gpu.weight_hh_l0._device_array()  # someone else uploads the new values
        same(host(gpu(xg)[0]), host(cpu(x)[0]), np.float64, "after a host write")


@pytest.mark.parametrize("how", ["cpu", "to", "parent"])
def test_moving_to_the_cpu_drops_the_device_weight_cache(how):
    """``.cpu()`` / ``.to('cpu')`` (on the layer or on a model holding it) leave no device arrays on it."""
    sr.manual_seed(5)
    layer = nn.LSTM(2, 3, num_layers=2, device="cuda")
    model = nn.Sequential(layer)
    x = sr.randn(3, 1, 2)
    with sr.no_grad():
        layer(x.to("cuda"))
    assert "_cuda_weight_cache" in layer.__dict__
    {"cpu": layer.cpu, "to": lambda: layer.to("cpu"), "parent": model.cpu}[how]()
    assert "_cuda_weight_cache" not in layer.__dict__
    with sr.no_grad():
        assert not layer(x)[0].is_cuda


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_a_cpu_module_refuses_a_cuda_hidden_state(kind):
    """A CPU layer or cell given CPU input and a CUDA ``hx`` raises PyTorch's error (no silent download),
    in forward and in a trace; the same CPU ``hx`` works."""
    module = getattr(nn, kind)(2, 3)
    cell = kind.endswith("Cell")
    x = sr.randn(4, 2) if cell else sr.randn(3, 4, 2)
    h = sr.zeros(4, 3) if cell else sr.zeros(1, 4, 3)
    hx = (h, h) if kind.startswith("LSTM") else h
    module(x, hx)
    hx_cuda = (h.to("cuda"), h.to("cuda")) if kind.startswith("LSTM") else h.to("cuda")
    message = ("Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
               if cell else "Input and hidden tensors are not at the same device, found input tensor at cpu and "
                            "hidden tensor at cuda:0")
    for call in (lambda: module(x, hx_cuda), lambda: sr.trace(module, x, hx_cuda)):
        with pytest.raises(RuntimeError) as err:
            call()
        assert str(err.value) == message
    if kind.startswith("LSTM"):  # one of the two on CUDA is enough
        with pytest.raises(RuntimeError, match="cuda:0"):
            module(x, (h, h.to("cuda")))


@pytest.mark.parametrize("kind", ["GRU", "LSTMCell"])
def test_a_cuda_trace_reports_the_module_as_it_was_when_traced(kind):
    """The metadata of a CUDA trace is the module's at the forward: a later ``.to(dtype)`` (or
    attribute change) does not change it; it equals the CPU trace's."""
    sr.manual_seed(6)
    cpu = getattr(nn, kind)(2, 3)
    gpu = cuda_twin(cpu)
    x = sr.randn(3, 2) if kind.endswith("Cell") else sr.randn(4, 3, 2)
    tr_c = sr.trace(cpu, x)
    tr_g = sr.trace(gpu, x.to("cuda"))
    gpu.to(sr.float64)
    if not kind.endswith("Cell"):
        gpu.batch_first = True
    assert tr_g.meta == tr_c.meta and tr_g.meta["dtype"] == "float32"
    assert tr_g.arrays[sorted(tr_g.arrays)[0]].dtype == np.float32


def test_wrong_device_errors():
    gpu = nn.LSTM(2, 3, device="cuda")
    with pytest.raises(RuntimeError, match="Input and parameter tensors are not at the same device, found input "
                                           "tensor at cpu and parameter tensor at cuda:0"):
        gpu(sr.randn(2, 1, 2))
    with pytest.raises(RuntimeError, match="found input tensor at cpu and parameter tensor at cuda:0"):
        gpu(np.zeros((2, 1, 2), np.float32))
    with pytest.raises(RuntimeError, match="Input and hidden tensors are not at the same device"):
        gpu(sr.randn(2, 1, 2).to("cuda"), (sr.zeros(1, 1, 3), sr.zeros(1, 1, 3)))
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 2, got 4"):
        gpu(sr.randn(2, 1, 4).to("cuda"))
    with pytest.raises(ValueError, match="does not match weight dtype"):
        gpu(sr.randn(2, 1, 2, dtype=sr.float64).to("cuda"))
    xg = sr.randn(2, 1, 2).to("cuda")
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 1, 3\), got \[1, 2, 3\]"):
        gpu(xg, (sr.zeros(1, 2, 3).to("cuda"), sr.zeros(1, 2, 3).to("cuda")))
    with pytest.raises(RuntimeError, match="For batched 3-D input, hx and cx should also be 3-D"):
        gpu(xg, (sr.zeros(1, 3).to("cuda"), sr.zeros(1, 3).to("cuda")))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D instead"):
        gpu(sr.randn(1, 2, 1, 2).to("cuda"))
    cell = nn.GRUCell(2, 3, device="cuda")
    with pytest.raises(RuntimeError, match="hidden has inconsistent hidden_size: got 4, expected 3"):
        cell(sr.randn(1, 2).to("cuda"), sr.zeros(1, 4).to("cuda"))
    with pytest.raises(RuntimeError, match="found input tensor at cpu and parameter tensor at cuda:0"):
        cell(sr.randn(1, 2))
    cpu = nn.GRU(2, 3)
    with pytest.raises(RuntimeError, match="found input tensor at cuda:0 and parameter tensor at cpu"):
        cpu(sr.randn(2, 1, 2).to("cuda"))


# -- glue kernels and _dispatch on raw device arrays -----------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_glue_kernels_equal_numpy(dtype):
    from steprnn.kernels.cuda import glue

    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4, 5)).astype(dtype)
    d = cuda.to_device(a)
    np.testing.assert_array_equal(glue.copy(d[:, :, 1:4]).copy_to_host(), a[:, :, 1:4])
    np.testing.assert_array_equal(glue.copy(d[1, :, ::2]).copy_to_host(), a[1, :, ::2])
    np.testing.assert_array_equal(glue.copy(d[1, 2, ::2]).copy_to_host(), a[1, 2, ::2])
    np.testing.assert_array_equal(glue.swap01(d).copy_to_host(), a.transpose(1, 0, 2))
    np.testing.assert_array_equal(glue.transpose2(d[0]).copy_to_host(), a[0].T)
    b = rng.standard_normal(a.shape).astype(dtype)
    np.testing.assert_array_equal(glue.add(d, cuda.to_device(b)).copy_to_host(), a + b)
    np.testing.assert_array_equal(glue.multiply(d, cuda.to_device(b)).copy_to_host(), a * b)
    t_idx = np.array([0, 0, 1, 2], np.int64)
    b_idx = np.array([0, 3, 1, 2], np.int64)
    np.testing.assert_array_equal(glue.gather_steps(d, cuda.to_device(t_idx), cuda.to_device(b_idx)).copy_to_host(),
                                  a[t_idx, b_idx])
    data = rng.standard_normal((4, 5)).astype(dtype)
    want = np.zeros((3, 4, 5), dtype)
    want[t_idx, b_idx] = data
    got = glue.scatter_steps(cuda.to_device(data), cuda.to_device(t_idx), cuda.to_device(b_idx), 3, 4)
    np.testing.assert_array_equal(got.copy_to_host(), want)
    idx = np.array([2, 0, 3], np.int64)
    np.testing.assert_array_equal(glue.take_rows(d, cuda.to_device(idx)).copy_to_host(), a[:, idx])


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_dispatch_on_device_arrays_equals_cpu(kind):
    """``run_direction``/``backward_direction`` with device arrays (packed rows, reverse, a strided ``hs``)
    give the CPU's results."""
    from steprnn import _dispatch
    from steprnn._weights import weight_layout
    from steprnn.cell_kinds import KINDS as CELL_KINDS
    from steprnn.kernels.cuda import backend as cb

    rng = np.random.default_rng(4)
    T, N, I, H = 3, 3, 2, 2
    G = {"rnn": 1, "lstm": 4, "gru": 3}[kind] * H
    params = {"w_ih": rng.standard_normal((G, I)), "w_hh": rng.standard_normal((G, H)),
              "b_ih": rng.standard_normal(G), "b_hh": rng.standard_normal(G), "w_hr": None}
    x = rng.standard_normal((T, N, I))
    h0 = rng.standard_normal((N, H))
    c0 = rng.standard_normal((N, H)) if kind == "lstm" else None
    active = np.array([3, 2, 1], np.int64)
    dhs, dh_n, dc_n = rng.standard_normal((T, N, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    w_cpu, _ = weight_layout(CELL_KINDS[kind], params)
    run_c = _dispatch.run_direction(kind, x, w_cpu, h0, c0, active, True, record=True)
    g_c = _dispatch.backward_direction(kind, run_c, x, w_cpu, h0, c0, active, True, dhs, dh_n,
                                       dc_n if kind == "lstm" else None)
    dev = {k: None if v is None else cb.to_device(v) for k, v in params.items()}
    fwd = (cb.transpose2(dev["w_ih"]), cb.transpose2(dev["w_hh"]))
    if kind == "lstm":
        fwd += (cb.zeros((0, 0), np.float64),)
    from steprnn._weights import WeightLayout
    w_dev = WeightLayout(dev, fwd, (dev["b_ih"], dev["b_hh"]), H)
    wide = cb.zeros((T, N, 2 * H), np.float64)  # this direction writes the right half
    xd, h0d, c0d, ad = (None if v is None else cb.to_device(v) for v in (x, h0, c0, active))
    run_g = _dispatch.run_direction(kind, xd, w_dev, h0d, c0d, ad, True, record=True, device="cuda",
                                    hs=wide[:, :, H:])
    np.testing.assert_allclose(cb.to_host(wide)[:, :, H:], run_c.hs, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(cb.to_host(wide)[:, :, :H], 0)
    g_g = _dispatch.backward_direction(kind, run_g, xd, w_dev, h0d, c0d, ad, True, cb.to_device(dhs),
                                       cb.to_device(dh_n), cb.to_device(dc_n) if kind == "lstm" else None,
                                       device="cuda")
    for name in ("dx", "dh0", "dc0", "dh_all", "dc_all"):
        want = getattr(g_c, name)
        if want is not None:
            np.testing.assert_allclose(cb.to_host(getattr(g_g, name)), want, rtol=0, atol=1e-12, err_msg=name)
    for name, want in g_c.params.items():
        np.testing.assert_allclose(cb.to_host(g_g.params[name]), want, rtol=0, atol=1e-12, err_msg=name)


def test_packing_a_cuda_tensor_stays_on_cuda():
    """pack_padded_sequence / pad_packed_sequence / pad_sequence / pack_sequence of CUDA tensors give
    CUDA data (the layer takes it as is), and gradients reach the CUDA input, equal to the CPU's."""
    from steprnn.nn.utils.rnn import pack_sequence, pad_packed_sequence, pad_sequence

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 2))
    lengths = [2, 4, 3]
    sr.manual_seed(0)
    cpu = nn.LSTM(2, 3, dtype=np.float64)
    gpu = cuda_twin(cpu)
    got = []
    for module, dev in ((cpu, "cpu"), (gpu, "cuda")):
        xt = sr.from_numpy(x).to(dev).requires_grad_() if dev == "cuda" else sr.from_numpy(x).requires_grad_()
        packed = pack_padded_sequence(xt, lengths, enforce_sorted=False)
        assert packed.is_cuda == (dev == "cuda") and packed.data.is_cuda == (dev == "cuda")
        out, (h, c) = module(packed)
        padded, lens = pad_packed_sequence(out, batch_first=True)
        assert padded.is_cuda == (dev == "cuda") and not lens.is_cuda
        seqs = [xt[:n, i] for i, n in enumerate(lengths)]
        both = pad_sequence(seqs) * 2 + 0
        again = pack_sequence(seqs, enforce_sorted=False)
        assert both.is_cuda == again.data.is_cuda == (dev == "cuda")
        ((padded * padded).sum() + h.sum() + both.sum() + again.data.sum()).backward()
        got.append([host(padded), host(h), host(c), host(xt.grad), host(module.weight_hh_l0.grad)])
    for a, b in zip(*got):
        same(a, b, np.float64, "packing on cuda")


def test_training_a_model_on_cuda_equals_the_cpu():
    """A GRU + Linear classifier trained a few Adam steps on CUDA follows the CPU run step for step."""

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(2, 3, batch_first=True, dtype=np.float64)
            self.fc = nn.Linear(3, 3, dtype=np.float64)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.fc(out[:, -1])

    sr.manual_seed(1)
    model_c = Model()
    model_g = cuda_twin(model_c)
    x = sr.from_numpy(np.random.default_rng(1).standard_normal((4, 3, 2)))
    y = sr.tensor([0, 1, 2, 1])
    losses = {}
    for model, dev in ((model_c, "cpu"), (model_g, "cuda")):
        opt = sr.optim.Adam(model.parameters(), lr=0.05)
        loss_fn = nn.CrossEntropyLoss()
        losses[dev] = []
        for _ in range(3):
            opt.zero_grad()
            loss = loss_fn(model(x.to(dev)), y.to(dev))
            loss.backward()
            opt.step()
            losses[dev].append(loss.item())
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=0, atol=1e-10)
    for (n, a), (_, b) in zip(model_c.named_parameters(), model_g.named_parameters()):
        assert b.is_cuda
        same(host(b), host(a), np.float64, n)


def test_trace_of_some_layers_and_batch_elements():
    """``sr.trace(layer, x, layers=..., batch=...)`` on CUDA keeps what the CPU trace keeps (packed input,
    rows picked in input order, steps past a sequence's end NaN)."""
    sr.manual_seed(2)
    cpu = nn.GRU(2, 2, num_layers=2, bidirectional=True)
    gpu = cuda_twin(cpu)
    x = sr.randn(3, 3, 2)
    packed = pack_padded_sequence(x, [2, 3, 1], enforce_sorted=False)
    tr_c = sr.trace(cpu, packed, layers=[1], batch=[2, 0])
    tr_g = sr.trace(gpu, packed.to("cuda"), layers=[1], batch=[2, 0])
    assert sorted(tr_g.arrays) == sorted(tr_c.arrays) and tr_g.meta == tr_c.meta
    for key, value in tr_c.arrays.items():
        same(tr_g.arrays[key], value, np.float32, key)
    assert np.isnan(tr_g.h(layer=1, direction=1)[1:, 0]).all()
