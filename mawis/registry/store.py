"""The model registry: a folder of lifetime models with ids, lineage and one promoted model.

Layout of the registry root (``models/`` by default, ``MAWIS_MODELS`` or ``--registry``)::

    models/
      registry.json            {"format": "mawis-registry", "version": 1, "promoted": ID or null}
      .lock                    held while a command changes the registry (concurrent runs wait)
      ssl-20261128-113005-3fa2/
        lifetime.json          the model (see mawis/lifetime/io.py) incl. its "registry" record
        weights.pt
        reference.parquet      the training data's drift reference (see drift.py)

A model folder is written atomically under its final id, so a listing never shows a
half-written model. Ids are ``KIND-UTCTIME-RANDOM``: sortable and unique across machines.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import atomic_write_bytes
from ..errors import MawisError, UsageError
from ..lifetime.io import META_FILE

INDEX_FILE = "registry.json"
LOCK_FILE = ".lock"
FORMAT, FORMAT_VERSION = "mawis-registry", 1
ENV_ROOT = "MAWIS_MODELS"


def default_root() -> Path:
    return Path(os.environ.get(ENV_ROOT, "models"))


@dataclass(frozen=True)
class ModelEntry:
    id: str
    path: Path
    meta: dict
    promoted: bool

    # lifetime.json is read as untrusted data: a field of the wrong type reads as missing

    @property
    def kind(self) -> str:
        return str(self.meta.get("kind") or "?")

    @property
    def created(self) -> str:
        return str(self.meta.get("created") or "")

    @property
    def parent(self) -> str | None:
        record = self.meta.get("registry")
        parent = record.get("parent") if isinstance(record, dict) else None
        return str(parent) if parent else None

    @property
    def metrics(self) -> dict:
        metrics = self.meta.get("metrics")
        return metrics if isinstance(metrics, dict) and isinstance(metrics.get("values") or {}, dict) else {}


def is_model_folder(path: Path) -> bool:
    return (Path(path) / META_FILE).is_file()


class Registry:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_root()

    # --- reading ------------------------------------------------------------------------------

    def _index(self) -> dict:
        path = self.root / INDEX_FILE
        if not path.is_file():
            return {"format": FORMAT, "version": FORMAT_VERSION, "promoted": None}
        try:
            index = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise MawisError(f"{path}: not valid JSON; fix or delete it (models stay, the promotion is lost)") from None
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise MawisError(f"{path}: not a mawis registry index; fix or delete it")
        return index

    def promoted_id(self) -> str | None:
        return self._index().get("promoted")

    def entries(self) -> list[ModelEntry]:
        """Every model in the registry, oldest first."""
        if not self.root.is_dir():
            return []
        promoted = self.promoted_id()
        out = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not is_model_folder(folder):
                continue
            try:
                meta = json.loads((folder / META_FILE).read_text())
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                continue  # a damaged entry is reported when it is used, not when others are listed
            if isinstance(meta, dict):
                out.append(ModelEntry(folder.name, folder, meta, folder.name == promoted))
        return sorted(out, key=lambda e: (e.created, e.id))

    def get(self, model_id: str) -> ModelEntry:
        for entry in self.entries():
            if entry.id == model_id:
                return entry
        known = ", ".join(e.id for e in self.entries()[-5:]) or "none"
        raise UsageError(f"no model {model_id!r} in {self.root}; list them with `mawis models list` "
                         f"(newest: {known})")

    def resolve(self, ref: str | Path | None) -> Path:
        """The folder of a model given as an id, ``latest``, a path, or None (the promoted model)."""
        if ref is None or str(ref) == "":
            promoted = self.promoted_id()
            if promoted is None:
                raise UsageError(f"no promoted model in {self.root}; pass --model ID|latest|PATH or run "
                                 "`mawis models promote ID`")
            return self.get(promoted).path
        ref = str(ref)
        if ref == "latest":
            entries = self.entries()
            if not entries:
                raise UsageError(f"the registry {self.root} holds no models; train one with `mawis train`")
            return entries[-1].path
        if is_model_folder(Path(ref)):
            return Path(ref)
        if "/" not in ref and (self.root / ref).is_dir():
            return self.get(ref).path
        if Path(ref).exists():
            raise UsageError(f"{ref}: not a lifetime model folder (no {META_FILE}); pass a folder from "
                             "`mawis train` or a registry id")
        return self.get(ref).path

    # --- changing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self):
        """Exclusive lock over the registry: concurrent commands change it one after another."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = open(self.root / LOCK_FILE, "a+")
        except OSError as exc:
            raise MawisError(f"cannot use the registry {self.root}: {exc.strerror or exc}") from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def new_id(self, kind: str) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        return f"{kind}-{stamp}-{secrets.token_hex(2)}"

    def _write_index(self, promoted: str | None) -> None:
        index = {**self._index(), "promoted": promoted}
        atomic_write_bytes(self.root / INDEX_FILE, (json.dumps(index, indent=2) + "\n").encode())

    def entry_for(self, path: Path) -> ModelEntry:
        """The registry entry of a model folder; only models inside this registry can be promoted."""
        path = Path(path)
        if path.absolute().resolve().parent != self.root.absolute().resolve():
            raise UsageError(f"{path} is not in the registry {self.root}; only registered models can be promoted "
                             "(train with `mawis train` without --out)")
        return self.get(path.name)

    def promote(self, model_id: str) -> ModelEntry:
        with self.locked():
            entry = self.get(model_id)
            self._write_index(entry.id)
        return self.get(model_id)

    def promote_if_none(self, model_id: str) -> bool:
        """Promote ``model_id`` if nothing is promoted yet (the first model becomes the default)."""
        with self.locked():
            if self.promoted_id() is not None:
                return False
            self._write_index(self.get(model_id).id)
            return True

    def remove(self, model_id: str, force: bool = False) -> None:
        with self.locked():
            entry = self.get(model_id)
            if entry.promoted and not force:
                raise UsageError(f"{model_id} is the promoted model; promote another one first or pass --force")
            trash = self.root / f".removing-{entry.id}"
            os.replace(entry.path, trash)  # atomic: the id disappears at once, the files after
            if entry.promoted:
                self._write_index(None)
            shutil.rmtree(trash, ignore_errors=True)


