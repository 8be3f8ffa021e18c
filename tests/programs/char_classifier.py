"""Character-level name classifier (after the "Classifying Names with a Character-Level RNN" tutorial):
one-hot letters, a hand-written RNN of two Linear layers, LogSoftmax + NLLLoss, manual SGD on p.data."""
import string

import numpy as np
import torch
import torch.nn as nn

all_letters = string.ascii_letters + " .,;'"
n_letters = len(all_letters)
rng = np.random.RandomState(0)
categories = ["A", "B", "C"]
syllables = {"A": ["ka", "ro", "mi"], "B": ["sch", "er", "mann"], "C": ["ez", "al", "lo"]}
data = {c: ["".join(rng.choice(syllables[c], size=rng.randint(2, 4))).capitalize() for _ in range(20)]
        for c in categories}


def letterToIndex(letter):
    return all_letters.find(letter)


def lineToTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letterToIndex(letter)] = 1
    return tensor


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)
        hidden = torch.tanh(self.i2h(combined))
        output = self.softmax(self.h2o(hidden))
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


def categoryFromOutput(output):
    top_n, top_i = output.topk(1)
    category_i = top_i[0].item()
    return categories[category_i], category_i


torch.manual_seed(0)
rnn = RNN(n_letters, 24, len(categories))
criterion = nn.NLLLoss()
learning_rate = 0.01


def train(category_tensor, line_tensor):
    hidden = rnn.initHidden()
    rnn.zero_grad()
    for i in range(line_tensor.size()[0]):
        output, hidden = rnn(line_tensor[i], hidden)
    loss = criterion(output, category_tensor)
    loss.backward()
    for p in rnn.parameters():
        p.data.add_(p.grad.data, alpha=-learning_rate)
    return output, loss.item()


losses = []
for it in range(150):
    category = categories[it % 3]
    line = data[category][(it // 3) % 20]
    category_tensor = torch.tensor([categories.index(category)], dtype=torch.long)
    output, loss = train(category_tensor, lineToTensor(line))
    losses.append(loss)

correct = 0
guesses = []
with torch.no_grad():
    for category in categories:
        for line in data[category]:
            hidden = rnn.initHidden()
            line_tensor = lineToTensor(line)
            for i in range(line_tensor.size()[0]):
                output, hidden = rnn(line_tensor[i], hidden)
            guess, guess_i = categoryFromOutput(output)
            guesses.append(guess_i)
            correct += int(guess == category)
outputs = {"guesses": guesses, "accuracy": correct / 60, "last_output": output.tolist()}
