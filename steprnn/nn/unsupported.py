"""Names of ``torch.nn`` outside recurrent models: importable, so that a program's import lines port,
and refused with a clear ``NotImplementedError`` when constructed."""
from __future__ import annotations

from typing import Any

from .module import Module

__all__ = [
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "BatchNorm2d", "Conv1d", "Conv2d", "Conv3d",
    "ConvTranspose1d", "ConvTranspose2d", "MaxPool1d", "MaxPool2d", "MultiheadAttention", "Transformer",
    "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder", "TransformerEncoderLayer",
]

_INSTEAD = {
    "conv": "for sequences use nn.RNN/nn.LSTM/nn.GRU; for convolutions use PyTorch (torch.nn.{name})",
    "attention": "for sequence models use nn.LSTM/nn.GRU, with attention written from nn.Linear, sr.bmm and "
                 "F.softmax as in the seq2seq tutorial; for transformers use PyTorch (torch.nn.{name})",
    "norm": "for recurrent models use nn.BatchNorm1d; for images use PyTorch (torch.nn.{name})",
}


class _Unsupported(Module):
    _kind = "conv"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        name = type(self).__name__
        raise NotImplementedError(
            f"nn.{name} is not implemented: steprnn covers recurrent models (RNN, LSTM, GRU, their cells, "
            f"and what trains them). Instead, " + _INSTEAD[self._kind].format(name=name) + "."
        )


def _stub(name: str, kind: str) -> type:
    return type(name, (_Unsupported,), {"_kind": kind, "__doc__": f"Not implemented: ``torch.nn.{name}`` is "
                                        "outside recurrent models; constructing it raises NotImplementedError.",
                                        "__module__": __name__})


Conv1d = _stub("Conv1d", "conv")
Conv2d = _stub("Conv2d", "conv")
Conv3d = _stub("Conv3d", "conv")
ConvTranspose1d = _stub("ConvTranspose1d", "conv")
ConvTranspose2d = _stub("ConvTranspose2d", "conv")
MaxPool1d = _stub("MaxPool1d", "conv")
MaxPool2d = _stub("MaxPool2d", "conv")
AvgPool1d = _stub("AvgPool1d", "conv")
AvgPool2d = _stub("AvgPool2d", "conv")
AdaptiveAvgPool1d = _stub("AdaptiveAvgPool1d", "conv")
AdaptiveAvgPool2d = _stub("AdaptiveAvgPool2d", "conv")
BatchNorm2d = _stub("BatchNorm2d", "norm")
MultiheadAttention = _stub("MultiheadAttention", "attention")
Transformer = _stub("Transformer", "attention")
TransformerEncoder = _stub("TransformerEncoder", "attention")
TransformerDecoder = _stub("TransformerDecoder", "attention")
TransformerEncoderLayer = _stub("TransformerEncoderLayer", "attention")
TransformerDecoderLayer = _stub("TransformerDecoderLayer", "attention")
