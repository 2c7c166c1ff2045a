#!/usr/bin/env python3
"""lamina's built-in GPTs (gpt-mini, gpt-6x384) in PyTorch 1.13, and the quality run that
mirrors

    lamina train --model gpt-mini --data fortunes

The module (also imported by tests/golden/gen_gpt.py) is nanoGPT's GPT (karpathy/nanoGPT
model.py) with biases everywhere, under its tensor names, so lamina imports its state_dict
by name (the causal mask is a non-persistent buffer: the state_dict holds the parameters
only, lm_head.weight beside the transformer.wte.weight it is tied to):

  transformer.wte    Embedding(V, C)             token embedding; lm_head shares its matrix
  transformer.wpe    Embedding(block_size, C)    position embedding, positions 0..T-1
  transformer.h.i    pre-LayerNorm block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
    .attn.c_attn     Linear(C, 3C): q, k, v = its output split along the last dimension
                     (q first), each cut into n_head heads of C / n_head;
                     y = softmax(q k^T / sqrt(C / n_head), causal) v, heads concatenated
    .attn.c_proj     Linear(C, C)
    .mlp.c_fc        Linear(C, 4C), then GELU(approximate="tanh")
    .mlp.c_proj      Linear(4C, C)
  transformer.ln_f   LayerNorm(C) (eps 1e-5, as every LayerNorm here)
  lm_head            Linear(C, V, bias=False), weight tied to transformer.wte.weight

Initialisation (nanoGPT's _init_weights): Linear and Embedding weights N(0, 0.02), biases 0,
the two c_proj weights N(0, 0.02 / sqrt(2 n_layer)); LayerNorm weight 1, bias 0.
gpt-mini: GPT(V, 4, 4, 128, 64); gpt-6x384: GPT(V, 6, 6, 384, 256).

The optimizer (make_adamw): AdamW, betas (0.9, 0.99), eps 1e-8, decoupled weight decay on
the tensors of dimension >= 2 (every matrix, wte and wpe included) and none on the others
(biases, LayerNorm weights): two parameter groups, as nanoGPT's configure_optimizers.
lamina's AdamW with decay_bias = 0 does the same (it marks biases and LayerNorm tensors
is_bias).

The quality run (main): data, split, streams, windows and evaluation as
bench/torch_char_lm.py (lamina's fortunes pipeline; its functions are reused): Debian's
fortunes as bytes, split 90/5/5, the training part cut into --batch (12) streams, batch b
= positions [b*T, b*T + T) of every stream (T = --bptt = 64) with the next tokens as
labels, every batch of the epoch once, in order. A GPT carries no state: every window is
on its own. Recipe (lamina's for gpt-*): AdamW lr 1e-3, weight decay 0.1 on the matrix
group; per step s, with w = 100 warm-up steps and S the run's steps (batches per epoch x
epochs): lr = 1e-3 * s / w for s < w (LinearLR from 0), then the cosine from 1e-3 down
to 1e-4 over the remaining S - w steps (lamina's lam_schedule_lr); the global gradient
norm clipped at 1.0; loss the mean cross-entropy over the batch's 12 x 64 positions.
After each epoch: the validation and test loss, each part cut into --batch streams of
windows of T (lam_lm_evaluate), in nats and in bits per character (nats / ln 2).

    /usr/bin/python3 bench/torch_gpt.py [--epochs 1] [--threads 1] [--seed 1]
                                        [--steps N] [--model gpt-mini|gpt-6x384]

--steps N stops after N steps (the schedule still spans the whole run), then evaluates:
a quick check that everything runs.
"""
import argparse
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from torch_char_lm import batchify, evaluate_nats, fortunes_parts, get_batch, n_batches  # noqa

