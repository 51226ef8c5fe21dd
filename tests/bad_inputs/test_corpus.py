"""The bad-input corpus: every command, fed what users really feed it (half-copied batches,
odd encodings, paths out of the batch, broken or foreign model folders, nonsense options).
Each case must give exactly one line, ``error: ...``, naming the file, row or option and the
fix; the documented exit code; and no output where the output would have gone.

Cases are (id, damage, argv, exit code, expected line). ``damage(c)`` breaks a fresh copy of
the inputs; the argv and the line are templates over the corpus paths ({batch}, {out}, ...).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from mawis.cli import main

from .conftest import Corpus, edit_csv, set_cell

INGEST = ["ingest", "{batch}", "--out", "{out}", "--workers", "1"]
STRICT = INGEST + ["--strict"]


def nothing(c: Corpus) -> None:
    pass


def manifest(c: Corpus) -> Path:
    return c.batch / "manifest.csv"


def first_image(c: Corpus) -> Path:
    return c.batch / edit_first(c)


def edit_first(c: Corpus) -> str:
    import pandas as pd
    return pd.read_csv(manifest(c), dtype=str)["path"][0]


def write_bytes(name: str, data: bytes):
    return lambda c: (c.batch / name).write_bytes(data)


def reencode(encoding: str):
    def damage(c: Corpus) -> None:
        text = manifest(c).read_text(encoding="utf-8")
        manifest(c).write_bytes(text.encode(encoding))
    return damage


def semicolons(c: Corpus) -> None:
    manifest(c).write_text(manifest(c).read_text().replace(",", ";"))


def cell(name: str, column: str, value: str, row: int = 0):
    return lambda c: set_cell(c.batch / name, column, value, row)


def old_dataset(c: Corpus) -> None:
    """A data set written by an earlier mawis (format version 1)."""
    copy = Path(shutil.copytree(c.dataset, c.tmp / "dataset"))
    info = json.loads((copy / "dataset.json").read_text())
    (copy / "dataset.json").write_text(json.dumps({**info, "version": 1}))


def symlink_outside(c: Corpus) -> None:
    outside = c.tmp / "outside.tif"
    shutil.copy(first_image(c), outside)
    link = c.batch / "xray" / "link.tif"
    link.symlink_to(outside)
    set_cell(manifest(c), "path", "xray/link.tif")


def duplicate_image_id(c: Corpus) -> None:
    set_cell(manifest(c), "image_id", __import__("pandas").read_csv(manifest(c), dtype=str)["image_id"][0], row=1)


def drop(name: str, column: str):
    return lambda c: edit_csv(c.batch / name, lambda f: f.pop(column))


def remove(name: str):
    return lambda c: os.remove(c.batch / name)


def truncate_first(c: Corpus) -> None:
    data = first_image(c).read_bytes()
    first_image(c).write_bytes(data[: len(data) // 3])


def one_pixel(c: Corpus) -> None:
    tifffile.imwrite(first_image(c), np.zeros((1, 1), np.uint16))


def huge_header(c: Corpus) -> None:
    from tests.test_ingest_errors import _png_header_only
    (c.batch / "huge.png").write_bytes(_png_header_only(20_000, 20_000))
    set_cell(manifest(c), "path", "huge.png")


def gif_extension(c: Corpus) -> None:
    shutil.copy(first_image(c), c.batch / "x.gif")
    set_cell(manifest(c), "path", "x.gif")


def config_file(text: str):
    return lambda c: (c.tmp / "cfg.toml").write_text(text)


def model_copy(change):
    def damage(c: Corpus) -> None:
        shutil.copytree(c.model, c.tmp / "model")
        change(c.tmp / "model")
    return damage


def bump_version(folder: Path) -> None:
    meta = json.loads((folder / "lifetime.json").read_text())
    meta["version"] = 99
    (folder / "lifetime.json").write_text(json.dumps(meta))


def tamper(folder: Path) -> None:
    data = (folder / "weights.pt").read_bytes()
    (folder / "weights.pt").write_bytes(data[:-4] + b"evil")


def out_exists(c: Corpus) -> None:
    c.out.mkdir()
    (c.out / "notes.txt").write_text("mine")


CASES = [
    # --- ingest and validate: the batch as a whole -------------------------------------------------
    ("no-manifest", remove("manifest.csv"), INGEST, 2,
     '{batch}: no manifest.csv; a batch folder must contain one'),
    ("empty-manifest", write_bytes("manifest.csv", b""), INGEST, 2,
     '{batch}/manifest.csv: empty file; it needs a header line'),
    ("utf16-manifest", reencode("utf-16"), INGEST, 2,
     '{batch}/manifest.csv: not UTF-8 text; save it as UTF-8 CSV'),
    ("latin1-manifest", lambda c: manifest(c).write_bytes(manifest(c).read_bytes().replace(b"as-reflowed", b"\xe9t\xe9")), INGEST, 2,
     '{batch}/manifest.csv: not UTF-8 text; save it as UTF-8 CSV'),
    ("semicolon-delimiter", semicolons, INGEST, 2,
     "{batch}/manifest.csv:1: columns are separated by ';'; the contract uses commas"),
    ("missing-column", drop("manifest.csv", "pixel_size_um"), INGEST, 2,
     '{batch}/manifest.csv:1: missing required column(s): pixel_size_um'),
    ("duplicate-image-id", duplicate_image_id, INGEST, 2,
     "{batch}/manifest.csv:3: duplicate image_id 'J000001-mg-01000'; ids must be unique"),
    ("path-with-dotdot", cell("manifest.csv", "path", "../outside.tif"), INGEST, 2,
     "{batch}/manifest.csv:2: path '../outside.tif' leaves the batch folder; use a path inside it"),
    ("absolute-path", cell("manifest.csv", "path", "/etc/passwd"), INGEST, 2,
     "{batch}/manifest.csv:2: path '/etc/passwd' leaves the batch folder; use a path inside it"),
    ("symlink-outside", symlink_outside, INGEST, 2,
     "{batch}/manifest.csv:2: path 'xray/link.tif' leaves the batch folder; use a path inside it"),
    ("pixel-size-nan", cell("manifest.csv", "pixel_size_um", "nan"), INGEST, 2,
     "{batch}/manifest.csv:2: pixel_size_um must be a number > 0, got 'nan'"),
    ("pixel-size-inf", cell("manifest.csv", "pixel_size_um", "inf"), INGEST, 2,
     "{batch}/manifest.csv:2: pixel_size_um must be a number > 0, got 'inf'"),
    ("pixel-size-negative", cell("manifest.csv", "pixel_size_um", "-4"), INGEST, 2,
     "{batch}/manifest.csv:2: pixel_size_um must be a number > 0, got '-4'"),
    ("cycles-negative", cell("manifest.csv", "cycles", "-100"), INGEST, 2,
     "{batch}/manifest.csv:2: cycles must be an integer >= 0, got '-100'"),
    ("unknown-modality", cell("manifest.csv", "modality", "ct"), INGEST, 2,
     "{batch}/manifest.csv:2: unknown modality 'ct'; use xray or micrograph"),
    ("measurement-nan", cell("measurements.csv", "crack_fraction", "nan", 1), INGEST, 2,
     "{batch}/measurements.csv:3: crack_fraction must be a finite number or empty, got 'nan'"),
    ("measurement-out-of-range", cell("measurements.csv", "crack_fraction", "1.7", 1), INGEST, 2,
     "{batch}/measurements.csv:3: crack_fraction must lie in 0..1, got '1.7'"),
    ("measurement-negative-cycles", cell("measurements.csv", "cycles", "-5", 1), INGEST, 2,
     "{batch}/measurements.csv:3: cycles must be a number >= 0, got '-5'"),
    ("lifetime-negative", cell("lifetimes.csv", "cycles_to_failure", "-3"), INGEST, 2,
     "{batch}/lifetimes.csv:2: cycles_to_failure must be a number >= 0, got '-3'"),
    ("lifetime-duplicate-joint", lambda c: edit_csv(c.batch / "lifetimes.csv", lambda f: f.__setitem__(
        "joint_id", [f["joint_id"][0]] * len(f))), INGEST, 2,
     "{batch}/lifetimes.csv:3: joint_id 'J000001' is listed twice (and 14 more problem(s); `mawis validate {batch}` lists all)"),
    ("lifetime-censored-yes", cell("lifetimes.csv", "censored", "yes"), INGEST, 2,
     "{batch}/lifetimes.csv:2: censored must be 0 or 1 (or empty), got 'yes'"),
    ("out-inside-batch", nothing, ["ingest", "{batch}", "--out", "{batch}/ds"], 2,
     '--out {batch}/ds and the batch {batch} overlap; write the data set to a separate folder'),
    ("out-exists", out_exists, INGEST, 4,
     '{out} already exists; choose another folder or pass --overwrite'),
    ("workers-negative", nothing, ["ingest", "{batch}", "--out", "{out}", "--workers", "-1"], 2,
     '--workers must be 0 (auto) or positive (got -1)'),
    ("config-unknown-section", config_file("[ct]\nx = 1\n"), INGEST + ["--config", "{tmp}/cfg.toml"], 2,
     '{tmp}/cfg.toml: unknown section(s) ct'),
    ("config-not-toml", config_file("[xray\n"), INGEST + ["--config", "{tmp}/cfg.toml"], 2,
     "{tmp}/cfg.toml: not valid TOML (Expected ']' at the end of a table declaration (at line 1, column 6))"),
    ("validate-missing-folder", nothing, ["validate", "{tmp}/nowhere"], 2,
     '{tmp}/nowhere: 1 problem(s) listed above; the first: {tmp}/nowhere: not a folder; give the batch folder'),
    # --- ingest --strict: one bad image refuses the batch ---------------------------------------
    ("zero-byte-image", lambda c: first_image(c).write_bytes(b""), STRICT, 2,
     '{batch}/manifest.csv:2: micrograph/B0001/J000001-mg-01000.png: empty file (--strict refuses a batch with a bad image; without it the image is quarantined)'),
    ("truncated-image", truncate_first, STRICT, 2,
     '{batch}/manifest.csv:2: micrograph/B0001/J000001-mg-01000.png: cannot decode image (not a valid or complete image file) (--strict refuses a batch with a bad image; without it the image is quarantined)'),
    ("gif-extension", gif_extension, STRICT, 2,
     "{batch}/manifest.csv:2: x.gif: unsupported image type '.gif'; use PNG, TIFF, JPEG or BMP (--strict refuses a batch with a bad image; without it the image is quarantined)"),
    ("one-pixel-image", one_pixel, STRICT, 2,
     "{batch}/manifest.csv:2: image 'micrograph/B0001/J000001-mg-01000.png' is only 1x1 px; at least 8x8 is needed (--strict refuses a batch with a bad image; without it the image is quarantined)"),
    ("20000x20000-image", huge_header, STRICT, 2,
     '{batch}/manifest.csv:2: huge.png: 20000 x 20000 px is more than the limit of 100,000,000 pixels (max_image_pixels); export a smaller image or raise the limit in the ingest --config (--strict refuses a batch with a bad image; without it the image is quarantined)'),
    # --- the other commands ---------------------------------------------------------------------
    ("simulate-zero-joints", nothing, ["simulate", "{out}", "--joints", "0"], 2,
     '--joints must be at least 1 (got 0)'),
    ("simulate-unknown-machine", nothing, ["simulate", "{out}", "--machine", "xr-z"], 2,
     "unknown machine 'xr-z'; choose one of: xr-a, xr-b, xr-c, xr-d, xr-e, xr-f, xr-g, xr-h"),
    ("measure-not-a-batch", nothing, ["measure", "{tmp}", "--out", "{out}/m.csv"], 2,
     '{tmp}: neither a batch (no manifest.csv) nor a data set (no dataset.json)'),
    ("gauge-same-folder", nothing, ["gauge", "{batch}", "{batch}", "--out", "{out}"], 2,
     "a gauge study compares two different batches; both arguments name the same folder"),
    ("gauge-not-a-batch", nothing, ["gauge", "{tmp}", "{batch}", "--out", "{out}"], 2,
     '{tmp}: neither a batch (no manifest.csv) nor a data set (no dataset.json)'),
    ("measure-old-data-set", old_dataset, ["measure", "{tmp}/dataset", "--out", "{out}/m.csv"], 2,
     "{tmp}/dataset/dataset.json: data set format version 1, this mawis reads version 2; ingest the batch again with `mawis ingest`"),
    ("contact-sheet-missing-batch", nothing, ["contact-sheet", "{tmp}/nowhere", "--out", "{out}/c.png"], 2,
     '{tmp}/nowhere: no manifest.csv; point to a batch folder'),
    ("pretrain-not-a-dataset", nothing, ["pretrain", "{batch}", "--out", "{out}"], 2,
     '{batch}: not a mawis data set (no dataset.json); create one with `mawis ingest`'),
    ("pretrain-unknown-method", nothing, ["pretrain", "{dataset}", "--method", "swav", "--out", "{out}"], 2,
     "method must be one of simclr, moco, byol (got 'swav')"),
    ("pretrain-zero-epochs", nothing, ["pretrain", "{dataset}", "--epochs", "0", "--out", "{out}"], 2,
     'epochs must be an integer >= 1 (got 0)'),
    ("train-no-labels", nothing, ["train", "{unlabelled}", "--out", "{out}"], 2,
     '{unlabelled}: the data set has no lifetime labels (its batch had no readings in measurements.csv and no lifetimes.csv); train on a data set of cycled boards'),
    ("train-label-fraction", nothing, ["train", "{dataset}", "--label-fraction", "1.5", "--out", "{out}"], 2,
     'label_fraction must lie in (0, 1] (got 1.5)'),
    ("evaluate-not-a-dataset", nothing, ["evaluate", "{batch}", "--out", "{out}"], 2,
     '{batch}: not a mawis data set (no dataset.json); create one with `mawis ingest`'),
    ("predict-unknown-model", nothing, ["predict", "{batch}", "--registry", "{registry}", "--model", "nope",
                                        "--out", "{out}"], 2,
     "no model 'nope' in {registry}; list them with `mawis models list` (newest: {model_id})"),
    ("predict-model-other-version", model_copy(bump_version), ["predict", "{batch}", "--model", "{tmp}/model",
                                                               "--out", "{out}"], 2,
     "{tmp}/model/lifetime.json: unsupported model format 'mawis-lifetime' version 99; run `mawis train` again with this mawis version"),
    ("predict-model-missing-weights", model_copy(lambda m: os.remove(m / "weights.pt")),
     ["predict", "{batch}", "--model", "{tmp}/model", "--out", "{out}"], 2,
     '{tmp}/model: weights.pt is missing; the model folder is incomplete'),
    ("predict-model-tampered", model_copy(tamper), ["predict", "{batch}", "--model", "{tmp}/model", "--out", "{out}"],
     2,
     '{tmp}/model/weights.pt: content hash does not match lifetime.json; the file was changed or damaged'),
    ("predict-model-not-json", model_copy(lambda m: (m / "lifetime.json").write_text("{oops")),
     ["predict", "{batch}", "--model", "{tmp}/model", "--out", "{out}"], 2,
     '{tmp}/model/lifetime.json: not valid JSON; the model folder is damaged, run `mawis train` again'),
    ("predict-required-negative", nothing, ["predict", "{batch}", "--registry", "{registry}", "--required-cycles",
                                            "-5", "--out", "{out}"], 2,
     'required_cycles must be a positive number (got -5.0)'),
    ("drift-alpha", nothing, ["drift", "{batch}", "--registry", "{registry}", "--alpha", "0.9", "--out", "{out}"],
     2,
     'drift alpha must be in (0, 0.5) (got 0.9)'),
    ("drift-empty-registry", nothing, ["drift", "{batch}", "--registry", "{tmp}/empty", "--out", "{out}"], 2,
     'no promoted model in {tmp}/empty; pass --model ID|latest|PATH or run `mawis models promote ID`'),
    ("models-show-unknown", nothing, ["models", "show", "nope", "--registry", "{registry}"], 2,
     "no model 'nope' in {registry}; list them with `mawis models list` (newest: {model_id})"),
    ("retrain-missing-data", nothing, ["retrain", "--registry", "{registry}", "--data", "{tmp}/nowhere"], 2,
     '{tmp}/nowhere: neither a batch (no manifest.csv) nor a data set (no dataset.json)'),
    ("demo-foreign-folder", out_exists, ["demo", "--out", "{out}", "--quick"], 4,
     '{out} already exists; choose another folder or pass --overwrite'),
]


def places(c: Corpus) -> dict[str, str]:
    # longest first, so that unfill() prefers {batch} over the {tmp} it lies in
    return {"batch": str(c.batch), "out": str(c.out), "unlabelled": str(c.unlabelled), "dataset": str(c.dataset),
            "registry": str(c.registry), "model_id": c.model.name, "tmp": str(c.tmp)}


def fill(template: str, c: Corpus) -> str:
    return template.format(**places(c))


def unfill(line: str, c: Corpus) -> str:
    for name, value in places(c).items():
        line = line.replace(value, "{" + name + "}")
    return line


@pytest.mark.parametrize("name, damage, argv, code, expected", CASES, ids=[case[0] for case in CASES])
def test_bad_input_gives_one_exact_line_its_exit_code_and_no_output(corpus, capsys, name, damage, argv, code,
                                                                      expected):
    damage(corpus)
    before = sorted(p.name for p in corpus.out.iterdir()) if corpus.out.is_dir() else None
    assert main([fill(a, corpus) for a in argv]) == code
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1 and errors == err[-1:], err  # a progress bar may come first, nothing after
    with open(os.environ.get("MAWIS_CORPUS_LOG", os.devnull), "a") as log:
        log.write(f"{name}\t{unfill(errors[0][len('error: '):], c=corpus)}\n")
    if expected is not None:
        assert errors[0] == "error: " + fill(expected, corpus)
    after = sorted(p.name for p in corpus.out.iterdir()) if corpus.out.is_dir() else None
    assert after == before, "partial output left behind"


def test_a_manifest_with_a_byte_order_mark_is_read_like_any_other(corpus, capsys):
    """Excel writes UTF-8 with a BOM: not bad input, so it must simply work."""
    manifest(corpus).write_bytes(b"\xef\xbb\xbf" + manifest(corpus).read_bytes())
    assert main(["ingest", str(corpus.batch), "--out", str(corpus.out), "--workers", "1"]) == 0
    assert "error" not in capsys.readouterr().err


def test_the_corpus_covers_every_command():
    from mawis.cli import app

    commands = {c.name or c.callback.__name__ for c in app.registered_commands} | {"models"}
    covered = {case[2][0] for case in CASES}
    assert len(CASES) >= 40 and commands <= covered, commands - covered
