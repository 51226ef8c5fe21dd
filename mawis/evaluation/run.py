"""``mawis evaluate``: every lifetime model trained and scored the same way on held-out boards.

Steps: split the joints by board; pretrain the SSL encoder on the training joints'
images only (unless told otherwise); fit each model with a share of the training
labels; score it on the test joints; repeat over label shares and seeds for the
label-efficiency curve; re-score under image distortions; map the embeddings; compute
saliency maps; write ``metrics.json`` and the tables beside it, then ``comparison.html``.
Hyper-parameters are chosen inside the training joints only; the test joints are
scored once per fitted model and never steer a choice.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..atomic import atomic_dir, check_writable_target
from ..errors import MawisError
from ..imaging.align import from_crop_dtype
from ..ingest.dataset import Dataset, load_dataset
from ..jsonio import dumps
from ..lifetime.metrics import lifetime_metrics
from ..lifetime.models import (JointData, LifetimeModel, check_labels, encoder_info, fit_kind, input_spec,
                               joint_inputs, subsample_labels)
from ..lifetime.table import XRAY_FEATURES, joint_table
from ..ingest.config import recorded_measure_settings
from ..ingest.dataset import placements
from ..measure.pipeline import analyse_xray, measure_region
from ..ssl.data import InputSpec, crops_to_inputs, dataset_fingerprint
from ..ssl.model_io import LoadedEncoder, load_encoder
from ..ssl.probe import regression_probe
from ..ssl.train import pretrain, restrict_to_joints, work_dir_for
from .config import EvaluationConfig
from .distortions import distort
from .saliency import grad_cam, overlap
from .split import split_joints

LABELS = {
    "ssl": ("SSL embedding + AFT head", "Frozen self-supervised encoder (PCA of its embedding) beside the measured "
                                        "features, log-normal AFT head."),
    "ssl-finetune": ("SSL, fine-tuned", "The self-supervised encoder trained further together with the head."),
    "sl": ("SL from scratch", "The same backbone trained end-to-end with the head on the labelled joints only."),
    "random": ("Random encoder + AFT head (control)", "The SSL recipe with the same backbone left at random "
                                                      "weights: what pretraining itself adds."),
    "features": ("Features only", "Log-normal AFT on the measured void/crack features, component and "
                                  "inspection cycles; no image encoder."),
}


@dataclass
class EvaluationResult:
    out_dir: Path
    metrics: dict


@dataclass
class _Context:
    ds: Dataset
    cfg: EvaluationConfig
    train: JointData
    test: JointData
    encoder: LoadedEncoder
    spec: InputSpec
    progress: object
    log: object


def fit_model(kind: str, data: JointData, ctx: _Context, seed: int, calibrate: bool) -> LifetimeModel:
    info = encoder_info(ctx.encoder.meta, str(ctx.encoder.meta.get("dataset", {}).get("path", "")))
    return fit_kind(kind, data, replace(ctx.cfg.lifetime, seed=seed), encoder=ctx.encoder.encoder, spec=ctx.spec,
                    info=info, calibrate=calibrate, progress=ctx.progress)


def _score(model: LifetimeModel, test: JointData, intervals: bool = True) -> tuple[dict, pd.DataFrame]:
    labelled = test.subset(test.labelled)
    pred = model.predict(labelled)
    j = labelled.joints
    args = (j["log_time"].to_numpy(), j["event"].to_numpy(bool), pred["log_pred"].to_numpy())
    scores = lifetime_metrics(*args, pred["log_lo"].to_numpy(), pred["log_hi"].to_numpy()) if intervals \
        else lifetime_metrics(*args)
    return scores, pred.assign(board_id=j["board_id"].to_numpy(), log_time=args[0], event=args[1],
                               void_fraction=j["void_fraction"].to_numpy(float))


def _pretrained_encoder(ds: Dataset, out: Path, ctx_cfg: EvaluationConfig, train_ids, encoder_dir,
                        log, progress) -> tuple[LoadedEncoder, dict]:
    if encoder_dir is not None:
        loaded = load_encoder(encoder_dir)
        return loaded, {"method": loaded.meta.get("method"), "encoder": loaded.meta.get("encoder"),
                        "source": str(encoder_dir), "images": None,
                        "sees_test_images": _saw_test_images(loaded, ds, train_ids)}
    work = _encoder_work_dir(out)
    start = time.perf_counter()
    result = pretrain(ds.root, work, ctx_cfg.pretrain, overwrite=True, log=log, progress=progress,
                      joints=None if ctx_cfg.pretrain_on_test else train_ids)
    loaded = load_encoder(result.out_dir)
    final = result.history[-1]
    return loaded, {"method": loaded.meta["method"], "encoder": loaded.meta["encoder"],
                    "epochs": ctx_cfg.pretrain.epochs, "images": _image_count(ds, train_ids, ctx_cfg),
                    "sees_test_images": ctx_cfg.pretrain_on_test, "seconds": time.perf_counter() - start,
                    "probe_ridge_r2_random": result.history[0].get("ridge_r2"),
                    "probe_ridge_r2_final": final.get("ridge_r2")}


def _saw_test_images(loaded: LoadedEncoder, ds: Dataset, train_ids) -> bool | None:
    """From the encoder's training-image fingerprint: True (all of this data set's images),
    False (exactly the training joints' images), None (something else: not known)."""
    modality = loaded.meta["input"]["modality"]
    fingerprint = loaded.meta.get("dataset", {}).get("fingerprint")
    if fingerprint == dataset_fingerprint(restrict_to_joints(ds, train_ids), modality):
        return False
    return True if fingerprint == dataset_fingerprint(ds, modality) else None


def _image_count(ds: Dataset, train_ids, cfg: EvaluationConfig) -> int:
    images = ds.images
    images = images[images["modality"] == cfg.pretrain.modality]
    return int(len(images) if cfg.pretrain_on_test else images["joint_id"].isin(set(train_ids)).sum())


def _headline(ctx: _Context) -> tuple[dict, dict, pd.DataFrame]:
    cfg = ctx.cfg
    train = JointData(subsample_labels(ctx.train.joints, cfg.label_fraction, cfg.seeds[0]),
                      ctx.train.images, ctx.train.has_image)
    models, scores, frames = {}, {}, []
    for kind in cfg.models:
        ctx.log(f"fitting {kind} with {int(train.labelled.sum())} labelled joints")
        start = time.perf_counter()
        model = fit_model(kind, train, ctx, cfg.seeds[0], calibrate=True)
        seconds = time.perf_counter() - start
        score, pred = _score(model, ctx.test)
        label, description = LABELS[kind]
        scores[kind] = {"label": label, "description": description, **score, "interval_level": model.level,
                        "n_train_labels": int(train.labelled.sum()), "fit_seconds": seconds,
                        "alpha": model.training.get("alpha"), "sigma": model.sigma,
                        "interval_bounds": list(model.bounds)}
        models[kind] = model
        frames.append(pred.assign(model=kind))
    return models, scores, pd.concat(frames, ignore_index=True)


def _label_efficiency(ctx: _Context, headline: dict) -> list[dict]:
    cfg, rows = ctx.cfg, []
    runs = [(f, s, k) for f in cfg.fractions for s in cfg.seeds for k in cfg.curve_models]
    for i, (fraction, seed, kind) in enumerate(runs):
        if ctx.progress:
            ctx.progress("label efficiency", i, len(runs))
        train = JointData(subsample_labels(ctx.train.joints, fraction, seed), ctx.train.images, ctx.train.has_image)
        record = {"model": kind, "fraction": fraction, "seed": seed, "n_labels": int(train.labelled.sum())}
        if fraction == cfg.label_fraction and seed == cfg.seeds[0] and kind in headline:
            rows.append({**record, **{k: headline[kind][k] for k in ("r2", "mae", "c_index")}})
            continue
        try:
            score, _ = _score(fit_model(kind, train, ctx, seed, calibrate=False), ctx.test, intervals=False)
        except MawisError as exc:  # too few labels at this share: a gap in the curve, said so
            rows.append({**record, "r2": None, "mae": None, "c_index": None, "skipped": str(exc)})
            continue
        rows.append({**record, **{k: score[k] for k in ("r2", "mae", "c_index")}})
    if ctx.progress:
        ctx.progress("label efficiency", len(runs), len(runs))
    return rows


@dataclass
class _TestXrays:
    """The test joints' X-rays: positions in the test table, image rows, crops and regions in [0, 1]."""
    has: np.ndarray
    rows: pd.DataFrame
    crops: np.ndarray
    regions: list


def _test_xrays(ctx: _Context) -> _TestXrays:
    joints = ctx.test.joints
    has = np.nonzero(joints["xray_image_id"].notna().to_numpy())[0]
    if not len(has):
        return _TestXrays(has, pd.DataFrame(), np.zeros((0, 0, 0), np.float32), [])
    rows = ctx.ds.images.set_index("image_id").loc[joints["xray_image_id"].iloc[has]].reset_index()
    crops = ctx.ds.crops("xray")
    return _TestXrays(has, rows, from_crop_dtype(np.stack([crops[int(i)] for i in rows["crop_index"]])),
                      [from_crop_dtype(ctx.ds.region(r)) for _, r in rows.iterrows()])


def _distorted_test(ctx: _Context, xrays: _TestXrays, kind: str, level: float) -> JointData:
    seed = ctx.cfg.split_seed
    settings = recorded_measure_settings(ctx.ds.info["config"])
    measured = []
    bad_crops = np.empty_like(xrays.crops)
    for k, (_, row) in enumerate(xrays.rows.iterrows()):
        bad_crops[k] = distort(xrays.crops[k], kind, level, float(row["crop_pixel_size_um"]), seed + k)
        pixel_um = float(row["region_pixel_size_um"])
        measured.append(measure_region("xray", distort(xrays.regions[k], kind, level, pixel_um, seed + k),
                                       pixel_um, settings))
    measured = pd.DataFrame(measured)
    joints = ctx.test.joints.copy()
    for name in XRAY_FEATURES:
        values = pd.to_numeric(measured.get(name), errors="coerce") if name in measured else np.nan
        joints.loc[joints.index[xrays.has], name] = np.asarray(values, dtype=float)
    images = ctx.test.images.clone()
    if ctx.spec.modality == "xray":
        images[torch.from_numpy(xrays.has)] = crops_to_inputs(bad_crops, ctx.spec)
    return JointData(joints, images, ctx.test.has_image)


def _robustness(ctx: _Context, models: dict, clean: dict, xrays: _TestXrays) -> list[dict]:
    rows = []
    if not len(xrays.has):  # no test X-rays to distort
        return rows
    for i, (kind_d, level) in enumerate(ctx.cfg.distortions):
        if ctx.progress:
            ctx.progress("distortions", i, len(ctx.cfg.distortions))
        test = _distorted_test(ctx, xrays, kind_d, level)
        for kind, model in models.items():
            score, _ = _score(model, test, intervals=False)
            base = clean[kind]["mae"]
            rows.append({"model": kind, "distortion": kind_d, "level": level, "r2": score["r2"], "mae": score["mae"],
                         "c_index": score["c_index"], "relative_degradation": (score["mae"] - base) / base})
    if ctx.progress:
        ctx.progress("distortions", len(ctx.cfg.distortions), len(ctx.cfg.distortions))
    return rows


def _embedding_maps(ctx: _Context, models: dict) -> tuple[pd.DataFrame, dict]:
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    frames, probes = [], {}
    for kind in ("ssl", "sl", "ssl-finetune", "random"):
        model = models.get(kind)
        if model is None:
            continue
        train_l, test_l = ctx.train.subset(ctx.train.labelled & ctx.train.has_image), \
            ctx.test.subset(ctx.test.labelled & ctx.test.has_image)
        if len(test_l.joints) < 3 or len(train_l.joints) < 3:  # nothing to map
            continue
        e_train, e_test = model.embeddings(train_l), model.embeddings(test_l)
        failed = np.r_[train_l.joints["event"].to_numpy(bool), test_l.joints["event"].to_numpy(bool)]
        both = np.concatenate([e_train, e_test])[failed]
        target = np.r_[train_l.joints["log_time"], test_l.joints["log_time"]][failed]
        is_test = np.r_[np.zeros(len(e_train), bool), np.ones(len(e_test), bool)][failed]
        if (~is_test).sum() >= 5 and is_test.sum() >= 5:
            probe = regression_probe(both, target, ~is_test, is_test)
            probes[kind] = {"ridge_r2": probe["ridge_r2"], "knn_r2": probe["knn_r2"]}
        projections = {"pca": PCA(n_components=2, random_state=0).fit_transform(e_test)}
        if ctx.cfg.tsne and len(e_test) > 10:
            projections["tsne"] = TSNE(n_components=2, perplexity=min(30.0, len(e_test) / 4), init="pca",
                                       random_state=0).fit_transform(e_test)
        for name, xy in projections.items():
            frames.append(pd.DataFrame({"model": kind, "projection": name, "x": xy[:, 0], "y": xy[:, 1],
                                        "log_time": test_l.joints["log_time"].to_numpy(),
                                        "event": test_l.joints["event"].to_numpy(bool)}))
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), probes


