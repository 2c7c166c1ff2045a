#!/usr/bin/env python3
"""lamina's char-lstm (or char-gru) recipe in PyTorch 1.13, for the quality comparison of the
recurrent issue: the same model, data, split, batching and schedule as

    lamina train --model char-lstm --data fortunes

Data: Debian's fortunes files (/usr/share/games/fortunes: every regular file except the .dat
indexes and the .u8 symbolic links, in byte order of their names, concatenated), read as
bytes; the vocabulary is the bytes that occur, in byte order; split 90/5/5 by position.
Batching as PyTorch's word_language_model (batchify, get_batch) with whole batches only:
each part is cut into `batch` contiguous streams; batch b holds positions [b*T, b*T + T) of
every stream and the next tokens as labels. The hidden state is carried across consecutive
batches and detached (truncated BPTT); it starts at zero at every epoch and evaluation.

Model: Embedding(V, 64) -> LSTM(64, 256, 2 layers, dropout 0.2, batch_first) ->
Linear(256, V), named encoder / rnn / decoder, PyTorch's default initialisation.
Recipe: Adam lr 2e-3, global gradient-norm clipping at 1.0, cosine decay to 0 over the run
(per step), batch 64, T 64, the epochs given. Loss: mean cross-entropy per position;
bits per character = loss / ln 2.

    /usr/bin/python3 bench/torch_char_lm.py [--epochs 4] [--threads 1] [--model lstm|gru]

prints one line per epoch with the validation and test bits per character.
"""
import argparse
import math
import os
import time

import torch


def load_fortunes(d="/usr/share/games/fortunes"):
    data = bytearray()
    for name in sorted(os.listdir(d), key=lambda s: s.encode()):
        p = os.path.join(d, name)
        if name.startswith(".") or name.endswith(".dat") or os.path.islink(p) \
                or not os.path.isfile(p):
            continue
        with open(p, "rb") as f:
            data += f.read()
    return bytes(data)


def fortunes_parts():
    """The fortunes corpus as token ids, split 90/5/5 by position (lamina's
    lam_text_split): ([train, val, test] 1-d long tensors, vocabulary size, bytes)."""
    raw = load_fortunes()
    vocab = sorted(set(raw))
    lut = {b: i for i, b in enumerate(vocab)}
    tokens = torch.tensor([lut[b] for b in raw], dtype=torch.long)
    n = tokens.numel()
    parts = [tokens[:n * 90 // 100], tokens[n * 90 // 100:n * 95 // 100],
             tokens[n * 95 // 100:]]
    return parts, len(vocab), n


def batchify(tokens, rows):
    L = tokens.numel() // rows
    return tokens[:rows * L].view(rows, L)  # row r is stream r


def n_batches(streams, T):
    """Whole batches of T positions (each needs the next token as its label)."""
    return (streams.size(1) - 1) // T


def get_batch(streams, b, T):
    """Batch b: positions [b*T, b*T + T) of every stream, and the tokens after them."""
    return streams[:, b * T:(b + 1) * T], streams[:, b * T + 1:(b + 1) * T + 1]


class CharModel(torch.nn.Module):
    def __init__(self, vocab, cell):
        super().__init__()
        self.encoder = torch.nn.Embedding(vocab, 64)
        rnn = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
        self.rnn = rnn(64, 256, 2, dropout=0.2, batch_first=True)
        self.decoder = torch.nn.Linear(256, vocab)

    def forward(self, x, h):
        o, h = self.rnn(self.encoder(x), h)
        return self.decoder(o), h


def detach(h):
    return tuple(v.detach() for v in h) if isinstance(h, tuple) else h.detach()


def evaluate_nats(model, streams, T, V, stateful=True):
    """Mean per-position cross-entropy (nats) over every batch of the streams, in eval mode:
    stateful, model(x, h) -> (logits, h) with the state carried from zero; else
    model(x) -> logits, every batch on its own."""
    model.eval()
    total, count, h = 0.0, 0, None
    with torch.no_grad():
        for b in range(n_batches(streams, T)):
            x, y = get_batch(streams, b, T)
            if stateful:
                out, h = model(x, h)
            else:
                out = model(x)
            total += torch.nn.functional.cross_entropy(out.reshape(-1, V), y.reshape(-1),
                                                       reduction="sum").item()
            count += y.numel()
    model.train()
    return total / count


def evaluate(model, streams, T, V):
    """Bits per character of the recurrent model."""
    return evaluate_nats(model, streams, T, V) / math.log(2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default="lstm")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    parts, V, n = fortunes_parts()
    B, T = 64, 64
    train, val, test = (batchify(p, B) for p in parts)
    nb = n_batches(train, T)
    model = CharModel(V, a.model)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    total_steps = nb * a.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (1 + math.cos(math.pi * min(s, total_steps) / total_steps)) / 2)
    print("torch %s, %d threads, %d bytes, vocab %d, %d batches per epoch, %d params"
          % (torch.__version__, torch.get_num_threads(), n, V, nb,
             sum(p.numel() for p in model.parameters())), flush=True)
    for epoch in range(a.epochs):
        h, tl, t0 = None, 0.0, time.time()
        for b in range(nb):
            x, y = get_batch(train, b, T)
            h = detach(h) if h is not None else None
            out, h = model(x, h)
            loss = torch.nn.functional.cross_entropy(out.reshape(-1, V), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            tl += loss.item()
        dt = time.time() - t0
        print("epoch %d: train bpc %.4f, val bpc %.4f, test bpc %.4f, %.0f s, %.0f tokens/s"
              % (epoch + 1, tl / nb / math.log(2), evaluate(model, val, T, V),
                 evaluate(model, test, T, V), dt, nb * B * T / dt), flush=True)


if __name__ == "__main__":
    main()
