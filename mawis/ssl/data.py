"""Network inputs from an ingested data set: aligned crops, resized once, kept as uint8.

Crops are already on a common µm/px grid (ingestion). The network sees them at a
fixed ``input_scale`` of that grid (0.5: 10 µm/px for X-ray), the same for every
image, so physical sizes stay comparable. uint8 keeps a 100,000-image X-ray set at
64 px in 400 MB of RAM and makes the host-to-GPU copy four times cheaper than fp32.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd
import torch

from ..errors import MawisError
from ..ingest.dataset import Dataset


@dataclass(frozen=True)
class InputSpec:
    modality: str
    height: int
    width: int

    @staticmethod
    def for_dataset(ds: Dataset, modality: str, scale: float) -> "InputSpec":
        spec = ds.info["config"][modality]
        return InputSpec(modality, max(8, round(spec["crop_height"] * scale)), max(8, round(spec["crop_width"] * scale)))


def modality_rows(ds: Dataset, modality: str) -> pd.DataFrame:
    rows = ds.images[ds.images["modality"] == modality]
    if rows.empty:
        raise MawisError(f"{ds.root}: the data set holds no {modality} images; pick another --modality")
    return rows


def load_inputs(ds: Dataset, spec: InputSpec, rows: pd.DataFrame, chunk: int = 2048) -> torch.Tensor:
    """uint8 tensor (n, 1, height, width) of the crops of ``rows``, in row order."""
    crops = ds.crops(spec.modality)
    index = rows["crop_index"].to_numpy(dtype=np.int64)
    out = np.empty((len(index), 1, spec.height, spec.width), dtype=np.uint8)
    for start in range(0, len(index), chunk):
        part = np.asarray(crops[np.sort(index[start:start + chunk])], dtype=np.float32)
        order = np.argsort(np.argsort(index[start:start + chunk]))  # back to row order
        out[start:start + len(part)] = crops_to_inputs(part[order] / 65535.0, spec).numpy()
    return torch.from_numpy(out)


def crops_to_inputs(crops: np.ndarray, spec: InputSpec) -> torch.Tensor:
    """uint8 tensor (n, 1, height, width) of float crops in [0, 1] (n, H, W), area-resized."""
    out = np.empty((len(crops), 1, spec.height, spec.width), dtype=np.uint8)
    for j, crop in enumerate(crops):
        small = cv2.resize(np.asarray(crop, dtype=np.float32), (spec.width, spec.height), interpolation=cv2.INTER_AREA)
        out[j, 0] = np.clip(np.rint(small * 255.0), 0, 255).astype(np.uint8)
    return torch.from_numpy(out)


class BatchFeeder:
    """Hands out batches of a uint8 host tensor as float [0, 1] on the training device.

    On CUDA each batch is gathered into one of a few pinned staging buffers and copied
    asynchronously (indexing a pinned tensor would give an unpinned copy, and the
    transfer would block); a buffer is reused only after its copy has finished.
    """

    def __init__(self, inputs: torch.Tensor, batch: int, device: torch.device, slots: int = 3):
        self.inputs, self.device, self.calls = inputs, device, 0
        self.cuda = device.type == "cuda"
        shape = (batch, *inputs.shape[1:])
        self.slots = [torch.empty(shape, dtype=inputs.dtype).pin_memory() for _ in range(slots)] if self.cuda else []
        self.copied: list[torch.cuda.Event | None] = [None] * len(self.slots)

    def __call__(self, index: torch.Tensor) -> torch.Tensor:
        if not self.cuda:
            return self.inputs[index].float().div_(255.0)
        slot = self.calls % len(self.slots)
        self.calls += 1
        if self.copied[slot] is not None:
            self.copied[slot].synchronize()
        staging = self.slots[slot][: len(index)]
        torch.index_select(self.inputs, 0, index, out=staging)
        batch = staging.to(self.device, non_blocking=True)
        self.copied[slot] = torch.cuda.Event()
        self.copied[slot].record()
        return batch.float().div_(255.0)


def dataset_fingerprint(ds: Dataset, modality: str) -> str:
    """Identifies the training images: the batch fingerprint plus the image ids used."""
    h = hashlib.sha256(str(ds.info.get("batch_fingerprint", "")).encode())
    h.update(modality.encode())
    for image_id in sorted(modality_rows(ds, modality)["image_id"]):
        h.update(image_id.encode())
    return h.hexdigest()
