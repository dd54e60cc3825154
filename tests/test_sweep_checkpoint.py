"""Resumable sweeps' out directories: refused unless they are this sweep's, never shared.

Every case was seen on main before the fix: a state without its manifest or of another game
was merged silently, a damaged state or manifest gave a traceback, and two sweeps on one
directory crashed on their shared temporary file.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading

import jax
import numpy as np
import pytest

import evjax
from evjax.sweeps import sweep
from evjax._paths import atomic_write

jax.config.update("jax_enable_x64", True)

# One shape for the whole module (N = 6, T = 4, these options): one compilation.
SMALL = dict(top_k=3, low_bits=3, block_size=16, progress=False)


def random_game(seed, n=6, t=4):
    rng = np.random.default_rng(seed)
    return evjax.ChargingGame(
        rng.uniform(0.5, 2.0, t), rng.uniform(0.2, 1.5), rng.uniform(0.1, 3.0, n),
        rng.uniform(0.5, 5.0, n), rng.uniform(0.0, 1.0, (n, t)),
    )


def comparable(result):
    return result.to_dict() | {"seconds": 0}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished sweep directory of game 1 (all sizes) and its result."""
    out = tmp_path_factory.mktemp("finished")
    return out, sweep(random_game(1), out=out, **SMALL)


def copy_of(src, dst):
    dst.mkdir()
    for name in ("manifest.json", "state.npz"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def test_resume_of_a_finished_directory_gives_the_same_result(finished, tmp_path):
    out, result = finished
    again = sweep(random_game(1), out=copy_of(out, tmp_path / "copy"), **SMALL)
    assert comparable(again) == comparable(result)
    # n_evaluated against a count written apart: every nonempty subset of 6 stations
    assert result.n_evaluated == 2 ** 6 - 1


def test_state_without_its_manifest_is_refused(finished, tmp_path):
    out, _ = finished
    orphan = tmp_path / "orphan"
    orphan.mkdir()
    (orphan / "state.npz").write_bytes((out / "state.npz").read_bytes())
    with pytest.raises(ValueError, match=r"state.npz but no manifest.json.*remove"):
        sweep(random_game(2), out=orphan, **SMALL)
    assert not (orphan / "manifest.json").exists()  # nothing written into it


def test_state_of_another_game_is_refused(finished, tmp_path):
    out, _ = finished
    other = tmp_path / "other"
    sweep(random_game(2), out=other, **SMALL)
    (other / "state.npz").write_bytes((out / "state.npz").read_bytes())  # game 1's state
    with pytest.raises(ValueError, match=r"not the state of the sweep.*remove"):
        sweep(random_game(2), out=other, **SMALL)


def test_manifest_of_another_game_is_refused(finished, tmp_path):
    out, _ = finished
    with pytest.raises(ValueError, match=r"different game or options.*'game'.*remove"):
        sweep(random_game(2), out=copy_of(out, tmp_path / "copy"), **SMALL)


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_middle_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _drop_a_field(path):
    with np.load(path) as data:
        fields = {k: data[k] for k in data.files if k != "hist"}
    np.savez(path, **fields)


@pytest.mark.parametrize("name, damage", [
    ("state.npz", _truncate), ("state.npz", _flip_middle_byte), ("state.npz", _drop_a_field),
    ("manifest.json", _truncate), ("manifest.json", lambda p: p.write_text("[1, 2]")),
])
def test_damaged_files_are_refused_with_what_to_do(finished, tmp_path, name, damage):
    out, _ = finished
    copy = copy_of(out, tmp_path / "copy")
    damage(copy / name)
    with pytest.raises(ValueError, match=rf"{name}' is damaged .*remove '.*copy' or choose "
                                         r"another out directory"):
        sweep(random_game(1), out=copy, **SMALL)


def test_directory_in_use_is_refused_then_usable(finished, tmp_path):
    out, result = finished
    copy = copy_of(out, tmp_path / "copy")
    with open(copy / "lock", "w") as held:  # another sweep's lock, taken apart from evjax
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ValueError, match=r"in use by another sweep"):
            sweep(random_game(1), out=copy, **SMALL)
    assert comparable(sweep(random_game(1), out=copy, **SMALL)) == comparable(result)


HOLDER = """
import fcntl, sys, time
fh = open(sys.argv[1], "w")
fcntl.flock(fh, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(600)
"""


def test_lock_of_a_killed_sweep_does_not_block(finished, tmp_path):
    out, result = finished
    copy = copy_of(out, tmp_path / "copy")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(copy / "lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match=r"in use"):
            sweep(random_game(1), out=copy, **SMALL)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert (copy / "lock").exists()  # the file stays; its lock went with the process
    assert comparable(sweep(random_game(1), out=copy, **SMALL)) == comparable(result)


def test_concurrent_atomic_writes_never_collide(tmp_path):
    """Two writers of one file (the crash of two checkpointing sweeps on one directory)."""
    path, errors = tmp_path / "state.npz", []
    payloads = [bytes([k]) * 4096 for k in (1, 2)]

    def writer(payload):
        try:
            for _ in range(200):
                atomic_write(path, lambda fh: fh.write(payload))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert path.read_bytes() in payloads  # one writer's whole file, never a mix
    assert os.listdir(tmp_path) == ["state.npz"]  # no temporary file left


def test_bad_out_is_refused_before_any_computation(tmp_path, monkeypatch):
    def computed(*args, **kwargs):
        raise AssertionError("the sweep computed before checking out")

    monkeypatch.setattr(evjax.sweeps.api, "make_plan", computed)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    with pytest.raises(ValueError, match=r"out '.*a-file' exists and is not a directory"):
        sweep(random_game(1), out=a_file, **SMALL)
    with pytest.raises(ValueError, match=r"out '.*a-file/sub' cannot be created: .* is not a "
                                         r"directory"):
        sweep(random_game(1), out=a_file / "sub", **SMALL)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_unwritable_out_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ValueError, match=r"cannot be created in .*locked"):
        sweep(random_game(1), out=locked / "out", **SMALL)


def test_result_json_is_strict_json(finished):
    out, result = finished
    text = (out / "result.json").read_text()

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    got = json.loads(text, parse_constant=refuse)
    # the grand coalition has no outsiders: its outside ratio is null, not NaN
    assert [r for r in got["by_size"] if r["size"] == 6][0]["mean"][2] is None
    assert got | {"seconds": 0} == comparable(result)
