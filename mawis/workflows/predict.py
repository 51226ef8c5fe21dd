"""``mawis predict``: a batch (or an ingested data set) -> per-joint lifetime predictions and the
lifetime report.

Steps: ingest the batch (as ``mawis ingest``, into ``OUT/dataset``), build the joint table
with the model's input rule, embed, predict ln cycles with the model's interval, judge the
acceptance rules, score each joint against the model's training reference (out of
distribution or not), test the batch for drift, fit a Weibull distribution to the
predicted lives, pick the riskiest joints for the gallery, and write everything into
``OUT`` atomically.

A joint whose prediction rests on something the model has not seen gets the risk class
``cannot tell`` (never low, elevated or high), with the reason in the ``reason`` column:
an input image that could not be measured, no usable input image at all, no image of the
modality the model's encoder reads, a package (``component``) the model was never trained on,
or an out-of-distribution flag. Its predicted life is
kept for information, but it counts in no other risk class and the Weibull fit leaves it
out (``weibull_basis`` in prediction.json says how many joints the fit rests on).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import __version__
from ..atomic import atomic_dir, check_writable_target
from ..errors import MawisError, UsageError
from ..ingest.config import recorded_measure_settings
from ..ingest.dataset import REPORT_FILE as INGEST_REPORT, load_dataset
from ..ingest.pipeline import dataset_folder
from ..lifetime.io import load_lifetime_model
from ..lifetime.models import JointData, joint_inputs
from ..lifetime.table import joint_table
from ..lifetime.weibull import fit_weibull
from ..measure.export import measured_images
from ..measure.pipeline import joint_table as acceptance_table, write_overlays
from ..measure.rules import load_rules
from ..jsonio import dumps, is_missing, json_safe
from ..measure.pipeline import overlay_name
from ..registry.drift import (
    DriftConfig, OodScorer, check_drift, comparable_joints, drift_config_from_dict, joint_profile, load_reference,
    reference_problem,
)
from ..registry.store import Registry, model_card
from ..reports.lifetime_report import (
    CAUSES as REPORT_CAUSES, FORMAT, FORMAT_VERSION, META, PREDICTIONS as PREDICTIONS_PARQUET,
)
from ..tomlio import read_toml

PREDICTIONS = Path(PREDICTIONS_PARQUET).stem   # .csv and .parquet
SUMMARY_FILE = META
REPORT_FILE = "lifetime_report.html"
GALLERY_DIR = "gallery"
CANNOT_TELL = "cannot tell"
RISK_CLASSES = ("high", "elevated", "low", CANNOT_TELL)
# why a joint cannot be told (counts.cannot_tell in prediction.json; a joint may have several causes)
CAUSES = tuple(key for key, _ in REPORT_CAUSES)  # the report owns the causes and their words
BLANK_COMPONENTS = frozenset({"", "nan", "none", "unknown"})
TABLE_COLUMNS = ("joint_id", "board_id", "component", "predicted_cycles", "lower_cycles", "upper_cycles",
                 "risk_class", "reason", "verdict", "failed_rules", "void_fraction", "largest_void_fraction",
                 "edge_void_fraction", "void_count", "crack_fraction", "crack_length_um", "ood_score", "ood",
                 "measurable", "has_xray", "xray_image_id", "micrograph_image_id")
MODALITY_WORDS = {"xray": "X-ray", "micrograph": "cross-section"}


@dataclass(frozen=True)
class PredictConfig:
    required_cycles: float = 1500.0   # the life a joint must reach (risk classes are against it)
    weibull_level: float = 0.9        # two-sided confidence of the Weibull bounds
    gallery_joints: int = 12          # riskiest joints shown with their images
    min_component_joints: int = 20    # a per-component Weibull fit needs this many joints
    device: str = "auto"
    embed_chunk: int = 1024
    drift: DriftConfig = field(default_factory=DriftConfig)

    def validate(self) -> None:
        for name in ("gallery_joints", "min_component_joints", "embed_chunk"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{name} must be an integer (got {value!r})")
        if isinstance(self.weibull_level, bool) or not isinstance(self.weibull_level, (int, float)):
            raise UsageError(f"weibull_level must be a number (got {self.weibull_level!r})")
        if isinstance(self.required_cycles, bool) or not (isinstance(self.required_cycles, (int, float))
                                                          and math.isfinite(self.required_cycles)
                                                          and self.required_cycles > 0):
            raise UsageError(f"required_cycles must be a positive number (got {self.required_cycles!r})")
        if not 0.5 <= self.weibull_level < 1.0:
            raise UsageError(f"weibull_level must be in [0.5, 1) (got {self.weibull_level})")
        if self.gallery_joints < 0 or self.min_component_joints < 3 or self.embed_chunk < 1:
            raise UsageError("gallery_joints must be >= 0, min_component_joints >= 3 and embed_chunk >= 1")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UsageError(f"device must be auto, cpu or cuda (got {self.device!r})")
        self.drift.validate()


def load_predict_config(path: Path | None, **overrides) -> PredictConfig:
    data = dict(read_toml(Path(path), "predict config")) if path is not None else {}
    drift = drift_config_from_dict(data.pop("drift", {}), f"{path} [drift]")
    known = {f.name for f in fields(PredictConfig)} - {"drift"}
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    cfg = replace(PredictConfig(**data, drift=drift), **{k: v for k, v in overrides.items() if v is not None})
    cfg.validate()
    return cfg


@dataclass
class PredictResult:
    out_dir: Path
    table: pd.DataFrame
    summary: dict


def resolve_device(name: str) -> str:
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    return "cuda" if name == "auto" and torch.cuda.is_available() else ("cpu" if name == "auto" else name)


@dataclass
class OpenedModel:
    """A model resolved through the registry, loaded after its hash checks, with its reference."""
    path: Path
    model: object
    meta: dict
    reference: pd.DataFrame | None
    card: dict


def open_model(registry: Registry, ref: str | Path | None) -> OpenedModel:
    path = registry.resolve(ref)
    model, meta = load_lifetime_model(path)
    return OpenedModel(path, model, meta, load_reference(path, meta), model_card(path, meta, registry))


def predict(source: Path, out_dir: Path, *, model: str | Path | None = None, registry: Registry | None = None,
            cfg: PredictConfig = PredictConfig(), overwrite: bool = False, workers: int = 0,
            progress=None) -> PredictResult:
    cfg.validate()
    out_dir = Path(out_dir)
    opened = open_model(registry or Registry(), model)
    check_writable_target(out_dir, overwrite, marker=SUMMARY_FILE)
    timings: dict[str, float] = {}
    with atomic_dir(out_dir, overwrite=overwrite, marker=SUMMARY_FILE) as tmp:
        clock = time.perf_counter()
        dataset_dir, ingested = dataset_folder(source, tmp / "dataset", workers, progress)
        timings["ingest"] = time.perf_counter() - clock
        table, summary = _predict_dataset(dataset_dir, opened, cfg, timings, progress)
        summary["batch"]["source"] = str(Path(source).absolute())
        summary["batch"]["kind"] = "batch" if ingested else "data set"
        summary["model"] = opened.card
        _write_outputs(tmp, table, summary, dataset_dir, cfg, timings, shown_as=out_dir)
    return PredictResult(out_dir, table, summary)


@dataclass
class BatchInputs:
    """A data set as a model sees it: measured images, joint table, encoder inputs, embeddings, profile."""
    ds: object
    images: pd.DataFrame
    joints: pd.DataFrame
    data: JointData
    embeddings: np.ndarray | None
    profile: pd.DataFrame


def batch_inputs(dataset_dir: Path, model, meta: dict, device: str, chunk: int = 1024, progress=None) -> BatchInputs:
    ds = load_dataset(dataset_dir)
    images = measured_images(ds, progress)
    ds.images = images
    joints = joint_table(ds, None, int((meta.get("config") or {}).get("input_max_cycles", 0)))
    if joints.empty:
        raise MawisError(f"{dataset_dir}: the batch holds no joints with a usable image")
    data = joint_inputs(ds, joints, model.spec) if model.encoder is not None else JointData(joints)
    embeddings = _embed(model, data, device, chunk, progress) if model.encoder is not None else None
    profile = joint_profile(joints, embeddings, comparable_joints(data, embeddings is not None))
    return BatchInputs(ds, images, joints, data, embeddings, profile)


def _predict_dataset(dataset_dir: Path, opened: OpenedModel, cfg: PredictConfig, timings: dict,
                     progress) -> tuple[pd.DataFrame, dict]:
    device = resolve_device(cfg.device)
    clock = time.perf_counter()
    inputs = batch_inputs(dataset_dir, opened.model, opened.meta, device, cfg.embed_chunk, progress)
    log_pred = opened.model.predict(inputs.data, device, inputs.embeddings)
    timings["predict"] = time.perf_counter() - clock
    clock = time.perf_counter()
    accept = acceptance_table(inputs.images, load_rules()).set_index("joint_id")
    scores, flags, drift, note, threshold = _checks(opened.reference, inputs.profile, cfg)
    timings["checks"] = time.perf_counter() - clock
    model = opened.model
    needs = model.spec.modality if model.encoder is not None and model.spec is not None else None
    causes, reasons, measurable = abstentions(
        inputs.joints, inputs.images, flags, scores, threshold, needs,
        float((opened.meta.get("config") or {}).get("input_max_cycles", 0) or 0),
        known_components(opened.meta, opened.reference))
    table = _table(inputs.joints, log_pred, accept, scores, flags, cfg.required_cycles, reasons, measurable)
    table, causes = _with_unseen_joints(table, causes, dataset_dir)
    summary = _summary(inputs.ds, table, drift, cfg, opened.meta, causes)
    summary["settings"]["ood_threshold"] = threshold
    if note:
        summary["checks_note"] = note
    return table, summary


def _checks(reference: pd.DataFrame | None, profile: pd.DataFrame, cfg: PredictConfig):
    """OOD scores and flags, the drift report, why they are missing (if they are), and the OOD threshold."""
    nothing = (np.full(len(profile), np.nan), np.zeros(len(profile), bool), None)
    problem = reference_problem(reference)
    if problem:
        return (*nothing, f"no out-of-distribution or drift check: {problem}", None)
    scorer = OodScorer.fit(reference, cfg.drift)
    scores, flags = scorer.scores(profile)
    if profile["has_xray"].sum() < 2:
        return scores, flags, None, "no drift check: fewer than 2 joints have an as-reflowed X-ray", scorer.threshold
    return scores, flags, check_drift(reference, profile, cfg.drift, scorer), None, scorer.threshold


def package_key(component) -> str:
    """A package name as compared across batches: trimmed and case-folded; "" for no name."""
    key = "" if is_missing(component) else str(component).strip().casefold()
    return "" if key in BLANK_COMPONENTS else key


def known_components(meta: dict, reference: pd.DataFrame | None = None) -> frozenset[str] | None:
    """The packages (as :func:`package_key`) of a model's training joints: all of them, as recorded
    at training (``meta["dataset"]["components"]``), else those of its drift reference (a sample of
    the training boards). None when no name was recorded, so that a model trained without the
    optional column does not call every package new."""
    recorded = (meta.get("dataset") or {}).get("components")
    if recorded is None and reference is not None and "component" in reference:
        recorded = reference["component"].tolist()
    names = {package_key(c) for c in recorded or ()} - {""}
    return frozenset(names) or None


def abstentions(joints: pd.DataFrame, images: pd.DataFrame, flags: np.ndarray, scores: np.ndarray,
                threshold: float | None, needs: str | None, input_max_cycles: float = 0.0,
                known: frozenset[str] | None = None):
    """Why each joint of the joint table cannot be told (its prediction rests on what the model has not seen).

    Returns ``(causes, reasons, measurable)``: a boolean array per cause of :data:`CAUSES`, one
    reason text per joint ("" when its prediction is trustworthy), and whether every input image
    of the joint was measured (``measure_status == "ok"``). The input images are the ones the
    model reads: the joint table's X-ray and cross-section (features, and the encoder's image);
    ``needs`` is the modality the encoder reads (None: no encoder). Only the images table's
    ``measure_status`` / ``measure_reason`` and the OOD flags are used, not how measuring works.
    ``known``: the packages the model was trained on, as :func:`package_key` (None: not recorded, no
    package check); a
    joint of another package cannot be told, whatever its OOD score, since a family-wide offset in
    life is invisible to a score fitted on the training families.
    """
    n = len(joints)
    status = images.drop_duplicates("image_id").set_index("image_id")
    states = status["measure_status"] if "measure_status" in status else pd.Series(dtype=object)
    whys = status["measure_reason"] if "measure_reason" in status else pd.Series(dtype=object)
    state_of = {i: "" if is_missing(s) else str(s).strip() for i, s in states.items()}
    why_of = {i: "" if is_missing(r) else str(r).strip() for i, r in whys.items()}
    early, late = (("as-reflowed ", "") if input_max_cycles <= 0 else
                   ("", f" at or before {input_max_cycles:g} cycles"))
    causes = {c: np.zeros(n, bool) for c in CAUSES}
    reasons, measurable = [], np.zeros(n, bool)
    packages = joints["component"] if "component" in joints else pd.Series([None] * n)
    for row, (xray, micro, package) in enumerate(zip(joints["xray_image_id"], joints["micrograph_image_id"],
                                                    packages)):
        parts, used = [], {m: i for m, i in (("xray", xray), ("micrograph", micro)) if not is_missing(i)}
        for modality, image in used.items():
            if state_of.get(image, "").lower() != "ok":
                why = why_of.get(image) or f"measure status {state_of.get(image) or 'missing'}"
                parts.append(f"could not be measured ({MODALITY_WORDS[modality]}): {why}")
                causes["unmeasurable"][row] = True
        measurable[row] = bool(used) and not causes["unmeasurable"][row]
        if not used:
            parts.append(f"no usable input image (no {early}X-ray or cross-section{late})")
            causes["no_input_image"][row] = True
        elif needs is not None and needs not in used:
            parts.append(f"no {early}{MODALITY_WORDS.get(needs, needs)}{late}, which the model needs")
            causes["no_model_input"][row] = True
        if known is not None and package_key(package) and package_key(package) not in known:
            parts.append(f"package {str(package).strip()} is not in the model's training data")
            causes["new_package"][row] = True
        if bool(flags[row]):
            score = float(scores[row])
            told = f"score {score:.2f}" if np.isfinite(score) else "score not recorded"
            told += f" > threshold {threshold:.2f}" if threshold is not None and np.isfinite(threshold) else ""
            parts.append(f"out of distribution ({told})")
            causes["ood"][row] = True
        reasons.append("; ".join(parts))
    return causes, reasons, measurable


def _embed(model, data: JointData, device: str, chunk: int, progress) -> np.ndarray:
    parts = []
    for start in range(0, len(data.joints), chunk):
        parts.append(model.embeddings(data.subset(np.arange(start, min(start + chunk, len(data.joints)))), device))
        if progress is not None:
            progress("embed", min(start + chunk, len(data.joints)), len(data.joints))
    return np.concatenate(parts) if parts else np.zeros((0, model.encoder.out_dim))


def risk_classes(lower: np.ndarray, predicted: np.ndarray, required: float, reasons=None) -> np.ndarray:
    """high: predicted life below the required life; elevated: only the interval's lower end below it;
    ``cannot tell`` wherever ``reasons`` (one text per joint) names why the prediction is not trustworthy."""
    classes = np.where(predicted < required, "high", np.where(lower < required, "elevated", "low")).astype(object)
    if reasons is not None:
        classes[np.array([bool(r) for r in reasons], dtype=bool)] = CANNOT_TELL
    return classes.astype(str)


def _table(joints: pd.DataFrame, log_pred: pd.DataFrame, accept: pd.DataFrame, scores: np.ndarray,
           flags: np.ndarray, required: float, reasons=None, measurable=None) -> pd.DataFrame:
    out = joints[["joint_id", "board_id", "component"]].astype(str).reset_index(drop=True)
    out["predicted_cycles"] = np.exp(log_pred["log_pred"].to_numpy())
    out["lower_cycles"] = np.exp(log_pred["log_lo"].to_numpy())
    out["upper_cycles"] = np.exp(log_pred["log_hi"].to_numpy())
    reasons = [""] * len(out) if reasons is None else [str(r) for r in reasons]
    out["risk_class"] = risk_classes(out["lower_cycles"].to_numpy(), out["predicted_cycles"].to_numpy(), required,
                                     reasons)
    out["reason"] = reasons
    verdicts = accept.reindex(out["joint_id"])
    out["verdict"] = verdicts["verdict"].fillna("unchecked").to_numpy()
    out["failed_rules"] = verdicts["failed_rules"].fillna("").to_numpy()
    for name in ("void_fraction", "largest_void_fraction", "edge_void_fraction", "void_count", "crack_fraction",
                 "crack_length_um"):
        out[name] = verdicts[name].astype(float).to_numpy() if name in verdicts else np.nan
    out["ood_score"] = scores
    out["ood"] = np.asarray(flags, bool)
    out["measurable"] = np.ones(len(out), bool) if measurable is None else np.asarray(measurable, bool)
    out["has_xray"] = joints["xray_image_id"].notna().to_numpy()
    out["xray_image_id"] = joints["xray_image_id"].astype(object).where(joints["xray_image_id"].notna(), None).to_numpy()
    out["micrograph_image_id"] = joints["micrograph_image_id"].astype(object) \
        .where(joints["micrograph_image_id"].notna(), None).to_numpy()
    return out.sort_values(["predicted_cycles", "joint_id"]).reset_index(drop=True)[list(TABLE_COLUMNS)]


def _with_unseen_joints(table: pd.DataFrame, causes: dict, dataset_dir: Path) -> tuple[pd.DataFrame, dict]:
    """The table with a "cannot tell" row for every joint whose every image was quarantined at
    ingestion (it has no prediction, but a quality team must still see it), and the causes
    extended to them."""
    report = Path(dataset_dir) / INGEST_REPORT
    quarantined = json.loads(report.read_text()).get("quarantined", []) if report.is_file() else []
    seen = set(table["joint_id"])
    unseen: dict[str, dict] = {}
    for entry in quarantined:
        joint = str(entry.get("joint_id") or "")
        if joint and joint not in seen and joint not in unseen:
            unseen[joint] = {"joint_id": joint, "board_id": str(entry.get("board_id") or joint),
                             "component": str(entry.get("component") or "unknown"),
                             "reason": f"no usable image: {entry.get('path')}: {entry.get('reason')}"}
    if not unseen:
        return table, causes
    rows = pd.DataFrame(list(unseen.values())).assign(
        risk_class=CANNOT_TELL, verdict="unchecked", failed_rules="", ood=False, measurable=False, has_xray=False,
        xray_image_id=None, micrograph_image_id=None).reindex(columns=table.columns)
    extended = pd.concat([table, rows], ignore_index=True)
    grown = {c: np.r_[np.asarray(v, bool), np.zeros(len(rows), bool)] for c, v in causes.items()}
    grown["no_input_image"][len(table):] = True  # not "unmeasurable": no image was left to measure
    return extended, grown


def _weibull(lives: np.ndarray, level: float) -> tuple[dict | None, str]:
    try:
        return fit_weibull(lives, level).to_dict(), ("fitted to the predicted median lives of this batch's joints "
                                                      "with a trustworthy prediction, not to observed failures; the "
                                                      "bounds cover sampling of these predictions only, not the "
                                                      "prediction error of each joint")
    except MawisError as exc:
        return None, f"no Weibull fit: {exc}"


def _summary(ds, table: pd.DataFrame, drift: dict | None, cfg: PredictConfig, meta: dict,
             causes: dict | None = None) -> dict:
    trusted = table[table["risk_class"] != CANNOT_TELL]
    n, told = len(table), len(trusted)
    weibull, note = _weibull(trusted["predicted_cycles"].to_numpy(), cfg.weibull_level)
    by_component = {}
    for component, group in trusted.groupby("component"):
        if len(group) >= cfg.min_component_joints:
            fit, _ = _weibull(group["predicted_cycles"].to_numpy(), cfg.weibull_level)
            if fit is not None:
                by_component[str(component)] = fit
    causes = causes or {}
    cannot = {"joints": n - told,
              **{c: int(np.asarray(causes[c], bool).sum()) if c in causes else 0 for c in CAUSES}}
    counts = {"joints": n, "trusted": told,
              "risk": {k: int((table["risk_class"] == k).sum()) for k in RISK_CLASSES},
              "cannot_tell": cannot,
              "verdict": {k: int((table["verdict"] == k).sum()) for k in ("pass", "fail", "unchecked")},
              "ood": int(table["ood"].sum()), "unmeasurable": int((~table["measurable"]).sum()),
              "without_xray": int((~table["has_xray"]).sum())}
    return {"format": FORMAT, "version": FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "mawis_version": __version__,
            "batch": {"fingerprint": ds.info.get("batch_fingerprint"), "joints": int(len(table)),
                      "boards": int(table["board_id"].nunique())},
            "settings": {"required_cycles": cfg.required_cycles,
                         "interval_level": (meta.get("head") or {}).get("interval_level"),
                         "ood_quantile": cfg.drift.ood_quantile, "weibull_level": cfg.weibull_level,
                         "rules_version": load_rules().version},
            "counts": counts, "weibull": weibull, "weibull_note": note,
            "weibull_basis": {"joints": int(weibull["n"]) if weibull else 0, "of": n, "cannot_tell": n - told},
            "weibull_by_component": by_component,
            "drift": None if drift is None else {k: drift[k] for k in ("drift", "testable", "p_value", "alpha",
                                                                         "domain_auc", "summary", "tests")},
            "gallery": []}


def _write_outputs(tmp: Path, table: pd.DataFrame, summary: dict, dataset_dir: Path, cfg: PredictConfig,
                   timings: dict, shown_as: Path) -> None:
    from ..reports.lifetime_report import render_lifetime_report

    clock = time.perf_counter()
    summary["gallery"] = _gallery(tmp, table, dataset_dir, cfg.gallery_joints)
    table.to_parquet(tmp / f"{PREDICTIONS}.parquet", index=False)
    table.to_csv(tmp / f"{PREDICTIONS}.csv", index=False)
    timings["write"] = time.perf_counter() - clock
    summary["timings"] = {k: round(v, 3) for k, v in timings.items()}
    (tmp / SUMMARY_FILE).write_text(dumps(summary))
    clock = time.perf_counter()
    render_lifetime_report(tmp, tmp / REPORT_FILE, shown_as=shown_as)
    summary["timings"]["report"] = round(time.perf_counter() - clock, 3)
    (tmp / SUMMARY_FILE).write_text(dumps(summary))


def gallery_joints(table: pd.DataFrame, count: int) -> pd.DataFrame:
    """The riskiest joints with a trustworthy prediction (shortest predicted life first), then joints
    that cannot be told (a third of the places when there are enough of both kinds), so a reader sees why."""
    trusted, cannot = table[table["risk_class"] != CANNOT_TELL], table[table["risk_class"] == CANNOT_TELL]
    places = min(len(cannot), max(count, 0), max(count - len(trusted), 1, count // 3))
    return pd.concat([trusted.head(count - places), cannot.head(places)])


def _gallery(tmp: Path, table: pd.DataFrame, dataset_dir: Path, count: int) -> list[dict]:
    """The riskiest joints with overlays of their input images (see :func:`gallery_joints`)."""
    ds = load_dataset(dataset_dir)
    riskiest = gallery_joints(table, count)
    ids = [i for col in ("xray_image_id", "micrograph_image_id") for i in riskiest[col] if i]
    rows = ds.images[ds.images["image_id"].isin(set(ids))]
    if not rows.empty:
        write_overlays(rows, ds.region, tmp / GALLERY_DIR, recorded_measure_settings(ds.info["config"]))
    cards = []
    for _, r in riskiest.iterrows():
        card = {k: v for k, v in r.items() if k in ("joint_id", "board_id", "component", "predicted_cycles", "lower_cycles", "upper_cycles",
                         "risk_class", "reason", "verdict", "failed_rules", "void_fraction", "crack_fraction",
                         "ood")}
        for modality in ("xray", "micrograph"):
            image = r[f"{modality}_image_id"]
            name = overlay_name(image) if image else None
            card[modality] = f"{GALLERY_DIR}/{name}" if name and (tmp / GALLERY_DIR / name).is_file() else None
        cards.append(json_safe(card))
    return cards
