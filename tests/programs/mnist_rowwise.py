"""Image classification row by row with an RNN (after the popular "RNN on MNIST" tutorials), on synthetic
8x8 digit-like images: batch_first nn.RNN, the last step's output, CrossEntropyLoss, SGD with momentum,
accuracy with torch.max(outputs.data, 1)."""
import numpy as np
import torch
import torch.nn as nn

rng = np.random.RandomState(5)
num_classes, sequence_length, input_size = 4, 8, 8
prototypes = rng.rand(num_classes, sequence_length, input_size)
labels_np = rng.randint(0, num_classes, size=64)
images_np = (prototypes[labels_np] + 0.3 * rng.randn(64, sequence_length, input_size)).astype("float32")


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers, num_classes):
        super(RNN, self).__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.rnn = nn.RNN(input_size, hidden_size, num_layers, batch_first=True, nonlinearity="relu")
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        h0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size)
        out, _ = self.rnn(x, h0)
        return self.fc(out[:, -1, :])


torch.manual_seed(0)
model = RNN(input_size, 16, 2, num_classes)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
images_all, labels_all = torch.from_numpy(images_np), torch.from_numpy(labels_np)
losses = []
for epoch in range(6):
    for i in range(0, 64, 16):
        images = images_all[i:i + 16].reshape(-1, sequence_length, input_size)
        labels = labels_all[i:i + 16]
        outputs = model(images)
        loss = criterion(outputs, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

with torch.no_grad():
    correct = 0
    total = 0
    outputs = model(images_all)
    _, predicted = torch.max(outputs.data, 1)
    total += labels_all.size(0)
    correct += (predicted == labels_all).sum().item()
outputs = {"accuracy": correct / total, "predicted": predicted.tolist(), "logits": outputs[:5].tolist()}
