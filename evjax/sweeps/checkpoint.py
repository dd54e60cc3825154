"""The directory of a resumable sweep: what is swept, how far it got, and who is writing.

``DIR/manifest.json`` names the game (its digest) and every option of the plan;
``DIR/state.npz`` holds the summary folded so far, the next block, and the digest of the
manifest it belongs to; ``DIR/lock`` is held (``fcntl.flock``) by the one sweep writing the
directory. Every file is written atomically (:func:`evjax._paths.atomic_write`), so a
sweep killed at any moment (even SIGKILL) leaves a directory that the same call resumes; the
kernel releases the lock of a process that dies, so a killed sweep never blocks its resume.
Anything that cannot be tied to this sweep is refused with :class:`CheckpointError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX (Windows): no out directories there
    fcntl = None

from ..charging.game import ChargingGame
from .._paths import atomic_write, check_writable, is_temporary
from .summary import Summary, empty_summary, from_numpy, to_numpy

# 2: the state carries its manifest's digest, and the directory is locked while in use.
FORMAT = 2
MANIFEST, STATE, RESULT, LOCK, TABLE = "manifest.json", "state.npz", "result.json", "lock", "table"
# What reading a damaged file can raise (truncated zip, bad CRC, bad header, bad JSON).
_DAMAGED = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)


class CheckpointError(ValueError):
    """An out directory that this sweep cannot use (busy, damaged, or another sweep's)."""


def game_digest(game: ChargingGame) -> str:
    """A digest of the game's exact values (for manifests)."""
    return hashlib.sha256(json.dumps(game.to_dict(), sort_keys=True).encode()).hexdigest()


def manifest_digest(manifest: dict) -> str:
    """The digest that ties a state to its manifest (canonical JSON, SHA-256)."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def open_checkpoint(out: str | Path, game: ChargingGame, plan, table: bool) -> Checkpoint:
    """The :class:`Checkpoint` of a sweep of ``game`` by ``plan`` (a ``SweepPlan``) in ``out``.

    Its manifest names the format, the game's digest, every option of the plan and whether
    the per-coalition table is written.
    """
    manifest = {"format": FORMAT, "game": game_digest(game), "plan": plan.to_dict(),
                "table": bool(table)}
    template = empty_summary(plan.n_stations, len(plan.edges) - 1, plan.top_k)
    return Checkpoint(out, manifest, template, plan.n_blocks)


def _what_to_do(out: Path) -> str:
    return f"remove {str(out)!r} or choose another out directory (--out)"


class Checkpoint:
    """One sweep's hold on its out directory (locked from construction to :meth:`close`).

    Construction makes the directory, takes the lock, checks the manifest and loads the
    state (``initial``: a summary or None, ``start``: the next block), refusing with
    :class:`CheckpointError` a directory in use, damaged, or of another game or options.
    :meth:`begin` writes the manifest of a new sweep; :meth:`save` the state.
    """

    def __init__(self, out: str | Path, manifest: dict, template: Summary, n_blocks: int):
        self.out = check_writable(out, directory=True, name="out")
        self.manifest = manifest
        self.digest = manifest_digest(manifest)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(f"out {str(out)!r}: cannot create it ({exc.strerror})") from None
        self._lock = self._acquire()
        try:
            self._remove_temporaries()
            self._new = self._check_manifest()
            self.initial, self.start = self._load(template, n_blocks)
        except BaseException:
            self.close()
            raise

    def _acquire(self) -> int:
        path = self.out / LOCK
        if fcntl is None:  # pragma: no cover - not POSIX
            raise CheckpointError("resumable out directories need fcntl.flock (POSIX); run "
                                  "without out on this platform")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise CheckpointError(f"out {str(self.out)!r}: cannot create {LOCK} "
                                  f"({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CheckpointError(
                f"{str(self.out)!r} is in use by another sweep (it holds {str(path)!r}); wait "
                "for it to finish or choose another out directory (--out)"
            ) from None
        except OSError as exc:  # e.g. a file system without locks
            os.close(fd)
            raise CheckpointError(f"out {str(self.out)!r}: cannot lock {LOCK} "
                                  f"({exc.strerror}); choose another out directory") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for whoever looks; the lock is the flock
        return fd

    def _remove_temporaries(self) -> None:
        """Temporary files of a killed writer (only the lock holder writes: none is live)."""
        for folder in (self.out, self.out / TABLE):
            if folder.is_dir():
                for path in folder.iterdir():
                    if is_temporary(path) and path.is_file():
                        path.unlink(missing_ok=True)

    def _check_manifest(self) -> bool:
        """Refuse another sweep's or a damaged manifest; True when there is none yet."""
        path = self.out / MANIFEST
        if not path.exists():
            orphans = [n for n in (STATE, RESULT, TABLE) if (self.out / n).exists()]
            if orphans:
                raise CheckpointError(
                    f"{str(self.out)!r} holds {', '.join(orphans)} but no {MANIFEST}: they "
                    f"cannot be tied to this sweep; {_what_to_do(self.out)}"
                )
            return True
        try:
            old = json.loads(path.read_text())
        except (*_DAMAGED, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{str(path)!r} is damaged ({exc}); "
                                  f"{_what_to_do(self.out)}") from None
        if not isinstance(old, dict):
            raise CheckpointError(f"{str(path)!r} is damaged (not a JSON object); "
                                  f"{_what_to_do(self.out)}")
        if old != self.manifest:
            diff = sorted(k for k in set(old) | set(self.manifest)
                          if old.get(k) != self.manifest.get(k))
            raise CheckpointError(
                f"{str(self.out)!r} holds a sweep of a different game or options (differs in "
                f"{diff}); refusing to mix results: {_what_to_do(self.out)}"
            )
        return False

    def _load(self, template: Summary, n_blocks: int) -> tuple[Summary | None, int]:
        """The saved state, checked against this sweep's manifest and summary layout."""
        path = self.out / STATE
        if not path.exists():
            return None, 0
        try:
            with np.load(path, allow_pickle=False) as data:
                fields = {k: data[k] for k in data.files}
        except _DAMAGED as exc:
            raise CheckpointError(f"{str(path)!r} is damaged ({exc}); "
                                  f"{_what_to_do(self.out)}") from None
        digest = fields.pop("manifest_digest", None)
        if digest is None or digest.shape != () or str(digest) != self.digest:
            raise CheckpointError(
                f"{str(path)!r} is not the state of the sweep in {MANIFEST} (another game, "
                f"options or format); refusing to mix results: {_what_to_do(self.out)}"
            )
        next_block = fields.pop("next_block", None)
        want = to_numpy(template)
        bad = sorted(set(want) ^ set(fields)) + sorted(
            k for k in set(want) & set(fields)
            if fields[k].shape != want[k].shape or fields[k].dtype != want[k].dtype)
        if next_block is None or next_block.shape != () or not 0 <= int(next_block) <= n_blocks:
            bad.append("next_block")
        if bad:
            raise CheckpointError(f"{str(path)!r} is damaged (fields {bad} do not fit this "
                                  f"sweep); {_what_to_do(self.out)}")
        return from_numpy(fields), int(next_block)

    def begin(self) -> None:
        """Write the manifest of a new sweep (before any state or table part)."""
        if self._new:
            atomic_write(self.out / MANIFEST,
                         lambda fh: fh.write(json.dumps(self.manifest, indent=1).encode()))
            self._new = False

    def save(self, summary: Summary, next_block: int) -> None:
        """Save the summary of blocks ``0 .. next_block - 1`` (atomically)."""
        fields = to_numpy(summary)
        atomic_write(self.out / STATE, lambda fh: np.savez(
            fh, next_block=np.int64(next_block), manifest_digest=np.array(self.digest),
            **fields))

    def write_result(self, result: dict) -> None:
        """Write ``result.json`` (strict JSON) atomically."""
        atomic_write(self.out / RESULT,
                     lambda fh: fh.write(json.dumps(result, allow_nan=False).encode()))

    def close(self) -> None:
        """Release the lock (the lock file stays: removing it would race with a new holder)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
