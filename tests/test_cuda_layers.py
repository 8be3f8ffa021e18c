"""The CUDA layers from a normal process (no simulator, usually no GPU): the CPU path never loads the
CUDA modules, and ``device='cuda'`` is refused clearly where CUDA cannot run. What the CUDA layers
compute is tested under the simulator (``test_cuda_layers_sim.py``, run by ``test_cuda_kernels.py``)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import steprnn as sr
import steprnn.nn as nn

ROOT = Path(__file__).resolve().parent.parent

CPU_RUN = """
import sys
import steprnn as sr, steprnn.nn as nn
for layer in (nn.LSTM(2, 3, num_layers=2, bidirectional=True), nn.GRUCell(2, 3)):
    x = sr.randn(3, 1, 2, requires_grad=True) if isinstance(layer, nn.LSTM) else sr.randn(1, 2, requires_grad=True)
    out = layer(x)
    (out[0] if isinstance(out, tuple) else out).sum().backward()
    sr.trace(layer, x.detach())
print(sorted(m for m in sys.modules if m.startswith(("numba.cuda", "numba_cuda.numba", "steprnn.kernels.cuda",
                                                       "steprnn.nn.rnn_cuda", "steprnn.cuda_tensor"))))
"""


def test_the_cpu_path_loads_nothing_of_cuda():
    """Forward, backward and trace on the CPU import neither numba.cuda nor the CUDA glue."""
    res = subprocess.run([sys.executable, "-c", CPU_RUN], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1] == "[]", res.stdout


@pytest.mark.skipif(sr.cuda.is_available(), reason="CUDA can run here")
@pytest.mark.parametrize("make", [lambda: nn.LSTM(2, 3, device="cuda"), lambda: nn.GRU(2, 3, device="cuda"),
                                  lambda: nn.RNN(2, 3, device="cuda"), lambda: nn.RNNCell(2, 3, device="cuda"),
                                  lambda: nn.LSTMCell(2, 3, device="cuda"), lambda: nn.GRUCell(2, 3, device="cuda"),
                                  lambda: nn.LSTM(2, 3).to("cuda"), lambda: nn.GRUCell(2, 3).cuda()],
                         ids=["LSTM", "GRU", "RNN", "RNNCell", "LSTMCell", "GRUCell", "LSTM.to", "GRUCell.cuda"])
def test_cuda_layers_are_refused_clearly_without_cuda(make):
    with pytest.raises(RuntimeError, match=r"device 'cuda(:0)?' is not available: steprnn.cuda.is_available\(\) is "
                                           r"False \(.+\)\. Choose the device the way PyTorch tutorials do"):
        make()
