"""The ``mawis`` command line: a thin layer over the Python API.

Every command reports bad input as one line on stderr and exits non-zero:
2 = bad arguments or input, 4 = output exists (pass --overwrite),
130 = interrupted (Ctrl-C), 143 = terminated (SIGTERM). ``mawis drift`` also
exits 3 when it finds drift and 5 when the batch has too few boards to tell.
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import __version__
from .errors import MawisError

app = typer.Typer(
    name="mawis",
    help="Predict solder-joint lifetime from X-ray and cross-section images (contrastive SSL).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"mawis {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """mawis: lifetime of solder joints from inspection images."""


@contextmanager
def _progress_bar():
    """Yield a ``progress(stage, done, total)`` callback drawing one bar per stage.

    The bar appears on the first update, so argument errors print nothing but their line.
    """
    columns = (TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    bar = Progress(*columns, console=console, transient=False)
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if not tasks:
            bar.start()
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done)

    try:
        yield update
    finally:
        if tasks:
            bar.stop()


@app.command()
def simulate(
    out_dir: Path = typer.Argument(..., help="Folder to create for the batch (contract v1 layout)."),
    joints: int = typer.Option(200, "--joints", "-n", help="Number of solder joints."),
    seed: int = typer.Option(0, "--seed", "-s", help="Random seed; the same seed gives the same batch."),
    machine: str = typer.Option("xr-a", "--machine", "-m",
                                help="Inspection site (mawis/sim/machines.toml): xr-a (3-8 um/px, 16-bit TIFF, one "
                                     "joint per image), xr-b (7-12 um/px, 8-bit PNG, noisy), xr-c (5-10 um/px, 2x2 "
                                     "packages per image with ROIs), xr-d, xr-e, xr-f, xr-g; xr-h is held out."),
    families: Optional[str] = typer.Option(None, "--families",
                                           help="Comma-separated package families (mawis/sim/components.toml); "
                                                "default: every family that is not held out."),
    held_out: bool = typer.Option(False, "--held-out",
                                  help="Add the held-out package family (never simulated unless named)."),
    micrographs: bool = typer.Option(True, "--micrographs/--no-micrographs",
                                     help="Cut cross-sections of a share of the joints (optical micrographs)."),
    micrograph_fraction: float = typer.Option(0.3, "--micrograph-fraction", help="Share of joints cross-sectioned."),
    label_fraction: float = typer.Option(0.5, "--label-fraction",
                                         help="Share of joints (whole boards) that go through thermal cycling "
                                              "and so get lifetime labels; the rest are unlabeled production boards."),
    end_cycles: int = typer.Option(4000, "--end-cycles", help="Cycle count at which the test stops (right-censoring)."),
    truth: Optional[Path] = typer.Option(None, "--truth",
                                         help="Folder for the ground truth (default: OUT_DIR-truth, beside the batch)."),
    workers: int = typer.Option(0, "--workers", help="Worker processes (0 = one per CPU core)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT_DIR and the truth folder if they exist."),
) -> None:
    """Simulate a thermal-cycling campaign and write it as an inspection batch plus its ground truth."""
    from .errors import UsageError
    from .sim.config import CampaignConfig, held_out_families
    from .sim.simulate import simulate_batch

    names = tuple(n.strip() for n in (families or "").split(",") if n.strip())
    if families is not None and not names:
        raise UsageError("--families names no family; give comma-separated names, e.g. --families R0402,QFN-16")
    if held_out:  # the held-out family, beside any named ones
        names += tuple(n for n in held_out_families() if n not in names)
    cfg = CampaignConfig(joints=joints, seed=seed, machine=machine, families=names, micrographs=micrographs,
                         micrograph_fraction=micrograph_fraction, label_fraction=label_fraction,
                         end_cycles=end_cycles, workers=workers)
    with _progress_bar() as progress:
        result = simulate_batch(cfg, out_dir, truth, overwrite=overwrite, progress=progress)
    console.print(
        f"batch  {result.batch_dir}  ({result.joints} joints, {result.images} images, "
        f"{result.labeled_joints} joints in thermal cycling)\n"
        f"truth  {result.truth_dir}\n"
        f"took   {result.seconds:.1f} s"
    )


@app.command()
def validate(batch: Path = typer.Argument(..., help="Batch folder (contract v1).")) -> None:
    """Check a batch against contract v1 and list every problem (file:line: reason)."""
    from .batch.contract import validate_batch

    problems = validate_batch(batch)
    for problem in problems:
        print(problem)
    if problems:
        raise MawisError(f"{batch}: {len(problems)} problem(s) listed above; the first: {problems[0]}")
    console.print(f"{batch}: conforms to batch contract v1")


@app.command()
def ingest(
    batch: Path = typer.Argument(..., help="Batch folder (contract v1)."),
    out: Path = typer.Option(..., "--out", "-o", help="Data set folder to create."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file overriding pixel sizes, crop sizes, "
                                                                  "failure thresholds (see mawis/ingest/config.py)."),
    strict: bool = typer.Option(False, "--strict", help="Refuse the batch if any image is bad (default: quarantine it)."),
    workers: int = typer.Option(0, "--workers", help="Worker processes (0 = one per CPU core)."),
    measure: bool = typer.Option(True, "--measure/--no-measure",
                                 help="Measure voids and cracks on every image (adds the metric columns)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the data set folder if it exists."),
) -> None:
    """Validate a batch, find each joint at its image's own resolution, measure voids and cracks
    on the whole joint, cut joint-sized encoder crops, derive lifetime labels, and write a data set."""
    from .ingest.config import load_ingest_config
    from .ingest.pipeline import ingest_batch

    cfg = load_ingest_config(config, strict=strict, workers=workers, measure=measure)
    with _progress_bar() as progress:
        result = ingest_batch(batch, out, cfg, overwrite=overwrite, progress=progress)
    _print_ingest_summary(result.dataset_dir, result.report)


def _print_ingest_summary(out: Path, report: dict) -> None:
    labels, timings = report["labels"], report["timings"]
    lines = [f"data set  {out}",
             f"images    {report['images_ingested']} of {report['images_in_manifest']} ingested "
             f"({report['joints']} joints, {report['boards']} boards)"]
    lines += [f"          {key}: {count}" for key, count in report["by_modality_and_machine"].items()]
    median = labels["median_cycles_to_failure_of_failed"]
    without = labels["labelled_joints_without_images"]
    lines.append(f"labels    {labels['joints_labelled']} joints: {labels['failed']} failed"
                 + (f" (median {median:.0f} cycles)" if median else "") + f", {labels['censored']} censored"
                 + (f"; {without} of them have no image in the manifest" if without else ""))
    if report["quarantined"]:
        lines.append(f"quarantined {len(report['quarantined'])} image(s), reasons in ingest_report.json:")
        lines += [f"          line {q['line']}: {q['reason']}" for q in report["quarantined"][:5]]
    lines.append(f"took      {timings['seconds']:.1f} s ({timings['images_per_second']:.0f} images/s, "
                 f"{timings['workers']} workers)")
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


@app.command()
def measure(
    source: Path = typer.Argument(..., help="A batch folder (ingested on the fly) or a data set from `mawis ingest`."),
    out: Path = typer.Option(Path("reports/measurements.csv"), "--out", "-o", help="CSV file: one row per joint."),
    rules: Optional[Path] = typer.Option(None, "--rules", help="Acceptance rules TOML (default: the shipped "
                                                                "mawis/measure/rules.toml)."),
    overlays: Optional[Path] = typer.Option(None, "--overlays", help="Folder for PNG overlays of the found voids "
                                                                     "and cracks, one per image."),
    workers: int = typer.Option(0, "--workers", help="Worker processes when a batch is ingested (0 = one per core)."),
) -> None:
    """Export per-joint void and crack metrics with pass/fail verdicts against the acceptance rules."""
    from .measure.export import measure as run_measure

    with _progress_bar() as progress:
        result = run_measure(source, out, rules_path=rules, overlays_dir=overlays, workers=workers, progress=progress)
    table = result.joints
    counts = table["verdict"].value_counts().to_dict()
    summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("pass", "fail", "unchecked"))
    lines = [f"joints    {len(table)}: {summary}", f"csv       {result.csv_path}"]
    if overlays is not None:
        lines.append(f"overlays  {result.overlays} PNG files in {overlays}")
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


@app.command()
def pretrain(
    dataset: Path = typer.Argument(..., help="Data set folder from `mawis ingest` (labels are not used for training)."),
    method: str = typer.Option("simclr", "--method", help="simclr, moco (v2) or byol."),
    modality: str = typer.Option("xray", "--modality", help="Which crops to learn from: xray or micrograph."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs [default: 20]."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Images per step [default: 128 on CPU, "
                                                                         "256 on GPU]."),
    encoder: Optional[str] = typer.Option(None, "--encoder", help="small or resnet18 [default: small on CPU, "
                                                                   "resnet18 on GPU]."),
    out: Path = typer.Option(Path("models/encoder"), "--out", "-o", help="Model folder to create."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last epoch checkpoint."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file with training, augmentation and method "
                                                                  "settings (see mawis/ssl/config.py)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed [default: 0]."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the model folder if it exists."),
) -> None:
    """Pretrain an encoder on unlabeled joint images with SimCLR, MoCo v2 or BYOL; a regression
    probe reports after each epoch how well the embedding predicts log lifetime."""
    from dataclasses import replace

    from .ssl.config import load_pretrain_config
    from .ssl.distributed import exit_worker
    from .ssl.train import pretrain as run_pretrain

    cfg = load_pretrain_config(config)
    options = {"method": method, "modality": modality, "device": device, "epochs": epochs,
               "batch_size": batch_size, "encoder": encoder, "seed": seed}
    cfg = replace(cfg, **{k: v for k, v in options.items() if v is not None})
    cfg.validate()
    torchrun = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: rank 0 reports for all
        run_pretrain(dataset, out, cfg, resume=resume, overwrite=overwrite)
        exit_worker()
    with _progress_bar() as progress:
        result = run_pretrain(dataset, out, cfg, resume=resume, overwrite=overwrite, log=_print_epoch, progress=progress)
    final, first = result.history[-1], result.history[0]
    probe = (f"ridge R² {final['ridge_r2']:.3f} (random weights {first['ridge_r2']:.3f}), kNN R² {final['knn_r2']:.3f}"
             if "ridge_r2" in final and "ridge_r2" in first
             else "none: the data set has too few joints with an observed failure")
    console.print(f"model     {result.out_dir}\nprobe     {probe}", markup=False, highlight=False)
    if torchrun:
        exit_worker()


def _print_epoch(record: dict) -> None:
    if record.get("event") == "complete":
        console.print("nothing to resume: the model folder is complete (its run finished)", markup=False)
        return
    if record.get("event") == "resumed":
        console.print(f"resumed after epoch {record['epoch']}", markup=False, highlight=False)
        return
    parts = [f"epoch {record['epoch']:>3}"]
    if "loss" in record:
        parts.append(f"loss {record['loss']:.4f}  {record['images_per_s']:.0f} img/s")
    else:
        parts.append("random weights")
    if "ridge_r2" in record:
        parts.append(f"probe R² ridge {record['ridge_r2']:.3f} kNN {record['knn_r2']:.3f} "
                     f"(MAE {record['ridge_mae']:.3f} ln cycles)")
    console.print("  ".join(parts), markup=False, highlight=False, soft_wrap=True)


def _registry_option():
    return typer.Option(None, "--registry", help="Model registry folder [default: $MAWIS_MODELS or models/].")


@app.command()
def train(
    dataset: Path = typer.Argument(..., help="Data set folder from `mawis ingest`, with lifetime labels."),
    encoder: Optional[Path] = typer.Option(None, "--encoder", help="Pretrained encoder folder (`mawis pretrain`); "
                                                                  "without it the head uses the measured features only."),
    kind: str = typer.Option("auto", "--kind", help="auto (ssl with --encoder, else features), features, ssl, "
                                                      "ssl-finetune, sl (the backbone from scratch) or random."),
    label_fraction: Optional[float] = typer.Option(None, "--label-fraction", help="Share of the labelled joints "
                                                                                  "to use [default: 1.0]."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the model to this folder instead of "
                                                                 "registering it."),
    registry: Optional[Path] = _registry_option(),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed [default: 0]."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file with lifetime-model settings "
                                                                  "(see mawis/lifetime/config.py)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the --out folder if it exists."),
) -> None:
    """Fit a censoring-aware lifetime model (log-normal AFT head, conformal interval) on a data set's labels
    and register it (the first model in a registry becomes the promoted default)."""
    from dataclasses import replace

    from .lifetime.config import load_lifetime_config
    from .registry.store import Registry
    from .workflows.train import train_model

    cfg = load_lifetime_config(config)
    options = {"label_fraction": label_fraction, "seed": seed}
    cfg = replace(cfg, **{k: v for k, v in options.items() if v is not None})
    cfg.validate()
    with _progress_bar() as progress:
        result = train_model(dataset, cfg, encoder_dir=encoder, kind=kind, out_dir=out, registry=Registry(registry),
                             overwrite=overwrite, progress=progress)
    s = result.summary
    cv = result.model.training.get("cv_metrics") or {}
    lines = [f"model     {result.model_id or result.out_dir} ({s['kind']})"
             + (" - promoted (the default for predict)" if result.promoted else ""),
             f"folder    {result.out_dir}",
             f"labels    {s['labelled_joints']} joints: {s['failed']} failed, {s['censored']} censored",
             f"interval  {s['interval_level'] * 100:g} % interval spans a factor {s['interval_factor']:.2f} in cycles"]
    if cv:
        lines.append(f"CV        C-index {cv['c_index']:.3f}, R² {cv['r2']:.3f} (out-of-fold, training boards)")
    lines.append(f"time      {s['seconds']:.1f} s")
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


@app.command()
def predict(
    source: Path = typer.Argument(..., help="Batch folder (contract v1), or a data set from `mawis ingest`."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Registry id, 'latest', or a model folder "
                                                                   "[default: the promoted model]."),
    out: Path = typer.Option(Path("reports/prediction"), "--out", "-o", help="Folder to create: predictions.csv/"
                                                                             ".parquet, lifetime_report.html."),
    required_cycles: Optional[float] = typer.Option(None, "--required-cycles", help="Life every joint must reach; "
                                                                                    "risk classes use it [default: 1500]."),
    registry: Optional[Path] = _registry_option(),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file with prediction settings "
                                                                  "(see mawis/workflows/predict.py)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda [default: auto]."),
    workers: int = typer.Option(0, "--workers", help="Worker processes for ingesting a batch (0 = one per core)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the output folder if it exists."),
) -> None:
    """Predict every joint's cycles to failure with an interval, acceptance verdicts and risk classes,
    and write the lifetime report for quality teams."""
    from .registry.store import Registry
    from .reports.lifetime_report import CAUSE_SHORT
    from .workflows.predict import REPORT_FILE, load_predict_config, predict as run_predict

    cfg = load_predict_config(config, required_cycles=required_cycles, device=device)
    with _progress_bar() as progress:
        result = run_predict(source, out, model=model, registry=Registry(registry), cfg=cfg, overwrite=overwrite,
                             workers=workers, progress=progress)
    s = result.summary
    risk, weibull, cannot = s["counts"]["risk"], s["weibull"], s["counts"]["cannot_tell"]
    n, told = s["batch"]["joints"], s["counts"]["trusted"]
    why = ", ".join(f"{cannot[k]} {words}" for k, words in CAUSE_SHORT.items() if cannot.get(k))
    untold = f"{cannot['joints']} cannot tell ({why}); of the other {told}: " if cannot["joints"] else ""
    lines = [f"model     {s['model']['id']} ({s['model']['kind']})",
             f"joints    {n} on {s['batch']['boards']} boards: {untold}{risk['high']} high, "
             f"{risk['elevated']} elevated, {risk['low']} low risk against {cfg.required_cycles:g} cycles",
             f"accept    {s['counts']['verdict']['fail']} joints fail the acceptance rules",
             f"OOD       {s['counts']['ood']} joints out of the training distribution"]
    if cannot["joints"] * 2 > n:
        lines.append(f"WARNING   most joints ({cannot['joints']} of {n}) cannot be told: the risk counts and B10 "
                     "say nothing about the batch as a whole")
    if weibull:
        lines.append(f"Weibull   shape {weibull['shape']['value']:.2f}, characteristic life "
                     f"{weibull['characteristic_life']['value']:.0f}, B10 {weibull['b10']['value']:.0f} cycles "
                     f"(of the predicted lives; from {weibull['n']} of {n} joints"
                     + (f", {cannot['joints']} cannot tell)" if cannot["joints"] else ")"))
    if s.get("drift"):
        lines.append(f"drift     {s['drift']['summary']}")
    lines += [f"report    {result.out_dir / REPORT_FILE}", f"table     {result.out_dir / 'predictions.csv'}"]
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


@app.command()
def drift(
    source: Path = typer.Argument(..., help="Batch folder (contract v1), or a data set from `mawis ingest`."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Registry id, 'latest', or a model folder "
                                                                   "[default: the promoted model]."),
    out: Path = typer.Option(Path("reports/drift"), "--out", "-o", help="Folder to create: drift.json, drift.html."),
    registry: Optional[Path] = _registry_option(),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="False-alarm rate of the check [default: 0.01]."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file with a [drift] table "
                                                                  "(see mawis/registry/drift.py)."),
    workers: int = typer.Option(0, "--workers", help="Worker processes for ingesting a batch (0 = one per core)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the output folder if it exists."),
) -> None:
    """Compare a batch with a model's training data (embeddings and void/crack features).
    Exit code 0: no drift; 3: drift (do not trust predictions without checking); 5: cannot tell
    (too few boards in the batch for the test)."""
    from dataclasses import replace

    from .registry.store import Registry
    from .workflows.drift import drift as run_drift
    from .workflows.predict import load_predict_config

    cfg = load_predict_config(config).drift
    cfg = replace(cfg, **({"alpha": alpha} if alpha is not None else {}))
    cfg.validate()
    with _progress_bar() as progress:
        result = run_drift(source, out, model=model, registry=Registry(registry), cfg=cfg, overwrite=overwrite,
                           workers=workers, progress=progress)
    r = result.report
    console.print(f"{r['summary']}\nreport    {result.out_dir / 'drift.html'}\njson      {result.out_dir / 'drift.json'}",
                  markup=False, highlight=False, soft_wrap=True)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


@app.command()
def retrain(
    data: list[Path] = typer.Option(..., "--data", "-d", help="New data: a batch or data set folder; repeat for "
                                                              "several (include the old data to keep it in pretraining)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Registry id, 'latest', or a model folder "
                                                                   "[default: the promoted model]."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs of continued pretraining [default: 5]."),
    tolerance: Optional[float] = typer.Option(None, "--tolerance", help="How far the held-out C-index may fall and "
                                                                        "still count as not worse [default: 0]."),
    force: bool = typer.Option(False, "--force", help="Promote the new model even if it is worse or cannot be "
                                                      "compared."),
    registry: Optional[Path] = _registry_option(),
    workers: int = typer.Option(0, "--workers", help="Worker processes for ingesting batches (0 = one per core)."),
) -> None:
    """Continue SSL pretraining on old plus new images, refit the head with all labels, compare old and new on
    held-out joints the old model never saw, register the new model as a child, and promote it if not worse."""
    from dataclasses import replace

    from .registry.store import Registry
    from .workflows.retrain import RetrainConfig, retrain as run_retrain

    options = {"epochs": epochs, "tolerance": tolerance}
    cfg = replace(RetrainConfig(), **{k: v for k, v in options.items() if v is not None})
    say = lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    with _progress_bar() as progress:
        result = run_retrain(model, data, registry=Registry(registry), cfg=cfg, force=force, workers=workers,
                             log=say, progress=progress)
    lines = [f"model     {result.model_id} (child of {result.parent})", f"folder    {result.path}"]
    if result.comparison:
        old, new = result.comparison["old"], result.comparison["new"]
        lines.append(f"held out  {result.comparison['held_out_joints']} joints: C-index {new['c_index']:.3f} new vs "
                     f"{old['c_index']:.3f} old, R² {new['r2']:.3f} vs {old['r2']:.3f}")
    lines.append(result.reason)
    say("\n".join(lines))


@app.command()
def demo(
    out: Path = typer.Option(Path("demo"), "--out", "-o", help="Folder for the demo's data, models and reports."),
    quick: bool = typer.Option(False, "--quick", help="Small settings: about 2 minutes on 2 CPU cores "
                                                      "(default: about 10; larger settings on a GPU)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier demo in --out."),
) -> None:
    """Run the whole product end to end on a simulated campaign: simulate, ingest, measure, pretrain, train,
    evaluate SSL vs SL, predict a fresh batch, check another station's batch for drift."""
    from .workflows.demo import auto_preset, demo_preset, run_demo

    preset = auto_preset(quick)
    say = lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True)  # noqa: E731  paths stay whole
    say(f"demo      preset {preset!r} into {out}")
    with _progress_bar() as progress:
        result = run_demo(out, demo_preset(preset), overwrite=overwrite, log=say, progress=progress)
    s = result.summary
    counts = s["prediction"]
    lines = ["", "findings of the SSL vs SL comparison:"] + [f"- {line}" for line in s["findings"]]
    lines += ["", f"new batch  {counts['risk'].get('cannot tell', 0)} cannot tell; "
                  f"{counts['risk']['high']} high, {counts['risk']['elevated']} elevated, "
                  f"{counts['risk']['low']} low risk; {counts['verdict']['fail']} fail acceptance; "
                  f"{counts['ood']} out of distribution",
              f"same station   {s['same_station_drift']}", f"other station  {s['other_station_drift']}", ""]
    lines += [f"{name:<22} {path}" for name, path in result.outputs.items()]
    lines.append(f"took {result.seconds / 60:.1f} min")
    say("\n".join(lines))


