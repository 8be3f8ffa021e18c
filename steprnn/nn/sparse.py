"""``nn.Embedding``: a lookup table from token ids to learned vectors, as ``torch.nn.Embedding``."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_int, resolve_device, resolve_dtype
from ..grad_mode import no_grad
from ..tensor import Tensor
from . import functional as F
from .module import Module
from .parameter import Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """``weight`` (num_embeddings, embedding_dim), initialised N(0, 1); ``embedding(ids)`` has shape
    ``ids.shape + (embedding_dim,)`` for integer ``ids`` of any shape.

    ``padding_idx``: that row starts at zero and never gets a gradient. ``max_norm``: rows looked up
    are first scaled down in place to that ``norm_type``-norm. Tie weights with another layer by
    assignment (``decoder.weight = encoder.weight``): both then hold the same Parameter.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Any = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_embeddings = check_int(num_embeddings, "num_embeddings", 1)
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", 1)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise AssertionError(f"Padding_idx must be within num_embeddings: got padding_idx={padding_idx} "
                                     f"for num_embeddings={self.num_embeddings}")
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        if _weight is None:
            self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype=self.dtype),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            w = _weight if isinstance(_weight, Tensor) else Tensor(np.asarray(_weight))
            if tuple(w.shape) != (self.num_embeddings, self.embedding_dim):
                raise AssertionError(f"Shape of weight does not match num_embeddings and embedding_dim: got "
                                     f"{tuple(w.shape)}, expected ({self.num_embeddings}, {self.embedding_dim})")
            self.weight = Parameter(w, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """Weights from N(0, 1) (steprnn's generator); the padding row zero."""
        with no_grad():
            self.weight.normal_()
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0
            self.weight._vc.bump()

    def forward(self, input: Any) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        if self.sparse:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (2-D; its memory is shared, as PyTorch does);
        ``freeze=True`` keeps it out of training (``weight.requires_grad = False``)."""
        w = embeddings if isinstance(embeddings, Tensor) else Tensor(np.asarray(
            embeddings.detach().cpu().numpy() if type(embeddings).__module__.startswith("torch") else embeddings))
        if w.ndim != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        return cls(w.shape[0], w.shape[1], _weight=w, _freeze=freeze, padding_idx=padding_idx,
                   max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq,
                   sparse=sparse, dtype=w.dtype)
