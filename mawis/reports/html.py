"""Building blocks of the self-contained HTML reports: escaping, number formats, tables, figures.

Every report is one file that opens offline and prints to PDF: styles inline, figures
as base64 PNG ``data:`` URIs, no network links. All text that comes from data goes
through :func:`esc`; markup that a table cell should take as is is wrapped in
:class:`Html`.
"""

from __future__ import annotations

import base64
import html
import io
import math
from datetime import datetime

DASH = "–"
DPI = 100

# Rules that every report shares; each report adds its own and its @media print block.
BASE_CSS = """
body { font-family: "Helvetica Neue", Helvetica, Arial, sans-serif; color: #222; line-height: 1.45;
       max-width: 1100px; margin: 0 auto; padding: 1.5em 1.2em 3em; font-size: 15px; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
.meta { color: #555; margin: 0.2em 0; }
nav { font-size: 0.9em; margin: 1em 0; }
nav a { color: #1f5fa8; text-decoration: none; margin-right: 1em; white-space: nowrap; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.7em; vertical-align: top; }
th { background: #f4f4f4; text-align: left; }
table.data td { text-align: right; font-variant-numeric: tabular-nums; }
table td.text { text-align: left; }
table.kv td { text-align: left; }
.desc { display: block; color: #666; font-size: 0.88em; max-width: 22em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; }
figcaption, .caption { color: #555; font-size: 0.9em; }
.missing { color: #8a6d3b; font-style: italic; }
footer { margin-top: 3em; color: #888; font-size: 0.85em; }
"""


class Html(str):
    """Markup that a table cell takes as is (everything else is escaped)."""


def esc(value) -> str:
    return html.escape(str(value))


def to_float(value) -> float | None:
    """A finite float, or None for missing, non-numeric, boolean, NaN or infinite values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def num(value, digits: int = 3) -> str:
    number = to_float(value)
    return DASH if number is None else f"{number:.{digits}f}"


def pct(value) -> str:
    number = to_float(value)
    return DASH if number is None else f"{100 * number:.1f} %"


def count(value) -> str:
    number = to_float(value)
    return DASH if number is None else str(int(round(number)))


def seconds(value) -> str:
    number = to_float(value)
    if number is None:
        return DASH
    if number < 120:
        return f"{number:.1f} s"
    minutes, secs = divmod(int(round(number)), 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min {secs:02d} s"


def value(item) -> str:
    """A settings value as plain text (configuration, so no fixed decimals)."""
    if item is None:
        return DASH
    if isinstance(item, bool):
        return "yes" if item else "no"
    if isinstance(item, float):
        return f"{item:g}" if math.isfinite(item) else DASH
    if isinstance(item, (list, tuple)):
        return ", ".join(value(v) for v in item)
    if isinstance(item, dict):
        return "; ".join(f"{k}: {value(v)}" for k, v in item.items())
    return str(item)


def created(stamp) -> str:
    """An ISO time stamp as 'YYYY-MM-DD HH:MM TZ'; anything else as it is."""
    try:
        return datetime.fromisoformat(str(stamp)).strftime("%Y-%m-%d %H:%M %Z").strip()
    except ValueError:
        return str(stamp or DASH)


def table(header: list[str], rows: list[list], cls: str = "data", text_cols: int = 1) -> str:
    # the first ``text_cols`` columns are names (left-aligned), the rest numbers (right-aligned)
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    lines = ["<tr>" + "".join(cell(c, i < text_cols) for i, c in enumerate(row)) + "</tr>" for row in rows]
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table>'


def cell(content, text: bool) -> str:
    inner = content if isinstance(content, Html) else esc(content)
    return f'<td class="text">{inner}</td>' if text else f"<td>{inner}</td>"


def kv_table(mapping: dict, seconds_keys: tuple[str, ...] = ()) -> str:
    rows = [[str(k), seconds(v) if k in seconds_keys else value(v)] for k, v in mapping.items()]
    return table(["Setting", "Value"], rows, cls="kv")


def missing(sentence: str) -> str:
    return f'<p class="missing">{esc(sentence)}</p>'


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure(fig, alt: str, caption: str = "") -> str:
    """A matplotlib figure as an inline PNG ``<figure>``; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{png_data_uri(buffer.getvalue())}" alt="{esc(alt)}">{cap}</figure>'


def document(title: str, css: str, body: list[str], head_extra: str = "") -> str:
    """The whole page: HTML5 head with inline styles, then the body parts one per line."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"{head_extra}<title>{esc(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )


def load_report_json(path, fmt: str, version: int | tuple[int, ...], hint: str, folder: str) -> dict:
    """A report's JSON input (``{"format": fmt, "version": version, ...}``; ``version`` may be a tuple
    of the versions the report reads), or one error line naming the file and ``hint`` (what to run)."""
    import json

    from ..errors import MawisError

    if not path.is_file():
        raise MawisError(f"{path}: not found, so this is no {folder}; {hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        raise MawisError(f"{path}: not readable JSON; {hint}") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise MawisError(f"{path}: not a {fmt} file; {hint}")
    versions = version if isinstance(version, tuple) else (version,)
    if isinstance(data.get("version"), bool) or data.get("version") not in versions:
        raise MawisError(f"{path}: unsupported {fmt} version {data.get('version')!r}; {hint} with this mawis version")
    return data
