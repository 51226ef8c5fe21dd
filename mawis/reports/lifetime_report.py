"""One self-contained HTML lifetime report for a predicted inspection batch, for quality engineers.

Input is the folder that ``mawis predict`` writes: ``predictions.parquet`` (one row per
joint) and ``prediction.json`` (batch, settings, Weibull summary, gallery, model record,
drift check). The page answers, without any code: which joints and boards will not
reach the required life, how sure the model is, what the batch's life distribution
looks like, and what the riskiest joints look like on the X-ray.

A joint whose prediction the model cannot vouch for (an input image that could not be
measured, no usable input image, a package the model was not trained on, or a joint unlike
the training data) has the risk class ``cannot tell``: it has its own tile, colour, badge
and column everywhere, is never counted as low (nor elevated or high) risk, and the summary
names how many there are and why before anything else. The Weibull numbers say how many
joints they rest on. A prediction written before this class existed (format 1) is read with
a warning: its OOD joints are shown as ``cannot tell``, its unmeasurable joints cannot be
recognised.

Everything is inline (styles, base64 PNG figures, one small sorting script), so the
page opens offline, prints to PDF and is safe to mail. Optional parts that are missing
(Weibull fit, drift check, gallery images) give a sentence, never an error; a missing
or foreign ``predictions.parquet`` or ``prediction.json`` is a one-line ``MawisError``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..jsonio import is_missing
from ..atomic import atomic_write_bytes
from ..errors import MawisError
from .html import (BASE_CSS, DASH, Html, count, created, document, esc, figure, kv_table, missing, num, pct,
                   load_report_json, png_data_uri, seconds, table, to_float, value)

FORMAT = "mawis-prediction"
FORMAT_VERSION = 2          # 2: the "cannot tell" risk class, the reason and measurable columns, weibull_basis
READ_VERSIONS = (1, 2)      # 1: written before mawis set apart joints it cannot tell (read with a warning)
META = "prediction.json"
PREDICTIONS = "predictions.parquet"
FULL_TABLE = "predictions.csv"
REPORT = "lifetime_report.html"
HINT = "run `mawis predict` on the batch again"

MAX_TABLE_ROWS = 200       # the risk table of a big batch shows the riskiest joints only
MAX_GROUP_ROWS = 100       # boards / components listed in the breakdown tables
MAX_GALLERY = 30           # gallery cards
MAX_IMAGE_BYTES = 1_500_000  # one gallery PNG; bigger ones would make the page heavy to mail
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

REQUIRED_COLUMNS = ("joint_id", "board_id", "component", "predicted_cycles", "lower_cycles", "upper_cycles",
                    "risk_class", "verdict")
REQUIRED_V2 = ("reason",)
NUMERIC_COLUMNS = ("predicted_cycles", "lower_cycles", "upper_cycles", "void_fraction", "largest_void_fraction",
                   "edge_void_fraction", "void_count", "crack_fraction", "crack_length_um", "ood_score")

CANNOT = "cannot tell"
RISKS = ("high", "elevated", "low")              # the classes of a trustworthy prediction
CLASSES = ("high", "elevated", CANNOT, "low")    # every class, in order of attention (the risk column sorts so)
CLASS_CSS = {"high": "high", "elevated": "elevated", "low": "low", CANNOT: "cannot"}
RISK_COLOURS = {"high": "#c62828", "elevated": "#e08a00", "low": "#2e7d32", CANNOT: "#455a64"}
OTHER_COLOUR = "#888888"
# how predict words each cause of "cannot tell" in the reason column (a joint may have several, "; "-joined)
CAUSES = (("unmeasurable", "could not be measured"), ("no_input_image", "no usable"),
          ("no_model_input", "which the model needs"), ("new_package", "not in the model's training data"),
          ("ood", "out of distribution"))
CAUSE_WORDS = {"unmeasurable": ("could not be measured", "could not be measured"),
               "no_input_image": ("has no usable input image", "have no usable input image"),
               "no_model_input": ("lacks the image the model reads", "lack the image the model reads"),
               "new_package": ("is of a package the model was not trained on",
                               "are of a package the model was not trained on"),
               "ood": ("is out of distribution (unlike the training data)",
                       "are out of distribution (unlike the training data)")}
VERDICT_ORDER = {"fail": 0, "unchecked": 1, "pass": 2}

SECTIONS = [
    ("summary", "Summary"),
    ("trust", "How far to trust these numbers"),
    ("risk", "Joints by risk"),
    ("distribution", "Life distribution of the batch"),
    ("breakdown", "Boards and components"),
    ("gallery", "Riskiest joints on the images"),
    ("model", "Model card"),
]

# plain-language meaning of the accuracy metrics a model record may carry
METRIC_WORDS = {
    "c_index": ("C-index", "how often the model puts two joints' lives in the right order (0.5 = chance, 1 = always)"),
    "r2": ("R² of ln(cycles)", "share of the life-to-life variation the model explains (1 = all)"),
    "mae": ("Mean abs. error, ln(cycles)", "typical error on a log scale: 0.1 means about 10 % off"),
    "median_ae": ("Median abs. error, ln(cycles)", "half the joints are predicted closer than this (0.1 ≈ 10 %)"),
    "within_2x": ("Within a factor 2", "share of failed joints whose prediction is within ×2 of the observed life"),
    "coverage": ("Interval coverage", "share of actual lives inside the interval; should be near the level"),
    "coverage_km": ("Interval coverage (Kaplan–Meier)", "share of actual lives inside the interval, counting "
                    "joints still running correctly; should be near the level"),
    "coverage_failed": ("Interval coverage, failed joints", "share of failed joints whose life is inside the "
                        "interval (biased toward short lives)"),
    "interval_width_factor": ("Interval width (×)", "median ratio of upper to lower value of the interval"),
    "n": ("Joints evaluated", ""),
    "n_failed": ("of which failed in the test", ""),
}
PERCENT_METRICS = {"within_2x", "coverage", "coverage_km", "coverage_failed"}

CSS = BASE_CSS + """
body { max-width: 1240px; }
.sub { color: #555; font-size: 0.9em; }
.lead { font-size: 1.08em; max-width: 60em; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(8.5em, 1fr)); gap: 0.7em; margin: 1.2em 0; }
.kpi { border: 1px solid #ddd; border-top: 5px solid #1f5fa8; border-radius: 4px; padding: 0.5em 0.8em; }
.kpi .v { font-size: 1.9em; font-weight: bold; line-height: 1.2; font-variant-numeric: tabular-nums; }
.kpi .l { color: #444; font-size: 0.88em; }
.kpi .s { color: #666; font-size: 0.8em; }
.kpi.high { border-top-color: #c62828; } .kpi.high .v { color: #c62828; }
.kpi.elevated { border-top-color: #e08a00; } .kpi.elevated .v { color: #b06d00; }
.kpi.low { border-top-color: #2e7d32; } .kpi.low .v { color: #2e7d32; }
.kpi.warn { border-top-color: #8e44ad; }
.kpi.cannot { border-top-color: #455a64; background: #eceff1; } .kpi.cannot .v { color: #263238; }
.kpi.cannot.most { grid-column: span 2; border: 2px solid #263238; border-top-width: 5px; }
.kpi.muted { border-top-color: #bbb; } .kpi.muted .v { color: #777; }
.alert { background: #eceff1; border: 2px solid #263238; border-left-width: 8px; padding: 0.5em 1.2em;
         margin: 1em 0; font-size: 1.05em; }
.alert strong { font-size: 1.1em; }
.untold { background: #f5f6f7; border-left: 5px solid #455a64; padding: 0.3em 1.2em 0.5em; margin: 1em 0; }
.untold h3 { margin-top: 0.5em; }
.box { background: #f3f7fc; border-left: 5px solid #1f5fa8; padding: 0.2em 1.2em 0.8em; }
.box h2 { border: none; margin-top: 0.6em; }
.warnings { background: #fff6e0; border-left: 5px solid #e08a00; padding: 0.4em 1.2em; margin: 1em 0; }
.badge { display: inline-block; border-radius: 3px; padding: 0 0.45em; font-size: 0.85em; font-weight: bold;
         color: #fff; background: #888; white-space: nowrap; }
.badge.high { background: #c62828; } .badge.elevated { background: #e08a00; } .badge.low { background: #2e7d32; }
.badge.cannot { background: #455a64; }
.badge.fail { background: #6d1b1b; } .badge.pass { background: #fff; color: #2e7d32; border: 1px solid #2e7d32; }
.badge.unchecked { background: #fff; color: #666; border: 1px solid #999; }
.badge.ood { background: #8e44ad; }
.badge.drift { background: #c62828; } .badge.nodrift { background: #2e7d32; }
tr.high td:first-child { border-left: 4px solid #c62828; }
tr.elevated td:first-child { border-left: 4px solid #e08a00; }
tr.low td:first-child { border-left: 4px solid #2e7d32; }
tr.cannot td:first-child { border-left: 4px solid #455a64; }
td.info { color: #888; font-style: italic; }
table.sortable td.why { min-width: 15em; max-width: 24em; white-space: normal; text-align: left; color: #263238; }
td.bad { color: #c62828; font-weight: bold; }
.scroll { overflow-x: auto; }
table.sortable { font-size: 0.86em; }
table.sortable th { padding: 0; vertical-align: bottom; }
table.sortable th button { font: inherit; font-weight: bold; background: none; border: 0; cursor: pointer;
                           padding: 0.3em 0.5em; width: 100%; text-align: left; color: inherit; }
table.sortable td { padding: 0.25em 0.5em; }
table.sortable td:not(.text):not(.wrap) { white-space: nowrap; }
table.sortable th button::after { content: "\\00a0\\2195"; color: #aaa; }
table.sortable th[aria-sort="ascending"] button::after { content: "\\00a0\\25B2"; color: #1f5fa8; }
table.sortable th[aria-sort="descending"] button::after { content: "\\00a0\\25BC"; color: #1f5fa8; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 1em; }
.card { border: 1px solid #ddd; border-left: 6px solid #888; border-radius: 4px; padding: 0.5em 0.8em; }
.card.high { border-left-color: #c62828; } .card.elevated { border-left-color: #e08a00; }
.card.low { border-left-color: #2e7d32; } .card.cannot { border-left-color: #455a64; background: #f5f6f7; }
.card .why { color: #263238; }
.card h3 { margin: 0.2em 0; font-size: 1em; word-break: break-all; }
.card p { margin: 0.25em 0; font-size: 0.9em; }
.card .imgs { display: flex; gap: 0.4em; margin: 0.4em 0; }
.card figure { margin: 0; flex: 1 1 0; }
.card figure img { width: 100%; image-rendering: auto; border: 1px solid #ccc; }
ul.limits li { margin: 0.3em 0; }
@media print {
  body { max-width: none; font-size: 9.5pt; padding: 0; }
  nav { display: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2, h3 { page-break-after: avoid; break-after: avoid; }
  figure, .card, .kpi, .kpis, .box, .warnings, tr { page-break-inside: avoid; break-inside: avoid; }
  table { font-size: 8pt; }
  th, td { padding: 0.15em 0.35em; }
  table.sortable { width: 100%; font-size: 7pt; }
  table.sortable td, table.sortable th button { padding: 0.1em 0.25em; }
  table.sortable th button::after { content: none; }
  .kpis { grid-template-columns: repeat(8, 1fr); gap: 0.4em; }
  .kpi { padding: 0.3em 0.4em; }
  .kpi .v { font-size: 1.4em; }
  .scroll { overflow: visible; }
  .gallery { grid-template-columns: repeat(3, 1fr); gap: 0.5em; }
  .box { background: none; }
  figure img { max-height: 9cm; width: auto; }
  .card figure img { max-height: none; width: 100%; }
}
"""

# Sorts the rows of every table.sortable by the clicked column; cells sort by their
# data-v attribute when they have one, else by their text; empty cells stay last.
SCRIPT = """
(function () {
  "use strict";
  function key(row, col, numeric) {
    var cell = row.cells[col];
    var raw = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
    raw = raw.trim();
    if (raw === "") { return null; }
    if (!numeric) { return raw.toLowerCase(); }
    var x = parseFloat(raw);
    return isNaN(x) ? null : x;
  }
  function sortBy(table, th, col) {
    var numeric = th.getAttribute("data-type") === "num";
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, col, numeric), y = key(b, col, numeric);
      if (x === null || y === null) { return (x === null) - (y === null); }
      var order = numeric ? x - y : x.localeCompare(y, undefined, {numeric: true});
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(th.parentNode.cells, function (other) {
      other.setAttribute("aria-sort", "none");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      var button = th.querySelector("button");
      if (button) { button.addEventListener("click", function () { sortBy(table, th, col); }); }
    });
  });
})();
"""


# ---------------------------------------------------------------- entry point

def render_lifetime_report(predict_dir: Path, out: Path | None = None, shown_as: Path | None = None) -> Path:
    """Write the lifetime report of the prediction in ``predict_dir``; return its path.

    The page goes to ``predict_dir/lifetime_report.html`` unless ``out`` is given, and
    is written atomically (a reader never sees half a page). ``shown_as`` is the folder
    named in the footer when ``predict_dir`` is a temporary one.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must come before pyplot is imported

    predict_dir = Path(predict_dir)
    out = Path(out) if out is not None else predict_dir / REPORT
    meta = _load_meta(predict_dir / META)
    frame = _load_predictions(predict_dir / PREDICTIONS, meta.get("version"))
    batch = _Batch.of(predict_dir, meta, frame)
    body = [
        _header(batch),
        _trust_section(batch),
        _risk_section(batch),
        _distribution_section(batch),
        _breakdown_section(batch),
        _gallery_section(batch),
        _model_section(batch),
        f"<footer>Generated by {esc(_tool(meta))} from {esc(shown_as or predict_dir)}.</footer>",
        f"<script>{SCRIPT}</script>",
    ]
    page = document(batch.title, CSS, body, head_extra='<link rel="icon" href="data:,">\n')
    out.absolute().parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, page.encode("utf-8"))
    return out


def _tool(meta: dict) -> str:
    version = str(meta.get("mawis_version") or "").strip()
    return f"mawis {version}" if version else "mawis"


def _load_meta(path: Path) -> dict:
    return load_report_json(path, FORMAT, READ_VERSIONS, HINT, "prediction folder")


def _load_predictions(path: Path, version=FORMAT_VERSION) -> pd.DataFrame:
    if not path.is_file():
        raise MawisError(f"{path}: not found; {HINT}")
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow errors derive from these
        raise MawisError(f"{path}: not a readable Parquet table ({type(exc).__name__}); {HINT}") from None
    lacking = [c for c in REQUIRED_COLUMNS + (REQUIRED_V2 if version != 1 else ()) if c not in frame.columns]
    if lacking:
        raise MawisError(f"{path}: lacks the column(s) {', '.join(lacking)}; {HINT}")
    return _clean(frame, legacy=version == 1)


def _clean(frame: pd.DataFrame, legacy: bool = False) -> pd.DataFrame:
    """Typed columns (optional ones filled), sorted by predicted life, shortest first.

    ``legacy``: a format-1 table, written before the ``cannot tell`` class: its OOD joints become
    ``cannot tell`` here (it recorded nothing about unmeasurable images)."""
    frame = frame.copy()
    for column in ("joint_id", "board_id", "component"):
        frame[column] = [DASH if is_missing(v) else str(v) for v in frame[column]]
    for column in NUMERIC_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce") if column in frame else np.nan
        frame[column] = frame[column].astype(float).where(np.isfinite(frame[column]))
    frame["risk_class"] = [("unknown" if is_missing(v) else str(v).strip().lower()) for v in frame["risk_class"]]
    frame["verdict"] = [("unchecked" if is_missing(v) else str(v).strip().lower()) for v in frame["verdict"]]
    rules = frame["failed_rules"] if "failed_rules" in frame else pd.Series("", index=frame.index)
    frame["failed_rules"] = ["" if is_missing(v) else str(v) for v in rules]
    ood = frame["ood"] if "ood" in frame else pd.Series(False, index=frame.index)
    frame["ood"] = np.array([False if is_missing(v) else bool(v) for v in ood], dtype=bool)
    reasons = frame["reason"] if "reason" in frame else pd.Series("", index=frame.index)
    frame["reason"] = ["" if is_missing(v) else str(v).strip() for v in reasons]
    if legacy:
        scores = pd.to_numeric(frame["ood_score"], errors="coerce")
        flagged = frame["ood"].to_numpy()
        frame.loc[flagged, "reason"] = [f"out of distribution (score {x:.2f})" if np.isfinite(x) else
                                        "out of distribution" for x in scores[flagged]]
        frame.loc[flagged, "risk_class"] = CANNOT
    # a reason always wins: a joint that cannot be told is never shown in a confident class
    frame.loc[frame["reason"] != "", "risk_class"] = CANNOT
    measurable = frame["measurable"] if "measurable" in frame else pd.Series(True, index=frame.index)
    frame["measurable"] = np.array([True if is_missing(v) else bool(v) for v in measurable], dtype=bool)
    frame["risk_rank"] = [CLASSES.index(r) if r in CLASSES else len(CLASSES) for r in frame["risk_class"]]
    frame = frame.sort_values(["predicted_cycles", "lower_cycles", "joint_id"], na_position="last", kind="stable")
    return frame.reset_index(drop=True)


def _dict(item) -> dict:
    return item if isinstance(item, dict) else {}


@dataclass
class _Batch:
    """Everything the sections share: the folder, prediction.json, the joints and the settings."""

    dir: Path
    meta: dict
    frame: pd.DataFrame
    required: float | None
    level: float | None
    ood_quantile: float | None
    weibull: dict | None
    risk: dict
    fails: int
    unchecked: int
    ood: int
    boards: int
    causes: dict      # cause key (CAUSES) -> joints that cannot be told for it (a joint may have several)
    details: dict     # "could not be measured" detail (the measurement's reason) -> joints
    legacy: bool      # a format-1 prediction: unmeasurable joints were not set apart

    @classmethod
    def of(cls, directory: Path, meta: dict, frame: pd.DataFrame) -> _Batch:
        settings, model = _dict(meta.get("settings")), _dict(meta.get("model"))
        level = to_float(settings.get("interval_level"))
        level = level if level is not None else to_float(model.get("interval_level"))
        weibull = meta.get("weibull") if _is_fit(meta.get("weibull")) else None
        return cls(
            dir=directory, meta=meta, frame=frame, required=to_float(settings.get("required_cycles")),
            level=level if level is not None and 0 < level < 1 else None,
            ood_quantile=to_float(settings.get("ood_quantile")), weibull=weibull,
            risk={r: int((frame["risk_class"] == r).sum()) for r in CLASSES},
            fails=int((frame["verdict"] == "fail").sum()), unchecked=int((frame["verdict"] == "unchecked").sum()),
            ood=int(frame["ood"].sum()), boards=int(frame["board_id"].nunique()),
            **_causes(frame), legacy=meta.get("version") == 1,
        )

    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def cannot(self) -> int:
        return self.risk[CANNOT]

    @property
    def told(self) -> int:
        """Joints with a trustworthy prediction (in a confident class)."""
        return self.n - self.cannot

    @property
    def most_cannot(self) -> bool:
        """At least half the batch cannot be told: the report says so above everything else."""
        return self.cannot > 0 and 2 * self.cannot >= self.n

    @property
    def trusted(self) -> pd.DataFrame:
        return self.frame[self.frame["risk_class"] != CANNOT]

    @property
    def source(self) -> str:
        return str(_dict(self.meta.get("batch")).get("source") or DASH)

    @property
    def title(self) -> str:
        name = Path(self.source).name if self.source != DASH else ""
        return f"Lifetime report: {name}" if name else "Lifetime report"

    @property
    def level_text(self) -> str:
        return _level(self.level) if self.level is not None else "prediction"

    @property
    def required_text(self) -> str:
        if self.required is None:
            return f"the required life (not recorded in {META})"
        return f"the required life of {cycles(self.required)} cycles"


def reason_parts(reason: str) -> list[tuple[str, str]]:
    """(cause key or "", text) for each cause in a reason of the predictions table."""
    parts = []
    for part in re.split(r"; (?=could not be measured|no |package |out of distribution)", reason or ""):
        part = part.strip()
        if part:
            key = next((k for k, phrase in CAUSES if phrase in part), "")
            parts.append((key, part))
    return parts


def _causes(frame: pd.DataFrame) -> dict:
    causes, details = {k: 0 for k, _ in CAUSES}, {}
    for reason in frame.loc[frame["risk_class"] == CANNOT, "reason"]:
        keys, texts = set(), set()
        for key, text in reason_parts(reason):
            if key == "unmeasurable":
                texts.add(text.split(": ", 1)[1].strip() if ": " in text else text)
            keys.add(key)
        for key in keys - {""}:
            causes[key] += 1
        for text in texts:
            details[text] = details.get(text, 0) + 1
    return {"causes": causes, "details": details}


def _is_fit(item) -> bool:
    return isinstance(item, dict) and all(isinstance(item.get(k), dict) for k in ("shape", "characteristic_life"))


# ---------------------------------------------------------------- formats

def cycles(item) -> str:
    number = to_float(item)
    return DASH if number is None else f"{number:,.0f}"


def _level(fraction) -> str:
    number = to_float(fraction)
    return DASH if number is None else f"{100 * number:g} %"


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else DASH


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def _interval(lo, hi) -> str:
    return f"{cycles(lo)}–{cycles(hi)}" if to_float(lo) is not None or to_float(hi) is not None else DASH


def _estimate(entry) -> tuple[float | None, float | None, float | None]:
    entry = _dict(entry)
    return to_float(entry.get("value")), to_float(entry.get("lo")), to_float(entry.get("hi"))


def _badge(text: str, cls: str) -> str:
    return f'<span class="badge {esc(cls)}">{esc(text)}</span>'


def _risk_badge(risk: str) -> str:
    return _badge(risk, CLASS_CSS.get(risk, "other"))


def _section(anchor: str, body: str, cls: str = "") -> str:
    title = dict(SECTIONS)[anchor]
    extra = f' class="{cls}"' if cls else ""
    return f'<section id="{anchor}"{extra}>\n<h2>{esc(title)}</h2>\n{body}\n</section>'


def _facts(rows: list[list[str]]) -> str:
    """A two-column table of labelled facts (no header row: the labels are the row headers)."""
    lines = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in rows)
    return f'<table class="kv"><tbody>{lines}</tbody></table>'


def _p(sentence: str, cls: str = "caption") -> str:
    return f'<p class="{cls}">{esc(sentence)}</p>' if cls else f"<p>{esc(sentence)}</p>"


# ---------------------------------------------------------------- 1. header and summary

def _header(batch: _Batch) -> str:
    meta, model, info = batch.meta, _dict(batch.meta.get("model")), _dict(batch.meta.get("batch"))
    fingerprint = str(info.get("fingerprint") or DASH)
    short = fingerprint[:12] + ("…" if len(fingerprint) > 12 else "")
    lines = [
        f"<h1>{esc(batch.title)}</h1>",
        f'<p class="meta">Batch <code>{esc(batch.source)}</code> (fingerprint <code title="{esc(fingerprint)}">'
        f'{esc(short)}</code>) · predicted {esc(created(meta.get("created")))} · model '
        f'<code>{esc(model.get("id") or DASH)}</code></p>',
        "<nav>" + "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in SECTIONS[1:]) + "</nav>",
    ]
    body = [_legacy_note(batch), _alert(batch), f'<p class="lead">{esc(_summary_text(batch))}</p>', _kpis(batch),
            _untold(batch), _look_first(batch), _warnings(batch)]
    lines.append(_section("summary", "\n".join(b for b in body if b)))
    return "\n".join(lines)


def _legacy_note(batch: _Batch) -> str:
    if not batch.legacy:
        return ""
    return ('<div class="warnings"><strong>Older prediction (format 1).</strong> '
            + esc("It was written before mawis set apart the joints it cannot tell. Joints flagged out of "
                  "distribution are shown as \u201ccannot tell\u201d here, but joints whose images could not be "
                  "measured cannot be recognised in it and may appear in any risk class, and its Weibull figures "
                  f"rest on all joints. {HINT[0].upper() + HINT[1:]} for a report that sets them apart.")
            + "</div>")


def _alert(batch: _Batch) -> str:
    """A banner above everything when most joints cannot be told."""
    if not batch.most_cannot:
        return ""
    k, n = batch.cannot, batch.n
    head = (f"No joint of this batch can be told ({n:,} of {n:,})." if k == n else
            f"{'Most' if 2 * k > n else 'Half'} of this batch cannot be told: {k:,} of {n:,} joints "
            f"({_share(k, n)}).")
    rest = ("The model cannot vouch for their predicted lives (why: below), so they are in no risk class. "
            + (f"The risk counts and the B10 rest on the other {_plural(batch.told, 'joint')} only and say "
               "nothing about the batch as a whole. " if batch.told else "There are no risk counts and no B10. ")
            + "This report is no basis for releasing the batch: measure the joints again or check them by "
              "cross-section or a cycling test.")
    return f'<div class="alert" role="alert"><strong>{esc(head)}</strong> {esc(rest)}</div>'


def _cause_list(batch: _Batch) -> str:
    """'54 could not be measured and 78 are out of distribution (...)' (a joint may have several)."""
    items = [f"{c:,} {CAUSE_WORDS[key][c != 1]}" for key, c in batch.causes.items() if c]
    if not items:
        return ""
    text = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    return text + ("; some for more than one reason" if sum(batch.causes.values()) > batch.cannot else "")


def _summary_text(batch: _Batch) -> str:
    n, k, t = batch.n, batch.cannot, batch.told
    high, elevated, low = batch.risk["high"], batch.risk["elevated"], batch.risk["low"]
    parts = [f"{_plural(n, 'joint')} on {_plural(batch.boards, 'board')} were assessed."]
    if k:
        why = _cause_list(batch)
        parts.append(f"{k:,} of the {n:,} joints ({_share(k, n)}) cannot be told" + (f": {why}." if why else "."))
        parts.append(("It is in no risk class: its predicted life is shown for information only and it is "
                      "left out of the risk counts and the B10." if k == 1 else
                      "They are in no risk class: their predicted lives are shown for information only and they "
                      "are left out of the risk counts and the B10."))
    if t == 0:
        parts.append("No joint has a trustworthy prediction, so no joint is classed high, elevated or low risk.")
    else:
        lead = f"Of the {_plural(t, 'joint')} with a trustworthy prediction, " if k else ""
        first = (lambda text: lead + text) if lead else (lambda text: text[0].upper() + text[1:])
        if high:
            parts.append(first(f"{_plural(high, 'joint is', 'joints are')} at high risk ({_share(high, t)}): "
                               f"{'its' if high == 1 else 'their'} predicted life is below {batch.required_text}."))
        else:
            parts.append(first(f"{'none' if k else 'no joint'} has a predicted life below {batch.required_text}."))
        if elevated:
            more = "more " if high else ""
            parts.append(f"{_plural(elevated, more + 'joint is', more + 'joints are')} at elevated risk: the "
                         f"prediction meets the requirement, but the low end of the {batch.level_text} interval "
                         "does not.")
        if k:
            parts.append(f"{'All' if low == t and t > 1 else f'{low:,} of'} these {t:,} "
                         f"{'meets' if low == 1 else 'meet'} the requirement even at the low end of the interval.")
        else:
            parts.append(f"{_plural(low, 'joint meets', 'joints meet')} the requirement even at the low end of the "
                         "interval.")
    if batch.fails:
        parts.append(f"{_plural(batch.fails, 'joint fails', 'joints fail')} the void/crack acceptance rules.")
    else:
        parts.append("No joint fails the void/crack acceptance rules"
                     + (f" ({batch.unchecked:,} could not be checked)." if batch.unchecked else "."))
    b10 = _estimate((batch.weibull or {}).get("b10"))
    if b10[0] is not None:
        across = "Across the joints with a trustworthy prediction" if k else "Across the batch"
        parts.append(f"{across}, 10 % of the joints are predicted to fail by {cycles(b10[0])} cycles "
                     f"(B10 {_basis(batch)}; {_level((batch.weibull or {}).get('level'))} bounds "
                     f"{_interval(b10[1], b10[2])}).")
    drift = _dict(batch.meta.get("drift"))
    if drift.get("drift") is True:
        parts.append("The batch as a whole differs from the training data (drift detected): see the trust section.")
    return " ".join(parts)


def _basis(batch: _Batch) -> str:
    """How many joints the Weibull fit rests on: 'from 26 of 80 joints; 54 cannot tell'."""
    fitted = to_float(_dict(batch.weibull).get("n"))
    n, k = batch.n, batch.cannot
    fitted = batch.told if fitted is None else int(fitted)
    if k and fitted > batch.told:  # a format-1 fit: over every joint
        return f"from {fitted:,} of {n:,} joints, including the {k:,} that cannot be told"
    if fitted == n:
        return f"from all {n:,} joints"
    return f"from {fitted:,} of {n:,} joints" + (f"; {k:,} cannot tell" if k else "")


CAUSE_SHORT = {"unmeasurable": "not measurable", "no_input_image": "no image", "no_model_input": "no model input",
               "new_package": "new package",
               "ood": "OOD"}


def _kpis(batch: _Batch) -> str:
    b10, lo, hi = _estimate((batch.weibull or {}).get("b10"))
    w_level = _level((batch.weibull or {}).get("level"))
    k, t = batch.cannot, batch.told
    of = f"of {t:,} trustworthy · " if k else ""
    why = " · ".join(f"{c:,} {CAUSE_SHORT[key]}" for key, c in batch.causes.items() if c)
    untold = (why or "no reason recorded") if k else (
        "only OOD was checked" if batch.legacy else "all measured, none unlike the training data")
    tiles = [
        ("", f"{batch.n:,}", "joints", [f"on {_plural(batch.boards, 'board')}"]),
        ("cannot most" if batch.most_cannot else "cannot" if k else "", f"{k:,}", "cannot tell",
         [untold, "in no risk class"] if k else [untold]),
        ("high", f"{batch.risk['high']:,}", "high risk", [f"{of}predicted life < {cycles(batch.required)}"]),
        ("elevated", f"{batch.risk['elevated']:,}", "elevated risk", [f"{of}lower value < required"]),
        ("low muted" if batch.most_cannot else "low", f"{batch.risk['low']:,}", "low risk",
         [f"{of}lower value ≥ required"]),
        ("high" if batch.fails else "", f"{batch.fails:,}", "acceptance fails",
         [f"{batch.unchecked:,} unchecked" if batch.unchecked else "void/crack rules"]),
        ("warn" if batch.ood else "", f"{batch.ood:,}", "unusual joints (OOD)", ["unlike the training data"]),
        ("", cycles(b10), "B10 life, cycles",
         [f"{w_level} bounds {_interval(lo, hi)}", _basis(batch)] if b10 is not None else ["no Weibull fit"]),
    ]
    html_tiles = [f'<div class="kpi {cls}"><div class="v">{esc(v)}</div><div class="l">{esc(label)}</div>'
                  + "".join(f'<div class="s">{esc(line)}</div>' for line in sub) + "</div>"
                  for cls, v, label, sub in tiles]
    return '<div class="kpis">' + "".join(html_tiles) + "</div>"


def _untold(batch: _Batch) -> str:
    """Why the joints that cannot be told cannot be, and what to do about them."""
    if not batch.cannot:
        return ""
    items = []
    for key, c in batch.causes.items():
        if not c:
            continue
        text = f"{_plural(c, 'joint')} {CAUSE_WORDS[key][c != 1]}"
        if key == "unmeasurable" and batch.details:
            top = sorted(batch.details.items(), key=lambda kv: (-kv[1], kv[0]))
            said = "; ".join(f"\u201c{d}\u201d ({v:,})" for d, v in top[:4])
            more = f"; {len(top) - 4} other reasons" if len(top) > 4 else ""
            text += f": the measurement said {said}{more}"
        elif key == "ood":
            threshold = to_float(_dict(batch.meta.get("settings")).get("ood_threshold"))
            text += (f": OOD score above {threshold:.2f}" if threshold is not None else ": OOD score too high") \
                + (f", the {_level(batch.ood_quantile)} quantile of the training joints' scores"
                   if batch.ood_quantile is not None else "")
        items.append(text + ".")
    boards = batch.frame[batch.frame["risk_class"] == CANNOT].groupby("board_id").size() \
        .sort_values(ascending=False, kind="stable")
    if len(boards):
        names = ", ".join(f"{b} ({v})" for b, v in boards.head(5).items())
        items.append(f"On {_plural(len(boards), 'board')}: {names}" + (f" and {len(boards) - 5} more." if
                                                                           len(boards) > 5 else "."))
    advice = []
    if batch.causes["unmeasurable"]:
        advice.append("Re-image the joints that could not be measured (focus, exposure, and that the image or region "
                      "of interest holds the whole joint).")
    if batch.causes["no_input_image"] or batch.causes["no_model_input"]:
        advice.append("Inspect the joints without a usable input image before release.")
    if batch.causes["new_package"]:
        advice.append("A package the model was not trained on needs labelled joints of its own: retrain with them "
                      "(mawis retrain) before trusting its lives.")
    if batch.causes["ood"]:
        advice.append("Check the out-of-distribution ones by cross-section or a cycling test; many of them point to "
                      "a new station, paste or package, on which the model needs retraining.")
    advice.append("Each joint is listed with its reason in the risk table (risk \u201ccannot tell\u201d) and in "
                  "predictions.csv (column reason).")
    advice = " ".join(advice)
    return (f'<div class="untold"><h3>Why {_plural(batch.cannot, "joint")} cannot be told</h3><ul>'
            + "".join(f"<li>{esc(i)}</li>" for i in items) + f"</ul>{_p(advice, '')}</div>")


def _look_first(batch: _Batch) -> str:
    frame, items = batch.frame, []
    risky = frame[frame["risk_class"].isin(["high", "elevated"])]
    if len(risky):
        first = risky.iloc[0]
        items.append(f"Shortest predicted life: joint {first['joint_id']} on board {first['board_id']} "
                     f"({first['component']}), {cycles(first['predicted_cycles'])} cycles "
                     f"({batch.level_text} interval {_interval(first['lower_cycles'], first['upper_cycles'])}).")
    for key, word in (("board_id", "Boards"), ("component", "Components")):
        hit = frame[frame["risk_class"] == "high"].groupby(key).size().sort_values(ascending=False, kind="stable")
        if len(hit):
            names = ", ".join(f"{k} ({v})" for k, v in hit.head(5).items())
            more = f" and {len(hit) - 5} more" if len(hit) > 5 else ""
            items.append(f"{word} with high-risk joints: {names}{more}.")
    both = int(((frame["risk_class"] == "high") & (frame["verdict"] == "fail")).sum())
    if both:
        items.append(f"{_plural(both, 'joint is', 'joints are')} both at high risk and failing acceptance.")
    if not items:
        return ""
    return "<h3>Where to look first</h3><ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def _warnings(batch: _Batch) -> str:
    """Inconsistencies between prediction.json and predictions.parquet, said plainly."""
    notes, info = [], _dict(batch.meta.get("batch"))
    declared = to_float(info.get("joints"))
    if declared is not None and int(declared) != batch.n:
        notes.append(f"{META} names {int(declared):,} joints but {PREDICTIONS} holds {batch.n:,} rows; "
                     f"this report uses {PREDICTIONS}.")
    counts = _dict(_dict(batch.meta.get("counts")).get("risk"))
    for risk in CLASSES if not batch.legacy else ():  # format 1 counted OOD joints in the other classes
        stated = to_float(counts.get(risk))
        if stated is not None and int(stated) != batch.risk[risk]:
            notes.append(f"{META} counts {int(stated):,} {risk}{'' if risk == CANNOT else '-risk'} joints but "
                         f"{PREDICTIONS} holds {batch.risk[risk]:,}; this report uses {PREDICTIONS}.")
    unknown = sorted(set(batch.frame["risk_class"]) - set(CLASSES))
    if unknown:
        notes.append(f"Some joints have a risk class this report does not know: {', '.join(unknown)}.")
    no_life = int(batch.frame["predicted_cycles"].isna().sum())
    if no_life:
        notes.append(f"{_plural(no_life, 'joint has', 'joints have')} no predicted life; "
                     "they are listed last and left out of the figures.")
    if not notes:
        return ""
    return '<div class="warnings"><strong>Check:</strong><ul>' + "".join(f"<li>{esc(n)}</li>" for n in notes) \
        + "</ul></div>"


# ---------------------------------------------------------------- 2. trust

def _trust_section(batch: _Batch) -> str:
    parts = ["<h3>Joints that cannot be told</h3>", _p(_cannot_text(batch), "")]
    parts += ["<h3>Prediction intervals</h3>", _p(_interval_text(batch), "")]
    parts += ["<h3>Unusual joints (out of distribution, OOD)</h3>", _p(_ood_text(batch), "")]
    parts += ["<h3>Is the batch like the training data? (drift)</h3>", _drift_html(batch.meta.get("drift"))]
    if batch.meta.get("checks_note"):
        parts.append(missing(str(batch.meta["checks_note"])))
    parts += ["<h3>Model accuracy</h3>", _metrics_html(_dict(batch.meta.get("model")), batch)]
    parts += ["<h3>Weibull numbers</h3>", _p(
        "The Weibull figures in this report (shape, characteristic life, B10, B1) are fitted to the lives the model "
        "predicted for this batch's joints, not to observed failures. Their bounds say how precisely the batch's "
        "predicted lives pin the distribution down; they do not include the model's own prediction error, so the "
        "true B10 of the batch can lie outside them. Confirm critical decisions with a thermal-cycling test.", "")]
    return _section("trust", "\n".join(parts), cls="box")


def _cannot_text(batch: _Batch) -> str:
    found = (f"Here {_plural(batch.cannot, 'joint is', 'joints are')} in it ({_share(batch.cannot, batch.n)})."
             if batch.cannot else "Here no joint is in it.")
    return ("A prediction is only as good as what the model saw. A joint is classed “cannot tell” when an "
            "image the model reads could not be measured (blank, saturated, noisy or not showing a joint), when it "
            "has no usable input image (or not the one the model's image encoder reads), when it is of a package "
            "the model was not trained on, or when it is unlike the joints the model was trained on (out of "
            "distribution). Its predicted life is still listed, for "
            "information, but it is never counted as low, elevated or high risk, and the Weibull figures leave "
            f"it out. {found}")


def _interval_text(batch: _Batch) -> str:
    if batch.level is None:
        return ("The interval level is not recorded; read each joint's lower and upper value as the range the "
                "model considers plausible.")
    tail = (1 - batch.level) / 2
    return (f"Each predicted life (the median: half of such joints last longer) comes with a lower and an upper "
            f"value, the {_level(batch.level)} interval. For joints like those the model was trained on, the actual "
            f"life falls inside the interval for about {_level(batch.level)} of joints; about {_level(tail)} fail "
            f"before their lower value. That is why a joint whose lower value is below the required life is at "
            f"elevated risk even when its predicted life meets the requirement.")


def _ood_text(batch: _Batch) -> str:
    q = batch.ood_quantile
    rule = (f"A joint is flagged when its OOD score (larger = less like the training data) is above "
            f"{_level(q)} of the training joints' scores, so about {_level(1 - q)} of ordinary joints are "
            f"flagged by chance. " if q is not None and 0 < q < 1 else
            "A joint is flagged when its OOD score (larger = less like the training data) is unusually high. ")
    found = (f"{_plural(batch.ood, 'joint is', 'joints are')} flagged here ({_share(batch.ood, batch.n)}). "
             if batch.ood else "No joint is flagged here. ")
    return (f"{rule}{found}The model has not learnt from joints like the flagged ones, so their "
            "predictions and intervals may be wrong in either direction: flagged joints are classed “cannot "
            "tell”, whatever their predicted life. Verify them by cross-section or a cycling test before "
            "acting on the number. Many more flags than expected point to a changed process, package or X-ray "
            "setting.")


def _drift_html(drift) -> str:
    if not isinstance(drift, dict):
        return missing("No drift check was run for this prediction.")
    flagged = drift.get("drift")
    badge = (_badge("too few boards to tell", "unchecked") if drift.get("testable") is False else
             _badge("drift detected", "drift") if flagged is True else
             _badge("no drift detected", "nodrift") if flagged is False else _badge("not decided", "unchecked"))
    p, alpha, auc = to_float(drift.get("p_value")), to_float(drift.get("alpha")), to_float(drift.get("domain_auc"))
    facts = []
    if p is not None:
        facts.append(f"p-value {p:.3g}" + (f" (drift is called below {alpha:g})" if alpha is not None else ""))
    if auc is not None:
        facts.append(f"a classifier tells batch from training joints with AUC {auc:.2f} "
                     "(0.5 = indistinguishable, 1 = fully different)")
    text = "; ".join(facts) + "." if facts else ""
    summary = str(drift.get("summary") or "").strip()
    meaning = ("The batch as a whole differs from the training data: all predictions are less certain than the "
               "intervals say; check the process and imaging settings and consider retraining."
               if flagged is True else "")
    return (f"<p>{badge} {esc(text)}</p>" + (_p(summary) if summary else "") + (_p(meaning, "") if meaning else ""))


def _metrics_html(model: dict, batch: _Batch) -> str:
    metrics = _dict(model.get("metrics"))
    values = _dict(metrics.get("values"))
    if not values:
        return missing("The model record carries no accuracy metrics.")
    old = _dict(metrics.get("old_model"))  # a retrained model: the previous one on the same held-out boards
    rows = []
    for name, number in values.items():
        label, words = METRIC_WORDS.get(str(name), (str(name), ""))
        row = [Html(f"{esc(label)}" + (f'<span class="desc">{esc(words)}</span>' if words else "")),
               _metric(name, number)]
        rows.append(row + ([_metric(name, old.get(name))] if old else []))
    source = str(metrics.get("source") or "not recorded")
    note = f"Measured on: {source}."
    if batch.level is not None and any(str(k).startswith("coverage") for k in values):
        note += f" Coverage should be close to the interval level, {_level(batch.level)}."
    header = ["Metric", "This model", "Previous model"] if old else ["Metric", "Value"]
    return table(header, rows) + _p(note)


def _metric(name, number) -> str:
    if name in PERCENT_METRICS:
        return pct(number)
    return count(number) if name == "n" or str(name).startswith("n_") else num(number)


# ---------------------------------------------------------------- 3. risk table

class _Cell:
    """A table cell: its content (escaped unless Html), the value it sorts by, a CSS class."""

    __slots__ = ("content", "key", "cls")

    def __init__(self, content, key=None, cls: str = "") -> None:
        self.content, self.key, self.cls = content, key, cls


def _sortable_table(columns: list[tuple[str, str]], rows: list[tuple[str, list[_Cell]]],
                    sorted_by: int | None = None) -> str:
    """A table whose column headers sort it; ``columns`` = (header, "text" or "num")."""
    head = []
    for i, (header, kind) in enumerate(columns):
        state = "ascending" if i == sorted_by else "none"
        head.append(f'<th data-type="{kind}" aria-sort="{state}"><button type="button">{esc(header)}</button></th>')
    lines = []
    for row_cls, cells in rows:
        tds = []
        for (_, kind), c in zip(columns, cells):
            inner = c.content if isinstance(c.content, Html) else esc(c.content)
            classes = " ".join(x for x in ("text" if kind == "text" else "", c.cls) if x)
            attrs = f' class="{classes}"' if classes else ""
            if c.key is not None:
                attrs += f' data-v="{esc(c.key)}"'
            tds.append(f"<td{attrs}>{inner}</td>")
        lines.append(f'<tr class="{esc(row_cls)}">' + "".join(tds) + "</tr>" if row_cls else
                     "<tr>" + "".join(tds) + "</tr>")
    return (f'<div class="scroll"><table class="data sortable"><thead><tr>{"".join(head)}</tr></thead>'
            f'<tbody>{"".join(lines)}</tbody></table></div>')


def _why_html(reason: str) -> str:
    """The causes of a reason for the risk table, one per line (bulleted when there are several)."""
    parts = [esc(_short_reason(key, text)) for key, text in reason_parts(reason)]
    return "<br>".join(f"• {p}" for p in parts) if len(parts) > 1 else "".join(parts)


def _short_reason(key: str, text: str) -> str:
    """One cause of a reason, compact for the risk table: 'X-ray not measurable: ...', 'OOD score 7.1 > 2.0'."""
    measured = re.match(r"could not be measured \((.*?)\): (.*)", text, re.S)
    if key == "unmeasurable" and measured:
        return f"{measured.group(1)} not measurable: {measured.group(2)}"
    ood = re.match(r"out of distribution \(score (.*?)(?: > threshold (.*))?\)$", text, re.S)
    if key == "ood" and ood:
        return f"unlike the training data: OOD score {ood.group(1)}" + (f" > {ood.group(2)}" if ood.group(2) else "")
    return text


def _key(number) -> str:
    value_ = to_float(number)
    return "" if value_ is None else format(value_, ".7g")


def _risk_section(batch: _Batch) -> str:
    frame = batch.frame
    definitions = (
        f"Risk classes, against {batch.required_text}: high = predicted life below it; "
        f"elevated = predicted life meets it but the lower value of the {batch.level_text} interval does not; "
        "low = even the lower value meets it; cannot tell = the model cannot vouch for the prediction (an input "
        "image could not be measured, no usable input image, a package the model was not trained on, or the "
        "joint is unlike the training data, OOD): "
        "its predicted life (grey) is for information only and the column “Why cannot tell” says why. "
        "Acceptance is the void/crack rule check of the inspection image (pass / fail / unchecked), independent "
        "of the lifetime model. Click a column header to sort.")
    parts = [_p(definitions)]
    shown = frame
    if batch.n > MAX_TABLE_ROWS:
        shown = frame.sort_values(["risk_rank", "predicted_cycles"], na_position="last", kind="stable") \
            .head(MAX_TABLE_ROWS).sort_index()
        full = FULL_TABLE if (batch.dir / FULL_TABLE).is_file() else PREDICTIONS
        bold = f"This batch has {batch.n:,} joints; the table shows the {MAX_TABLE_ROWS} riskiest"
        rest = (" (high risk first, then elevated, then cannot tell, then low, each by shortest predicted life), "
                "listed by "
                f"predicted life. All joints are in {full} in the prediction folder.")
        parts.append(f'<p class="sub"><strong>{esc(bold)}</strong>{esc(rest)}</p>')
    level = f"{_level(batch.level)} " if batch.level is not None else ""
    columns = [("Joint", "text"), ("Board", "text"), ("Component", "text"), ("Risk", "num"),
               ("Why cannot tell", "why"), ("Predicted life", "num"), (f"{level}lower", "num"),
               (f"{level}upper", "num"), ("Acceptance", "num"), ("Failed rules", "text"), ("Void area", "num"),
               ("Largest void", "num"), ("Edge voids", "num"), ("Crack", "num"), ("OOD", "num")]
    used = ["joint_id", "board_id", "component", "risk_class", "risk_rank", "reason", "verdict", "failed_rules",
            "ood", *NUMERIC_COLUMNS]
    rows = [(CLASS_CSS.get(r.risk_class, ""), _risk_row(r)) for r in shown[used].itertuples(index=False)]
    parts.append(_sortable_table(columns, rows, sorted_by=5))
    return _section("risk", "\n".join(parts))


def _risk_row(r) -> list[_Cell]:
    crack = pct(r.crack_fraction)
    if to_float(r.crack_length_um) is not None:
        crack += f" ({r.crack_length_um:,.0f} µm)"
    ood_score = to_float(r.ood_score)
    ood_text = f"{ood_score:.2f}" if ood_score is not None else ""
    ood = Html((_badge("OOD", "ood") + " " if r.ood else "") + esc(ood_text)) if (r.ood or ood_text) else DASH
    info = "info" if r.risk_class == CANNOT else ""  # a life shown for information only
    return [
        _Cell(r.joint_id), _Cell(r.board_id), _Cell(r.component),
        _Cell(Html(_risk_badge(r.risk_class)), r.risk_rank, "text"),
        _Cell(Html(_why_html(r.reason)), None, "why wrap"),
        _Cell(cycles(r.predicted_cycles), _key(r.predicted_cycles), info),
        _Cell(cycles(r.lower_cycles), _key(r.lower_cycles), info),
        _Cell(cycles(r.upper_cycles), _key(r.upper_cycles), info),
        _Cell(Html(_badge(r.verdict, r.verdict)), VERDICT_ORDER.get(r.verdict, 3), "text"),
        _Cell("; ".join(x.strip() for x in r.failed_rules.split(";") if x.strip())),
        _Cell(pct(r.void_fraction), _key(r.void_fraction)),
        _Cell(pct(r.largest_void_fraction), _key(r.largest_void_fraction)),
        _Cell(pct(r.edge_void_fraction), _key(r.edge_void_fraction)),
        _Cell(crack, _key(r.crack_fraction), "wrap"),
        _Cell(ood, _key(ood_score if ood_score is not None else (1e300 if r.ood else None))),
    ]


# ---------------------------------------------------------------- 4. distribution

def _distribution_section(batch: _Batch) -> str:
    lives = batch.frame["predicted_cycles"]
    ok = lives[lives > 0]
    if ok.empty:
        return _section("distribution", missing("No joint has a positive predicted life, so there is no "
                                                "distribution to show."))
    caption = ("Predicted lives of all joints (log scale), stacked by risk class. Dashed line: required life. "
               + ("Red bars, left of the line, are high-risk joints." if not batch.cannot else
                  f"Red bars, left of the line, are high-risk joints; grey bars are the "
                  f"{_plural(batch.cannot, 'joint')} that cannot be told, whose predicted lives are shown for "
                  "information only (they may be far off either way)."))
    parts = [figure(_histogram(batch), "histogram of predicted lives by risk class", caption)]
    told = batch.trusted["predicted_cycles"]
    told = told[told > 0]
    if told.empty:
        parts.append(missing("No joint has a trustworthy positive predicted life, so there is no Weibull plot."))
    else:
        parts.append(figure(_weibull_plot(batch, told.to_numpy()), "Weibull probability plot of the predicted lives",
                            _weibull_caption(batch)))
    note = str(batch.meta.get("weibull_note") or "").strip()
    if batch.weibull is None:
        parts.append(missing(note or "No Weibull fit was made for this batch."))
    else:
        parts.append(_weibull_table(batch.weibull, batch))
        if note:
            parts.append(_p(note))
    parts.append(_p("Fitted to predicted lives, not to observed failures: see the trust section."
                    + (" Joints that cannot be told are left out of every Weibull fit." if batch.cannot else "")))
    by_component = batch.meta.get("weibull_by_component")
    fits = {str(k): v for k, v in by_component.items() if _is_fit(v)} if isinstance(by_component, dict) else {}
    if fits:
        parts.append("<h3>Weibull fit per component</h3>" + _component_weibull_table(fits)
                     + (_p("Joints: those with a trustworthy prediction.") if batch.cannot else ""))
    return _section("distribution", "\n".join(parts))


def _weibull_caption(batch: _Batch) -> str:
    text = ("Each dot is one joint: its predicted life against its median rank (the share of joints predicted to "
            "fail by then), on Weibull paper, so a Weibull population lies on a straight line. ")
    if batch.cannot:
        text += (f"Only the {_plural(batch.told, 'joint')} with a trustworthy prediction are plotted and fitted; "
                 f"the {batch.cannot:,} that cannot be told are left out. ")
    if batch.weibull is not None:
        level = _level(batch.weibull.get("level"))
        text += (f"Line: fitted Weibull distribution; shaded: {level} confidence band; bars: B10 and B1 lives "
                 f"with their {level} bounds. Dots bending away from the line mean a mixed population "
                 "(e.g. two components or two failure mechanisms).")
    return text


def _risk_colour(risk: str) -> str:
    return RISK_COLOURS.get(risk, OTHER_COLOUR)


def _log_axis(ax) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}" if x >= 1 else f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _histogram(batch: _Batch):
    import matplotlib.pyplot as plt

    frame = batch.frame[batch.frame["predicted_cycles"] > 0]
    lives = frame["predicted_cycles"].to_numpy()
    lo, hi = lives.min(), lives.max()
    if batch.required is not None and batch.required > 0:
        lo, hi = min(lo, batch.required), max(hi, batch.required)
    lo, hi = lo / 1.1, hi * 1.1
    # 30 equal bins on the log scale, one edge at the required life: no bar straddles it
    anchor = batch.required if batch.required is not None and batch.required > 0 else lo
    step = math.log(hi / lo) / 30
    bins = anchor * np.exp(step * np.arange(math.floor(math.log(lo / anchor) / step),
                                            math.ceil(math.log(hi / anchor) / step) + 1))
    fig, ax = plt.subplots(figsize=(8.5, 3.4))
    groups = [r for r in RISKS + (CANNOT,) if (frame["risk_class"] == r).any()]
    groups += sorted(set(frame["risk_class"]) - set(CLASSES))
    data = [frame.loc[frame["risk_class"] == r, "predicted_cycles"].to_numpy() for r in groups]
    labels = [f"{r} ({len(d):,}; not trusted)" if r == CANNOT else f"{r} ({len(d):,})"
              for r, d in zip(groups, data)]
    ax.hist(data, bins=bins, stacked=True, color=[_risk_colour(r) for r in groups], label=labels,
            edgecolor="white", linewidth=0.4)
    if batch.required is not None and batch.required > 0:
        ax.axvline(batch.required, color="k", ls="--", lw=1.2, label=f"required life {cycles(batch.required)}")
    _log_axis(ax)
    ax.set_xlim(lo, hi)
    ax.set(xlabel="predicted life (cycles to failure, log scale)", ylabel="joints")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="risk class", title_fontsize=8)
    fig.tight_layout()
    return fig


WEIBULL_TICKS = (0.0001, 0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.632, 0.9, 0.99, 0.999)


def _weibull_y(p):
    return np.log(-np.log1p(-np.asarray(p, float)))


def _weibull_plot(batch: _Batch, lives: np.ndarray):
    import matplotlib.pyplot as plt

    lives = np.sort(lives)
    n = len(lives)
    ranks = (np.arange(1, n + 1) - 0.3) / (n + 0.4)  # Bernard's median ranks
    y = _weibull_y(ranks)
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    label = (f"joints with a trustworthy prediction ({n:,} of {batch.n:,})" if batch.cannot else
             f"joints ({n:,})")
    ax.scatter(lives, y, s=9 if n < 2000 else 3, color="#1f5fa8", lw=0, zorder=3, label=label)
    x_lo, x_hi = lives.min(), lives.max()
    y_lo, y_hi = y.min() - 0.4, y.max() + 0.4
    fit = batch.weibull
    if fit is not None:
        beta, eta = _estimate(fit.get("shape"))[0], _estimate(fit.get("characteristic_life"))[0]
        if beta and eta and beta > 0 and eta > 0:
            y_lo = min(y_lo, _weibull_y(0.01) - 0.4)
            ys = np.linspace(y_lo, y_hi, 200)
            line = eta * np.exp(ys / beta)
            band = _weibull_band(fit, ys)
            if band is not None:  # the axes clip band and line to the lives shown
                ax.fill_betweenx(ys, band[0], band[1], color="#1f5fa8", alpha=0.12, lw=0,
                                 label=f"{_level(fit.get('level'))} band")
            ax.plot(line, ys, color="#1f5fa8", lw=1.4,
                    label=f"Weibull fit: shape {beta:.2f}, char. life {cycles(eta)}")
            for name, p, colour in (("B10", 0.10, "#c62828"), ("B1", 0.01, "#e08a00")):
                value_, lo, hi = _estimate(fit.get(name.lower()))
                if value_ is None:
                    continue
                yp = float(_weibull_y(p))
                err = None
                if lo is not None and hi is not None:
                    err = [[max(value_ - lo, 0)], [max(hi - value_, 0)]]
                    x_lo, x_hi = min(x_lo, lo), max(x_hi, hi)
                ax.errorbar([value_], [yp], xerr=err, fmt="D", color=colour, ms=6, capsize=4, zorder=4,
                            label=f"{name} {cycles(value_)} ({_interval(lo, hi)})")
                ax.axhline(yp, color=colour, ls=":", lw=0.8)
    if batch.required is not None and batch.required > 0:
        ax.axvline(batch.required, color="k", ls="--", lw=1.0, label=f"required life {cycles(batch.required)}")
        x_lo, x_hi = min(x_lo, batch.required), max(x_hi, batch.required)
    _log_axis(ax)
    ax.set_xlim(x_lo / 1.15, x_hi * 1.15)
    ax.set_ylim(y_lo, y_hi)
    ticks = [p for p in WEIBULL_TICKS if y_lo <= _weibull_y(p) <= y_hi]
    ax.set_yticks([float(_weibull_y(p)) for p in ticks], [f"{100 * p:g} %" for p in ticks])
    ax.set(xlabel="predicted life (cycles, log scale)",
           ylabel="share of joints predicted to have failed\n(Weibull scale: ln(−ln(1 − F)))")
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def _weibull_band(fit: dict, ys: np.ndarray):
    """(lower, upper) life at each Weibull ordinate ``ys``, or None if the bounds do not allow it.

    The bounds in prediction.json are exp(ln estimate -+ q se) with se from the covariance
    of (ln eta, ln beta) (see mawis.lifetime.weibull). The half-widths of the
    characteristic life, the shape and B10 give back that covariance (times q^2), and with
    it the band of every B_p: ln B_p -+ sqrt(A + u^2 B - 2 u C), u = ln(-ln(1-p)) / beta.
    """
    beta, b_lo, b_hi = _estimate(fit.get("shape"))
    eta, e_lo, e_hi = _estimate(fit.get("characteristic_life"))
    b10, t_lo, t_hi = _estimate(fit.get("b10"))
    if None in (beta, b_lo, b_hi, eta, e_lo, e_hi, b10, t_lo, t_hi) or min(beta, b_lo, eta, e_lo, t_lo) <= 0:
        return None
    a = (math.log(e_hi / e_lo) / 2) ** 2
    b = (math.log(b_hi / b_lo) / 2) ** 2
    u10 = float(_weibull_y(0.1)) / beta
    c = (a + u10 ** 2 * b - (math.log(t_hi / t_lo) / 2) ** 2) / (2 * u10)
    if a * b - c * c < -1e-9 * max(a * b, 1e-300):
        return None  # the bounds do not come from one covariance: no band rather than a wrong one
    u = ys / beta
    half = np.sqrt(np.maximum(a + u ** 2 * b - 2 * u * c, 0.0))
    centre = np.log(eta) + u
    return np.exp(centre - half), np.exp(centre + half)


def _weibull_table(fit: dict, batch: _Batch) -> str:
    level = _level(fit.get("level"))
    rows = []
    for key, label, meaning, fmt in (
            ("shape", "Shape β", "above 1: wear-out (failures bunch at later lives); the larger, the narrower "
             "the spread", lambda v: num(v, 2)),
            ("characteristic_life", "Characteristic life η", "life by which 63.2 % are predicted to fail", cycles),
            ("b10", "B10 life", "life by which 10 % are predicted to fail", cycles),
            ("b1", "B1 life", "life by which 1 % are predicted to fail", cycles)):
        estimate, lo, hi = _estimate(fit.get(key))
        rows.append([Html(f"{esc(label)}<span class=\"desc\">{esc(meaning)}</span>"), fmt(estimate), fmt(lo),
                     fmt(hi)])
    table_html = table(["Quantity", "Estimate", f"{level} lower bound", f"{level} upper bound"], rows)
    method = str(fit.get("method") or "not recorded")
    fitted = to_float(fit.get("n"))
    fitted = batch.told if fitted is None else int(fitted)
    whose = (f"of all {batch.n:,} joints" if fitted == batch.n else
             f"of {fitted:,} of the {batch.n:,} joints" + (
                 f" (the {batch.cannot:,} that cannot be told are left out)" if batch.cannot and fitted <= batch.told
                 else f" (including the {batch.cannot:,} that cannot be told)" if batch.cannot else ""))
    return table_html + _p(f"Fitted to the predicted lives {whose}; method: {method}; two-sided {level} "
                           "confidence bounds.")


def _component_weibull_table(fits: dict) -> str:
    rows = []
    for component, fit in sorted(fits.items()):
        shape, eta, b10, b1 = (_estimate(fit.get(k)) for k in ("shape", "characteristic_life", "b10", "b1"))
        lives = [f"{cycles(e[0])} ({_interval(e[1], e[2])})" for e in (eta, b10, b1)]
        rows.append([component, count(fit.get("n")), f"{num(shape[0], 2)} ({num(shape[1], 2)}–{num(shape[2], 2)})",
                     *lives, _level(fit.get("level"))])
    return table(["Component", "Joints", "Shape β (bounds)", "Characteristic life η (bounds)", "B10 (bounds)",
                  "B1 (bounds)", "Level"], rows)


# ---------------------------------------------------------------- 5. breakdown

def _breakdown_section(batch: _Batch) -> str:
    caption = ("Worst first: most high-risk joints, then most elevated, then most joints that cannot be told, then "
               "most acceptance fails, then the lowest lower value of an interval. A board is only as good as its "
               "weakest joint, so its shortest predicted life and lowest lower value matter more than its median. "
               "Lives are those of the joints with a trustworthy prediction; a board with a joint that cannot be "
               "told is not shown as low risk. Click a column header to sort.")
    parts = [_p(caption)]
    for key, word, title in (("board_id", "boards", "Per board"), ("component", "components", "Per component")):
        parts.append(f"<h3>{title}</h3>")
        parts.append(_group_table(batch, key, word))
    return _section("breakdown", "\n".join(parts))


def _group_table(batch: _Batch, key: str, word: str) -> str:
    frame = batch.frame
    flags = pd.DataFrame({key: frame[key], "high": frame["risk_class"] == "high",
                          "elevated": frame["risk_class"] == "elevated", "low": frame["risk_class"] == "low",
                          "cannot": frame["risk_class"] == CANNOT, "fail": frame["verdict"] == "fail",
                          "ood": frame["ood"]})
    groups = flags.groupby(key, sort=True).sum().astype(int)
    groups["joints"] = frame.groupby(key, sort=True).size()
    lives = batch.trusted.groupby(key, sort=True)  # a life that cannot be told says nothing about the board
    groups["median"] = lives["predicted_cycles"].median()
    groups["shortest"] = lives["predicted_cycles"].min()
    groups["lowest"] = lives["lower_cycles"].min()
    groups = groups.reset_index().sort_values(
        ["high", "elevated", "cannot", "fail", "lowest", key], ascending=[False, False, False, False, True, True],
        na_position="last", kind="stable")
    notes = ""
    if len(groups) > MAX_GROUP_ROWS:
        notes = _p(f"{len(groups):,} {word}; the {MAX_GROUP_ROWS} worst are listed.", "sub")
        groups = groups.head(MAX_GROUP_ROWS)
    label = "Board" if key == "board_id" else "Component"
    columns = [(label, "text"), ("Joints", "num"), ("Median predicted life", "num"),
               ("Shortest predicted life", "num"), ("Lowest lower value", "num"), ("High risk", "num"),
               ("Elevated", "num"), ("Low", "num"), ("Cannot tell", "num"), ("Acceptance fails", "num"),
               ("OOD", "num")]
    rows = []
    for g in groups.itertuples(index=False):
        g = g._asdict()
        worst = ("high" if g["high"] else "elevated" if g["elevated"] else "cannot" if g["cannot"] else
                 "low" if g["low"] else "")
        rows.append((worst, [
            _Cell(g[key]), _Cell(f"{g['joints']:,}"), _Cell(cycles(g["median"]), _key(g["median"])),
            _Cell(cycles(g["shortest"]), _key(g["shortest"])), _Cell(cycles(g["lowest"]), _key(g["lowest"])),
            _Cell(f"{g['high']:,}", cls="bad" if g["high"] else ""), _Cell(f"{g['elevated']:,}"),
            _Cell(f"{g['low']:,}"), _Cell(f"{g['cannot']:,}"),
            _Cell(f"{g['fail']:,}", cls="bad" if g["fail"] else ""), _Cell(f"{g['ood']:,}")]))
    return notes + _sortable_table(columns, rows)


# ---------------------------------------------------------------- 6. gallery

def _gallery_section(batch: _Batch) -> str:
    entries = [e for e in batch.meta.get("gallery") or [] if isinstance(e, dict)]
    if not entries:
        return _section("gallery", missing("This prediction has no gallery of images."))
    intro = "The riskiest joints, riskiest first"
    if any(str(e.get("risk_class") or "").strip().lower() == CANNOT for e in entries):
        intro = ("The riskiest joints with a trustworthy prediction, riskiest first, then joints that cannot be told, "
                 "with why")
    parts = [_p(f"{intro}. X-ray: joint outline in green, voids in red. "
                "Micrograph (cross-sectioned joints only): crack in red.")]
    if len(entries) > MAX_GALLERY:
        parts.append(_p(f"The first {MAX_GALLERY} of {len(entries)} gallery joints are shown.", "sub"))
        entries = entries[:MAX_GALLERY]
    ood = dict(zip(batch.frame["joint_id"], batch.frame["ood"]))
    told = {j: (r, why) for j, r, why in zip(batch.frame["joint_id"], batch.frame["risk_class"], batch.frame["reason"])}
    parts.append('<div class="gallery">' + "".join(_card(batch, e, ood, told) for e in entries) + "</div>")
    return _section("gallery", "\n".join(parts))


def _card(batch: _Batch, entry: dict, ood: dict, told: dict | None = None) -> str:
    joint = str(entry.get("joint_id") or DASH)
    risk = str(entry.get("risk_class") or "unknown").strip().lower()
    reason = "" if is_missing(entry.get("reason")) else str(entry.get("reason")).strip()
    table_risk, table_reason = (told or {}).get(joint, (None, ""))
    if table_risk == CANNOT:  # the table wins: a joint it cannot tell is never shown in a confident class
        risk, reason = CANNOT, reason or table_reason
    if reason:
        risk = CANNOT
    verdict = str(entry.get("verdict") or "unchecked").strip().lower()
    images, notes = [], []
    for key, what in (("xray", "X-ray"), ("micrograph", "Micrograph")):
        if entry.get(key) is None:
            continue
        uri, note = _gallery_image(batch.dir, entry.get(key), what)
        if uri:
            images.append(f'<figure><img src="{uri}" alt="{esc(what)} of joint {esc(joint)}">'
                          f"<figcaption>{esc(what)}</figcaption></figure>")
        else:
            notes.append(note)
    if not images and not notes:
        notes.append("No image recorded for this joint.")
    flagged = entry["ood"] if isinstance(entry.get("ood"), bool) else ood.get(joint, False)
    badges = _risk_badge(risk) + " " + _badge(verdict, verdict) + (" " + _badge("OOD", "ood") if flagged else "")
    rules = str(entry.get("failed_rules") or "").strip()
    level = f"{batch.level_text} interval"
    lines = [
        f"<h3>{esc(joint)}</h3>",
        f'<p class="sub">board {esc(entry.get("board_id") or DASH)} · {esc(entry.get("component") or DASH)}</p>',
        f"<p>{badges}</p>",
        f"<p>Predicted life <strong>{esc(cycles(entry.get('predicted_cycles')))}</strong> cycles "
        f"({esc(level)} {esc(_interval(entry.get('lower_cycles'), entry.get('upper_cycles')))})"
        + (" – for information only" if risk == CANNOT else "") + "</p>",
        f"<p>Void area {esc(pct(entry.get('void_fraction')))} · crack {esc(pct(entry.get('crack_fraction')))}</p>",
    ]
    if rules:
        lines.append(f"<p>Failed rules: {esc(rules)}</p>")
    if risk == CANNOT:
        why = "; ".join(text for _, text in reason_parts(reason)) or "no reason recorded"
        lines.insert(3, f'<p class="why"><strong>Cannot tell:</strong> {esc(why)}</p>')
    if images:
        lines.append('<div class="imgs">' + "".join(images) + "</div>")
    lines += [missing(n) for n in notes]
    return f'<div class="card {CLASS_CSS.get(risk, "")}">' + "".join(lines) + "</div>"


def _gallery_image(root: Path, relative, what: str) -> tuple[str, str]:
    """(data: URI, "") for a PNG inside ``root``, or ("", the sentence why it is not shown)."""
    name = str(relative)
    if not isinstance(relative, str) or not relative.strip():
        return "", f"{what} image path {name!r} is not a file name; not shown."
    base = root.resolve()
    try:
        path = (base / relative).resolve()
    except (OSError, RuntimeError, ValueError):
        return "", f"{what} image {name} could not be located; not shown."
    if not path.is_relative_to(base):
        return "", f"{what} image path {name} points outside the prediction folder; not shown."
    if not path.is_file():
        return "", f"{what} image {name} is missing from the prediction folder."
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            return "", f"{what} image {name} is too large to embed ({size / 1e6:.1f} MB)."
        data = path.read_bytes()
    except OSError as exc:
        return "", f"{what} image {name} could not be read ({type(exc).__name__})."
    if not data.startswith(PNG_SIGNATURE):
        return "", f"{what} image {name} is not a PNG file; not shown."
    return png_data_uri(data), ""


# ---------------------------------------------------------------- 7. model card

def _model_section(batch: _Batch) -> str:
    model = _dict(batch.meta.get("model"))
    parts = []
    if not model:
        parts.append(missing("prediction.json records no model."))
    else:
        promoted = model.get("promoted")
        rows = [
            ["Model id", value(model.get("id"))], ["Kind", value(model.get("kind"))],
            ["Trained", created(model.get("created")) if model.get("created") else DASH],
            ["Retrained from", value(model.get("parent")) if model.get("parent") else "– (first of its line)"],
            ["Promoted", "yes (the approved production model)" if promoted is True else
             "no (not the approved production model)" if promoted is False else DASH],
            ["Source", value(model.get("source"))],
            ["Interval level", _level(model.get("interval_level"))],
        ]
        parts.append(_facts(rows))
        parts.append("<h3>Training data</h3>" + _training_table(_dict(model.get("training_data"))))
        parts.append(Html('<p class="caption">Accuracy metrics: see <a href="#trust">How far to trust these '
                          "numbers</a>.</p>"))
        encoder = model.get("encoder")
        parts.append("<h3>Image encoder</h3>" + (kv_table(encoder) if isinstance(encoder, dict) and encoder else
                                                   missing("The model record names no image encoder.")))
        limits = [str(x) for x in model.get("known_limits") or [] if str(x).strip()]
        parts.append("<h3>Known limits</h3>" + (
            '<ul class="limits">' + "".join(f"<li>{esc(x)}</li>" for x in limits) + "</ul>" if limits
            else missing("The model record lists no known limits.")))
    parts.append("<h3>This prediction</h3>" + _run_table(batch))
    timings = batch.meta.get("timings")
    if isinstance(timings, dict) and timings:
        rows = [[str(stage), seconds(s)] for stage, s in timings.items()]
        parts.append("<h3>Timings</h3>" + table(["Stage", "Wall time"], rows))
    return _section("model", "\n".join(parts))


def _training_table(data: dict) -> str:
    if not data:
        return missing("The model record does not describe its training data.")
    rows = [["Data set", value(data.get("path"))], ["Fingerprint", value(data.get("fingerprint"))],
            ["Joints", count(data.get("joints"))],
            ["With a lifetime label", count(data.get("labelled"))],
            ["Failed in the cycling test", count(data.get("failed"))],
            ["Still intact when the test stopped (censored)", count(data.get("censored"))]]
    for key, label in (("components", "Components (packages)"), ("stations", "X-ray stations")):
        if data.get(key):
            rows.append([label, value(data.get(key))])
    return _facts(rows)


def _run_table(batch: _Batch) -> str:
    meta, info, settings = batch.meta, _dict(batch.meta.get("batch")), _dict(batch.meta.get("settings"))
    rows = [["Predicted", created(meta.get("created")) if meta.get("created") else DASH],
            ["mawis version", value(meta.get("mawis_version"))],
            ["Batch", batch.source], ["Batch fingerprint", value(info.get("fingerprint"))],
            ["Joints / boards in the batch", f"{count(info.get('joints'))} / {count(info.get('boards'))}"],
            ["Required life", f"{cycles(settings.get('required_cycles'))} cycles"],
            ["Interval level", _level(settings.get("interval_level"))],
            ["OOD threshold quantile", _level(settings.get("ood_quantile"))],
            ["Weibull confidence level", _level(settings.get("weibull_level"))]]
    if settings.get("rules_version") is not None:
        rows.append(["Acceptance rules version", value(settings.get("rules_version"))])
    if to_float(settings.get("ood_threshold")) is not None:
        rows.append(["OOD score threshold", num(settings.get("ood_threshold"), 2)])
    rows.append(["Joints that cannot be told", f"{batch.cannot:,} of {batch.n:,}"])
    without = _dict(meta.get("counts")).get("without_xray")
    if to_float(without) is not None:
        rows.append(["Joints without an X-ray image", count(without)])
    return _facts(rows)
