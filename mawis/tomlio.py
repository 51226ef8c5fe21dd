"""Reading TOML configuration files with one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import UsageError


def read_toml(path: Path, what: str = "file") -> dict[str, Any]:
    """The parsed file; a missing or malformed file raises :class:`UsageError` naming it."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"{path}: {what} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
