"""A PyTorch training loop runs on steprnn by changing its imports, and tracks torch loss for loss."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import steprnn


def classifier_losses(lib, state_dict, x, y, epochs: int, kind: str = "LSTM", optimizer: str = "Adam"):
    """The same PyTorch-style code for either library: ``lib`` is ``torch`` or ``steprnn``."""
    nn = lib.nn

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(nn, kind)(x.shape[2], 6, num_layers=2, batch_first=True, dtype=lib.float64)
            self.head = nn.Linear(6, 3, dtype=lib.float64)

        def forward(self, inputs):
            out, _ = self.rnn(inputs)
            return self.head(out[:, -1, :])

    model = Classifier()
    model.load_state_dict(state_dict)
    criterion = nn.CrossEntropyLoss()
    if optimizer == "Adam":
        opt = lib.optim.Adam(model.parameters(), lr=0.01)
    else:
        opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    inputs, targets = lib.tensor(x), lib.tensor(y)
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


@pytest.mark.parametrize("kind,optimizer", [("LSTM", "Adam"), ("GRU", "SGD"), ("RNN", "Adam")])
def test_classifier_loop_tracks_torch(kind, optimizer):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 9, 4))
    y = rng.integers(0, 3, size=16)
    torch.manual_seed(0)
    ref = torch.nn.Module()
    ref.rnn = getattr(torch.nn, kind)(4, 6, num_layers=2, batch_first=True, dtype=torch.float64)
    ref.head = torch.nn.Linear(6, 3, dtype=torch.float64)
    state = ref.state_dict()
    epochs = 100 if kind == "LSTM" else 40
    theirs = classifier_losses(torch, state, x, y, epochs, kind, optimizer)
    ours = classifier_losses(steprnn, state, x, y, epochs, kind, optimizer)
    assert theirs[-1] < 0.8 * theirs[0], "the reference loop should learn something"
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-8)
