"""Has the data drifted? A batch against the training data of a lifetime model.

Each model carries a *reference*: a sample of its training joints (whole boards) with
their raw encoder embeddings and measured X-ray features (``reference.parquet``). A new
batch is profiled the same way and compared on two views:

* the embedding, reduced to its leading PCA directions of the reference and whitened;
* the void features (log scales for sizes and counts), standardised on the reference.

Each view gets a kernel MMD two-sample test whose null distribution comes from permuting
whole *boards* between reference and batch. Joints of one board share package, paste lot
and process, so permuting joints would call two batches different whenever they carry
different boards; permuting boards makes the test exact under "the boards are drawn
from the same population". A batch is flagged when a view's p-value is below
alpha / (number of views) (Bonferroni). A domain classifier's out-of-fold ROC AUC
(0.5: indistinguishable, 1: separable) is reported as a readable effect size, and every
joint gets an out-of-distribution score: its mean squared standardised coordinate,
compared with the reference's own quantile.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..lifetime.table import LOG_FEATURES, MICROGRAPH_FEATURES, XRAY_FEATURES

EMBEDDING_PREFIX = "emb_"


@dataclass(frozen=True)
class DriftConfig:
    alpha: float = 0.01            # false-alarm rate of the whole check (both views together)
    permutations: int = 500
    components: int = 8            # leading PCA directions of the embedding
    max_joints: int = 2000         # per side; larger sides are sampled by whole boards
    ood_quantile: float = 0.99     # a joint scoring above this reference quantile is out of distribution
    top_joints: int = 10           # most out-of-distribution joints named in drift.json
    seed: int = 0

    def validate(self) -> None:
        for name in ("alpha", "ood_quantile"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), (int, float)):
                raise UsageError(f"drift {name} must be a number (got {getattr(self, name)!r})")
        for name in ("permutations", "components", "max_joints", "top_joints", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name in ("seed", "top_joints") else 2):
                raise UsageError(f"drift {name} must be an integer >= {0 if name in ('seed', 'top_joints') else 2} "
                                 f"(got {value!r})")
        if not 0.0 < self.alpha < 0.5:
            raise UsageError(f"drift alpha must be in (0, 0.5) (got {self.alpha})")
        if not 0.5 <= self.ood_quantile < 1.0:
            raise UsageError(f"drift ood_quantile must be in [0.5, 1) (got {self.ood_quantile})")
        needed = math.floor(2 / self.alpha + 1e-9)  # two views share alpha: fewer and it could never flag
        if 1.0 / (self.permutations + 1) >= self.alpha / 2:
            raise UsageError(f"drift permutations must be at least {needed} at alpha {self.alpha:g} "
                             f"(got {self.permutations})")

    def to_dict(self) -> dict:
        return asdict(self)


def drift_config_from_dict(data: dict, source: str = "settings") -> DriftConfig:
    if not isinstance(data, dict):
        raise UsageError(f"{source}: [drift] must be a table of settings")
    known = {f.name for f in fields(DriftConfig)}
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"{source}: unknown [drift] setting(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(known))}")
    cfg = DriftConfig(**data)
    cfg.validate()
    return cfg


# --- profiles: what is compared -------------------------------------------------------------------

def joint_profile(joints: pd.DataFrame, embeddings: np.ndarray | None, has_xray: np.ndarray) -> pd.DataFrame:
    """One row per joint: ids, X-ray features and (if the model has an encoder) the raw embedding."""
    out = joints[["joint_id", "board_id", "component"]].reset_index(drop=True).astype(str)
    out["has_xray"] = np.asarray(has_xray, bool)
    for name in (*XRAY_FEATURES, *MICROGRAPH_FEATURES):
        out[name] = joints[name].to_numpy(float) if name in joints else np.nan
    if embeddings is not None:
        emb = pd.DataFrame(np.asarray(embeddings, np.float32),
                           columns=[f"{EMBEDDING_PREFIX}{i:03d}" for i in range(embeddings.shape[1])])
        out = pd.concat([out, emb], axis=1)
    return out


def sample_boards(profile: pd.DataFrame, max_joints: int, seed: int) -> pd.DataFrame:
    """At most about ``max_joints`` joints, taken as whole boards in a seeded random order."""
    if len(profile) <= max_joints:
        return profile
    boards = profile["board_id"].unique()
    order = np.random.default_rng(seed).permutation(len(boards))
    sizes = profile.groupby("board_id").size().reindex(boards[order]).to_numpy()
    keep = boards[order][: max(1, int(np.searchsorted(np.cumsum(sizes), max_joints, side="right")))]
    return profile[profile["board_id"].isin(set(keep))].reset_index(drop=True)


def embedding_columns(profile: pd.DataFrame) -> list[str]:
    return [c for c in profile.columns if c.startswith(EMBEDDING_PREFIX)]


@dataclass
class DriftSpace:
    """Standardised coordinates fitted on the reference (joints with an X-ray only)."""
    emb_mean: np.ndarray | None
    emb_components: np.ndarray | None
    emb_scale: np.ndarray | None
    feat_median: np.ndarray
    feat_mean: np.ndarray
    feat_scale: np.ndarray

    @staticmethod
    def fit(reference: pd.DataFrame, components: int) -> "DriftSpace":
        ref = reference[reference["has_xray"]]
        cols = embedding_columns(ref)
        mean = comps = scale = None
        if cols:
            e = ref[cols].to_numpy(np.float64)
            mean = e.mean(axis=0)
            _, singular, vt = np.linalg.svd(e - mean, full_matrices=False)
            usable = int((singular > 1e-6 * max(float(singular[0]), 1e-30)).sum())
            comps = vt[: max(1, min(components, usable))]
            scale = np.maximum(((e - mean) @ comps.T).std(axis=0), 1e-9)
        raw = _raw_features(ref)
        with np.errstate(all="ignore"):
            median = np.nan_to_num(np.nanmedian(raw, axis=0)) if len(raw) else np.zeros(raw.shape[1])
        filled = np.where(np.isnan(raw), median, raw)
        # a feature the reference never measured gets scale 1 around 0: it then adds nothing
        return DriftSpace(mean, comps, scale, median, filled.mean(axis=0) if len(raw) else median,
                          np.maximum(filled.std(axis=0), 1e-9) if len(raw) else np.ones_like(median))

    def embedding(self, profile: pd.DataFrame) -> np.ndarray | None:
        cols = embedding_columns(profile)
        if self.emb_mean is None or not cols:
            return None
        return ((profile[cols].to_numpy(np.float64) - self.emb_mean) @ self.emb_components.T) / self.emb_scale

    def features(self, profile: pd.DataFrame) -> np.ndarray:
        raw = _raw_features(profile)
        return (np.where(np.isnan(raw), self.feat_median, raw) - self.feat_mean) / self.feat_scale

    def ood_scores(self, profile: pd.DataFrame) -> np.ndarray:
        """Mean squared standardised coordinate per joint (about 1 for a typical reference joint);
        NaN for joints without an X-ray (nothing to compare)."""
        parts = [self.features(profile)]
        emb = self.embedding(profile)
        if emb is not None:
            parts.append(emb)
        z = np.concatenate(parts, axis=1)
        score = (z ** 2).mean(axis=1)
        return np.where(profile["has_xray"].to_numpy(bool), score, np.nan)


def _raw_features(profile: pd.DataFrame) -> np.ndarray:
    cols = []
    for name in XRAY_FEATURES:
        values = profile[name].to_numpy(float) if name in profile else np.full(len(profile), np.nan)
        cols.append(np.log1p(np.clip(values, 0, None)) if name in LOG_FEATURES else values)
    return np.stack(cols, axis=1)


# --- the statistics -------------------------------------------------------------------------------

def mmd_board_permutation_test(ref: np.ndarray, new: np.ndarray, ref_boards: np.ndarray, new_boards: np.ndarray,
                               permutations: int, rng: np.random.Generator) -> tuple[float, float]:
    """Squared MMD (Gaussian kernel, median-distance bandwidth) and its board-permutation p-value."""
    pooled = np.vstack([ref, new]).astype(np.float64)
    boards = np.concatenate([np.char.add("r:", ref_boards.astype(str)), np.char.add("n:", new_boards.astype(str))])
    codes, uniques = pd.factorize(boards)
    sq = np.maximum((pooled ** 2).sum(1)[:, None] + (pooled ** 2).sum(1)[None, :] - 2.0 * pooled @ pooled.T, 0.0)
    off = sq[np.triu_indices(len(pooled), k=1)]
    bandwidth = float(np.median(off[off > 0])) if np.any(off > 0) else 1.0
    kernel = np.exp(-sq / bandwidth).astype(np.float32)
    new_groups = np.unique(codes[len(ref):])
    assignments = [new_groups] + [rng.choice(len(uniques), size=len(new_groups), replace=False)
                                  for _ in range(permutations)]
    stats = np.concatenate([_mmd_stats(kernel, codes, assignments[i:i + 100]) for i in range(0, len(assignments), 100)])
    observed = float(stats[0])
    p = (1.0 + float(np.sum(stats[1:] >= observed - 1e-12))) / (1.0 + permutations)
    return observed, p


def _mmd_stats(kernel: np.ndarray, codes: np.ndarray, assignments: list[np.ndarray]) -> np.ndarray:
    """MMD² for each assignment of boards to the 'new' side: w' K w with +1/m and -1/(n-m) weights."""
    weights = np.empty((len(codes), len(assignments)), dtype=np.float32)
    for j, groups in enumerate(assignments):
        member = np.isin(codes, groups)
        m = member.sum()
        weights[:, j] = np.where(member, 1.0 / m, -1.0 / (len(codes) - m))
    return np.einsum("ij,ij->j", weights, kernel @ weights).astype(np.float64)


