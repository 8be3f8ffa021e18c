"""``model.to(device)`` and friends in PyTorch's argument forms (the line in nearly every tutorial)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import steprnn as sr
import steprnn.nn as nn

DEVICES = [sr.device("cpu"), "cpu", torch.device("cpu"), sr.device("cuda" if sr.cuda.is_available() else "cpu")]


@pytest.mark.parametrize("dev", DEVICES, ids=repr)
@pytest.mark.parametrize("make", [lambda: nn.LSTM(3, 4, num_layers=2), lambda: nn.GRUCell(3, 5),
                                  lambda: nn.Sequential(nn.Linear(3, 2), nn.Tanh())], ids=["lstm", "grucell", "seq"])
def test_module_to_device_returns_the_module_unchanged(make, dev):
    model = make()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    assert model.to(dev) is model
    assert model.to(device=dev) is model
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


@pytest.mark.parametrize("call", [
    lambda m, d: m.to(d, sr.float64), lambda m, d: m.to(d, dtype=sr.float64),
    lambda m, d: m.to(device=d, dtype=torch.float64), lambda m, d: m.to(sr.float64),
    lambda m, d: m.to(sr.zeros(1, dtype=sr.float64)), lambda m, d: m.double(),
])
def test_module_to_dtype_forms_cast_every_parameter(call):
    model = nn.LSTM(3, 4, proj_size=2)
    t = torch.nn.LSTM(3, 4, proj_size=2, dtype=torch.float64)
    assert call(model, torch.device("cpu")) is model
    assert all(p.dtype == np.float64 for p in model.parameters())
    model.load_state_dict(t.state_dict())  # float64 values stay float64 after the cast
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    out, _ = model(x)
    np.testing.assert_allclose(out.detach().numpy(), t(torch.tensor(x))[0].detach().numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("dev", DEVICES, ids=repr)
def test_tensor_to_forms(dev):
    t = sr.tensor([1.0, 2.0])
    assert t.to(dev) is t
    assert t.to(dev, sr.float64).dtype == np.float64
    assert t.to(dev, dtype=sr.float64).dtype == np.float64
    assert t.to(sr.zeros(1, dtype=sr.float64)).dtype == np.float64
    assert t.to(dev, sr.float32, False, True) is not t  # non_blocking, copy
    assert t.cpu() is t and t.device == sr.device("cpu")


@pytest.mark.parametrize("request_cuda", [
    lambda: nn.LSTM(3, 4).to("cuda"), lambda: nn.LSTM(3, 4).to(sr.device("cuda", 0)), lambda: nn.LSTM(3, 4).cuda(),
    lambda: nn.GRU(3, 4, device="cuda"), lambda: sr.ones(2).cuda(), lambda: sr.ones(2).to("cuda:0"),
    lambda: sr.zeros(2, device="cuda"), lambda: nn.Linear(2, 2).to(torch.device("cuda")),
])
def test_cuda_requests_say_how_to_check(request_cuda):
    assert sr.cuda.is_available() is False and sr.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match=r"steprnn\.cuda\.is_available\(\)"):
        request_cuda()


@pytest.mark.parametrize("bad, exc, match", [
    (lambda: nn.LSTM(3, 4).to(sr.int64), TypeError, "floating point"),
    (lambda: nn.LSTM(3, 4).to("tpu"), TypeError, "float32 or float64|floating point"),
    (lambda: nn.LSTM(3, 4, device=5), ValueError, "device must be"),
    (lambda: nn.LSTM(3, 4).to("cpu", sr.float32, 7), TypeError, "invalid combination"),
    (lambda: sr.ones(2).to(foo=1), TypeError, "unexpected keyword"),
])
def test_bad_to_arguments_are_clear(bad, exc, match):
    with pytest.raises(exc, match=match):
        bad()


def test_cuda_seeding_calls_run_unchanged():
    sr.cuda.manual_seed(0)
    sr.cuda.manual_seed_all(1)
    sr.cuda.synchronize()
    with pytest.raises(TypeError):
        sr.cuda.manual_seed("zero")
