"""Reading a model folder safely: ``<meta>.json`` plus one weights file it vouches for.

Shared by encoders (``mawis pretrain``) and lifetime models (``mawis train``): the JSON is
parsed as data, its format and version are checked, and the weights' SHA-256 must match
the one recorded, before anything loads them (with ``weights_only=True``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .errors import MawisError


def read_model_folder(model_dir: Path, meta_file: str, weights_file: str, fmt: str, version: int, *,
                      what: str, command: str) -> tuple[dict, bytes]:
    """The folder's metadata and weight bytes; one-line errors say what is wrong and what to run."""
    model_dir = Path(model_dir)
    meta_path, weights_path = model_dir / meta_file, model_dir / weights_file
    if not meta_path.is_file():
        raise MawisError(f"{model_dir}: not a mawis {what} (no {meta_file}); create one with `mawis {command}`")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise MawisError(f"{meta_path}: not valid JSON; the model folder is damaged, run `mawis {command}` again") \
            from None
    if not isinstance(meta, dict) or meta.get("format") != fmt or meta.get("version") != version:
        found = meta if not isinstance(meta, dict) else f"{meta.get('format')!r} version {meta.get('version')!r}"
        raise MawisError(f"{meta_path}: unsupported model format {found}; run `mawis {command}` again with "
                         "this mawis version")
    if not weights_path.is_file():
        raise MawisError(f"{model_dir}: {weights_file} is missing; the model folder is incomplete")
    data = weights_path.read_bytes()
    recorded = meta.get("sha256") if isinstance(meta.get("sha256"), dict) else {}
    if hashlib.sha256(data).hexdigest() != recorded.get(weights_file):
        raise MawisError(f"{weights_path}: content hash does not match {meta_file}; the file was changed or damaged")
    return meta, data
