"""Every bad input of SPEC.md gets a clear ValueError/TypeError/RuntimeError, never a Numba error."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import steprnn as sr
import steprnn.nn as nn
from steprnn.nn.utils.rnn import PackedSequence, pack_padded_sequence

F32 = np.float32


def x3(L=4, N=2, I=3, dtype=F32):
    return np.zeros((L, N, I), dtype=dtype)


@pytest.mark.parametrize("cls,name", [(nn.RNN, "RNN"), (nn.LSTM, "LSTM"), (nn.GRU, "GRU")])
def test_wrong_rank(cls, name):
    layer = cls(3, 4)
    with pytest.raises(ValueError, match=f"{name}: Expected input to be 2D or 3D, got 4D"):
        layer(np.zeros((1, 2, 3, 3), F32))
    with pytest.raises(ValueError, match="got 1D"):
        layer(np.zeros(3, F32))


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_wrong_feature_size(cls):
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 5"):
        cls(3, 4)(x3(I=5))


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_wrong_dtype(cls):
    with pytest.raises(ValueError, match=r"input dtype \(steprnn.float64\) does not match weight dtype \(steprnn.float32\)"):
        cls(3, 4)(x3(dtype=np.float64))
    with pytest.raises(TypeError, match="float32 or float64 array, got dtype <U1"):
        cls(3, 4)(np.array([["a", "b", "c"]]))
    with pytest.raises(ValueError, match="int64"):
        cls(3, 4)(np.zeros((4, 2, 3), np.int64))


def test_python_lists_take_the_model_dtype():
    out, h = nn.GRU(2, 3)([[0.1, 0.2], [0.3, 0.4]])
    assert out.dtype == np.float32 and out.shape == (2, 3)


def test_mismatched_hx_rnn_gru():
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(2, 2, 4\), got \[2, 3, 4\]"):
        nn.GRU(3, 4, num_layers=2)(x3(), np.zeros((2, 3, 4), F32))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 2, 4\), got \[1, 2, 5\]"):
        nn.RNN(3, 4)(x3(), np.zeros((1, 2, 5), F32))
    with pytest.raises(RuntimeError, match="For batched 3-D input, hx should also be 3-D but got 2-D tensor"):
        nn.RNN(3, 4)(x3(), np.zeros((2, 4), F32))
    with pytest.raises(RuntimeError, match="For unbatched 2-D input, hx should also be 2-D but got 3-D tensor"):
        nn.RNN(3, 4)(np.zeros((4, 3), F32), np.zeros((1, 1, 4), F32))
    with pytest.raises(TypeError, match="GRU expects hx as one tensor h_0"):
        nn.GRU(3, 4)(x3(), (np.zeros((1, 2, 4), F32), np.zeros((1, 2, 4), F32)))
    with pytest.raises(ValueError, match=r"h_0 dtype \(steprnn.float64\)"):
        nn.GRU(3, 4)(x3(), np.zeros((1, 2, 4)))


def test_mismatched_hx_lstm():
    lstm = nn.LSTM(3, 4, proj_size=2)
    h, c = np.zeros((1, 2, 2), F32), np.zeros((1, 2, 4), F32)
    lstm(x3(), (h, c))  # fine
    with pytest.raises(TypeError, match=r"LSTM expects hx as a tuple \(h_0, c_0\) of two tensors, got ndarray"):
        lstm(x3(), h)  # torch: a bare IndexError
    with pytest.raises(TypeError, match="got a tuple of length 3"):
        lstm(x3(), (h, c, c))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 2, 2\), got \[1, 2, 4\]"):
        lstm(x3(), (c, c))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(1, 2, 4\), got \[1, 2, 2\]"):
        lstm(x3(), (h, h))
    with pytest.raises(RuntimeError, match=r"hx and cx should also be 3-D but got \(2-D, 3-D\)"):
        lstm(x3(), (h[0], c))


def test_empty_input():
    with pytest.raises(ValueError, match="non-empty input, got sequence length 0"):
        nn.LSTM(3, 4)(np.zeros((0, 2, 3), F32))


@pytest.mark.parametrize("kwargs,exc,msg", [
    (dict(dropout=1.5), ValueError, "dropout should be a number in range"),
    (dict(dropout=True), ValueError, "dropout should be a number in range"),
    (dict(bias="yes"), TypeError, "bias should be of type bool, got: str"),
    (dict(batch_first=1), TypeError, "batch_first should be of type bool, got: int"),
    (dict(hidden_size=0), ValueError, "hidden_size must be greater than zero"),
    (dict(hidden_size=2.5), TypeError, "hidden_size should be of type int, got: float"),
    (dict(input_size=0), ValueError, "input_size must be greater than zero"),
    (dict(num_layers=0), ValueError, "num_layers must be greater than zero"),
    (dict(proj_size=-1), ValueError, "proj_size should be a positive integer or zero"),
    (dict(proj_size=4), ValueError, "proj_size has to be smaller than hidden_size"),
    (dict(dtype=np.int32), TypeError, "dtype must be float32 or float64, got int32"),
])
def test_constructor_validation(kwargs, exc, msg):
    args = dict(input_size=3, hidden_size=4) | kwargs
    with pytest.raises(exc, match=msg):
        nn.LSTM(**args)


def test_constructor_validation_rnn_gru():
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        nn.GRU(3, 4, proj_size=2)


def test_cuda_device_is_a_clear_error():
    with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
        nn.LSTM(3, 4, device="cuda")


def test_packed_lengths_errors():
    x = x3(L=4, N=3)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises((ValueError, RuntimeError), match="greater than 0"):
        pack_padded_sequence(x, [4, 2, 0])
    with pytest.raises(ValueError, match="4"):
        pack_padded_sequence(x, [5, 2, 1])  # longer than the padded sequence: torch accepts it silently


def test_forged_packed_sequence_is_refused():
    data = sr.Tensor(np.zeros((5, 3), F32))
    bad = PackedSequence(data, sr.Tensor(np.array([2, 3], np.int64)), None, None)
    with pytest.raises(ValueError, match="batch_sizes must be a non-empty, non-increasing"):
        nn.LSTM(3, 4)(bad)


def test_nan_input_propagates_like_torch():
    t = torch.nn.LSTM(3, 4)
    s = nn.LSTM(3, 4)
    s.load_state_dict(t.state_dict())
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(F32)
    x[1, 0, 2] = np.nan
    x[2, 1, 0] = np.inf
    with torch.no_grad():
        t_out, (t_h, t_c) = t(torch.from_numpy(x))
    s_out, (s_h, s_c) = s(x)
    np.testing.assert_array_equal(np.isnan(np.asarray(s_out)), np.isnan(t_out.numpy()))
    np.testing.assert_array_equal(np.isnan(np.asarray(s_c)), np.isnan(t_c.numpy()))
    finite = np.isfinite(t_out.numpy())
    np.testing.assert_allclose(np.asarray(s_out)[finite], t_out.numpy()[finite], atol=1e-5)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_inputs_are_never_modified(kind):
    s = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 3)).astype(F32)
    h = rng.standard_normal((4, 2, 4)).astype(F32)
    hx = (h, rng.standard_normal((4, 2, 4)).astype(F32)) if kind == "LSTM" else h
    copies = [x.copy()] + ([a.copy() for a in hx] if kind == "LSTM" else [h.copy()])
    s(x, hx)
    s(pack_padded_sequence(x, [5, 3], batch_first=True), hx)
    for orig, arr in zip(copies, [x] + (list(hx) if kind == "LSTM" else [h])):
        np.testing.assert_array_equal(orig, arr)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_strided_and_non_contiguous_inputs(kind):
    t = getattr(torch.nn, kind)(3, 5, num_layers=2, dtype=torch.float64)
    s = getattr(nn, kind)(3, 5, num_layers=2, dtype=np.float64)
    s.load_state_dict(t.state_dict())
    big = np.random.default_rng(0).standard_normal((12, 6, 8))
    x = big[::2, ::3, 1:7:2]  # (6, 2, 3), strided in every axis
    xf = np.asfortranarray(np.random.default_rng(1).standard_normal((6, 2, 3)))
    for arr in (x, xf, torch.from_numpy(big).permute(1, 0, 2)[:, :2, :3]):
        expected = t(torch.as_tensor(np.ascontiguousarray(np.asarray(arr))))[0].detach().numpy()
        np.testing.assert_allclose(np.asarray(s(arr)[0]), expected, atol=1e-10)
