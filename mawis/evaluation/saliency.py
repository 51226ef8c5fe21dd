"""Where the models look: Grad-CAM of the predicted risk, scored against void masks.

The explained quantity is the risk, -mu (shorter predicted life), through the part of
the model that depends on the image. Grad-CAM weights the last convolutional stage's
channels by their mean gradient; the magnitude of the weighted sum is kept, because a
small encoder's evidence for "shorter life" often comes out negative everywhere, and
the question here is where the prediction is decided. The overlap score is
the share of the map's mass that falls on voids; the chance level is the void share of
the crop (a map spread evenly would score that).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def last_feature_layer(encoder: nn.Module) -> nn.Module:
    backbone = encoder.backbone
    return backbone.net.layer4 if hasattr(backbone, "net") else backbone.features[-1]


def grad_cam(encoder: nn.Module, direction: np.ndarray, inputs: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Maps (n, *size) >= 0 of where ``-(direction . embedding)`` comes from, for uint8 inputs (n, 1, h, w)."""
    encoder = encoder.eval()
    store = {}
    handle = last_feature_layer(encoder).register_forward_hook(lambda _m, _i, out: store.__setitem__("a", out))
    a = torch.as_tensor(direction, dtype=torch.float32)
    maps = []
    try:
        for start in range(0, len(inputs), 64):
            x = inputs[start:start + 64].float().div(255.0)
            with torch.enable_grad():
                risk = -(encoder(x) @ a).sum()
                activations = store["a"]
                grads, = torch.autograd.grad(risk, activations)
            weights = grads.mean(dim=(2, 3), keepdim=True)
            cam = (weights * activations).sum(dim=1, keepdim=True).abs().detach()
            maps.append(F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[:, 0])
    finally:
        handle.remove()
    return torch.cat(maps).numpy() if maps else np.zeros((0, *size), np.float32)


def overlap(maps: np.ndarray, masks: np.ndarray) -> tuple[float, float]:
    """Mean share of saliency mass on the mask, and the mean mask share of the crop (chance)."""
    mass = maps.reshape(len(maps), -1)
    inside = (mass * masks.reshape(len(masks), -1)).sum(axis=1) / np.maximum(mass.sum(axis=1), 1e-12)
    has_mass = mass.sum(axis=1) > 0
    share = float(inside[has_mass].mean()) if has_mass.any() else float("nan")
    return share, float(masks.reshape(len(masks), -1).mean(axis=1).mean())
