"""Atomic outputs: write to a temporary sibling, rename into place at the end.

An interrupted run therefore never leaves a half-written folder or file where the
user expects a finished one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import MawisError, OutputExistsError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _has_content(path: Path) -> bool:
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def check_writable_target(path: Path, overwrite: bool, marker: str | None = None) -> None:
    """Fail early, with one line, if ``path`` cannot become a fresh output.

    With ``overwrite``, an existing non-empty folder is replaced only if it holds
    ``marker`` (a file that only this kind of output has), so a mistyped path never
    wipes an unrelated folder.
    """
    path = Path(path)
    if _has_content(path) and not overwrite:
        raise OutputExistsError(f"{path} already exists; choose another folder or pass --overwrite")
    if _has_content(path) and marker is not None and not (path / marker).is_file():
        raise MawisError(f"{path} exists and does not look like an earlier output (no {marker}); "
                         "refusing to replace it, choose another folder")
    parent = path.absolute().parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise MawisError(f"cannot create {path}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise MawisError(f"cannot write to {probe}: permission denied; choose a writable output folder")


def _temp_prefix(path: Path, kind: str = "tmp") -> str:
    # the writer's pid in the name tells a later run whether the writer is still alive
    return f".{path.name}.{kind}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temps(path: Path) -> int:
    """Delete what killed writers of ``path`` left beside it (SIGKILL cannot be caught, so their
    temporary siblings stay); a writer that is still running keeps its own. The count removed."""
    removed = 0
    parent = Path(path).absolute().parent
    if not parent.is_dir():
        return 0
    for kind in ("tmp", "old"):
        for leftover in parent.glob(f".{Path(path).name}.{kind}-*-*"):
            pid = leftover.name[len(f".{Path(path).name}.{kind}-"):].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                earlier = leftover / Path(path).name
                if kind == "old" and earlier.exists() and not Path(path).exists():
                    os.replace(earlier, path)  # killed between the two renames: the earlier output comes back
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        leftover.unlink()
                removed += 1
    return removed


@contextlib.contextmanager
def atomic_dir(path: Path, overwrite: bool = False, marker: str | None = None) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``path`` only if the block succeeds."""
    path = Path(path)
    check_writable_target(path, overwrite, marker)
    remove_stale_temps(path)
    try:
        path.absolute().parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), dir=path.absolute().parent))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the output should not be
    except OSError as exc:
        raise MawisError(f"cannot create {path}: {exc.strerror or exc}; choose a writable output folder") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        _replace_dir(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise MawisError(f"cannot write {path}: {exc.strerror or exc}") from None


def _replace_dir(tmp: Path, path: Path) -> None:
    if path.exists():
        trash = Path(tempfile.mkdtemp(prefix=_temp_prefix(path, "old"), dir=path.absolute().parent))
        os.replace(path, trash / path.name)
        os.replace(tmp, path)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file via a temporary sibling and rename."""
    path = Path(path)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), dir=path.absolute().parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report should be readable like any file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
