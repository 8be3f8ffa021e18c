"""``model.to(device)`` and friends in PyTorch's argument forms (the line in nearly every tutorial)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import steprnn as sr
import steprnn.nn as nn

ROOT = Path(__file__).resolve().parent.parent

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
    assert t.to(dev) is t if sr.device(dev).type == "cpu" else t.to(dev).is_cuda
    assert t.to(dev, sr.float64).dtype == np.float64
    assert t.to(dev, dtype=sr.float64).dtype == np.float64
    assert t.to(sr.zeros(1, dtype=sr.float64)).dtype == np.float64
    assert t.to(dev, sr.float32, False, True) is not t  # non_blocking, copy
    assert t.cpu() is t and t.device == sr.device("cpu")


@pytest.fixture(params=["no numba-cuda", "no GPU"])
def no_cuda(request, monkeypatch):
    """This machine as one without CUDA: numba-cuda not installed, or installed without a GPU."""
    import importlib.util

    from steprnn import devices

    monkeypatch.setattr(devices, "_STATUS", [])
    if request.param == "no numba-cuda":
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numba_cuda" else real(name, *a))
    else:
        pytest.importorskip("numba_cuda")
        from numba import cuda
        monkeypatch.setattr(cuda, "is_available", lambda: False)
    return request.param


@pytest.mark.parametrize("request_cuda", [
    lambda: nn.LSTM(3, 4).to("cuda"), lambda: nn.LSTM(3, 4).to(sr.device("cuda", 0)), lambda: nn.LSTM(3, 4).cuda(),
    lambda: nn.GRU(3, 4, device="cuda"), lambda: sr.ones(2).cuda(), lambda: sr.ones(2).to("cuda:0"),
    lambda: sr.zeros(2, device="cuda"), lambda: nn.Linear(2, 2).to(torch.device("cuda")),
])
def test_cuda_requests_say_how_to_check(request_cuda, no_cuda):
    assert sr.cuda.is_available() is False and sr.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match=r"steprnn\.cuda\.is_available\(\) is False \(.*\)"):
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


def test_without_cuda_the_reason_is_given(no_cuda):
    assert sr.cuda.is_available() is False and sr.cuda.device_count() == 0
    reason = sr.cuda.unavailable_reason()
    expected = "pip install 'steprnn[gpu]'" if no_cuda == "no numba-cuda" else "no CUDA GPU or driver"
    assert expected in reason
    for request in (lambda: sr.ones(2, device="cuda"), sr.cuda.get_device_name, sr.cuda.current_device,
                    lambda: sr.tensor([1.0]).cuda(), lambda: nn.Linear(2, 2).cuda()):
        with pytest.raises(RuntimeError) as err:
            request()
        assert expected in str(err.value) and "steprnn.cuda.is_available()" in str(err.value)
    sr.cuda.synchronize()  # nothing to wait for
    m = nn.Linear(2, 2)
    assert m.cpu() is m and sr.ones(2).cpu().device == sr.device("cpu")


def test_cpu_work_never_imports_numba_cuda():
    """The base install has no numba-cuda: nothing but a CUDA question may import it."""
    code = ("import sys, steprnn as sr, steprnn.nn as nn\n"
            "m = nn.LSTM(3, 4); out, _ = m(sr.randn(5, 2, 3)); out.sum().backward()\n"
            "sr.optim.Adam(m.parameters()).step(); m.to('cpu'); sr.ones(2).to('cpu')\n"
            "print(sorted(k for k in sys.modules if k.startswith(('numba.cuda', 'numba_cuda'))))")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1] == "[]"


def test_cuda_tensors_under_the_simulator():
    """Runs ``test_cuda_tensor_sim.py`` in a fresh interpreter with ``NUMBA_ENABLE_CUDASIM=1``."""
    pytest.importorskip("numba_cuda", reason="the CUDA tests need numba-cuda (the test and gpu extras)")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rxXs",
                          str(ROOT / "tests" / "test_cuda_tensor_sim.py")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    summary = res.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary), res.stdout[-3000:]
    assert "skipped" not in summary and "xpassed" not in summary, res.stdout[-3000:]
    xfailed = re.findall(r"XFAIL .*", res.stdout)
    if xfailed:  # the whole-model test waits for the CUDA layers: say so in this run's report
        import warnings
        warnings.warn("under the simulator, expected to fail until the CUDA layers land: " + "; ".join(xfailed),
                      stacklevel=1)
