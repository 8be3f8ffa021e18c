"""Module machinery: parameter names and shapes, state dicts, modes, dropout, initialisation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import steprnn as sr
import steprnn.nn as nn
from helpers import close

CONFIGS = [
    ("RNN", dict(num_layers=2, bidirectional=True, nonlinearity="relu")),
    ("LSTM", dict(num_layers=3, bidirectional=True, proj_size=3)),
    ("LSTM", dict(bias=False)),
    ("GRU", dict(num_layers=2, bias=False, bidirectional=True)),
    ("RNNCell", dict(bias=False)),
    ("LSTMCell", dict()),
    ("GRUCell", dict()),
]


@pytest.mark.parametrize("cls,kwargs", CONFIGS)
def test_state_dict_keys_and_shapes_equal_torch(cls, kwargs):
    t = getattr(torch.nn, cls)(5, 7, **kwargs)
    s = getattr(nn, cls)(5, 7, **kwargs)
    t_sd, s_sd = t.state_dict(), s.state_dict()
    assert list(s_sd) == list(t_sd)
    for k in t_sd:
        assert s_sd[k].shape == tuple(t_sd[k].shape), k
        assert isinstance(s_sd[k], np.ndarray)
    assert [n for n, _ in s.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert repr(s) == repr(t)


def test_load_torch_state_dict_gives_torch_outputs_nested():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 6, num_layers=2)
            self.head = nn.Linear(6, 3)

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(4, 6, num_layers=2)
            self.head = torch.nn.Linear(6, 3)

    t, s = TNet(), Net()
    assert list(s.state_dict()) == list(t.state_dict())
    s.load_state_dict(t.state_dict())
    x = torch.randn(5, 2, 4)
    with torch.no_grad():
        t_out, _ = t.lstm(x)
    s_out, _ = s.lstm(x)
    close(s_out, t_out, np.float32, "nested lstm")
    assert [n for n, _ in s.named_modules()] == [n for n, _ in t.named_modules()]
    assert [type(c).__name__ for c in s.children()] == ["LSTM", "Linear"]


def test_load_state_dict_errors_and_atomicity():
    s = nn.GRU(3, 4)
    before = s.state_dict()
    sd = {k: v.copy() for k, v in before.items()}
    sd["bogus"] = np.zeros(2)
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "bogus"'):
        s.load_state_dict(sd)
    del sd["bogus"]
    del sd["bias_hh_l0"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "bias_hh_l0"'):
        s.load_state_dict(sd)
    res = s.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["bias_hh_l0"] and res.unexpected_keys == []
    sd = {k: v.copy() for k, v in before.items()}
    sd["weight_hh_l0"] = np.zeros((12, 5), np.float32)
    with pytest.raises(RuntimeError, match=r"size mismatch for weight_hh_l0.*\(12, 5\).*\(12, 4\)"):
        s.load_state_dict(sd)
    sd = {k: np.ones_like(v) for k, v in before.items()}
    sd["weight_ih_l0"][0, 0] = np.nan
    with pytest.raises(ValueError, match="weight_ih_l0.*NaN or infinite"):
        s.load_state_dict(sd)
    # nothing was half-loaded by the refused calls
    for k, v in s.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(TypeError, match="dict-like"):
        s.load_state_dict([1, 2])


def test_state_dict_is_a_copy():
    s = nn.LSTM(2, 3)
    sd = s.state_dict()
    sd["weight_ih_l0"][:] = 0
    assert np.abs(s.weight_ih_l0.data).max() > 0


def test_initialisation_range_and_seed():
    sr.manual_seed(3)
    a = nn.LSTM(5, 16, num_layers=2)
    sr.manual_seed(3)
    b = nn.LSTM(5, 16, num_layers=2)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
        assert np.abs(p.data).max() <= 0.25 and p.data.dtype == np.float32
    w = a.weight_hh_l1.data
    assert w.min() < -0.2 and w.max() > 0.2  # spread over U(-1/4, 1/4)
    c = nn.LSTM(5, 16, num_layers=2)
    assert not np.array_equal(c.weight_ih_l0.data, a.weight_ih_l0.data)


def test_dropout_between_layers_only_in_training():
    sr.manual_seed(0)
    s = nn.LSTM(3, 8, num_layers=3, dropout=0.5, dtype=np.float64)
    t = torch.nn.LSTM(3, 8, num_layers=3, dropout=0.5, dtype=torch.float64)
    s.load_state_dict(t.state_dict())
    x = np.random.default_rng(0).standard_normal((6, 4, 3))
    s.eval(); t.eval()
    close(s(x)[0], t(torch.from_numpy(x))[0], np.float64, "eval mode: no dropout")
    s.train()
    a, b = np.asarray(s(x)[0]), np.asarray(s(x)[0])
    assert not np.allclose(a, b), "training mode should draw new dropout masks"
    assert not np.allclose(a, np.asarray(t(torch.from_numpy(x))[0].detach()))
    s1 = nn.LSTM(3, 8, num_layers=1, dtype=np.float64)
    s1.load_state_dict({k: v for k, v in s.state_dict().items() if k.endswith("l0")})
    # dropout never touches the last layer's output: a 1-layer net is deterministic in training
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        d1 = nn.LSTM(3, 8, num_layers=1, dropout=0.5, dtype=np.float64)
    d1.load_state_dict(s1.state_dict())
    np.testing.assert_array_equal(np.asarray(d1(x)[0]), np.asarray(d1(x)[0]))


def test_dropout_one_zeroes_the_next_layer_input():
    s = nn.RNN(3, 4, num_layers=2, dropout=1.0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    out, h = s(x)
    # layer 1 sees zeros: its output equals a run on a zero input
    ref = nn.RNN(4, 4, dtype=np.float64)
    ref.load_state_dict({k.replace("l1", "l0"): v for k, v in s.state_dict().items() if "l1" in k})
    close(out, torch.from_numpy(np.asarray(ref(np.zeros((5, 2, 4)))[0])), np.float64, "p=1")


def test_to_double_and_float():
    s = nn.GRU(3, 4)
    s.double()
    assert all(p.data.dtype == np.float64 for p in s.parameters())
    out, h = s(np.zeros((2, 1, 3)))
    assert out.dtype == np.float64
    s.to(sr.float32)
    assert s(np.zeros((2, 1, 3), np.float32))[0].dtype == np.float32


def test_train_eval_flags():
    s = nn.LSTM(2, 3)
    assert s.training
    assert s.eval() is s and not s.training
    s.train()
    assert s.training


def test_assigning_an_array_to_a_parameter_is_refused():
    s = nn.LSTM(2, 3)
    with pytest.raises(TypeError, match="cannot assign 'ndarray' as parameter 'weight_ih_l0'"):
        s.weight_ih_l0 = np.zeros((12, 2))


@pytest.mark.parametrize("cls,args", [
    ("RNN", (3, 5, 2, "relu", False, True, 0.25, True)),
    ("LSTM", (3, 5, 2, False, True, 0.25, True, 2)),
    ("GRU", (3, 5, 3, True, False, 0.5, True)),
])
def test_positional_arguments_mean_what_they_mean_in_torch(cls, args):
    t = getattr(torch.nn, cls)(*args)
    s = getattr(nn, cls)(*args)
    for attr in ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
                 "proj_size", "mode"):
        assert getattr(s, attr) == getattr(t, attr), attr
    assert list(s.state_dict()) == list(t.state_dict())


def test_linear_matches_torch_and_keeps_the_graph():
    t = torch.nn.Linear(5, 3, dtype=torch.float64)
    s = nn.Linear(5, 3, dtype=np.float64)
    s.load_state_dict(t.state_dict())
    x = np.random.default_rng(0).standard_normal((4, 2, 5))
    y = s(x)
    close(y.detach(), t(torch.from_numpy(x)), np.float64, "Linear")
    y.sum().backward()
    t(torch.from_numpy(x)).sum().backward()
    np.testing.assert_allclose(s.weight.grad.numpy(), t.weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(s.bias.grad.numpy(), t.bias.grad.numpy(), atol=1e-12)
    with pytest.raises(RuntimeError, match=r"Linear expected input \(\.\.\., 5\), got \(4, 2\)"):
        s(np.zeros((4, 2)))
    assert repr(s) == repr(t)