models_app = typer.Typer(help="List, inspect, promote and remove registered lifetime models.", no_args_is_help=True,
                         rich_markup_mode=None)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(registry: Optional[Path] = _registry_option()) -> None:
    """One line per model, oldest first; * marks the promoted model."""
    from .registry.store import Registry

    reg = Registry(registry)
    entries = reg.entries()
    if not entries:
        console.print(f"no models in {reg.root}; train one with `mawis train`", markup=False)
        return
    print(f"  {'id':<34} {'kind':<13} {'created':<26} {'C-index':>7} {'(on)':<9} parent")
    for e in entries:
        c = (e.metrics.get("values") or {}).get("c_index")
        where = "" if c is None else ("CV" if "out-of-fold" in str(e.metrics.get("source")) else "held-out")
        c_text = "" if not isinstance(c, (int, float)) else f"{c:.3f}"
        print(f"{'*' if e.promoted else ' '} {e.id:<34} {e.kind:<13} {e.created:<26} {c_text:>7} {where:<9} "
              f"{e.parent or ''}")
    print("* promoted (the default for predict and drift); C-index: out-of-fold on the training boards (CV) "
          "or on held-out boards at retrain")


@models_app.command("show")
def models_show(model: str = typer.Argument("latest", help="Registry id, 'latest' or a model folder."),
                registry: Optional[Path] = _registry_option()) -> None:
    """The model card: identity, training data, metrics, known limits (JSON)."""
    import json

    from .lifetime.io import load_lifetime_model
    from .registry.store import Registry, model_card

    reg = Registry(registry)
    path = reg.resolve(model)
    _, meta = load_lifetime_model(path)  # also checks the files' hashes
    print(json.dumps(model_card(path, meta, reg), indent=2))


