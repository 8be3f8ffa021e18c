"""Classifying variable-length sequences with packing (after the usual "minimal packed sequence" tutorials):
pad_sequence, sort by length, pack_padded_sequence, a GRU, the final hidden state, CrossEntropyLoss, Adam."""
import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

rng = np.random.RandomState(7)
vocab, n_classes = 20, 3
seqs = [torch.tensor(rng.randint(1, vocab, size=rng.randint(2, 9)), dtype=torch.long) for _ in range(24)]
labels = torch.tensor([int(s.sum().item()) % n_classes for s in seqs], dtype=torch.long)


class PackedClassifier(nn.Module):
    def __init__(self, vocab, emb, hidden, n_classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=0)
        self.rnn = nn.GRU(emb, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, n_classes)

    def forward(self, padded, lengths):
        lengths, perm_idx = lengths.sort(0, descending=True)
        padded = padded[perm_idx]
        packed = pack_padded_sequence(self.embedding(padded), lengths.tolist(), batch_first=True)
        packed_out, h_n = self.rnn(packed)
        out, out_lengths = pad_packed_sequence(packed_out, batch_first=True)
        _, unperm_idx = perm_idx.sort(0)
        return self.fc(h_n[-1][unperm_idx]), out[unperm_idx]


torch.manual_seed(0)
model = PackedClassifier(vocab, 8, 12, n_classes)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
losses = []
for epoch in range(15):
    for start in range(0, 24, 8):
        batch = seqs[start:start + 8]
        lengths = torch.LongTensor([len(s) for s in batch])
        padded = pad_sequence(batch, batch_first=True)
        optimizer.zero_grad()
        logits, _ = model(padded, lengths)
        loss = criterion(logits, labels[start:start + 8])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

with torch.no_grad():
    logits, out = model(pad_sequence(seqs[:8], batch_first=True), torch.LongTensor([len(s) for s in seqs[:8]]))
    predicted = logits.argmax(dim=1)
outputs = {"logits": logits.tolist(), "padded_out_sum": out.sum(dim=(1, 2)).tolist(),
           "accuracy": (predicted == labels[:8]).float().mean().item(),
           "padding_row_grad_is_zero": bool((model.embedding.weight.grad[0] == 0).all())}