def _void_masks(ctx: _Context, xrays: _TestXrays, pick: np.ndarray, truth_dir: Path | None) -> np.ndarray:
    """Void masks of the picked test X-rays on their encoder crops: the simulator's truth where
    given, else what measurement found on the region, carried onto the crop."""
    shape = xrays.crops.shape[1:]
    rows = xrays.rows.iloc[pick]
    if truth_dir is not None:
        from ..measure.validation import true_void_mask
        truth = pd.read_csv(truth_dir / "images.csv").set_index("image_id")
        return np.stack([true_void_mask(truth_dir, truth.loc[r["image_id"]], r, shape) for _, r in rows.iterrows()])
    settings = recorded_measure_settings(ctx.ds.info["config"])
    masks = []
    for k, (_, row) in zip(pick, rows.iterrows()):
        found = analyse_xray(xrays.regions[k], float(row["region_pixel_size_um"]), settings).voids
        voids = found.voids if found is not None else np.zeros(xrays.regions[k].shape, bool)
        region_at, crop_at = placements(row)
        masks.append(region_at.warp(voids.astype(np.float32), crop_at, shape, nearest=False) >= 0.5)
    return np.stack(masks)


def _saliency(ctx: _Context, models: dict, truth_dir: Path | None, xrays: _TestXrays) -> tuple[dict, dict]:
    has, crops = xrays.has, xrays.crops
    if ctx.spec.modality != "xray" or not len(has):
        return {}, {}
    joints = ctx.test.joints.iloc[has]
    voids = joints["void_fraction"].to_numpy(float)
    pick = np.argsort(-np.nan_to_num(voids, nan=-1.0))[: ctx.cfg.saliency_joints]  # joints with voids to find
    masks = _void_masks(ctx, xrays, pick, truth_dir)
    inputs = ctx.test.images[torch.from_numpy(has[pick])]
    scores, arrays = {}, {}
    for kind in ("sl", "ssl", "ssl-finetune", "random"):
        if kind in models:
            maps = grad_cam(models[kind].encoder, models[kind].risk_direction()[0], inputs, masks.shape[1:])
            share, chance = overlap(maps, masks)
            scores[kind] = {"overlap": share, "chance": chance}
            arrays[f"saliency_{kind}"] = maps
    show = np.linspace(0, len(pick) - 1, min(ctx.cfg.saliency_examples, len(pick))).round().astype(int)
    arrays = {k: v[show] for k, v in arrays.items()}
    arrays.update(image=crops[pick][show], mask=masks[show],
                  joint_id=joints["joint_id"].iloc[pick].to_numpy()[show].astype(str))
    return {"mask_source": "truth" if truth_dir else "measured", "models": scores}, arrays


