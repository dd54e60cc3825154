"""Output paths: checking a path before any computation, and writing atomically (sweeps, CLIs)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def _nearest_existing(path: Path) -> Path:
    """``path`` itself if it exists, else its nearest ancestor that does."""
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _probe(directory: Path) -> str | None:
    """Why no file can be created in ``directory`` (None if one can): a real try, removed."""
    probe = temporary_name(directory / "probe")
    try:
        with open(probe, "xb"):
            pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    probe.unlink(missing_ok=True)
    return None


def check_writable(path: str | Path, *, directory: bool, name: str) -> Path:
    """Check that ``path`` can be written (a directory, or a file), leaving nothing behind.

    A path that exists must be of the right kind and writable; one that does not exist must
    have a directory as its nearest existing ancestor in which a file can be created, so that
    the folders can be made later. Tried for real (a probe file, removed), so permissions,
    read-only file systems and the like all count. Raises ``ValueError`` naming ``name``
    (e.g. "out") and the path.
    """
    try:
        path = Path(path)
    except TypeError:
        raise ValueError(f"{name} must be a path, got {path!r}") from None
    if str(path) == "":
        raise ValueError(f"{name} must be a path, got an empty string")
    if path.exists():
        if directory and not path.is_dir():
            raise ValueError(f"{name} {str(path)!r} exists and is not a directory")
        if not directory and path.is_dir():
            raise ValueError(f"{name} {str(path)!r} is a directory; give a file name")
        try:  # a file: opened for appending (nothing written; never blocks on a FIFO)
            why = _probe(path) if directory else os.close(
                os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK))
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
        if why:
            raise ValueError(f"{name} {str(path)!r} is not writable ({why})")
        return path
    ancestor = _nearest_existing(path)
    if not ancestor.is_dir():
        raise ValueError(f"{name} {str(path)!r} cannot be created: {str(ancestor)!r} is not a "
                         "directory")
    why = _probe(ancestor)
    if why:
        raise ValueError(f"{name} {str(path)!r} cannot be created in {str(ancestor)!r} ({why})")
    return path


def temporary_name(path: Path) -> Path:
    """A name next to ``path`` that no other process or call uses (``.NAME.PID.RANDOM.tmp``)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is a name made by :func:`temporary_name` (left behind by a kill)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Write ``path`` through ``write(file)`` on a unique temporary file, then ``os.replace``.

    Readers see the old file or the new one, never a part; two writers never share a
    temporary file. The temporary file is removed if ``write`` fails.
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        with open(tmp, "xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
