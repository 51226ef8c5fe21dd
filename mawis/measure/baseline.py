"""Plain Otsu-threshold baselines, to show what the analyses in this package add.

X-ray: Otsu splits the crop into solder (dark) and the rest; a second Otsu inside
the hole-filled solder splits voids (brighter) from solder. Micrograph: Otsu splits
dark from bright; the crack is the dark pixels in the solder's top rows, the width
the bright run through the centre below them. No noise model, no edge model.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu


def otsu_voids(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(joint mask, void mask) of an X-ray crop by two Otsu thresholds."""
    dark = image < threshold_otsu(image)
    labels, count = ndi.label(dark)
    if count == 0:
        empty = np.zeros_like(dark)
        return empty, empty
    largest = 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    joint = ndi.binary_fill_holes(labels == largest)
    inside = image[joint]
    voids = joint & (image > threshold_otsu(inside)) if inside.size > 1 and np.ptp(inside) > 0 else joint & False
    return joint, voids


def otsu_crack_fraction(image: np.ndarray, zone_rows: int = 30) -> float:
    """Crack fraction of a cross-section crop by one Otsu threshold."""
    h, w = image.shape
    dark = image < threshold_otsu(image)
    middle = image[:, int(w * 0.3):int(w * 0.7)].mean(axis=1)
    top = int(np.argmax(middle[: int(h * 0.75)]))
    row = min(h - 1, top + zone_rows + 2)
    bright = ~dark[row]
    centre = w // 2
    left = centre
    while left > 0 and bright[left - 1]:
        left -= 1
    right = centre
    while right < w - 1 and bright[right + 1]:
        right += 1
    if right <= left:
        return 0.0
    cracked = dark[top + 1:top + 1 + zone_rows, left:right + 1].any(axis=0)
    return float(cracked.mean())
