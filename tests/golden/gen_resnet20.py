#!/usr/bin/env python3
"""Generate the PyTorch golden fixture for lamina's ResNet-20: its weight import, its
inference (batch norm with running statistics), and one training step (batch norm with batch
statistics, the backward pass, SGD with momentum and weight decay).

Regenerate (from the repository root; needs PyTorch, generated with torch 1.13.0a0, the
Debian python3-torch package, CPU, one thread):

    /usr/bin/python3 tests/golden/gen_resnet20.py [DIR]

which writes, into DIR (default: this script's directory, tests/golden):

    resnet20_weights.safetensors   the model's initial state_dict
    resnet20_golden.safetensors    inputs and PyTorch's results

Both are written by tools/export_torch.py's save_state_dict (tensors by decreasing element
size, then in the order below; __metadata__ records the torch version and the command).
The script is deterministic: two runs on the same machine and torch build give
byte-identical files. Other CPUs or torch builds may differ in the last bits, so lamina
compares with tolerances, not bitwise.

The model is bench/torch_resnet.py's resnet20(in_channels=3, num_classes=10), float32, for
samples of 3x32x32: torchvision names (conv1, bn1, layer1.0.conv1, ...,
layer2.0.downsample.0, layer2.0.downsample.1, ..., fc), BatchNorm eps 1e-5 and momentum
0.1, 272,474 parameters. Its weights come from torch.manual_seed(0) and torch's default
initialisation. Fresh batch norm (weight 1, bias 0, mean 0, variance 1) would leave the
affine and running-statistics paths untested, so then, for every BatchNorm2d in
named_modules() order, drawn from the same global generator in this order:

    weight        ~ U(0.5, 1.5)
    bias          ~ U(-0.2, 0.2)
    running_mean  ~ N(0, 0.1^2)
    running_var   ~ U(0.5, 1.5)
    num_batches_tracked = 3

(scales near 1 and small shifts keep the activations of 19 layers of random weights in a
normal range: the logits stay O(1)).

resnet20_weights.safetensors holds those 128 state_dict entries under their PyTorch names:
per BatchNorm "weight", "bias", "running_mean", "running_var" (F32) and
"num_batches_tracked" (I64, shape []), which lamina must ignore (with momentum 0.1 PyTorch
does not use it either); per convolution "weight" (F32, (C_out, C_in, KH, KW)); "fc.weight"
(10, 64) and "fc.bias" (10).

The batch: g = torch.Generator().manual_seed(s); x = torch.randn(2, 3, 32, 32, generator=g),
then labels = torch.randint(0, 10, (2,), generator=g), for the first s = 1, 2, ... whose
train-mode forward (on a copy of the model) puts no ReLU input closer to 0 than 2e-5
(KINK_MARGIN). Why: a ReLU input within float rounding of 0 takes one side in PyTorch and
may take the other in lamina (or in PyTorch with another BLAS), and the gradient of
everything before it then differs by far more than rounding: with 8 images of 3x32x32
(a million ReLU inputs, the smallest of them ~3e-6), perturbing the input by 1e-6 relative
moved some gradients by 4e-4. Two images keep the check exact to rounding. Then, in this
order:

  (a) model.eval(), no grad: logits_eval = model(x), using the running statistics;
  (b) model.train(); opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
      weight_decay=5e-4); opt.zero_grad(); logits_train = model(x);
      loss = CrossEntropyLoss()(logits_train, labels) (mean over the batch); loss.backward();
      opt.step().

In (b) each batch norm normalises with the batch's mean and biased variance (over N*H*W
values per channel) and updates its running statistics once:

    running_mean = 0.9 * running_mean + 0.1 * batch_mean
    running_var  = 0.9 * running_var  + 0.1 * batch_var * n / (n - 1)    (n = N*H*W)

The step is SGD's first, when the momentum buffer starts as the step's direction, so for
every parameter p with gradient g (weight decay on all parameters, batch norm and fc bias
included):

    final = p - 0.1 * (g + 5e-4 * p)

(one step tests the decay and the buffer's initialisation; momentum's effect on later
steps is checked by the seed-cnn fixture, gen_golden.py).

resnet20_golden.safetensors holds (F32 unless stated):

  "x"                     (8, 3, 32, 32)  the inputs
  "labels"                (8)             I64, the class labels
  "logits_eval"           (8, 10)         (a)
  "logits_train"          (8, 10)         (b), train-mode forward
  "loss"                  ()              (b)
  "grad.<name>"                           every parameter's gradient in (b), before the
                                          step (no weight decay in it)
  "final.<name>"                          every parameter after the step
  "final.<bn>.running_mean", "final.<bn>.running_var"
                                          every batch norm's statistics after (b)'s forward

where <name> is the parameter's PyTorch name ("conv1.weight", "layer2.0.downsample.1.bias",
"fc.weight", ...) and <bn> a batch norm's ("bn1", "layer1.0.bn2", ...).
"""
import copy
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from export_torch import save_state_dict  # noqa: E402
from torch_resnet import resnet20  # noqa: E402

