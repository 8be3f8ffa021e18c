"""Generating names with a character-level RNN (after the "Generating Names" tutorial): category + input +
hidden -> Linear layers, Dropout, LogSoftmax; trained with NLLLoss; names sampled with torch.multinomial."""
import string

import torch
import torch.nn as nn

all_letters = string.ascii_letters + " .,;'-"
n_letters = len(all_letters) + 1  # plus EOS
categories = ["Short", "Long"]
n_categories = len(categories)
words = {"Short": ["Ada", "Bo", "Cy", "Di", "Ed", "Flo"], "Long": ["Alexandra", "Bartholomew", "Cornelius"]}


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(n_categories + input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(n_categories + input_size + hidden_size, output_size)
        self.o2o = nn.Linear(hidden_size + output_size, output_size)
        self.dropout = nn.Dropout(0.1)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, category, input, hidden):
        input_combined = torch.cat((category, input, hidden), 1)
        hidden = self.i2h(input_combined)
        output = self.i2o(input_combined)
        output_combined = torch.cat((hidden, output), 1)
        output = self.o2o(output_combined)
        output = self.dropout(output)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


def categoryTensor(category):
    tensor = torch.zeros(1, n_categories)
    tensor[0][categories.index(category)] = 1
    return tensor


def inputTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li in range(len(line)):
        tensor[li][0][all_letters.find(line[li])] = 1
    return tensor


def targetTensor(line):
    letter_indexes = [all_letters.find(line[li]) for li in range(1, len(line))]
    letter_indexes.append(n_letters - 1)
    return torch.LongTensor(letter_indexes)


torch.manual_seed(0)
rnn = RNN(n_letters, 32, n_letters)
criterion = nn.NLLLoss()
learning_rate = 0.005
losses = []
for it in range(60):
    category = categories[it % 2]
    line = words[category][it // 2 % len(words[category])]
    category_tensor, input_line_tensor = categoryTensor(category), inputTensor(line)
    target_line_tensor = targetTensor(line).unsqueeze_(-1)
    hidden = rnn.initHidden()
    rnn.zero_grad()
    loss = torch.Tensor([0])
    for i in range(input_line_tensor.size(0)):
        output, hidden = rnn(category_tensor, input_line_tensor[i], hidden)
        loss += criterion(output, target_line_tensor[i])
    loss.backward()
    for p in rnn.parameters():
        p.data.add_(p.grad.data, alpha=-learning_rate)
    losses.append(loss.item() / input_line_tensor.size(0))

rnn.eval()
samples = []
with torch.no_grad():
    for category, start in [("Short", "A"), ("Long", "B"), ("Long", "C")]:
        input, hidden, name = inputTensor(start), rnn.initHidden(), start
        for i in range(12):
            output, hidden = rnn(categoryTensor(category), input[0], hidden)
            topi = torch.multinomial(output.exp().squeeze(0), 1)[0].item()
            if topi == n_letters - 1:
                break
            name += all_letters[topi]
            input = inputTensor(all_letters[topi])
        samples.append(name)
outputs = {"samples": samples}
