"""Binary sentiment-style classifier with a bidirectional LSTM (after the common "packed padded sequences"
sentiment tutorials): Embedding with padding_idx, batch_first biLSTM, both final states concatenated,
BatchNorm1d, BCEWithLogitsLoss, Adam, accuracy from sigmoid > 0.5."""
import numpy as np
import torch
import torch.nn as nn

rng = np.random.RandomState(11)
vocab, seq_len, n = 30, 10, 48
X = rng.randint(1, vocab, size=(n, seq_len))
lengths = rng.randint(4, seq_len + 1, size=n)
for row, length in zip(X, lengths):
    row[length:] = 0  # padding
y = (np.array([(row[row > 0] < vocab // 2).mean() for row in X]) > 0.5).astype("float32")


class BiLSTMClassifier(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_dim):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.rnn = nn.LSTM(embedding_dim, hidden_dim, num_layers=1, bidirectional=True, batch_first=True)
        self.norm = nn.BatchNorm1d(hidden_dim * 2)
        self.fc = nn.Linear(hidden_dim * 2, 1)

    def forward(self, text):
        embedded = self.embedding(text)
        output, (hidden, cell) = self.rnn(embedded)
        hidden = torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1)
        return self.fc(self.norm(hidden)).squeeze(1)


def binary_accuracy(preds, y):
    rounded_preds = torch.round(torch.sigmoid(preds))
    correct = (rounded_preds.float() == y).float()
    return correct.sum() / len(correct)


torch.manual_seed(0)
model = BiLSTMClassifier(vocab, 10, 8)
criterion = nn.BCEWithLogitsLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
texts, labels = torch.LongTensor(X), torch.FloatTensor(y)
losses, accs = [], []
for epoch in range(10):
    model.train()
    for start in range(0, n, 16):
        optimizer.zero_grad()
        predictions = model(texts[start:start + 16])
        loss = criterion(predictions, labels[start:start + 16])
        acc = binary_accuracy(predictions, labels[start:start + 16])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        accs.append(acc.item())
model.eval()
with torch.no_grad():
    logits = model(texts)
outputs = {"logits": logits.tolist(), "accs": accs, "running_mean": model.norm.running_mean.tolist(),
           "running_var": model.norm.running_var.tolist()}
