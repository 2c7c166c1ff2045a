#!/usr/bin/env python3
"""Generate the PyTorch golden dump for tests/golden/test_golden.c.

Regenerate (from the repository root; needs PyTorch, generated with torch 1.13.0a0, the
Debian python3-torch package, CPU, one thread):

    /usr/bin/python3 tests/golden/gen_golden.py tests/golden/seed_cnn_golden.safetensors

The model is lamina's built-in "seed-cnn" (model/builtin.c):

    conv:32,3,pad=1 relu maxpool:2 conv:64,3,pad=1 relu maxpool:2 flatten
    linear:120 relu linear:84 relu linear:out

built for samples of 2x10x10 (two input channels exercise the conv weight layout; the 5x5
map of the second pool exercises floor mode: flatten = 64*2*2 = 256), 10 classes and a
batch of 8, float32. Nothing random is stored or drawn: the initial weights, the batches
and the labels come from the formulas below, which test_golden.c repeats in C. They use
integer arithmetic and correctly rounded double operations only (*, /, sqrt; no sin or
exp), so both sides start from bitwise-identical floats:

  u(k, i) = uniform in [0, 1) with 24 bits, from a 64-bit integer hash of (k, i):
      h = (i + 1) * 0x9E3779B97F4A7C15 + k * 0xD1B54A32D192ED03   (mod 2^64)
      h ^= h >> 32;  h *= 0xD6E8FEB86659FD93 (mod 2^64);  h ^= h >> 32
      u = (h >> 40) / 2^24
  parameter t (0..9, in model order: conv0.w, conv0.b, conv3.w, conv3.b, linear7.w, ...),
  flat index i (PyTorch layout: conv (C_out, C_in, KH, KW), linear (out, in)):
      w = (2 * u(t, i) - 1) * (1 / sqrt(fan_in))   in double, then float: PyTorch's range
      fan_in = C_in*KH*KW or in_features of the layer's weight (the bias uses it too)
  batch of step s (0..9), flat index i over (8, 2, 10, 10):
      x = 2 * u(100 + s, i) - 1
  labels of step s, sample j (0..7):
      y = (3 * j + s) % 10

Then: forward on batch 0, cross-entropy (mean), backward; then 10 steps of
torch.optim.SGD(lr=0.01, momentum=0.9) on batches 0..9 (the first step uses the gradients
just computed). The dump (safetensors, written by hand with json + struct) holds:

  "logits"         (8, 10)  output of the first forward
  "loss"           ()       its loss
  "losses"         (10)     the loss of each of the 10 steps
  "grad.<name>"             every parameter gradient of the first step
  "final.<name>"            every parameter after the 10 steps

where <name> is PyTorch's nn.Sequential name ("0.weight", "7.bias", ...): lamina calls the
same tensors "conv2d#0.weight", "linear#7.bias", with the same layer indices.
"""
import json
import math
import struct
import sys

import torch

IN_SHAPE = (2, 10, 10)
N_OUT = 10
BATCH = 8
STEPS = 10
LR = 0.01
MOMENTUM = 0.9


def build():
    c = IN_SHAPE[0]
    h = IN_SHAPE[1] // 2 // 2
    w = IN_SHAPE[2] // 2 // 2
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * h * w, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, N_OUT))


M64 = (1 << 64) - 1


def unif(k, i):
    h = ((i + 1) * 0x9E3779B97F4A7C15 + k * 0xD1B54A32D192ED03) & M64
    h ^= h >> 32
    h = (h * 0xD6E8FEB86659FD93) & M64
    h ^= h >> 32
    return (h >> 40) / float(1 << 24)


def init_weights(model):
    fan_in = 0
    with torch.no_grad():
        for t, (name, p) in enumerate(model.named_parameters()):
            if name.endswith(".weight"):
                fan_in = p[0].numel()
            scale = 1.0 / math.sqrt(fan_in)
            vals = [(2.0 * unif(t, i) - 1.0) * scale for i in range(p.numel())]
            p.copy_(torch.tensor(vals, dtype=torch.float32).reshape(p.shape))


def batch(s):
    n = BATCH * IN_SHAPE[0] * IN_SHAPE[1] * IN_SHAPE[2]
    x = torch.tensor([2.0 * unif(100 + s, i) - 1.0 for i in range(n)],
                     dtype=torch.float32).reshape((BATCH,) + IN_SHAPE)
    y = torch.tensor([(3 * j + s) % 10 for j in range(BATCH)], dtype=torch.int64)
    return x, y


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, float32 tensor). Laid out in order, contiguous, no gaps."""
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name, t in tensors:
        t = t.detach().contiguous().to(torch.float32)
        flat = t.reshape(-1).tolist()
        blob = struct.pack("<%df" % len(flat), *flat)
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)  # data region at an 8-byte file offset
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_golden.py OUT.safetensors")
    torch.set_num_threads(1)
    torch.manual_seed(0)  # unused: every value comes from the formulas
    model = build()
    init_weights(model)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    names = [n for n, _ in model.named_parameters()]
    out = []
    losses = []
    for s in range(STEPS):
        x, y = batch(s)
        opt.zero_grad()
        logits = model(x)
        loss = loss_fn(logits, y)
        loss.backward()
        if s == 0:
            out.append(("logits", logits))
            out.append(("loss", loss.reshape(())))
            for n, p in model.named_parameters():
                out.append(("grad." + n, p.grad.clone()))
        opt.step()
        losses.append(loss.item())
        print("step %d  loss %.6f" % (s, loss.item()))
    out.append(("losses", torch.tensor(losses, dtype=torch.float32)))
    for n, p in model.named_parameters():
        out.append(("final." + n, p.detach().clone()))
    meta = {
        "torch": torch.__version__,
        "model": "seed-cnn",
        "input": "x".join(str(d) for d in IN_SHAPE),
        "batch": str(BATCH),
        "steps": str(STEPS),
        "optimizer": "SGD lr=%g momentum=%g" % (LR, MOMENTUM),
        "params": ",".join(names),
        "command": "/usr/bin/python3 tests/golden/gen_golden.py "
                   "tests/golden/seed_cnn_golden.safetensors",
    }
    write_safetensors(sys.argv[1], out, meta)
    print("wrote %s: %d tensors" % (sys.argv[1], len(out)))


if __name__ == "__main__":
    main()
