#!/usr/bin/env python3
"""Train PyTorch's ResNet-20 on Fashion-MNIST with lamina's ResNet-20 recipe, as the
reference that lamina's own training run is compared with (accuracy per epoch and speed).

    bench/torch_resnet20_fmnist.py [--epochs 30] [--batch 128] [--lr 0.1] [--momentum 0.9]
        [--nesterov 0] [--weight-decay 5e-4] [--schedule cosine] [--warmup-steps 0]
        [--crop 2] [--flip 1] [--threads 2] [--seed 1] [--limit-train 0] [--limit-test 0]
        [--data /usr/share/datasets/fashion-mnist]

The defaults are the recipe. In detail, so that lamina's run can do the same:

  - data: the IDX files of Debian's dataset-fashion-mnist package (train-images-idx3-ubyte.gz,
    train-labels-idx1-ubyte.gz, t10k-*: 60000 training and 10000 test images, read here with
    gzip and numpy); --limit-train N / --limit-test N keep the first N of each (0: all);
  - inputs: pixels / 255, then normalised with the mean and (population) standard deviation
    of the training images used, one channel, as `lamina train` does;
  - model: bench/torch_resnet.py's resnet20(in_channels=1, num_classes=10), PyTorch's default
    initialisation from torch.manual_seed(--seed); 28 -> 14 -> 7 before the average pool;
  - batches: a fresh shuffle each epoch, ceil(N / batch) steps (the last one smaller), softmax
    cross-entropy averaged over the batch;
  - augmentation, drawn per sample per step: zero padding by --crop P pixels in [0, 1] pixel
    space (after normalisation the pad value is -mean/std), a random (2P+1) x (2P+1) choice of
    the 28x28 window, then with --flip 1 a horizontal flip with probability 0.5; the test set
    is not augmented;
  - optimiser: torch.optim.SGD(lr, momentum, nesterov, weight_decay) with weight decay on
    every parameter (batch norm and biases included);
  - schedule, stepped per batch, s = 0, 1, ... the step about to be taken, T = total steps:
    linear warm-up lr * s / W for s < W (--warmup-steps W), then with --schedule cosine
    lr * (1 + cos(pi * (s - W) / (T - W))) / 2 (CosineAnnealingLR's closed form, to 0 at the
    end; with W = 0 exactly CosineAnnealingLR(T_max = T) stepped per batch), with
    --schedule constant lr.

Shuffles and augmentation draw from a torch.Generator seeded with --seed, so a run is
repeatable (at a fixed thread count). Each epoch prints one line (train loss and accuracy
on the augmented training batches in train mode, test loss and accuracy in eval mode, the
epoch's seconds and the training images/s); the last line is a JSON object with the final
test accuracy, every epoch's test accuracy, the total seconds, the torch version and the
thread count.

Exit status: 0, 1 when the data cannot be read, 2 bad usage.
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_resnet import resnet20  # noqa: E402

PROG = os.path.basename(sys.argv[0])
EVAL_BATCH = 1000  # eval-mode results do not depend on it


class DataError(Exception):
    """A data file that cannot be used, as one line that names it."""


def read_idx(path, ndim):
    """The uint8 array of a gzipped IDX file with ndim dimensions (1 labels, 3 images)."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError("%s: %s" % (path, getattr(e, "strerror", None) or e))
    if len(raw) < 4 + 4 * ndim or raw[:4] != bytes([0, 0, 0x08, ndim]):
        raise DataError("%s: not an IDX file of unsigned bytes with %d dimension%s"
                        % (path, ndim, "s" if ndim > 1 else ""))
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    body = raw[4 + 4 * ndim:]
    if len(body) != math.prod(dims):
        raise DataError("%s: %d data bytes for dimensions %s" % (path, len(body), dims))
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def load_split(directory, prefix, limit):
    """(images as float32 (N, 1, 28, 28) in [0, 1], labels as int64 (N)), the first limit."""
    img_path = os.path.join(directory, prefix + "-images-idx3-ubyte.gz")
    lab_path = os.path.join(directory, prefix + "-labels-idx1-ubyte.gz")
    images, labels = read_idx(img_path, 3), read_idx(lab_path, 1)
    if images.shape[1:] != (28, 28):
        raise DataError("%s: images of %dx%d, not 28x28" % ((img_path,) + images.shape[1:]))
    if len(images) != len(labels):
        raise DataError("%s: %d labels for %d images" % (lab_path, len(labels), len(images)))
    if labels.max() > 9:
        raise DataError("%s: label %d outside 0..9" % (lab_path, labels.max()))
    if limit:
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def augment(x, crop, flip, pad_value, gen):
    """Per sample: a random crop of the batch x (B, 1, H, W) padded by crop pixels of
    pad_value, then with flip a horizontal flip with probability 0.5."""
    b, _, h, w = x.shape
    if crop:
        padded = torch.nn.functional.pad(x, (crop, crop, crop, crop), value=pad_value)
        oy = torch.randint(0, 2 * crop + 1, (b,), generator=gen)
        ox = torch.randint(0, 2 * crop + 1, (b,), generator=gen)
        rows = (oy[:, None] + torch.arange(h))[:, :, None]  # (B, H, 1)
        cols = (ox[:, None] + torch.arange(w))[:, None, :]  # (B, 1, W)
        x = padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)
    if flip:
        mask = torch.rand(b, generator=gen) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x