def _truth_scores(test_pred: pd.DataFrame, truth_dir: Path) -> dict:
    """With the simulator's truth: scores against every test joint's true (uncensored) life."""
    truth = pd.read_csv(truth_dir / "joints.csv").set_index("joint_id")["cycles_to_failure"]
    out = {}
    for kind, part in test_pred.groupby("model", sort=False):
        true_log = np.log(truth.reindex(part["joint_id"]).to_numpy(float))
        ok = np.isfinite(true_log)
        metrics = lifetime_metrics(true_log[ok], np.ones(ok.sum(), bool), part["log_pred"].to_numpy()[ok],
                                   part["log_lo"].to_numpy()[ok], part["log_hi"].to_numpy()[ok])
        out[kind] = {"r2_true": metrics["r2"], "mae_true": metrics["mae"], "c_index_true": metrics["c_index"],
                     "coverage_true": metrics["coverage_failed"], "n_true": int(ok.sum())}
    return out


def _fmt(value, digits: int = 3) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def findings(metrics: dict) -> list[str]:
    """Plain-language statements, each computed from the numbers in ``metrics``."""
    out, models = [], metrics["models"]
    settings = metrics["settings"]
    if "ssl" in models and "sl" in models:
        s, b = models["ssl"], models["sl"]
        known = all(v is not None and np.isfinite(v) for v in (s["r2"], b["r2"], s["c_index"], b["c_index"]))
        r2_win, c_win = known and s["r2"] > b["r2"], known and s["c_index"] > b["c_index"]
        verdict = ("cannot be compared with SL (too few failed test joints)" if not known else
                   "beats the SL baseline in both R² and concordance" if r2_win and c_win else
                   "does not beat the SL baseline in R² or concordance" if not (r2_win or c_win) else
                   f"beats the SL baseline in {'R²' if r2_win else 'concordance'} only")
        out.append(f"With {settings['label_fraction'] * 100:g} % of the training labels ({s['n_train_labels']} "
                   f"joints), the SSL head reaches R² {_fmt(s['r2'])} and C-index {_fmt(s['c_index'])}; SL from "
                   f"scratch reaches {_fmt(b['r2'])} and {_fmt(b['c_index'])}. SSL {verdict}.")
    if "features" in models and "ssl" in models:
        f = models["features"]
        out.append(f"Measured features alone reach R² {_fmt(f['r2'])} and C-index {_fmt(f['c_index'])}; "
                   f"the SSL embedding changes R² by {_fmt((models['ssl']['r2'] or 0) - (f['r2'] or 0), 3)}.")
    if "random" in models and "ssl" in models:
        r, s = models["random"], models["ssl"]
        delta = (s["r2"] or 0) - (r["r2"] or 0)
        out.append(f"The control with the same backbone at random weights reaches R² {_fmt(r['r2'])} and C-index "
                   f"{_fmt(r['c_index'])}: pretraining itself changes R² by {delta:+.3f}.")
    curve = pd.DataFrame(metrics.get("label_efficiency", []))
    if len(curve) and {"ssl", "sl"} <= set(curve["model"]):
        means = curve.pivot_table(index="fraction", columns="model", values="r2", aggfunc="mean")
        gap = (means["ssl"] - means["sl"]).dropna()
        if len(gap) >= 2:
            trend = "narrows" if abs(gap.iloc[-1]) < abs(gap.iloc[0]) else "does not narrow"
            parts = ", ".join(f"{g:+.3f} at {f * 100:g} %" for f, g in gap.items())
            out.append(f"Mean R² gap SSL − SL over seeds: {parts}; the gap {trend} as labels grow.")
        if "random" in means:
            pre = (means["ssl"] - means["random"]).dropna()
            parts = ", ".join(f"{g:+.3f} at {f * 100:g} %" for f, g in pre.items())
            out.append(f"Mean R² gap SSL − random-weights control: {parts}.")
    for kind in ("ssl", "sl", "features"):
        m = models.get(kind)
        if m and m.get("coverage_km") is not None and np.isfinite(m["coverage_km"]):
            line = (f"{m['label']}: intervals at a nominal {m['interval_level'] * 100:g} % cover "
                    f"{_fmt(m['coverage_km'] * 100, 1)} % of test joints (Kaplan-Meier estimate, censored joints "
                    f"counted) and {_fmt(m['coverage_failed'] * 100, 1)} % of those with an observed failure")
            if m.get("coverage_true") is not None:
                line += f"; against the simulator's true lives {_fmt(m['coverage_true'] * 100, 1)} %"
            out.append(line + ".")
            break
    robust = pd.DataFrame(metrics.get("robustness", []))
    if len(robust):
        worst = robust.groupby("model")["relative_degradation"].mean()
        parts = ", ".join(f"{models[k]['label']} {v * 100:+.1f} %" for k, v in worst.items() if k in models)
        out.append(f"Mean MAE change under the image distortions (lower is better): {parts}.")
    sal = metrics.get("saliency", {}).get("models", {})
    if sal:
        parts = ", ".join(f"{models[k]['label']} {v['overlap'] * 100:.0f} %" for k, v in sal.items() if k in models)
        chance = next(iter(sal.values()))["chance"]
        out.append(f"Share of Grad-CAM mass on voids ({metrics['saliency']['mask_source']} masks): {parts} "
                   f"(chance {chance * 100:.0f} %).")
    return out


