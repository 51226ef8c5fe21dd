"""A contact sheet of a batch's images, for checking them by eye.

X-ray tiles are windowed to their 0.5-99.5 % grey levels, as an inspection viewer
shows them; every tile carries a 100 um scale bar so the stations' different pixel
sizes are visible.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_write_bytes
from ..batch.contract import MANIFEST, CsvError, cut_roi, parse_roi, read_csv, safe_relative_path
from ..batch.images import read_image, to_unit_float
from ..errors import MawisError

SCALE_BAR_UM = 100.0


def _pick(rows: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    if len(rows) <= n:
        return rows
    # spread over cycle counts: sort, then take evenly spaced rows from a shuffled order
    shuffled = rows.sample(frac=1.0, random_state=seed).sort_values("cycles", kind="stable")
    return shuffled.iloc[np.linspace(0, len(shuffled) - 1, n).round().astype(int)]


def _display(pixels: np.ndarray) -> np.ndarray:
    values = to_unit_float(pixels)
    if values.ndim == 3:
        return values
    lo, hi = np.percentile(values, [0.5, 99.5])
    return np.clip((values - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def render_contact_sheet(batch: Path, out: Path, *, per_modality: int = 8, seed: int = 0) -> Path:
    """Write a PNG grid of ``per_modality`` X-ray and micrograph images of ``batch``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batch, out = Path(batch), Path(out)
    if not (batch / MANIFEST).is_file():
        raise MawisError(f"{batch}: no {MANIFEST}; point to a batch folder")
    if per_modality < 1:
        raise MawisError(f"--per-modality must be at least 1 (got {per_modality})")
    try:
        manifest = read_csv(batch / MANIFEST)
    except CsvError as exc:
        raise MawisError(f"{batch / MANIFEST}: {exc}") from None
    manifest["cycles"] = pd.to_numeric(manifest["cycles"], errors="coerce")
    groups = [(m, _pick(manifest[manifest["modality"] == m], per_modality, seed)) for m in ("xray", "micrograph")]
    groups = [(m, rows) for m, rows in groups if len(rows)]
    if not groups:
        raise MawisError(f"{batch / MANIFEST}: no xray or micrograph rows to show")
    cols = 4
    n_rows = sum(int(np.ceil(len(rows) / cols)) for _, rows in groups)
    fig = plt.figure(figsize=(cols * 3.4, n_rows * 3.0), dpi=110)
    slot = 0
    for modality, rows in groups:
        for k, (_, row) in enumerate(rows.iterrows()):
            ax = fig.add_subplot(n_rows, cols, slot + k + 1)
            _draw_tile(ax, batch, row)
        slot += int(np.ceil(len(rows) / cols)) * cols
    fig.suptitle(f"{batch.name}: {len(manifest)} images", fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buffer.getvalue())
    return out


def _draw_tile(ax, batch: Path, row: pd.Series) -> None:
    target = safe_relative_path(batch, row["path"])
    if target is None:
        raise MawisError(f"{batch / MANIFEST}: path {row['path']!r} leaves the batch folder")
    roi = parse_roi(row)
    if isinstance(roi, str):
        raise MawisError(f"{batch / MANIFEST}: image {row['image_id']!r}: {roi}")
    pixels = cut_roi(read_image(target), roi)
    ax.imshow(_display(pixels), cmap="gray", vmin=0, vmax=1, interpolation="lanczos")
    pixel_um = float(row["pixel_size_um"])
    bar_px = SCALE_BAR_UM / pixel_um
    h, w = pixels.shape[:2]
    ax.plot([w * 0.05, w * 0.05 + bar_px], [h * 0.93] * 2, color="yellow", lw=2.5)
    ax.text(w * 0.05, h * 0.90, f"{SCALE_BAR_UM:.0f} µm", color="yellow", fontsize=7)
    machine = row.get("machine", "")
    ax.set_title(f"{row['image_id']}\n{machine} · {int(row['cycles'])} cycles · {pixel_um:g} µm/px", fontsize=7)
    ax.set_axis_off()
