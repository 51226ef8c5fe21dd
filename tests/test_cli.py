"""The command line as users meet it: help, one-line errors, exit codes, no half-written output."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from mawis.cli import main

from .conftest import as_from_a_terminal, assert_one_error_line

ROOT = Path(__file__).resolve().parents[1]


def run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_simulate_help_describes_every_option(capsys):
    code, out, _ = run(["simulate", "--help"], capsys)
    assert code == 0
    for option in ("--joints", "--seed", "--machine", "--micrographs", "--no-micrographs", "--label-fraction",
                   "--truth", "--micrograph-fraction", "--end-cycles", "--workers", "--overwrite", "OUT_DIR"):
        assert option in out, option
    assert "xr-b" in out and "Share of joints" in out


def test_top_level_help_lists_commands(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "simulate" in out and "contact-sheet" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--joints", "-5"], "--joints must be at least 1 (got -5)"),
        (["--machine", "xr-z"], "unknown machine 'xr-z'; choose one of: xr-a, xr-b, xr-c"),
        (["--label-fraction", "2"], "--label-fraction must lie in [0, 1] (got 2.0)"),
        (["--joints", "many"], "Invalid value for '--joints'"),
    ],
)
def test_bad_arguments_give_one_line_and_no_output(tmp_path, capsys, args, message):
    out_dir = tmp_path / "batch"
    code, _, err = run(["simulate", str(out_dir), *args], capsys)
    assert code == 2
    assert_one_error_line(err, message)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = run(["simulate", str(blocker / "batch"), "--joints", "2"], capsys)
    assert code == 2 and err.strip().count("\n") == 0 and "is not a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_existing_output_needs_overwrite(tmp_path, capsys):
    out_dir = tmp_path / "batch"
    assert run(["simulate", str(out_dir), "--joints", "3", "--workers", "1"], capsys)[0] == 0
    before = (out_dir / "manifest.csv").read_bytes()
    code, _, err = run(["simulate", str(out_dir), "--joints", "5", "--workers", "1"], capsys)
    assert code == 4 and "already exists" in err and "--overwrite" in err
    assert (out_dir / "manifest.csv").read_bytes() == before
    code, _, _ = run(["simulate", str(out_dir), "--joints", "5", "--workers", "1", "--overwrite"], capsys)
    assert code == 0 and pd.read_csv(out_dir / "manifest.csv")["joint_id"].nunique() == 5


def test_truth_inside_batch_is_refused(tmp_path, capsys):
    code, _, err = run(["simulate", str(tmp_path / "b"), "--truth", str(tmp_path / "b" / "t")], capsys)
    assert code == 2 and "must stay outside" in err


def test_cli_py_and_console_script_run_the_same_app(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "cli.py"), "simulate", str(tmp_path / "b"), "--joints", "4",
                          "--seed", "1", "--workers", "1", "--truth", str(tmp_path / "t")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "b" / "manifest.csv").is_file() and (tmp_path / "t" / "joints.csv").is_file()
    script = Path(sys.executable).with_name("mawis")
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("mawis ")


def test_contact_sheet(batches, tmp_path, capsys):
    from PIL import Image

    batch, _ = batches["xr-c"]
    out = tmp_path / "sheet.png"
    code, _, err = run(["contact-sheet", str(batch), "--out", str(out), "--per-modality", "4"], capsys)
    assert code == 0, err
    with Image.open(out) as image:
        assert image.size[0] > 600 and image.size[1] > 400
    code, _, err = run(["contact-sheet", str(tmp_path / "nowhere")], capsys)
    assert code == 2 and "no manifest.csv" in err


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupting_simulate_leaves_no_output(tmp_path, sig, code):
    """Ctrl-C or SIGTERM mid-run: documented exit code, one line, no batch and no temporary folders."""
    process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "simulate", str(tmp_path / "b"),
                                "--joints", "800", "--workers", "2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=as_from_a_terminal)
    deadline = time.time() + 60
    while not list(tmp_path.glob(".b.tmp-*/xray")) and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "interrupted" in err.splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


def test_what_a_killed_writer_left_is_cleaned_and_a_half_replaced_output_restored(tmp_path):
    """SIGKILL cannot be caught: the next run removes dead writers' temporary siblings, keeps a live
    writer's, and puts back an earlier output that a kill caught between the two renames."""
    import os
    import subprocess

    from mawis.atomic import atomic_dir, remove_stale_temps

    dead = subprocess.Popen(["true"])
    dead.wait()
    out = tmp_path / "ds"
    (tmp_path / f".ds.tmp-{dead.pid}-abcd").mkdir()
    (tmp_path / f".ds.tmp-{os.getpid()}-live").mkdir()
    (tmp_path / f".ds.old-{dead.pid}-efgh" / "ds").mkdir(parents=True)
    (tmp_path / f".ds.old-{dead.pid}-efgh" / "ds" / "marker").write_text("earlier")
    assert remove_stale_temps(out) == 2
    assert (out / "marker").read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".ds.tmp-{os.getpid()}-live", "ds"]
    with atomic_dir(out, overwrite=True, marker="marker") as tmp:
        (tmp / "marker").write_text("new")
    assert (out / "marker").read_text() == "new"