def domain_classifier_auc(ref: np.ndarray, new: np.ndarray, ref_boards: np.ndarray, new_boards: np.ndarray,
                          seed: int) -> float:
    """Out-of-fold ROC AUC of a logistic regression telling batch joints from reference joints;
    folds keep boards together (joints when the batch has a single board)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    x = np.vstack([ref, new])
    y = np.r_[np.zeros(len(ref)), np.ones(len(new))]
    groups = np.r_[np.char.add("r:", ref_boards.astype(str)), np.char.add("n:", new_boards.astype(str))]
    folds = min(5, len(np.unique(new_boards)), len(np.unique(ref_boards)))
    splitter = (StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(x, y, groups) if folds >= 2
                else StratifiedKFold(min(5, len(new), len(ref)), shuffle=True, random_state=seed).split(x, y))
    scores = np.zeros(len(y))
    for train, test in splitter:
        if len(np.unique(y[train])) < 2:
            continue
        clf = LogisticRegression(C=1.0, max_iter=500, class_weight="balanced").fit(x[train], y[train])
        scores[test] = clf.decision_function(x[test])
    return float(roc_auc_score(y, scores))


# --- the check ------------------------------------------------------------------------------------

def feature_summary(reference: pd.DataFrame, batch: pd.DataFrame) -> list[dict]:
    """Per void/crack feature: reference vs batch quantiles and the KS distance (effect sizes)."""
    from scipy.stats import ks_2samp

    rows = []
    for name in (*XRAY_FEATURES, *MICROGRAPH_FEATURES):
        a = reference[name].to_numpy(float) if name in reference else np.array([])
        b = batch[name].to_numpy(float) if name in batch else np.array([])
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if len(a) < 5 or len(b) < 5:
            continue
        rows.append({"feature": name, "modality": "xray" if name in XRAY_FEATURES else "micrograph",
                     "reference_n": int(len(a)), "batch_n": int(len(b)),
                     "reference_median": float(np.median(a)), "batch_median": float(np.median(b)),
                     "reference_p10": float(np.quantile(a, 0.1)), "reference_p90": float(np.quantile(a, 0.9)),
                     "batch_p10": float(np.quantile(b, 0.1)), "batch_p90": float(np.quantile(b, 0.9)),
                     "ks_distance": float(ks_2samp(a, b).statistic)})
    return rows


MIN_REFERENCE_JOINTS, MIN_REFERENCE_BOARDS = 20, 4


def reference_problem(reference: pd.DataFrame | None) -> str | None:
    """Why a model's reference cannot support drift and OOD checks, or None if it can."""
    if reference is None:
        return "the model has no drift reference (trained by an older mawis)"
    usable = reference[reference["has_xray"]] if "has_xray" in reference else reference.iloc[:0]
    if len(usable) < MIN_REFERENCE_JOINTS or usable["board_id"].nunique() < MIN_REFERENCE_BOARDS:
        return (f"the model's drift reference holds {len(usable)} joints with an as-reflowed X-ray on "
                f"{usable['board_id'].nunique() if len(usable) else 0} boards; drift and out-of-distribution "
                f"checks need at least {MIN_REFERENCE_JOINTS} joints on {MIN_REFERENCE_BOARDS} boards")
    return None