def model_card(model_dir: Path, meta: dict, registry: Registry | None = None) -> dict:
    """What a report says about the model: identity, training data, metrics and known limits."""
    record = meta.get("registry") if isinstance(meta.get("registry"), dict) else {}
    model_id = record.get("id") or Path(model_dir).name
    promoted = registry is not None and registry.root.is_dir() and registry.promoted_id() == model_id \
        and Path(model_dir).absolute().parent == registry.root.absolute()
    data = meta.get("dataset") if isinstance(meta.get("dataset"), dict) else {}
    encoder = meta.get("encoder") if isinstance(meta.get("encoder"), dict) else None
    return {"id": model_id, "kind": meta.get("kind"), "created": meta.get("created"), "parent": record.get("parent"),
            "promoted": bool(promoted), "source": str(model_dir),
            "training_data": {"fingerprint": data.get("fingerprint"), "path": data.get("path"),
                              "joints": data.get("joints"), "labelled": data.get("labelled"),
                              "failed": data.get("failed"), "censored": data.get("censored"),
                              "components": data.get("components"), "stations": data.get("stations")},
            "metrics": meta.get("metrics") or {"source": "none recorded", "values": {}},
            "encoder": ({k: encoder.get(k) for k in ("encoder", "method", "source", "input_transform")}
                        if encoder else None),
            "interval_level": (meta.get("head") or {}).get("interval_level"),
            "known_limits": known_limits(meta)}


def known_limits(meta: dict) -> list[str]:
    data = meta.get("dataset") if isinstance(meta.get("dataset"), dict) else {}
    limits = []
    if data.get("stations"):
        limits.append(f"Trained on X-ray images from {', '.join(data['stations'])}; check batches from other X-ray "
                      "stations, pastes or packages with mawis drift first (out-of-distribution joints are flagged).")
    if data.get("components"):
        limits.append(f"Packages seen in training: {', '.join(data['components'])}. Other packages get no "
                      "package term and are less reliable.")
    if data.get("labelled") is not None:
        limits.append(f"Fitted on {data['labelled']} labelled joints ({data.get('failed')} failed, "
                      f"{data.get('censored')} censored); lives far beyond the test's end are extrapolated.")
    limits.append("Inputs are as-reflowed images: joints without an as-reflowed X-ray get a prediction from their "
                  "package and cross-section only, with the same interval width.")
    limits.append("Intervals are calibrated on the training boards (split conformal); their coverage holds for "
                  "batches like the training data, not under drift.")
    return limits