@models_app.command("promote")
def models_promote(model: str = typer.Argument(..., help="Registry id (or 'latest')."),
                   registry: Optional[Path] = _registry_option()) -> None:
    """Make a model the default for `mawis predict` and `mawis drift`."""
    from .lifetime.io import load_lifetime_model
    from .registry.store import Registry

    reg = Registry(registry)
    path = reg.resolve(model)
    load_lifetime_model(path)  # never promote a damaged model
    entry = reg.promote(reg.entry_for(path).id)
    console.print(f"promoted  {entry.id}", markup=False)


@models_app.command("remove")
def models_remove(model: str = typer.Argument(..., help="Registry id."),
                  force: bool = typer.Option(False, "--force", help="Also remove the promoted model."),
                  registry: Optional[Path] = _registry_option()) -> None:
    """Delete a model from the registry."""
    from .registry.store import Registry

    Registry(registry).remove(model, force=force)
    console.print(f"removed   {model}", markup=False)


@app.command()
def evaluate(
    dataset: Path = typer.Argument(..., help="Data set folder from `mawis ingest`, with lifetime labels."),
    out: Path = typer.Option(Path("reports/evaluation"), "--out", "-o", help="Report folder to create."),
    encoder: Optional[Path] = typer.Option(None, "--encoder", help="Use this pretrained encoder instead of "
                                                                  "pretraining one on the training joints."),
    truth: Optional[Path] = typer.Option(None, "--truth", help="Simulator truth folder: adds scores against true "
                                                              "lives and truth void masks for saliency."),
    label_fraction: Optional[float] = typer.Option(None, "--label-fraction", help="Labels for the headline "
                                                                                  "comparison [default: 0.1]."),
    method: Optional[str] = typer.Option(None, "--method", help="Pretraining method [default: simclr]."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Pretraining epochs [default: 20]."),
    pretrain_on_test: bool = typer.Option(False, "--pretrain-on-test", help="Let pretraining see the test joints' "
                                                                            "images (never their labels)."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file with evaluation settings "
                                                                  "(see mawis/evaluation/config.py)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the report folder if it exists."),
) -> None:
    """Compare SSL, SL and feature-only lifetime models on held-out boards; writes metrics.json and
    comparison.html."""
    from dataclasses import replace

    from .evaluation.config import load_evaluation_config
    from .evaluation.run import evaluate as run_evaluate

    cfg = load_evaluation_config(config)
    pre = {"method": method, "epochs": epochs}
    cfg = replace(cfg, pretrain=replace(cfg.pretrain, **{k: v for k, v in pre.items() if v is not None}),
                  pretrain_on_test=pretrain_on_test or cfg.pretrain_on_test,
                  **({"label_fraction": label_fraction} if label_fraction is not None else {}))
    cfg.validate()
    say = lambda line: console.print(line, markup=False, highlight=False)  # noqa: E731
    with _progress_bar() as progress:
        result = run_evaluate(dataset, out, cfg, encoder_dir=encoder, truth_dir=truth, overwrite=overwrite,
                              log=say, progress=progress)
    for line in result.metrics["findings"]:
        say(f"- {line}")
    say(f"report    {result.out_dir / 'comparison.html'}\nmetrics   {result.out_dir / 'metrics.json'}")


@app.command()
def gauge(
    station_a: Path = typer.Argument(..., help="Batch or data set from the first station."),
    station_b: Path = typer.Argument(..., help="Batch or data set of the same joints from the second station."),
    out: Path = typer.Option(Path("reports/gauge"), "--out", "-o", help="Folder for gauge.json, gauge_pairs.csv "
                                                                        "and gauge.png."),
    workers: int = typer.Option(0, "--workers", help="Worker processes when a batch is ingested (0 = one per core)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the output folder if it exists."),
) -> None:
    """Gauge study: measure the same joints from two stations and report how well they agree
    (median, mean and 95th percentile of |difference|, bias, limits of agreement)."""
    from .workflows.gauge import gauge as run_gauge

    with _progress_bar() as progress:
        result = run_gauge(station_a, station_b, out, overwrite=overwrite, workers=workers, progress=progress)
    counts, report = result.study.counts, result.report
    lines = [f"stations  A = {report['a']['station']}, B = {report['b']['station']}",
             f"matched   {counts['matched']} image pairs ({counts['matched_xray']} X-ray, "
             f"{counts['matched_micrograph']} cross-section); {counts['compared']} measured on both, "
             f"{counts['unmeasurable_a']} unmeasurable on A, {counts['unmeasurable_b']} on B"]
    for measure, a in result.study.summary.items():
        lines.append(f"{measure:<22} n={a['n']:<4} |B-A| median {a['median_abs']:.2f}, mean {a['mean_abs']:.2f}, "
                     f"p95 {a['p95_abs']:.2f} {a['unit']}; bias {a['bias']:+.2f} "
                     f"[{a['bias_low']:+.2f}, {a['bias_high']:+.2f}]")
    lines.append(f"written   {out}")
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


@app.command("contact-sheet")
def contact_sheet(
    batch: Path = typer.Argument(..., help="Batch folder (contract v1)."),
    out: Path = typer.Option(Path("reports/contact_sheet.png"), "--out", "-o", help="PNG file to write."),
    per_modality: int = typer.Option(8, "--per-modality", help="Images shown per modality."),
    seed: int = typer.Option(0, "--seed", help="Which images are picked."),
) -> None:
    """Render a PNG contact sheet of a batch's X-ray and micrograph images, for checking by eye."""
    from .reports.contact_sheet import render_contact_sheet

    path = render_contact_sheet(batch, out, per_modality=per_modality, seed=seed)
    console.print(f"contact sheet  {path}")


def _raise_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so temporary outputs are cleaned up as on Ctrl-C."""
    def handler(signum, frame):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, handler)


def _interrupted(code: int, argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "demo" in args[:1]:
        console.print("interrupted; the demo folder is incomplete: run the demo again with --overwrite", markup=False)
        return code
    if "pretrain" in args:  # its checkpoint is kept on purpose
        console.print("interrupted; no model folder was written, the last finished epoch's checkpoint is kept: "
                      "continue with --resume", markup=False)
    else:
        console.print("interrupted; no partial output was left behind", markup=False)
    return code


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one-line errors, documented exit codes, no tracebacks for bad input."""
    _raise_on_sigterm()
    try:
        code = app(args=argv, prog_name="mawis", standalone_mode=False)
    except MawisError as exc:
        console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        return _interrupted(130, argv)
    except SystemExit as exc:
        if exc.code == 143:
            return _interrupted(143, argv)
        raise
    except typer.TyperException as exc:  # usage errors from the argument parser
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `mawis`: show the help
            print(exc.format_message())
            return 0
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "mawis"
        console.print(f"error: {exc.format_message()} (see '{command} --help')", markup=False, highlight=False,
                      soft_wrap=True)
        return 2
    if code == 130:  # typer turns Ctrl-C inside a command into a return value
        return _interrupted(130, argv)
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
