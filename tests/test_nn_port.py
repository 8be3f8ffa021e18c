"""The nn additions that ported programs use, against torch on the same numbers: Embedding (padding_idx,
max_norm, from_pretrained, tied weights under an optimiser), BCELoss, BCEWithLogitsLoss, BatchNorm1d,
Dropout2d, flatten_parameters, torch.nn.modules paths, autograd.Variable, and the refusals of what
lies outside recurrent models."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import steprnn as sr
import steprnn.nn as nn
import steprnn.nn.functional as F

TOL64 = 1e-12


def close(ours, theirs, atol=TOL64, what="", rtol=0.0):
    want = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    got = ours.detach().numpy() if isinstance(ours, sr.Tensor) else np.asarray(ours)
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


def twin_embedding(num, dim, seed=0, **kwargs):
    sr.manual_seed(seed)
    torch.manual_seed(seed)
    return nn.Embedding(num, dim, dtype=sr.float64, **kwargs), torch.nn.Embedding(num, dim, dtype=torch.float64,
                                                                                   **kwargs)


# --- Embedding -------------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(1, 5), st.lists(st.integers(1, 4), min_size=0, max_size=3),
       st.integers(0, 10**6), st.data())
def test_embedding_forward_backward_and_init_match_torch(num, dim, idx_shape, seed, data):
    padding_idx = data.draw(st.none() | st.integers(-num, num - 1))
    s, t = twin_embedding(num, dim, seed, padding_idx=padding_idx)
    close(s.weight, t.weight, 0.0, "initial weight (same seed)")
    assert repr(s) == repr(t)
    idx = np.random.default_rng(seed).integers(0, num, size=tuple(idx_shape))
    out, tout = s(sr.tensor(idx)), t(torch.tensor(idx))
    close(out, tout, 0.0, "lookup")
    w = np.random.default_rng(seed + 1).standard_normal(tuple(tout.shape))
    (out * sr.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    close(s.weight.grad, t.weight.grad, TOL64, "weight grad (padding row zero)")


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(1, 9), st.integers(1, 300), st.booleans(), st.integers(0, 10**6), st.data())
def test_embedding_gradient_of_many_lookups_matches_torch(num, dim, m, by_freq, seed, data):
    """Many looked-up rows summed into the gradient (``_rows_summed``), with repeats, a padding row
    and ``scale_grad_by_freq``; int32 indices too."""
    padding_idx = data.draw(st.none() | st.integers(0, num - 1))
    s, t = twin_embedding(num, dim, seed, padding_idx=padding_idx, scale_grad_by_freq=by_freq)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num, size=(m, 2)).astype(data.draw(st.sampled_from([np.int64, np.int32])))
    out, tout = s(sr.tensor(idx)), t(torch.tensor(idx))
    w = rng.standard_normal(tuple(tout.shape))
    (out * sr.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    close(s.weight.grad, t.weight.grad, TOL64, "weight grad")


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 9), st.integers(0, 700), st.sampled_from(["float32", "float64", "float16"]),
       st.sampled_from(["int64", "int32", "uint8"]), st.booleans(), st.integers(0, 10**6))
def test_embedding_gradient_rows_summed_in_order_as_add_at(num, dim, m, dtype, index_dtype, strided, seed):
    """The gradient's sums (``_rows_summed``: a compiled loop for float32/64) give ``np.add.at``'s
    bits, each row added in the order it came; from strided gradients too, leaving them alone."""
    from steprnn.nn.functional import _rows_summed

    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num, size=m).astype(index_dtype)
    g = (rng.standard_normal((m, 2 * dim)) * 10.0 ** rng.integers(-3, 4, size=(m, 1))).astype(dtype)
    g = g[:, ::2] if strided else g[:, :dim].copy()
    before = g.copy()
    expected = np.zeros((num, dim), dtype)
    np.add.at(expected, idx, g)
    got = _rows_summed(idx, g, num)
    assert got.dtype == np.dtype(dtype) and got.shape == (num, dim)
    assert got.tobytes() == expected.tobytes()
    assert g.tobytes() == before.tobytes()


def test_embedding_float32_default_and_int32_indices():
    sr.manual_seed(3)
    torch.manual_seed(3)
    s, t = nn.Embedding(20, 7), torch.nn.Embedding(20, 7)
    close(s.weight, t.weight, 0.0)
    assert s.weight.dtype == sr.float32
    idx = np.array([[1, 19], [0, 4]], dtype=np.int32)
    close(s(sr.tensor(idx)), t(torch.tensor(idx)), 0.0)
    with pytest.raises(RuntimeError, match="'indices' to have one of the following scalar types: Long, Int"):
        s(sr.tensor([1.0, 2.0]))
    with pytest.raises(IndexError, match="index out of range in self"):
        s(sr.tensor([20]))
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(3, 2, padding_idx=3)


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_embedding_max_norm_renormalises_looked_up_rows_like_torch(norm_type):
    s, t = twin_embedding(6, 4, 1, max_norm=1.0, norm_type=norm_type)
    idx = np.array([[0, 2, 2], [5, 0, 1]])
    out, tout = s(sr.tensor(idx)), t(torch.tensor(idx))
    close(out, tout, 1e-12, "output")
    close(s.weight, t.weight, 1e-12, "weight after renorm")
    (out ** 2).sum().backward()
    (tout ** 2).sum().backward()
    close(s.weight.grad, t.weight.grad, 1e-12, "grad")


def test_embedding_from_pretrained_freeze_and_shared_memory():
    pretrained = np.arange(12, dtype=np.float64).reshape(4, 3)
    for freeze in (True, False):
        s = nn.Embedding.from_pretrained(sr.tensor(pretrained), freeze=freeze, padding_idx=1)
        t = torch.nn.Embedding.from_pretrained(torch.tensor(pretrained), freeze=freeze, padding_idx=1)
        assert s.weight.requires_grad == t.weight.requires_grad == (not freeze)
        assert repr(s) == repr(t)
        close(s(sr.tensor([3, 1])), t(torch.tensor([3, 1])), 0.0)
    source = sr.tensor(pretrained)
    e = nn.Embedding.from_pretrained(source, freeze=False)
    e.weight.data.mul_(2)
    close(source, pretrained * 2, 0.0, "from_pretrained shares the tensor's memory, as torch does")
    with pytest.raises(AssertionError, match="2-dimensional"):
        nn.Embedding.from_pretrained(sr.zeros(3))


def test_tied_weights_train_like_torch():
    """``decoder.weight = encoder.weight``: one Parameter, counted once, updated once per step."""

    def build(lib, seed=0):
        lib.manual_seed(seed)
        enc = lib.nn.Embedding(7, 5, dtype=lib.float64)
        dec = lib.nn.Linear(5, 7, dtype=lib.float64)
        dec.weight = enc.weight
        model = lib.nn.ModuleList([enc, dec])
        return model, lib.optim.Adam(model.parameters(), lr=0.05)

    (s_model, s_opt), (t_model, t_opt) = build(sr), build(torch)
    assert len(list(s_model.parameters())) == len(list(t_model.parameters())) == 2
    assert s_model[1].weight is s_model[0].weight
    idx = np.array([[1, 2, 3], [6, 0, 2]])
    target = np.array([2, 3, 4, 0, 1, 5])
    for _ in range(4):
        for model, opt, lib in ((s_model, s_opt, sr), (t_model, t_opt, torch)):
            opt.zero_grad()
            logits = model[1](model[0](lib.tensor(idx))).view(-1, 7)
            loss = lib.nn.functional.cross_entropy(logits, lib.tensor(target))
            loss.backward()
            opt.step()
    close(s_model[0].weight, t_model[0].weight, 1e-10, "tied weight after training")
    close(s_model[1].bias, t_model[1].bias, 1e-10, "bias after training")
    assert list(s_model.state_dict()) == list(t_model.state_dict())


# --- binary losses ---------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(0, 10**6),
       st.sampled_from(["mean", "sum", "none"]), st.booleans(), st.booleans())
def test_bce_losses_match_torch_with_gradients(shape, seed, reduction, weighted, pos_weighted):
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    logits = rng.standard_normal(shape) * 3
    logits.flat[0] = 0.0  # where |x| has no derivative
    target = rng.random(shape)
    weight = rng.random(shape[-1:]) + 0.5 if weighted else None
    pos_weight = rng.random(shape[-1:]) + 0.5 if pos_weighted else None
    probs = 1 / (1 + np.exp(-logits))
    probs.flat[-1] = 1.0 if probs.size > 1 else probs.flat[-1]  # log(0) clamped at -100
    cases = [
        (lambda lib, x, t: lib.nn.BCEWithLogitsLoss(
            weight=None if weight is None else lib.tensor(weight), reduction=reduction,
            pos_weight=None if pos_weight is None else lib.tensor(pos_weight))(x, t), logits),
        (lambda lib, x, t: lib.nn.BCELoss(weight=None if weight is None else lib.tensor(weight),
                                          reduction=reduction)(x, t), probs),
    ]
    for k, (fn, x) in enumerate(cases):
        xs, ts = sr.tensor(x, requires_grad=True), sr.tensor(target, requires_grad=True)
        xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(target, requires_grad=True)
        out, tout = fn(sr, xs, ts), fn(torch, xt, tt)
        close(out, tout, 1e-10, f"loss {k}")
        w = rng.standard_normal(tuple(tout.shape))
        (out * sr.tensor(w)).sum().backward()
        (tout * torch.tensor(w)).sum().backward()
        close(xs.grad, xt.grad, 1e-10, f"input grad {k}", rtol=1e-12)  # up to 1e11 where x = 1
        close(ts.grad, tt.grad, 1e-10, f"target grad {k}", rtol=1e-12)


def test_bce_refuses_what_torch_refuses():
    with pytest.raises(ValueError, match="target size .* different to the input size"):
        F.binary_cross_entropy(sr.rand(3, 1), sr.rand(3))
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(sr.tensor([1.5]), sr.tensor([1.0]))
    assert repr(nn.BCEWithLogitsLoss()) == repr(torch.nn.BCEWithLogitsLoss())
    assert repr(nn.BCELoss(reduction="sum")) == repr(torch.nn.BCELoss(reduction="sum"))
    assert repr(nn.NLLLoss()) == repr(torch.nn.NLLLoss())


# --- BatchNorm1d -----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine,track", [(True, True), (False, True), (True, False)])
def test_batchnorm1d_train_eval_and_running_stats_match_torch(shape, momentum, affine, track):
    s = nn.BatchNorm1d(3, momentum=momentum, affine=affine, track_running_stats=track, dtype=sr.float64)
    t = torch.nn.BatchNorm1d(3, momentum=momentum, affine=affine, track_running_stats=track, dtype=torch.float64)
    assert repr(s) == repr(t)
    assert list(s.state_dict()) == list(t.state_dict())
    rng = np.random.default_rng(0)
    if affine:
        w, b = rng.random(3) + 0.5, rng.standard_normal(3)
        s.load_state_dict({**s.state_dict(), "weight": w, "bias": b})
        t.load_state_dict({**t.state_dict(), "weight": torch.tensor(w), "bias": torch.tensor(b)})
    for step in range(3):
        x = rng.standard_normal(shape) * 2 + 1
        xs, xt = sr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, tout = s(xs), t(xt)
        close(out, tout, 1e-12, f"train output {step}")
        g = rng.standard_normal(shape)
        (out * sr.tensor(g)).sum().backward()
        (tout * torch.tensor(g)).sum().backward()
        close(xs.grad, xt.grad, 1e-10, "input grad")
        if affine:
            close(s.weight.grad, t.weight.grad, 1e-10, "weight grad")
            close(s.bias.grad, t.bias.grad, 1e-10, "bias grad")
    for key, value in t.state_dict().items():
        close(sr.tensor(s.state_dict()[key]), value, 1e-12, key)
    s.eval(), t.eval()
    x = rng.standard_normal(shape)
    close(s(sr.tensor(x)), t(torch.tensor(x)), 1e-12, "eval output")


def test_batchnorm1d_loads_torch_state_and_refuses_bad_input():
    t = torch.nn.BatchNorm1d(4)
    t(torch.randn(8, 4) * 3)
    s = nn.BatchNorm1d(4)
    s.load_state_dict(t.state_dict())
    s.eval(), t.eval()
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    close(s(sr.tensor(x)), t(torch.tensor(x)), 1e-6)
    assert int(s.num_batches_tracked.item()) == 1
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        s(sr.zeros(4))
    s.train()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        s(sr.zeros(1, 4))
    assert [n for n, _ in s.named_buffers()] == [n for n, _ in t.named_buffers()]
    s.double()
    assert s.running_mean.dtype == sr.float64 and s.num_batches_tracked.dtype == sr.int64


# --- dropout, modules, refusals ---------------------------------------------------------------------

def test_dropout2d_zeroes_whole_channels_and_is_identity_in_eval():
    x = sr.ones(8, 16, 5, dtype=sr.float64, requires_grad=True)
    d = nn.Dropout2d(0.5)
    assert repr(d) == repr(torch.nn.Dropout2d(0.5))
    sr.manual_seed(0)
    out = d(x)
    values = out.detach().numpy()
    per_channel = values.reshape(8, 16, 5)
    assert np.all((per_channel == per_channel[..., :1]))  # one draw per channel
    assert set(np.unique(values)) <= {0.0, 2.0} and 0 < np.mean(values == 0) < 1
    out.sum().backward()
    close(x.grad, values, 0.0, "gradient is the mask")
    d.eval()
    assert d(x) is x


def test_softmax_modules_flatten_parameters_and_module_paths():
    x = np.random.default_rng(0).standard_normal((2, 3))
    close(nn.LogSoftmax(dim=1)(sr.tensor(x)), torch.nn.LogSoftmax(dim=1)(torch.tensor(x)))
    close(nn.Softmax(dim=0)(sr.tensor(x)), torch.nn.Softmax(dim=0)(torch.tensor(x)))
    for layer in (nn.LSTM(2, 3), nn.GRU(2, 3, bidirectional=True), nn.RNN(2, 3)):
        before = {k: v.copy() for k, v in layer.state_dict().items()}
        assert layer.flatten_parameters() is None
        assert all(np.array_equal(before[k], v) for k, v in layer.state_dict().items())
    from steprnn.nn.modules.batchnorm import BatchNorm1d
    from steprnn.nn.modules.linear import Linear
    from steprnn.nn.modules.loss import BCEWithLogitsLoss
    from steprnn.nn.modules.module import Module
    from steprnn.nn.modules.rnn import LSTM, LSTMCell
    from steprnn.nn.modules.sparse import Embedding
    assert (LSTM, LSTMCell, Linear, Embedding, Module, BatchNorm1d, BCEWithLogitsLoss) == (
        nn.LSTM, nn.LSTMCell, nn.Linear, nn.Embedding, nn.Module, nn.BatchNorm1d, nn.BCEWithLogitsLoss)
    assert nn.modules.Dropout2d is nn.Dropout2d


def test_autograd_variable_is_the_tensor_itself():
    from steprnn.autograd import Variable
    t = sr.tensor([1.0, 2.0])
    assert Variable(t) is t and not t.requires_grad
    v = Variable(t, requires_grad=True)
    assert v is t and t.requires_grad
    assert isinstance(Variable([1, 2]), sr.Tensor)


@pytest.mark.parametrize("name", ["Transformer", "TransformerEncoderLayer", "MultiheadAttention", "Conv1d", "Conv2d",
                                  "MaxPool1d", "BatchNorm2d"])
def test_names_outside_recurrent_models_import_and_refuse_clearly(name):
    cls = getattr(nn, name)
    with pytest.raises(NotImplementedError, match=f"nn.{name} is not implemented: steprnn covers recurrent models"):
        cls(4, 4)
    from steprnn.nn.modules import conv, transformer  # noqa: F401  (torch's module paths exist)


def test_onnx_export_refuses_with_what_to_do_instead():
    with pytest.raises(NotImplementedError, match="covers recurrent models.*torch.onnx.export"):
        sr.onnx.export(nn.LSTM(2, 3), sr.zeros(1, 1, 2), "model.onnx")
