"""Backbones that turn a 1-channel joint image into an embedding vector.

* ``small``: a plain four-stage CNN (about 0.3 M parameters), the CPU default.
* ``resnet18``: torchvision's ResNet-18 with a 1-channel stem and no classifier, the
  standard backbone for GPU runs.

Every encoder has ``out_dim``; heads are built from it.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet18

from ..errors import UsageError
from .augment import border_fill

ENCODERS = ("small", "resnet18")


def _conv_bn(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SmallConvEncoder(nn.Module):
    """A strided stem, then Conv-BN-ReLU stages that each halve the resolution and double
    the width, then global average pooling. About 11 M multiply-adds at 64 x 64 px."""

    def __init__(self, width: int = 16, stages: int = 3, stem_stride: int = 2):
        super().__init__()
        layers, c_in = [_conv_bn(1, width, stem_stride)], width
        for i in range(stages):
            c_out = width * 2 ** (i + 1)
            layers += [_conv_bn(c_in, c_out, 2), _conv_bn(c_out, c_out, 1)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.out_dim = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))


class ResNet18Encoder(nn.Module):
    """ResNet-18 (random init: no weights are downloaded) for 1-channel images."""

    def __init__(self):
        super().__init__()
        net = resnet18(weights=None)
        net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        net.fc = nn.Identity()
        self.net = net
        self.out_dim = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class OpticalDepth(nn.Module):
    """Transmission image -> attenuation relative to the crop's surroundings (Beer-Lambert).

    ``-log(I / I_surround)`` is the X-ray optical depth of the solder plus pad, linear in
    solder thickness and void depth. A station's detector gain multiplies I and the
    surroundings alike, so it cancels here instead of having to be learned away (which
    would also teach the network to ignore thickness, a driver of fatigue life).
    """

    def __init__(self, scale: float = 0.33, eps: float = 0.01):
        super().__init__()
        self.scale, self.eps = scale, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        depth = torch.log(border_fill(x, "median") + self.eps) - torch.log(x + self.eps)
        return depth.clamp(-2.0, 6.0) * self.scale


INPUT_TRANSFORMS = ("optical_depth", "none")


class Encoder(nn.Module):
    """A fixed input transform followed by a backbone; ``out_dim`` is the backbone's."""

    def __init__(self, backbone: nn.Module, transform: nn.Module):
        super().__init__()
        self.transform, self.backbone, self.out_dim = transform, backbone, backbone.out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.transform(x))


def build_encoder(name: str, input_transform: str = "none") -> nn.Module:
    if name == "small":
        backbone = SmallConvEncoder()
    elif name == "resnet18":
        backbone = ResNet18Encoder()
    else:
        raise UsageError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}")
    if input_transform not in INPUT_TRANSFORMS:
        raise UsageError(f"unknown input transform {input_transform!r}; choose one of {', '.join(INPUT_TRANSFORMS)}")
    return Encoder(backbone, OpticalDepth() if input_transform == "optical_depth" else nn.Identity())
