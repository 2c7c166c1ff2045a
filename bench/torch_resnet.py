"""ResNet-20 for CIFAR-sized inputs (He et al. 2016, section 4.2), in PyTorch, with
torchvision's parameter names: the one definition that bench/compare_pytorch.py,
bench/torch_resnet20_fmnist.py and tests/golden/gen_resnet20.py import, so that lamina's
ResNet-20 is compared with, trained against and checked against the same network.

    conv1 (3x3, 16, stride 1, pad 1, no bias), bn1, relu
    layer1.{0,1,2}, layer2.{0,1,2}, layer3.{0,1,2}: BasicBlocks of 16, 32, 64 channels;
        block: conv1 (3x3, stride s, pad 1, no bias), bn1, relu, conv2 (3x3, pad 1, no bias),
        bn2; out = relu(bn2(...) + shortcut)
        layer2.0 and layer3.0 have stride 2 and a projection shortcut downsample.0 (1x1 conv,
        stride 2, no bias) + downsample.1 (BatchNorm2d); the others the identity
    avgpool (AdaptiveAvgPool2d(1)), flatten, fc (Linear 64 -> num_classes)

BatchNorm2d has PyTorch's defaults (eps 1e-5, momentum 0.1) and every layer PyTorch's
default initialisation (torchvision's ResNet re-initialises convolutions with Kaiming
normal; this one does not, so that "torch default init" means one thing). 272,474
parameters for 3 input channels and 10 classes. Any input of at least 8x8 works: 3x32x32
maps to 32 -> 16 -> 8, 1x28x28 to 28 -> 14 -> 7, before the average pool.

The paper's CIFAR network uses a parameter-free shortcut (option A, zero-padded identity);
this one uses torchvision's projection (option B), as lamina's ResNet-20 does.
"""
import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a residual connection (torchvision's)."""

    def __init__(self, in_ch, out_ch, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class ResNet(nn.Module):
    """The CIFAR ResNet of depth 6 * blocks + 2: three stages of 16, 32, 64 channels."""

    def __init__(self, blocks, in_channels, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        stages = []
        in_ch = 16
        for out_ch, stride in ((16, 1), (32, 2), (64, 2)):
            stage = [BasicBlock(in_ch, out_ch, stride)]
            stage += [BasicBlock(out_ch, out_ch, 1) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            in_ch = out_ch
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet20(in_channels=3, num_classes=10):
    """ResNet-20 (three BasicBlocks per stage) with PyTorch's default initialisation, drawn
    from torch's global generator."""
    return ResNet(3, in_channels, num_classes)
