"""Image distortions for the robustness check: another station's gamma, more noise, more blur.

Applied to the aligned X-ray crops (floats in [0, 1]) of the test joints; the void
features are then measured again on the distorted crops, so a model that leans on the
measurement is tested through it, as it would be on a new station.
"""

from __future__ import annotations

import cv2
import numpy as np

DISTORTIONS = ("gamma", "noise", "blur")


def distort(crops: np.ndarray, kind: str, level: float, seed: int = 0) -> np.ndarray:
    """Distorted copies of ``crops`` (n, H, W): gamma exponent, noise sigma, or blur sigma in pixels."""
    crops = np.asarray(crops, dtype=np.float32)
    if kind == "gamma":
        out = np.power(np.clip(crops, 0.0, 1.0), level)
    elif kind == "noise":
        out = crops + np.random.default_rng(seed).normal(0.0, level, crops.shape).astype(np.float32)
    elif kind == "blur":
        out = np.stack([cv2.GaussianBlur(c, (0, 0), sigmaX=level) for c in crops]) if len(crops) else crops
    else:
        raise ValueError(f"unknown distortion {kind!r}; known: {', '.join(DISTORTIONS)}")
    return np.clip(out, 0.0, 1.0).astype(np.float32)
