"""Malformed batches: each gives its own one-line message; structural errors write nothing.

Every case is built here from a small simulated batch and one mutation.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mawis.cli import main
from mawis.ingest.config import IngestConfig
from mawis.ingest.dataset import load_dataset
from mawis.ingest.pipeline import BatchError, ingest_batch
from mawis.sim import CampaignConfig, simulate_batch

from .conftest import assert_one_error_line


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    cfg = CampaignConfig(joints=8, seed=11, workers=1, joints_per_board=4, label_fraction=1.0,
                         micrograph_fraction=0.5, event_detector_share=0.0)
    batch = simulate_batch(cfg, root / "batch").batch_dir
    pd.DataFrame({"joint_id": ["J000001", "J000002"], "cycles_to_failure": ["1500", "900"],
                  "censored": ["1", "0"]}).to_csv(batch / "lifetimes.csv", index=False)
    return batch


@pytest.fixture
def batch(pristine, tmp_path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "batch"))


def edit(batch: Path, name: str, change) -> None:
    frame = pd.read_csv(batch / name, dtype=str, keep_default_na=False)
    change(frame)
    frame.to_csv(batch / name, index=False)


def set_cell(name, column, value, row=0):
    return lambda b: edit(b, name, lambda f: f.__setitem__(column, [value if i == row else v
                                                                      for i, v in enumerate(f[column])]))


def drop_column(name, column):
    return lambda b: edit(b, name, lambda f: f.pop(column))


def write(name, text: bytes):
    return lambda b: (b / name).write_bytes(text)


def escaping_symlink(b: Path) -> None:
    outside = b.parent / "outside.png"
    shutil.copy(next((b / "xray").rglob("*.tif")), outside)
    (b / "xray" / "link.tif").symlink_to(outside)
    set_cell("manifest.csv", "path", "xray/link.tif")(b)


def duplicate_id(b: Path) -> None:
    edit(b, "manifest.csv", lambda f: f.__setitem__("image_id", [f["image_id"][0]] * 2 + list(f["image_id"][2:])))


STRUCTURAL = [
    ("no-manifest", lambda b: (b / "manifest.csv").unlink(), "no manifest.csv; a batch folder must contain one"),
    ("missing-column", drop_column("manifest.csv", "pixel_size_um"), "manifest.csv:1: missing required column(s): pixel_size_um"),
    ("two-missing-columns", lambda b: (drop_column("manifest.csv", "cycles")(b), drop_column("manifest.csv", "path")(b)),
     "missing required column(s): path, cycles"),
    ("duplicate-id", duplicate_id, "manifest.csv:3: duplicate image_id"),
    ("unknown-modality", set_cell("manifest.csv", "modality", "ct"), "manifest.csv:2: unknown modality 'ct'; use xray or micrograph"),
    ("zero-pixel-size", set_cell("manifest.csv", "pixel_size_um", "0"), "manifest.csv:2: pixel_size_um must be a number > 0, got '0'"),
    ("text-pixel-size", set_cell("manifest.csv", "pixel_size_um", "4um"), "pixel_size_um must be a number > 0, got '4um'"),
    ("nan-pixel-size", set_cell("manifest.csv", "pixel_size_um", "nan"), "pixel_size_um must be a number > 0, got 'nan'"),
    ("negative-cycles", set_cell("manifest.csv", "cycles", "-5"), "manifest.csv:2: cycles must be an integer >= 0, got '-5'"),
    ("fractional-cycles", set_cell("manifest.csv", "cycles", "1.5"), "cycles must be an integer >= 0, got '1.5'"),
    ("absolute-path", set_cell("manifest.csv", "path", "/etc/passwd"), "manifest.csv:2: path '/etc/passwd' leaves the batch folder"),
    ("dotdot-path", set_cell("manifest.csv", "path", "../outside.png"), "path '../outside.png' leaves the batch folder"),
    ("windows-drive-path", set_cell("manifest.csv", "path", "C:\\img.png"), "leaves the batch folder"),
    ("symlink-out", escaping_symlink, "path 'xray/link.tif' leaves the batch folder"),
    ("empty-joint-id", set_cell("manifest.csv", "joint_id", ""), "manifest.csv:2: empty joint_id"),
    ("partial-roi", lambda b: edit(b, "manifest.csv", lambda f: f.assign(x="0", y="0", w="", h="").pipe(
        lambda g: [f.__setitem__(c, g[c]) for c in "xywh"])), "ROI x,y,w,h must be four integers or four empty cells"),
    ("negative-roi", lambda b: edit(b, "manifest.csv", lambda f: [f.__setitem__(c, v) for c, v in
                                                                  zip("xywh", ("-1", "0", "10", "10"))]),
     "ROI x,y must be integers >= 0 and w,h integers > 0"),
    ("header-only", write("manifest.csv", b"image_id,joint_id,modality,path,pixel_size_um,cycles\n"),
     "manifest.csv: has no rows; a batch needs at least one image"),
    ("empty-file", write("manifest.csv", b""), "manifest.csv: empty file; it needs a header line"),
    ("not-utf8", write("manifest.csv", "image_id,joint_id\n\xe9t\xe9,x\n".encode("latin-1")),
     "manifest.csv: not UTF-8 text; save it as UTF-8 CSV"),
    ("semicolons", write("manifest.csv", b"image_id;joint_id;modality;path;pixel_size_um;cycles\na;b;xray;x.png;4;0\n"),
     "manifest.csv:1: columns are separated by ';'; the contract uses commas"),
    ("measurements-no-cycles", drop_column("measurements.csv", "cycles"), "measurements.csv:1: missing required column(s): cycles"),
    ("measurements-no-signal", lambda b: (drop_column("measurements.csv", "crack_fraction")(b),
                                          drop_column("measurements.csv", "rth_increase_pct")(b)),
     "measurements.csv:1: needs a crack_fraction or rth_increase_pct column"),
    ("crack-above-one", set_cell("measurements.csv", "crack_fraction", "1.7"), "measurements.csv:2: crack_fraction must lie in 0..1, got '1.7'"),
    ("reading-not-number", set_cell("measurements.csv", "rth_increase_pct", "high"), "rth_increase_pct must be a finite number or empty, got 'high'"),
    ("reading-inf", set_cell("measurements.csv", "rth_increase_pct", "inf"), "rth_increase_pct must be a finite number or empty, got 'inf'"),
    ("measurement-negative-cycles", set_cell("measurements.csv", "cycles", "-100"), "measurements.csv:2: cycles must be a number >= 0"),
    ("lifetimes-no-cycles", drop_column("lifetimes.csv", "cycles_to_failure"), "lifetimes.csv:1: missing required column(s): cycles_to_failure"),
    ("lifetimes-censored-2", set_cell("lifetimes.csv", "censored", "2"), "lifetimes.csv:2: censored must be 0 or 1 (or empty), got '2'"),
    ("lifetimes-negative", set_cell("lifetimes.csv", "cycles_to_failure", "-3"), "lifetimes.csv:2: cycles_to_failure must be a number >= 0"),
    ("lifetimes-duplicate", set_cell("lifetimes.csv", "joint_id", "J000002"), "lifetimes.csv:3: joint_id 'J000002' is listed twice"),
    ("repeated-header", lambda b: (b / "manifest.csv").write_text(
        (b / "manifest.csv").read_text().replace("board_id", "machine", 1)),
     "manifest.csv: column 'machine' appears more than once in the header; keep one"),
]


@pytest.mark.parametrize("name, mutate, message", STRUCTURAL, ids=[c[0] for c in STRUCTURAL])
def test_structural_error_stops_with_its_message(batch, tmp_path, capsys, name, mutate, message):
    mutate(batch)
    out = tmp_path / "dataset"
    code = main(["ingest", str(batch), "--out", str(out), "--workers", "1"])
    assert code == 2
    assert_one_error_line(capsys.readouterr().err, message)
    assert not out.exists() and not list(tmp_path.glob(".dataset*"))


def test_validate_lists_every_problem(batch, capsys):
    set_cell("manifest.csv", "cycles", "-1", row=0)(batch)
    set_cell("manifest.csv", "modality", "ct", row=1)(batch)
    code = main(["validate", str(batch)])
    captured = capsys.readouterr()
    assert code == 2 and "2 problem(s)" in captured.err
    assert "manifest.csv:2: cycles" in captured.out and "manifest.csv:3: unknown modality" in captured.out


def _truncate(b: Path, row: int = 0) -> str:
    path = pd.read_csv(b / "manifest.csv")["path"][row]
    data = (b / path).read_bytes()
    (b / path).write_bytes(data[: len(data) // 3])
    return path


BAD_IMAGES = [
    ("missing-file", lambda b: os.remove(b / pd.read_csv(b / "manifest.csv")["path"][0]), "not found"),
    ("truncated", _truncate, "cannot decode image"),
    ("zero-bytes", lambda b: (b / pd.read_csv(b / "manifest.csv")["path"][0]).write_bytes(b""), "empty file"),
    ("wrong-extension", lambda b: (shutil.copy(b / pd.read_csv(b / "manifest.csv")["path"][0], b / "x.gif"),
                                   set_cell("manifest.csv", "path", "x.gif")(b)), "unsupported image type '.gif'"),
    ("roi-outside", lambda b: edit(b, "manifest.csv", lambda f: [f.__setitem__(c, [v] + [""] * (len(f) - 1))
                                                                 for c, v in zip("xywh", ("100000", "100", "500", "50"))]),
     "lies outside the"),
    ("tiny-roi", lambda b: edit(b, "manifest.csv", lambda f: [f.__setitem__(c, [v] + [""] * (len(f) - 1))
                                                              for c, v in zip("xywh", ("0", "0", "4", "4"))]),
     "is only 4x4 px"),
]


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height pixels but holds no pixel data: a decoder that
    trusted it would allocate the whole buffer."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IEND", b""))


def _huge(b: Path) -> None:
    (b / "huge.png").write_bytes(_png_header_only(20_000, 20_000))
    set_cell("manifest.csv", "path", "huge.png")(b)


def _one_pixel(b: Path) -> None:
    import tifffile

    tifffile.imwrite(b / pd.read_csv(b / "manifest.csv")["path"][0], np.zeros((1, 1), np.uint16))


BAD_IMAGES += [
    ("20000x20000-px", _huge, "20000 x 20000 px is more than the limit of 100,000,000 pixels (max_image_pixels)"),
    ("1x1-px", _one_pixel, "1x1 px"),
    ("pixel-size-in-nm", set_cell("manifest.csv", "pixel_size_um", "6000"), "check that the pixel size is in micrometres"),
    ("pixel-size-tiny", set_cell("manifest.csv", "pixel_size_um", "0.000001"), "check that the pixel size is in micrometres"),
]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("name, mutate, reason", BAD_IMAGES, ids=[c[0] for c in BAD_IMAGES])
def test_bad_image_is_quarantined_and_the_rest_ingested(batch, tmp_path, name, mutate, reason, workers):
    mutate(batch)
    n_rows = len(pd.read_csv(batch / "manifest.csv"))
    result = ingest_batch(batch, tmp_path / "ds", IngestConfig(workers=workers))
    quarantined = result.report["quarantined"]
    assert len(quarantined) == 1 and quarantined[0]["line"] == 2 and reason in quarantined[0]["reason"], quarantined
    assert len(load_dataset(result.dataset_dir).images) == n_rows - 1


@pytest.mark.parametrize("name, mutate, reason", BAD_IMAGES[:2], ids=[c[0] for c in BAD_IMAGES[:2]])
def test_strict_refuses_a_bad_image(batch, tmp_path, capsys, name, mutate, reason):
    mutate(batch)
    code = main(["ingest", str(batch), "--out", str(tmp_path / "ds"), "--strict", "--workers", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error: ")]
    assert code == 2 and len(errors) == 1 and errors == err[-1:]
    assert reason in errors[0] and "--strict refuses" in errors[0]
    assert not (tmp_path / "ds").exists()


def test_out_inside_batch_is_refused(batch):
    with pytest.raises(BatchError, match="overlap"):
        ingest_batch(batch, batch / "dataset", IngestConfig(workers=1))


def test_compressed_tiff_and_rgb_xray_are_read(batch, tmp_path):
    import cv2
    import tifffile

    manifest = pd.read_csv(batch / "manifest.csv", dtype=str, keep_default_na=False)
    xray = manifest[manifest["modality"] == "xray"]
    first, second = xray["path"].iloc[0], xray["path"].iloc[1]
    pixels = tifffile.imread(batch / first)
    tifffile.imwrite(batch / first, pixels, compression="lzw")
    gray = tifffile.imread(batch / second)
    tifffile.imwrite(batch / second, np.stack([gray] * 3, axis=-1))
    ds = load_dataset(ingest_batch(batch, tmp_path / "ds", IngestConfig(workers=1)).dataset_dir)
    report = json.loads((tmp_path / "ds" / "ingest_report.json").read_text())
    assert report["quarantined"] == [] and len(ds.images) == len(manifest)
    assert cv2 is not None


def test_extra_columns_never_replace_ours(batch, tmp_path):
    edit(batch, "manifest.csv", lambda f: f.insert(len(f.columns), "censored", "maybe"))
    ds = load_dataset(ingest_batch(batch, tmp_path / "ds", IngestConfig(workers=1)).dataset_dir)
    assert ds.images["censored"].dtype == "boolean" and (ds.images["extra_censored"] == "maybe").all()
