"""A short self-contained HTML page for one drift check (``mawis drift``): the verdict, the
tests, the effect size, the void/crack feature distributions and the most unusual joints."""

from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_write_bytes
from .html import BASE_CSS, Html, document, esc, num, table

CSS = BASE_CSS + """
.verdict { padding: 0.6em 1em; border-left: 6px solid; font-size: 1.1em; margin: 1em 0; }
.verdict.drift { border-color: #c0392b; background: #fbeeee; }
.verdict.ok { border-color: #2e8b57; background: #eef8f1; }
.verdict.warn { border-color: #d4880f; background: #fdf5e8; }
@media print { nav { display: none; } table { page-break-inside: avoid; } }
"""


def drift_section(report: dict) -> str:
    """The drift check as one HTML section (also embedded by other reports)."""
    kind = "drift" if report["drift"] else ("ok" if report.get("testable", True) else "warn")
    tests = [[name, num(t["mmd2"], 4), num(t["p_value"], 4)] for name, t in report["tests"].items()]
    feats = [[f["feature"], f["modality"], num(f["reference_median"]), num(f["batch_median"]),
              f"{num(f['reference_p10'])} – {num(f['reference_p90'])}", f"{num(f['batch_p10'])} – {num(f['batch_p90'])}",
              num(f["ks_distance"], 2)] for f in report["features"]]
    joints = [[j["joint_id"], j["board_id"], num(j["score"], 2)] for j in report["most_out_of_distribution"]]
    ood = report["ood"]
    parts = [
        '<section id="drift"><h2>Drift against the training data</h2>',
        f'<div class="verdict {kind}">{esc(report["summary"])}</div>',
        f'<p>Compared {report["batch"]["compared_joints"]} joints on {report["batch"]["boards"]} boards of the batch '
        f'with {report["reference"]["joints"]} reference joints on {report["reference"]["boards"]} training boards. '
        "Each test permutes whole boards, so a batch like the training data is flagged in about "
        f'{100 * report["alpha"]:g} % of checks. The domain classifier AUC is {num(report["domain_auc"], 2)} '
        "(0.5: the batch cannot be told from the training data; 1.0: it can be told apart completely).</p>",
        table(["test", "MMD²", "p-value"], tests),
        f'<p>{ood["joints"]} joints score above the reference\'s {100 * ood["quantile"]:g} % quantile '
        "and are flagged out of distribution.</p>",
        "<h3>Void and crack features</h3>",
        table(["feature", "modality", "median (training)", "median (batch)", "10–90 % (training)",
               "10–90 % (batch)", "KS distance"], feats, text_cols=2),
        "<h3>Most out-of-distribution joints</h3>",
        table(["joint", "board", "score"], joints, text_cols=2),
        "</section>",
    ]
    return "\n".join(parts)


def render_drift(report: dict, out: Path) -> Path:
    body = [f"<h1>Drift check: {esc(report.get('batch', {}).get('source', ''))}</h1>",
            f'<p class="meta">model {esc(report.get("model", {}).get("id", ""))}</p>', Html(drift_section(report))]
    atomic_write_bytes(Path(out), document("mawis drift check", CSS, body,
                                           '<link rel="icon" href="data:,">\n').encode())
    return Path(out)