def _notes(cfg: EvaluationConfig, split_by: str, pretraining: dict) -> list[str]:
    seen = pretraining.get("sees_test_images")
    return [
        f"Test joints are whole held-out {split_by}s ({cfg.test_share * 100:g} %, split seed {cfg.split_seed}); "
        "no joint is in training and test.",
        "Pretraining saw the test joints' images (never their labels)." if seen else
        ("Pretraining did not see the test joints' images." if seen is False else
         "Whether the supplied encoder's pretraining saw the test images is not known."),
        "Hyper-parameters (the head's L2 strength) are chosen by grouped cross-validation inside the training "
        "joints; the test joints are only scored.",
        "R², MAE, median error and within-2x use test joints with an observed failure (their lives are shorter "
        "than average); the C-index and the Kaplan-Meier coverage count censored joints correctly.",
        "Label fractions subsample the training joints' labels; the rest of the training joints stay in as "
        "unlabelled (they feed pretraining and the PCA of the embedding, never the head).",
        "Robustness: test X-ray crops are distorted, re-measured and re-embedded; models are not refitted.",
        "Saliency: Grad-CAM of the predicted risk (shorter life) at the encoder's last convolutional stage.",
    ]


def evaluate(dataset_dir: Path, out_dir: Path, cfg: EvaluationConfig = EvaluationConfig(), *,
             encoder_dir: Path | None = None, truth_dir: Path | None = None, overwrite: bool = False,
             log=None, progress=None) -> EvaluationResult:
    """Run the whole comparison on ``dataset_dir`` and write ``out_dir`` (metrics.json, comparison.html, ...)."""
    cfg.validate()
    out_dir = Path(out_dir)
    check_writable_target(out_dir, overwrite, marker="metrics.json")
    out_dir.parent.mkdir(parents=True, exist_ok=True)  # the evaluation's encoder is trained beside it
    log = log or (lambda _msg: None)
    timings, clock = {}, time.perf_counter()
    ds = load_dataset(dataset_dir)
    joints = joint_table(ds, progress, cfg.lifetime.input_max_cycles)
    test_mask, split_by = split_joints(joints, cfg.test_share, cfg.split_seed)
    if int((joints["labelled"] & test_mask).sum()) < 5:
        raise MawisError(f"{dataset_dir}: fewer than 5 labelled joints on the held-out {split_by}s; "
                         "evaluation needs more cycled boards")
    check_labels(subsample_labels(joints[~test_mask], cfg.label_fraction, cfg.seeds[0]))  # before pretraining
    train_ids = joints.loc[~test_mask, "joint_id"].tolist()
    try:  # an interrupted or failed evaluation is not resumed: it leaves no work folders
        encoder, pretraining = _pretrained_encoder(ds, out_dir, cfg, train_ids, encoder_dir,
                                                   _epoch_logger(log), progress)
        timings["pretraining"] = time.perf_counter() - clock
        spec = input_spec(encoder.meta)
        data = joint_inputs(ds, joints, spec)
        ctx = _Context(ds, cfg, data.subset(~test_mask), data.subset(test_mask), encoder, spec, progress, log)
        parts = _run_stages(ctx, Path(truth_dir) if truth_dir else None, timings)
        split = {"by": split_by, "test_mask": test_mask, "joints": joints}
        metrics = _document(ctx, truth_dir, split, pretraining, parts, timings)
        _write(out_dir, metrics, parts, overwrite)
    except BaseException:
        _remove_encoder_work(out_dir)
        raise
    if encoder_dir is None:  # the evaluation's own encoder is kept beside the report
        _keep_encoder(_encoder_work_dir(out_dir), out_dir / "encoder")
    return EvaluationResult(out_dir, metrics)


