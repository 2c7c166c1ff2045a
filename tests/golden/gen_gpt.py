#!/usr/bin/env python3
"""Generate the PyTorch golden fixtures of lamina's built-in gpt-mini, in the manner of
llm.c's test_gpt2.c: logits, loss, every gradient and the losses of 10 AdamW steps.

Regenerate (from the repository root; needs PyTorch, generated with torch 1.13.0a0, the
Debian python3-torch package, CPU, one thread):

    /usr/bin/python3 tests/golden/gen_gpt.py [DIR]

which writes, into DIR (default: this script's directory, tests/golden):

    gpt_weights.safetensors   the model's state_dict, as `lamina import` reads it
    gpt_golden.safetensors    the batch and PyTorch's results

Both are written by tools/export_torch.py's save_state_dict. The script is deterministic:
two runs on the same machine and torch build give byte-identical files. Other CPUs or torch
builds may differ in the last bits, so test_gpt.c compares with tolerances.

The model is bench/torch_gpt.py's GPT (nanoGPT's, with biases; its header documents the
formulas and tensor names) with lamina's gpt-mini sizes: GPT(V = 65, n_layer 4, n_head 4,
n_embd 128, block_size 64), dropout 0, weights from torch.manual_seed(3000) and nanoGPT's
initialisation; 809,856 parameters. Its state_dict (53 tensors: the 52 parameters and
lm_head.weight, the same data as transformer.wte.weight) is gpt_weights.safetensors.
The script first checks PyTorch's float32 forward against its own float64 loops of the
formulas (ref_forward; to 1e-5 of the largest logit), so the definitions are the ones the
fixtures hold.

From g = torch.Generator().manual_seed(3000): x = torch.randint(0, 65, (4, 64)), then
y = torch.randint(0, 65, (4, 64)). In train mode: logits = model(x), loss =
F.cross_entropy(logits.reshape(-1, 65), y.reshape(-1)) (the mean over the 256 positions),
loss.backward(). Then, from those same weights, 10 steps of AdamW on the same batch:
zero_grad, forward, loss, backward, step, with bench/torch_gpt.py's make_adamw(model, 1e-3,
0.1): lr 1e-3, betas (0.9, 0.99), eps 1e-8, weight decay 0.1 on the tensors of dim >= 2
and 0 on the others; no clipping, no schedule. gpt_golden.safetensors holds (F32 unless
stated):

  "x"                   (4, 64)      token ids as floats (the input of lamina's embedding)
  "y"                   (4, 64)      I64 labels, the next tokens to predict
  "logits"              (4, 64, 65)
  "loss"                ()
  "grad.<name>"         every parameter's gradient, in named_parameters order (PyTorch's
                        names, which are lamina's); the tied matrix is
                        transformer.wte.weight, its gradient summed over the embedding and
                        the head
  "losses"              (10)         the loss of each AdamW step, before its update
                                     (losses[0] = loss)
  "loss_final"          ()           the loss after the 10th update

and in __metadata__ the model, vocabulary, batch, seed, optimizer and command.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from export_torch import save_state_dict  # noqa: E402
from torch_gpt import GPT, make_adamw  # noqa: E402

COMMAND = "/usr/bin/python3 tests/golden/gen_gpt.py"
SEED = 3000
V = 65
N_LAYER, N_HEAD, N_EMBD, BLOCK = 4, 4, 128, 64  # lamina's gpt-mini
BATCH, T = 4, 64
STEPS = 10
LR, WD = 1e-3, 0.1
REF_TOL = 1e-5


def ref_forward(sd, x):
    """The logits of the header's formulas in float64, from the state_dict, head by head."""
    w = {k: v.double() for k, v in sd.items()}
    C, hd = N_EMBD, N_EMBD // N_HEAD

    def ln(z, p):
        mu = z.mean(-1, keepdim=True)
        var = ((z - mu) ** 2).mean(-1, keepdim=True)
        return (z - mu) / torch.sqrt(var + 1e-5) * w[p + ".weight"] + w[p + ".bias"]

    def lin(z, p):
        return z @ w[p + ".weight"].t() + w[p + ".bias"]

    t_len = x.shape[1]
    causal = torch.ones(t_len, t_len).tril().bool()
    h = w["transformer.wte.weight"][x] + w["transformer.wpe.weight"][:t_len]
    for i in range(N_LAYER):
        p = "transformer.h.%d." % i
        qkv = lin(ln(h, p + "ln_1"), p + "attn.c_attn")
        heads = []
        for j in range(N_HEAD):
            q = qkv[..., j * hd:(j + 1) * hd]
            k = qkv[..., C + j * hd:C + (j + 1) * hd]
            v = qkv[..., 2 * C + j * hd:2 * C + (j + 1) * hd]
            s = (q @ k.transpose(1, 2)) / math.sqrt(hd)
            s = s.masked_fill(~causal, float("-inf"))
            heads.append(torch.softmax(s, dim=-1) @ v)
        h = h + lin(torch.cat(heads, dim=-1), p + "attn.c_proj")
        m = lin(ln(h, p + "ln_2"), p + "mlp.c_fc")
        m = 0.5 * m * (1 + torch.tanh(math.sqrt(2 / math.pi) * (m + 0.044715 * m ** 3)))
        h = h + lin(m, p + "mlp.c_proj")
    return ln(h, "transformer.ln_f") @ w["lm_head.weight"].t()


