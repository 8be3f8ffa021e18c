"""Sequence to sequence with attention (after "NLP From Scratch: Translation with a Sequence to Sequence
Network and Attention"): a GRU encoder, an attention GRU decoder (Linear attention weights, bmm, cat),
teacher forcing, NLLLoss, two SGD optimisers, greedy decoding with topk."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim

SOS_token, EOS_token, MAX_LENGTH = 0, 1, 8
rng = np.random.RandomState(3)
n_words = 12
pairs = []
for _ in range(12):
    src = list(rng.randint(2, n_words, size=rng.randint(3, 7)))
    pairs.append((src + [EOS_token], list(reversed(src)) + [EOS_token]))


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super(EncoderRNN, self).__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size)

    def forward(self, input, hidden):
        embedded = self.embedding(input).view(1, 1, -1)
        output, hidden = self.gru(embedded, hidden)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, 1, self.hidden_size)


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size, dropout_p=0.1, max_length=MAX_LENGTH):
        super(AttnDecoderRNN, self).__init__()
        self.hidden_size, self.output_size, self.max_length = hidden_size, output_size, max_length
        self.embedding = nn.Embedding(self.output_size, self.hidden_size)
        self.attn = nn.Linear(self.hidden_size * 2, self.max_length)
        self.attn_combine = nn.Linear(self.hidden_size * 2, self.hidden_size)
        self.dropout = nn.Dropout(dropout_p)
        self.gru = nn.GRU(self.hidden_size, self.hidden_size)
        self.out = nn.Linear(self.hidden_size, self.output_size)

    def forward(self, input, hidden, encoder_outputs):
        embedded = self.dropout(self.embedding(input).view(1, 1, -1))
        attn_weights = F.softmax(self.attn(torch.cat((embedded[0], hidden[0]), 1)), dim=1)
        attn_applied = torch.bmm(attn_weights.unsqueeze(0), encoder_outputs.unsqueeze(0))
        output = torch.cat((embedded[0], attn_applied[0]), 1)
        output = F.relu(self.attn_combine(output).unsqueeze(0))
        output, hidden = self.gru(output, hidden)
        output = F.log_softmax(self.out(output[0]), dim=1)
        return output, hidden, attn_weights


def run(encoder, decoder, input_tensor, target_tensor=None):
    encoder_hidden = encoder.initHidden()
    encoder_outputs = torch.zeros(MAX_LENGTH, encoder.hidden_size)
    for ei in range(input_tensor.size(0)):
        encoder_output, encoder_hidden = encoder(input_tensor[ei], encoder_hidden)
        encoder_outputs[ei] = encoder_output[0, 0]
    decoder_input, decoder_hidden = torch.tensor([[SOS_token]]), encoder_hidden
    loss, decoded = 0, []
    for di in range(target_tensor.size(0) if target_tensor is not None else MAX_LENGTH):
        decoder_output, decoder_hidden, attn = decoder(decoder_input, decoder_hidden, encoder_outputs)
        topv, topi = decoder_output.topk(1)
        if target_tensor is not None:
            loss += criterion(decoder_output, target_tensor[di])
            decoder_input = target_tensor[di]  # teacher forcing
        else:
            decoded.append(topi.item())
            if topi.item() == EOS_token:
                break
            decoder_input = topi.squeeze().detach()
    return loss, decoded


torch.manual_seed(0)
encoder, decoder = EncoderRNN(n_words, 16), AttnDecoderRNN(16, n_words, dropout_p=0.1)
encoder_optimizer = optim.SGD(encoder.parameters(), lr=0.05)
decoder_optimizer = optim.SGD(decoder.parameters(), lr=0.05)
criterion = nn.NLLLoss()
tensors = [(torch.tensor(s, dtype=torch.long).view(-1, 1), torch.tensor(t, dtype=torch.long).view(-1, 1))
           for s, t in pairs]
losses = []
for it in range(36):
    input_tensor, target_tensor = tensors[it % len(tensors)]
    encoder_optimizer.zero_grad()
    decoder_optimizer.zero_grad()
    loss, _ = run(encoder, decoder, input_tensor, target_tensor)
    loss.backward()
    encoder_optimizer.step()
    decoder_optimizer.step()
    losses.append(loss.item() / target_tensor.size(0))
encoder.eval()
decoder.eval()
with torch.no_grad():
    decoded = [run(encoder, decoder, s)[1] for s, _ in tensors[:4]]
outputs = {"decoded": decoded}