def lr_factor(step, total, warmup, schedule):
    """Multiplier of the base learning rate at step (0-based, before that step's update)."""
    if step < warmup:
        return step / warmup
    if schedule == "constant":
        return 1.0
    k = min(step - warmup, total - warmup)
    return (1.0 + math.cos(math.pi * k / (total - warmup))) / 2.0


def evaluate(model, x, y):
    """(mean loss, accuracy) in eval mode."""
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), EVAL_BATCH):
            logits = model(x[i:i + EVAL_BATCH])
            yb = y[i:i + EVAL_BATCH]
            loss_sum += torch.nn.functional.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
    return loss_sum / len(x), correct / len(x)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--nesterov", type=int, choices=(0, 1), default=0)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--schedule", choices=("cosine", "constant"), default="cosine")
    ap.add_argument("--warmup-steps", type=int, default=0)
    ap.add_argument("--crop", type=int, default=2, help="padding P of the random crop (0: none)")
    ap.add_argument("--flip", type=int, choices=(0, 1), default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit-train", type=int, default=0, help="first N training images (0: all)")
    ap.add_argument("--limit-test", type=int, default=0, help="first N test images (0: all)")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                    help="directory of the Fashion-MNIST IDX .gz files")
    a = ap.parse_args()
    if a.epochs < 1 or a.batch < 1 or a.threads < 1:
        ap.error("--epochs, --batch and --threads must be >= 1")
    if a.lr <= 0 or a.momentum < 0 or a.weight_decay < 0:
        ap.error("--lr must be > 0, --momentum and --weight-decay >= 0")
    if a.nesterov and a.momentum == 0:
        ap.error("--nesterov 1 needs --momentum > 0")
    if a.crop < 0 or a.warmup_steps < 0 or a.limit_train < 0 or a.limit_test < 0:
        ap.error("--crop, --warmup-steps, --limit-train and --limit-test must be >= 0")
    return a


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    try:
        x_train, y_train = load_split(a.data, "train", a.limit_train)
        x_test, y_test = load_split(a.data, "t10k", a.limit_test)
    except DataError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return 1
    n = len(x_train)
    steps_per_epoch = (n + a.batch - 1) // a.batch
    total = steps_per_epoch * a.epochs
    if a.schedule == "cosine" and total <= a.warmup_steps:
        print("%s: error: --warmup-steps %d leaves no cosine steps of %d in all"
              % (PROG, a.warmup_steps, total), file=sys.stderr)
        return 2

    mean = x_train.double().mean().item()
    std = x_train.double().std(unbiased=False).item()
    x_train = (x_train - mean) / std
    x_test = (x_test - mean) / std
    pad_value = -mean / std  # a zero pixel, normalised

    torch.manual_seed(a.seed)
    model = resnet20(in_channels=1, num_classes=10)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum,
                          nesterov=bool(a.nesterov), weight_decay=a.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, total, a.warmup_steps, a.schedule))
    gen = torch.Generator().manual_seed(a.seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    print("torch %s, %d threads: resnet20 (%d params) on fashion-mnist (%d train, %d test), "
          "mean %.4f std %.4f; %d epochs of %d steps, batch %d, SGD lr %g momentum %g%s "
          "weight decay %g, %s schedule, warm-up %d, crop %d, flip %d, seed %d"
          % (torch.__version__, torch.get_num_threads(),
             sum(p.numel() for p in model.parameters()), n, len(x_test), mean, std, a.epochs,
             steps_per_epoch, a.batch, a.lr, a.momentum, " nesterov" if a.nesterov else "",
             a.weight_decay, a.schedule, a.warmup_steps, a.crop, a.flip, a.seed), flush=True)

    test_accs = []
    t_start = time.perf_counter()
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen)
        loss_sum, correct = 0.0, 0
        for i in range(0, n, a.batch):
            idx = perm[i:i + a.batch]
            xb = augment(x_train[idx], a.crop, a.flip, pad_value, gen)
            yb = y_train[idx]
            opt.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
        train_seconds = time.perf_counter() - t0
        test_loss, test_acc = evaluate(model, x_test, y_test)
        test_accs.append(test_acc)
        print("epoch %3d/%d  train loss %.4f acc %6.2f%%  test loss %.4f acc %6.2f%%  "
              "%7.1f s  %6.0f img/s"
              % (epoch, a.epochs, loss_sum / n, 100.0 * correct / n, test_loss,
                 100.0 * test_acc, time.perf_counter() - t0, n / train_seconds), flush=True)
    print(json.dumps({"final_test_acc": test_accs[-1], "test_acc_per_epoch": test_accs,
                      "total_seconds": round(time.perf_counter() - t_start, 3),
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "train": n, "test": len(x_test), "args": vars(a)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
