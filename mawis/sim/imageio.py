"""Writing simulated images in the formats stations export (PNG, 16-bit TIFF, JPEG, BMP)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import tifffile


def write_image(path: Path, image: np.ndarray, *, jpeg_quality: int = 0, mask: bool = False) -> None:
    """Write a gray (HxW) or RGB (HxWx3) image; the format follows the file extension.

    ``mask``: a label image (few values): PNG with run-length coding and no filter,
    several times faster to write than the default and smaller too.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        tifffile.imwrite(path, image, compression=None)
        return
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    params: list[int] = []
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality or 95)]
    elif suffix == ".png" and mask:
        params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
                  cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
    elif suffix == ".png":  # noisy images: Huffman coding after a sub filter (as small as zlib -3, 3x faster)
        params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
                  cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]
    if not cv2.imwrite(str(path), pixels, params):
        raise OSError(f"could not write image {path}")
