"""Word-level language model (after PyTorch's examples/word_language_model): Embedding -> LSTM -> Linear
with the decoder's weight tied to the encoder's, truncated BPTT, manual SGD on p.data, gradient clipping."""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.2, tie_weights=True):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.init_weights()
        self.nhid, self.nlayers = nhid, nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output).view(-1, self.decoder.out_features)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].view(-1)


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


torch.manual_seed(1111)
rng = np.random.RandomState(0)
ntokens = 50
corpus = torch.tensor(rng.randint(0, ntokens, size=600), dtype=torch.long)
train_data = batchify(corpus, 4)
model = RNNModel(ntokens, 16, 16, 2)
criterion = nn.NLLLoss()
lr, bptt, clip = 5.0, 12, 0.25
losses = []
for epoch in range(2):
    model.train()
    hidden = model.init_hidden(4)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
        data, targets = get_batch(train_data, i, bptt)
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        losses.append(loss.item())
    lr /= 4.0

model.eval()
with torch.no_grad():
    hidden = model.init_hidden(1)
    word = torch.tensor([[3]], dtype=torch.long)
    generated = []
    for _ in range(10):
        output, hidden = model(word, hidden)
        word_idx = output.squeeze().argmax().item()
        generated.append(word_idx)
        word.fill_(word_idx)
    ppl = math.exp(criterion(model(train_data[:20], model.init_hidden(4))[0], train_data[1:21].reshape(-1)).item())
outputs = {"generated": generated, "ppl": ppl, "tied": model.decoder.weight is model.encoder.weight}