def _run_stages(ctx: _Context, truth_dir: Path | None, timings: dict) -> dict:
    clock = time.perf_counter()
    models, scores, predictions = _headline(ctx)
    if truth_dir is not None:
        for kind, extra in _truth_scores(predictions, truth_dir).items():
            scores[kind].update(extra)
    timings["headline models"] = time.perf_counter() - clock
    parts = {"models": models, "scores": scores, "predictions": predictions}
    xrays = _test_xrays(ctx)  # crops and regions, for the distortions and the saliency maps
    stages = {"label efficiency": lambda: _label_efficiency(ctx, scores),
              "robustness": lambda: _robustness(ctx, models, scores, xrays),
              "embedding maps": lambda: _embedding_maps(ctx, models),
              "saliency": lambda: _saliency(ctx, models, truth_dir, xrays)}
    for name, stage in stages.items():
        clock = time.perf_counter()
        ctx.log(name)
        parts[name] = stage()
        timings[name] = time.perf_counter() - clock
    return parts


def _document(ctx: _Context, truth_dir, split: dict, pretraining: dict, parts: dict, timings: dict) -> dict:
    cfg, joints, test_mask = ctx.cfg, split["joints"], split["test_mask"]
    test_l = ctx.test.joints[ctx.test.joints["labelled"]]
    maps, probes = parts["embedding maps"]
    metrics = {
        "format": "mawis-evaluation", "version": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": {"path": str(ctx.ds.root.absolute()), "fingerprint": ctx.ds.info.get("batch_fingerprint"),
                    "joints": len(joints), "labelled_joints": int(joints["labelled"].sum()),
                    "censored_share": float(1 - joints.loc[joints["labelled"], "event"].mean())},
        "split": {"by": split["by"], "test_share": cfg.test_share, "seed": cfg.split_seed,
                  "train_joints": int((~test_mask).sum()), "test_joints": int(test_mask.sum()),
                  "test_labelled": len(test_l), "test_failed": int(test_l["event"].sum()),
                  "test_censored": int((~test_l["event"]).sum())},
        "settings": {"label_fraction": cfg.label_fraction, "interval_level": cfg.lifetime.interval_level,
                     "fractions": list(cfg.fractions), "seeds": list(cfg.seeds),
                     "sl_steps": cfg.lifetime.end_to_end.steps,
                     "embedding_components": cfg.lifetime.embedding_components,
                     "truth": str(truth_dir) if truth_dir else None},
        "pretraining": pretraining,
        "models": parts["scores"],
        "label_efficiency": parts["label efficiency"],
        "robustness": parts["robustness"],
        "embedding_probes": probes,
        "saliency": parts["saliency"][0],
        "timings": timings,
        "config": cfg.to_dict(),
    }
    metrics["findings"] = findings(metrics)
    metrics["notes"] = _notes(cfg, split["by"], pretraining)
    return metrics