# lamina's built-ins: (n_layer, n_head, n_embd, block_size)
CONFIGS = {"gpt-mini": (4, 4, 128, 64), "gpt-6x384": (6, 6, 384, 256)}


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout):
        super().__init__()
        assert n_embd % n_head == 0
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        self.n_head = n_head
        self.n_embd = n_embd
        # 1 where key position <= query position; not saved with the weights
        self.register_buffer("mask", torch.tril(torch.ones(block_size, block_size))
                             .view(1, 1, block_size, block_size), persistent=False)

    def forward(self, x):
        B, T, C = x.size()  # x is (B, T, C)
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        hd = C // self.n_head
        q = q.view(B, T, self.n_head, hd).transpose(1, 2)  # (B, nh, T, hd)
        k = k.view(B, T, self.n_head, hd).transpose(1, 2)
        v = v.view(B, T, self.n_head, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))  # (B, nh, T, T)
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        att = self.attn_dropout(F.softmax(att, dim=-1))
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, n_embd, dropout):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * n_embd, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, eps=1e-5)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size, dropout)
        self.ln_2 = nn.LayerNorm(n_embd, eps=1e-5)
        self.mlp = MLP(n_embd, dropout)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """nanoGPT's GPT with biases: forward(idx (B, T) long) -> logits (B, T, vocab)."""

    def __init__(self, vocab, n_layer, n_head, n_embd, block_size, dropout=0.0):
        super().__init__()
        self.block_size = block_size
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab, n_embd),
            wpe=nn.Embedding(block_size, n_embd),
            drop=nn.Dropout(dropout),
            h=nn.ModuleList([Block(n_embd, n_head, block_size, dropout)
                             for _ in range(n_layer)]),
            ln_f=nn.LayerNorm(n_embd, eps=1e-5),
        ))
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # tied, as nanoGPT
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx):
        _, T = idx.size()
        assert T <= self.block_size, "sequence of %d, context %d" % (T, self.block_size)
        pos = torch.arange(T, dtype=torch.long, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def param_groups(model, weight_decay):
    """[matrices (dim >= 2) with weight_decay, the rest (biases, LayerNorm) without]."""
    params = [p for p in model.parameters() if p.requires_grad]  # the tied matrix once
    return [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]


def make_adamw(model, lr, weight_decay, betas=(0.9, 0.99), eps=1e-8):
    """lamina's AdamW of the GPT recipe (decay_bias = 0): PyTorch's with two groups."""
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas, eps=eps)


def lr_at(step, base, warmup, total, min_lr):
    """lamina's lam_schedule_lr for COSINE with warm-up from 0 (start factor 0)."""
    if step < warmup:
        return base * step / warmup
    s, span = step - warmup, total - warmup
    return min_lr + (base - min_lr) * (1 + math.cos(math.pi * min(s, span) / span)) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="gpt-mini", choices=sorted(CONFIGS))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0, help="stop after N steps (0: the run)")
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--bptt", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--clip", type=float, default=1.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    parts, V, n = fortunes_parts()
    B, T = a.batch, a.bptt
    train, val, test = (batchify(p, B) for p in parts)
    nb = n_batches(train, T)
    n_layer, n_head, n_embd, block_size = CONFIGS[a.model]
    model = GPT(V, n_layer, n_head, n_embd, block_size)
    opt = make_adamw(model, a.lr, a.weight_decay)
    total_steps = nb * a.epochs
    if total_steps <= a.warmup:
        sys.exit("%d steps in the run, not more than the %d warm-up steps"
                 % (total_steps, a.warmup))
    stop = a.steps if a.steps > 0 else total_steps
    print("torch %s, %d threads, %s, %d bytes, vocab %d, %d streams of %d, %d batches per "
          "epoch, %d params" % (torch.__version__, torch.get_num_threads(), a.model, n, V, B, T,
                                nb, sum(p.numel() for p in model.parameters())), flush=True)
    print("adamw lr %g betas (0.9, 0.99) weight decay %g (matrices), warm-up %d, cosine to "
          "%g over %d steps, clip %g%s" % (a.lr, a.weight_decay, a.warmup, a.lr / 10,
                                           total_steps, a.clip,
                                           ", stopping after %d" % stop if a.steps else ""),
          flush=True)
    every = max(nb // 10, 1)
    step = 0
    for epoch in range(a.epochs):
        if step >= stop:
            break
        tl, seen, t0 = 0.0, 0, time.time()
        for b in range(nb):
            if step >= stop:
                break
            lr = lr_at(step, a.lr, a.warmup, total_steps, a.lr / 10)
            for g in opt.param_groups:
                g["lr"] = lr
            x, y = get_batch(train, b, T)
            loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            step += 1
            tl += loss.item()
            seen += 1
            if (b + 1) % every == 0 or (a.steps and step % 10 == 0):
                print("epoch %d step %d/%d  loss %.4f (avg %.4f, bpc %.4f)  lr %.3g  "
                      "norm %.3f  %.0f tokens/s"
                      % (epoch + 1, b + 1, nb, loss.item(), tl / seen,
                         tl / seen / math.log(2), lr, norm.item(),
                         seen * B * T / (time.time() - t0)), flush=True)
        dt = time.time() - t0
        vl = evaluate_nats(model, val, T, V, stateful=False)
        te = evaluate_nats(model, test, T, V, stateful=False)
        ln2 = math.log(2)
        print("epoch %d (%d steps): train loss %.4f bpc %.4f, val loss %.4f bpc %.4f, "
              "test loss %.4f bpc %.4f (perplexity %.2f), %.0f s, %.0f tokens/s"
              % (epoch + 1, seen, tl / seen, tl / seen / ln2, vl, vl / ln2, te, te / ln2,
                 math.exp(te), dt, seen * B * T / dt), flush=True)


if __name__ == "__main__":
    main()