IN_SHAPE = (3, 32, 32)
N_CLASSES = 10
BATCH = 2
KINK_MARGIN = 2e-5
LR = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
COMMAND = "/usr/bin/python3 tests/golden/gen_resnet20.py"


def build():
    """The model with its default initialisation and randomised batch norms."""
    torch.manual_seed(0)
    model = resnet20(in_channels=IN_SHAPE[0], num_classes=N_CLASSES)
    with torch.no_grad():
        for _, m in model.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(3)
    return model


def smallest_relu_input(model, x):
    """The smallest |input| of any ReLU call in a train-mode forward of a copy of model."""
    probe = copy.deepcopy(model)
    probe.train()
    smallest = [float("inf")]

    def hook(_module, inputs):
        smallest[0] = min(smallest[0], inputs[0].detach().abs().min().item())

    for m in probe.modules():
        if isinstance(m, torch.nn.ReLU):
            m.register_forward_pre_hook(hook)
    with torch.no_grad():
        probe(x)
    return smallest[0]


def pick_batch(model):
    """The first seed's batch with no ReLU input within KINK_MARGIN of 0."""
    for seed in range(1, 1000):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn((BATCH,) + IN_SHAPE, generator=g)
        labels = torch.randint(0, N_CLASSES, (BATCH,), generator=g)
        margin = smallest_relu_input(model, x)
        if margin >= KINK_MARGIN:
            print("batch seed %d: smallest ReLU input %.3g" % (seed, margin))
            return seed, x, labels
    raise SystemExit("no batch clear of the ReLU kinks in 1000 seeds")


def main():
    if len(sys.argv) > 2:
        sys.exit("usage: gen_resnet20.py [DIR]")
    out_dir = sys.argv[1] if len(sys.argv) == 2 else HERE
    torch.set_num_threads(1)
    model = build()
    shape = "x".join(str(d) for d in IN_SHAPE)
    weights_path = os.path.join(out_dir, "resnet20_weights.safetensors")
    size = save_state_dict(model.state_dict(), weights_path,
                           {"model": "resnet20", "input": shape, "classes": str(N_CLASSES),
                            "command": COMMAND})
    print("wrote %s: %d tensors, %d bytes" % (weights_path, len(model.state_dict()), size))

    seed, x, labels = pick_batch(model)
    out = [("x", x), ("labels", labels)]

    model.eval()
    with torch.no_grad():
        logits_eval = model(x)
    out.append(("logits_eval", logits_eval))

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM,
                          weight_decay=WEIGHT_DECAY)
    opt.zero_grad()
    logits = model(x)
    loss = torch.nn.CrossEntropyLoss()(logits, labels)
    loss.backward()
    out.append(("logits_train", logits.detach()))
    out.append(("loss", loss.detach().reshape(())))
    out += [("grad." + n, p.grad.clone()) for n, p in model.named_parameters()]
    opt.step()
    out += [("final." + n, p.detach().clone()) for n, p in model.named_parameters()]
    out += [("final." + n, b.clone()) for n, b in model.named_buffers()
            if n.endswith(".running_mean") or n.endswith(".running_var")]

    golden_path = os.path.join(out_dir, "resnet20_golden.safetensors")
    size = save_state_dict(out, golden_path, {
        "torch": torch.__version__,
        "model": "resnet20",
        "input": shape,
        "batch": str(BATCH),
        "batch_seed": str(seed),
        "classes": str(N_CLASSES),
        "lr": repr(LR),
        "momentum": repr(MOMENTUM),
        "weight_decay": repr(WEIGHT_DECAY),
        "optimizer": "SGD lr=%g momentum=%g weight_decay=%g, one step" % (LR, MOMENTUM,
                                                                          WEIGHT_DECAY),
        "batchnorm": "eps=1e-05 momentum=0.1",
        "command": COMMAND,
    })
    print("logits_eval in [%.4f, %.4f], logits_train in [%.4f, %.4f], loss %.6f"
          % (logits_eval.min(), logits_eval.max(), logits.min(), logits.max(), loss.item()))
    print("wrote %s: %d tensors, %d bytes" % (golden_path, len(out), size))


if __name__ == "__main__":
    main()