def _write(out_dir: Path, metrics: dict, parts: dict, overwrite: bool) -> None:
    from ..reports.comparison import render_comparison

    maps, _ = parts["embedding maps"]
    saliency_arrays = parts["saliency"][1]
    with atomic_dir(out_dir, overwrite=overwrite, marker="metrics.json") as tmp:
        (tmp / "metrics.json").write_text(dumps(metrics))
        parts["predictions"].to_parquet(tmp / "test_predictions.parquet", index=False)
        if len(maps):
            maps.to_parquet(tmp / "embedding_maps.parquet", index=False)
        if saliency_arrays:
            np.savez_compressed(tmp / "saliency.npz", **saliency_arrays)
        render_comparison(tmp)


def _encoder_work_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.encoder"


def _remove_encoder_work(out: Path) -> None:
    work = _encoder_work_dir(out)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(work_dir_for(work), ignore_errors=True)


def _keep_encoder(work: Path, target: Path) -> None:
    if work.is_dir():
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)


def _epoch_logger(log):
    def on_epoch(record: dict) -> None:
        if "loss" in record:
            probe = f", probe R² {record['ridge_r2']:.3f}" if "ridge_r2" in record else ""
            log(f"pretraining epoch {record['epoch']}: loss {record['loss']:.4f}{probe}")
    return on_epoch