def rel(got, want):
    return ((got.double() - want.double()).abs().max() / want.double().abs().max()).item()


def main():
    if len(sys.argv) > 2:
        sys.exit("usage: gen_gpt.py [DIR]")
    out_dir = sys.argv[1] if len(sys.argv) == 2 else HERE
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    model = GPT(V, N_LAYER, N_HEAD, N_EMBD, BLOCK)
    model.train()
    g = torch.Generator().manual_seed(SEED)
    x = torch.randint(0, V, (BATCH, T), generator=g)
    y = torch.randint(0, V, (BATCH, T), generator=g)

    sd = model.state_dict()
    assert sd["lm_head.weight"].data_ptr() == sd["transformer.wte.weight"].data_ptr()
    nparam = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        ref = ref_forward(sd, x)
    logits = model(x)
    err = rel(logits, ref)
    if err > REF_TOL:
        raise SystemExit("the float32 logits differ from the float64 loops by %.3g" % err)
    loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    model.zero_grad()
    loss.backward()
    grads = [("grad." + n, p.grad.detach().clone()) for n, p in model.named_parameters()]

    # PyTorch's own float32 rounding, against the same model in float64 (for the tolerances)
    m64 = GPT(V, N_LAYER, N_HEAD, N_EMBD, BLOCK).double()
    m64.load_state_dict(sd)
    l64 = F.cross_entropy(m64(x).reshape(-1, V), y.reshape(-1))
    l64.backward()
    g64 = dict((n, p.grad) for n, p in m64.named_parameters())
    worst = max((rel(t, g64[n[5:]]), n) for n, t in grads)
    print("gpt-mini V %d: %d params, %d tensors in the state_dict; logits in [%.4f, %.4f], "
          "loss %.6f" % (V, nparam, len(sd), logits.min(), logits.max(), loss.item()))
    print("float32 against float64: logits %.2e, loss %.2e, worst gradient %.2e (%s)"
          % (err, abs(loss.item() - l64.item()) / l64.item(), worst[0], worst[1]))

    weights_path = os.path.join(out_dir, "gpt_weights.safetensors")
    size_w = save_state_dict(sd, weights_path, {
        "model": "gpt-mini", "vocab": str(V), "seed": str(SEED), "command": COMMAND})

    # 10 AdamW steps on the same batch, from the same weights
    opt = make_adamw(model, LR, WD)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        step_loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        step_loss.backward()
        opt.step()
        losses.append(step_loss.item())
    with torch.no_grad():
        loss_final = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
    assert losses[0] == loss.item()
    print("losses of the %d AdamW steps: %s; after: %.6f"
          % (STEPS, " ".join("%.6f" % v for v in losses), loss_final.item()))

    out = [("x", x.float()), ("y", y), ("logits", logits.detach()),
           ("loss", loss.detach().reshape(()))]
    out += grads
    out += [("losses", torch.tensor(losses, dtype=torch.float32)),
            ("loss_final", loss_final.reshape(()))]
    golden_path = os.path.join(out_dir, "gpt_golden.safetensors")
    size_g = save_state_dict(out, golden_path, {
        "model": "gpt-mini", "vocab": str(V), "batch": str(BATCH), "T": str(T),
        "seed": str(SEED), "params": str(nparam), "steps": str(STEPS),
        "optimizer": "adamw lr %g betas 0.9,0.99 eps 1e-8 weight_decay %g on dim>=2, "
                     "no clipping" % (LR, WD),
        "command": COMMAND})
    print("wrote %s: %d tensors, %d bytes" % (weights_path, len(sd), size_w))
    print("wrote %s: %d tensors, %d bytes" % (golden_path, len(out), size_g))


if __name__ == "__main__":
    main()
