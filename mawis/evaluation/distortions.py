"""Image distortions for the robustness check: another station's gamma, more noise, more blur.

Applied to the test joints' X-ray encoder crops and measurement regions (floats in
[0, 1]); the void features are then measured again on the distorted regions, so a model
that leans on the measurement is tested through it, as it would be on a new station.
Blur is given in micrometres (a station's unsharpness is physical), so crops and regions
of any pixel size get the same blur.
"""

from __future__ import annotations

import cv2
import numpy as np

DISTORTIONS = ("gamma", "noise", "blur")


def distort(image: np.ndarray, kind: str, level: float, pixel_um: float, seed: int = 0) -> np.ndarray:
    """A distorted copy of one image: gamma exponent, noise sigma (of full scale), or blur sigma in um."""
    image = np.asarray(image, dtype=np.float32)
    if kind == "gamma":
        out = np.power(np.clip(image, 0.0, 1.0), level)
    elif kind == "noise":
        out = image + np.random.default_rng(seed).normal(0.0, level, image.shape).astype(np.float32)
    elif kind == "blur":
        out = cv2.GaussianBlur(image, (0, 0), sigmaX=max(level / pixel_um, 1e-3))
    else:
        raise ValueError(f"unknown distortion {kind!r}; known: {', '.join(DISTORTIONS)}")
    return np.clip(out, 0.0, 1.0).astype(np.float32)
