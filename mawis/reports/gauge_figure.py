"""The gauge study's figure: void fraction on station B against station A, and Bland-Altman."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def gauge_figure(study, names: list[str], path: Path) -> None:
    pairs = study.pairs
    xray = pairs[(pairs["modality"] == "xray") & pairs["void_fraction_diff"].notna()] \
        if "void_fraction_diff" in pairs else pairs.iloc[:0]
    fig, (scatter, bland) = plt.subplots(1, 2, figsize=(10, 4.2))
    a, b = xray["void_fraction_a"].to_numpy(float) * 100, xray["void_fraction_b"].to_numpy(float) * 100
    top = max(5.0, float(np.nanmax(np.r_[a, b])) * 1.05) if len(a) else 5.0
    scatter.plot([0, top], [0, top], color="#888", lw=1, ls="--")
    scatter.scatter(a, b, s=12, color="#1f5fa8", alpha=0.8)
    scatter.set(xlim=(0, top), ylim=(0, top), xlabel=f"void fraction, {names[0]} (%)",
                ylabel=f"void fraction, {names[1]} (%)", title=f"same joints, {len(a)} X-ray pairs")
    mean, diff = (a + b) / 2, b - a
    bland.scatter(mean, diff, s=12, color="#1f5fa8", alpha=0.8)
    agreement = study.summary.get("void_fraction")
    if agreement:
        bland.axhline(agreement["bias"], color="#c0392b", lw=1.2, label=f"bias {agreement['bias']:+.2f} pp")
        for limit in agreement["limits_of_agreement"]:
            bland.axhline(limit, color="#c0392b", lw=1, ls=":")
        bland.legend(loc="upper right", fontsize=8)
    bland.axhline(0, color="#888", lw=1, ls="--")
    bland.set(xlabel="mean of the two stations (%)", ylabel="B - A (pp)", title="Bland-Altman: difference per joint")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)  # into the study's temporary folder, renamed whole
    plt.close(fig)