def _require_reference(reference: pd.DataFrame) -> None:
    problem = reference_problem(reference)
    if problem:
        raise UsageError(f"{problem}; train the model on a data set with X-rays")


@dataclass
class OodScorer:
    """Per-joint OOD scores in a space fitted on most reference boards; the threshold is the
    quantile of the *other* boards' scores, so it holds for joints the fit has not seen."""
    space: DriftSpace
    threshold: float

    @staticmethod
    def fit(reference: pd.DataFrame, cfg: DriftConfig) -> "OodScorer":
        _require_reference(reference)
        ref = sample_boards(reference[reference["has_xray"]].reset_index(drop=True), cfg.max_joints, cfg.seed)
        boards = ref["board_id"].unique()
        held = set(np.random.default_rng(cfg.seed).permutation(boards)[: max(1, len(boards) // 4)])
        calibration = ref["board_id"].isin(held).to_numpy()
        space = DriftSpace.fit(ref[~calibration], cfg.components)
        return OodScorer(space, float(np.quantile(space.ood_scores(ref[calibration]), cfg.ood_quantile)))

    def scores(self, profile: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        scores = self.space.ood_scores(profile)
        return scores, np.nan_to_num(scores, nan=-np.inf) > self.threshold


def check_drift(reference: pd.DataFrame, batch: pd.DataFrame, cfg: DriftConfig = DriftConfig(),
                scorer: OodScorer | None = None) -> dict:
    """The drift verdict of ``batch`` (a joint profile) against ``reference``: tests, effect sizes,
    per-feature summary and the most out-of-distribution joints (``scorer``: one already fitted
    on this reference and ``cfg``, so a caller that also flags joints fits it once).

    The tests' coordinates are fitted on reference and batch together: fitted on the reference
    alone, its joints would sit closer to the fit than the batch's, and a batch from the same
    population would be flagged too often (more so the more embedding directions are kept)."""
    cfg.validate()
    _require_reference(reference)
    ref = sample_boards(reference[reference["has_xray"]].reset_index(drop=True), cfg.max_joints, cfg.seed)
    usable = batch[batch["has_xray"]].reset_index(drop=True)
    if len(usable) < 2:
        raise UsageError(f"only {len(usable)} joints of the batch have an as-reflowed X-ray; drift needs at least 2")
    new = sample_boards(usable, cfg.max_joints, cfg.seed + 1)
    space = DriftSpace.fit(pd.concat([ref, new], ignore_index=True), cfg.components)
    views = {"features": (space.features(ref), space.features(new))}
    emb_ref, emb_new = space.embedding(ref), space.embedding(new)
    if emb_ref is not None and emb_new is not None:
        views = {"embedding": (emb_ref, emb_new), **views}
    rb, nb = ref["board_id"].to_numpy(str), new["board_id"].to_numpy(str)
    rng = np.random.default_rng(cfg.seed)
    tests = {}
    for name, (a, b) in views.items():
        mmd2, p = mmd_board_permutation_test(a, b, rb, nb, cfg.permutations, rng)
        tests[name] = {"mmd2": mmd2, "p_value": p}
    threshold = cfg.alpha / len(tests)
    auc = domain_classifier_auc(np.concatenate([v[0] for v in views.values()], axis=1),
                                np.concatenate([v[1] for v in views.values()], axis=1), rb, nb, cfg.seed)
    smallest = max(1.0 / (1.0 + cfg.permutations),
                   1.0 / math.comb(len(np.unique(rb)) + len(np.unique(nb)), len(np.unique(nb))))
    testable = smallest < threshold
    p_min = min(t["p_value"] for t in tests.values())
    drift = testable and p_min < threshold
    scorer = scorer or OodScorer.fit(reference, cfg)
    scores, flags = scorer.scores(batch)
    order = np.argsort(-np.nan_to_num(scores, nan=-np.inf))[: cfg.top_joints]
    return {
        "drift": bool(drift), "testable": bool(testable), "alpha": cfg.alpha,
        "p_value": float(min(1.0, p_min * len(tests))), "tests": tests, "per_test_threshold": threshold,
        "domain_auc": auc, "smallest_possible_p": smallest,
        "reference": {"joints": int(len(ref)), "boards": int(ref["board_id"].nunique())},
        "batch": {"joints": int(len(batch)), "with_xray": int(len(usable)), "compared_joints": int(len(new)),
                  "boards": int(new["board_id"].nunique())},
        "features": feature_summary(ref, usable),
        "ood": {"quantile": cfg.ood_quantile, "threshold": scorer.threshold, "joints": int(flags.sum()),
                "share": float(flags[np.isfinite(scores)].mean()) if np.isfinite(scores).any() else math.nan},
        "most_out_of_distribution": [{"joint_id": str(batch["joint_id"].iloc[i]),
                                      "board_id": str(batch["board_id"].iloc[i]), "score": float(scores[i])}
                                     for i in order if np.isfinite(scores[i])],
        "summary": _summary(drift, testable, tests, auc, cfg.alpha),
        "settings": cfg.to_dict(),
    }


def ood_flags(reference: pd.DataFrame, batch: pd.DataFrame,
              cfg: DriftConfig = DriftConfig()) -> tuple[np.ndarray, np.ndarray, float]:
    """Per joint of ``batch``: OOD score, flag, and the reference threshold used."""
    scorer = OodScorer.fit(reference, cfg)
    scores, flags = scorer.scores(batch)
    return scores, flags, scorer.threshold


def _summary(drift: bool, testable: bool, tests: dict, auc: float, alpha: float) -> str:
    parts = ", ".join(f"{name} p = {t['p_value']:.3g}" for name, t in tests.items())
    if not testable:
        verdict = ("CANNOT TELL: the batch has too few boards for a permutation test at this alpha "
                   "(check a larger batch)")
    elif drift:
        verdict = "DRIFT: the batch does not look like the training data"
    else:
        verdict = "no drift detected: the batch looks like the training data"
    return f"{verdict} ({parts}; flagged below {alpha:g} overall; domain classifier AUC {auc:.2f})"


# --- the reference a model carries ----------------------------------------------------------------

REFERENCE_FILE = "reference.parquet"


def model_profile(model, data, device: str = "cpu") -> pd.DataFrame:
    """The joint profile of ``data`` (a lifetime JointData) as ``model`` sees it."""
    embeddings = model.embeddings(data, device) if model.encoder is not None else None
    return joint_profile(data.joints, embeddings, comparable_joints(data, embeddings is not None))


def comparable_joints(data, with_embedding: bool) -> np.ndarray:
    """Joints with an as-reflowed X-ray (void features) and, if the model embeds, its input image."""
    usable = data.joints["xray_image_id"].notna().to_numpy()
    return usable & np.asarray(data.has_image, bool) if with_embedding else usable


def reference_bytes(profile: pd.DataFrame, cfg: DriftConfig = DriftConfig()) -> bytes:
    """Parquet bytes of the reference sample (whole boards, at most ``cfg.max_joints`` joints)."""
    sample = sample_boards(profile[profile["has_xray"]].reset_index(drop=True), cfg.max_joints, cfg.seed)
    buffer = io.BytesIO()
    sample.to_parquet(buffer, index=False)
    return buffer.getvalue()


def load_reference(model_dir: Path, meta: dict) -> pd.DataFrame | None:
    """The model's reference after its hash check; None for a model without one."""
    from ..lifetime.io import read_model_file

    data = read_model_file(model_dir, meta, REFERENCE_FILE)
    if data is None:
        return None
    try:
        return pd.read_parquet(io.BytesIO(data))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{Path(model_dir) / REFERENCE_FILE}: unreadable ({type(exc).__name__}); train again") from None
