"""Reading inspection images as stations export them: PNG, TIFF (8/16-bit), JPEG, BMP."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import cv2
import numpy as np
import tifffile

from ..errors import MawisError

# corrupt files are reported by us, once; silence the decoders' own warnings
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
logging.getLogger("tifffile").setLevel(logging.CRITICAL)

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")


class ImageReadError(MawisError):
    """An image file is missing, unreadable or of an unsupported kind."""


def read_image(path: Path) -> np.ndarray:
    """Return the pixels as stored: HxW (gray) or HxWx3 (RGB), uint8 or uint16."""
    path = Path(path)
    check_suffix(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return decode_image(data, path)


def check_suffix(path: Path) -> None:
    if Path(path).suffix.lower() not in IMAGE_SUFFIXES:
        raise ImageReadError(f"{path}: unsupported image type {Path(path).suffix!r}; use PNG, TIFF, JPEG or BMP")


def decode_image(data: bytes, path: Path, max_pixels: int | None = None) -> np.ndarray:
    """Decode image bytes; ``path`` names the file in messages and gives the format. An image
    whose header declares more than ``max_pixels`` pixels is refused before any decoding, so
    a hostile 20,000 x 20,000 px file never gets its buffer allocated."""
    if not data:
        raise ImageReadError(f"{path}: empty file")
    if max_pixels is not None:
        _check_size(data, path, max_pixels)
    try:
        if Path(path).suffix.lower() in (".tif", ".tiff"):
            pixels = _decode_tiff(data)
        else:
            pixels = _decode_cv2(data)
    except Exception as exc:  # decoders raise many types on corrupt input
        raise ImageReadError(f"{path}: cannot decode image ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    return _normalise_layout(path, pixels)


def declared_size(data: bytes, path: Path) -> tuple[int, int] | None:
    """(height, width) from the file's header only; None when the header cannot be read (the
    decoder then reports the damage)."""
    try:
        if Path(path).suffix.lower() in (".tif", ".tiff"):
            with tifffile.TiffFile(io.BytesIO(data)) as tif:
                shape = tif.pages[0].shape
            return int(shape[0]), int(shape[1])
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = None  # our own limit applies; PIL's would raise before we can name it
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
        return int(height), int(width)
    except Exception:  # a damaged header: left to the decoder's message
        return None


def _check_size(data: bytes, path: Path, max_pixels: int) -> None:
    size = declared_size(data, path)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageReadError(f"{path}: {size[1]} x {size[0]} px is more than the limit of {max_pixels:,} pixels "
                             "(max_image_pixels); export a smaller image or raise the limit in the ingest --config")


def _decode_tiff(data: bytes) -> np.ndarray:
    try:
        return tifffile.imread(io.BytesIO(data))
    except Exception:
        # OpenCV's libtiff reads some compressions and layouts tifffile cannot; otherwise re-raise
        pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB) if pixels.ndim == 3 else pixels


def _decode_cv2(data: bytes) -> np.ndarray:
    pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ValueError("not a valid or complete image file")
    if pixels.ndim == 3:
        code = cv2.COLOR_BGRA2RGB if pixels.shape[2] == 4 else cv2.COLOR_BGR2RGB
        pixels = cv2.cvtColor(pixels, code)
    return pixels


def _normalise_layout(path: Path, pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = pixels[:, :, :3]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ImageReadError(f"{path}: expected a gray or RGB image, got array shape {pixels.shape}")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"{path}: expected 8- or 16-bit pixels, got {pixels.dtype}")
    return pixels


def to_unit_float(pixels: np.ndarray) -> np.ndarray:
    """Scale 8- or 16-bit pixels to float32 in [0, 1]."""
    top = 65535.0 if pixels.dtype == np.uint16 else 255.0
    return pixels.astype(np.float32) / top
