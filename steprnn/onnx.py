"""``steprnn.onnx``: present so that ``import torch.onnx``-style lines port; exporting is not part of steprnn."""
from __future__ import annotations

from typing import Any

__all__ = ["export"]


def export(*args: Any, **kwargs: Any) -> None:
    """Refused: steprnn covers recurrent models on NumPy and does not write ONNX files.

    Export from PyTorch instead: ``torch_model.load_state_dict(model.state_dict())``, then ``torch.onnx.export``.
    """
    raise NotImplementedError(
        "steprnn.onnx.export is not implemented: steprnn covers recurrent models (RNN, LSTM, GRU and what "
        "trains them) on NumPy and does not write ONNX files. Load the weights into the same model built with "
        "PyTorch (torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})) "
        "and use torch.onnx.export."
    )
