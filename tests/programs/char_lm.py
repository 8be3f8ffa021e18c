"""Character-level language model (after min-char-rnn style tutorials): a pretrained-looking embedding
loaded with Embedding.from_pretrained, a 2-layer GRU, Linear, CrossEntropyLoss over all steps,
Adam with gradient clipping, greedy sampling with topk."""
import numpy as np
import torch
import torch.nn as nn
from torch.autograd import Variable

text = "hello world, hello steprnn. recurrent nets read one character at a time. " * 3
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
vocab = len(chars)
pretrained = torch.from_numpy(np.random.RandomState(1).randn(vocab, 10).astype("float32"))


class CharLM(nn.Module):
    def __init__(self, vocab, hidden):
        super().__init__()
        self.embed = nn.Embedding.from_pretrained(pretrained, freeze=False)
        self.gru = nn.GRU(10, hidden, num_layers=2)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, h=None):
        out, h = self.gru(self.embed(x), h)
        return self.head(out), h


reference = pretrained.clone()
torch.manual_seed(0)
model = CharLM(vocab, 24)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
criterion = nn.CrossEntropyLoss()
seq_len, batch = 16, 4
losses = []
for step in range(20):
    starts = [(step * 7 + b * 37) % (len(data) - seq_len - 1) for b in range(batch)]
    x = Variable(torch.stack([data[s:s + seq_len] for s in starts], dim=1))
    y = torch.stack([data[s + 1:s + seq_len + 1] for s in starts], dim=1)
    logits, _ = model(x)
    loss = criterion(logits.view(-1, vocab), y.view(-1))
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    losses.append(loss.item())

with torch.no_grad():
    h, x, out = None, data[:1].view(1, 1), "h"
    for _ in range(30):
        logits, h = model(x, h)
        _, top = logits[-1, 0].topk(1)
        out += chars[top.item()]
        x = top.view(1, 1)
outputs = {"sample": out, "embedding_changed": not torch.equal(model.embed.weight, reference),
           "shares_memory": torch.equal(model.embed.weight, pretrained)}
