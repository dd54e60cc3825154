"""Sweeps on several devices and several processes give a one-device run's result exactly.

Both set-ups run in subprocesses (XLA_FLAGS must be set before jax is imported, and
``jax.distributed`` is once per process), all started together by one module fixture: a
process with 4 CPU devices, and two processes of 2 CPU devices each under ``jax.distributed``
on 127.0.0.1.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

TIMEOUT = 240  # seconds per subprocess (they take ~10-30 s; the machine may be busy)

COMMON = """
import json, os, sys, threading, time
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
import evjax
from evjax.sweeps import sweep

def game(seed=0, n=9, t=5):
    rng = np.random.default_rng(seed)
    return evjax.ChargingGame(
        rng.uniform(0.5, 2.0, t), rng.uniform(0.2, 1.5), rng.uniform(0.1, 3.0, n),
        rng.uniform(0.5, 5.0, n), rng.uniform(0.0, 1.0, (n, t)))

OPTIONS = dict(top_k=4, low_bits=2, block_size=8, progress=False)  # 64 blocks

def as_dict(result):
    d = result.to_dict()
    d.pop("seconds")
    return d
"""

DEVICES = """
from evjax.sweeps.distributed import run_blocks_multiprocess
from evjax.sweeps.engine import BlockRunner, run_blocks
from evjax.sweeps.plan import make_plan, sweep_tables
from evjax.sweeps.summary import to_numpy

assert len(jax.local_devices()) == 4, jax.local_devices()
one = as_dict(sweep(game(), devices=jax.local_devices()[:1], **OPTIONS))
four = as_dict(sweep(game(), **OPTIONS))  # devices=None: every local device


class Probe:
    # A BlockRunner that counts blocks in flight (entered, or returned but not yet ready).
    def __init__(self, runner, state):
        self.runner, self.plan, self.args, self.state = runner, runner.plan, runner.args, state

    def __call__(self, block):
        s = self.state
        with s["lock"]:
            s["active"] += 1
            busy = sum(not x.is_ready() for out in s["outs"] for x in jax.tree.leaves(out))
            s["devices"].add(str(self.runner.device))
            s["max"] = max(s["max"], s["active"] + busy)
        try:
            out = self.runner(block)
        finally:
            with s["lock"]:
                s["active"] -= 1
        s["outs"].append(out)
        return out

    def tighten(self, summary):
        self.runner.tighten(summary)


tables = sweep_tables(game())
plan = make_plan(tables, **{k: v for k, v in OPTIONS.items() if k != "progress"})
runners = [BlockRunner(tables, plan, d) for d in jax.local_devices()]
blocks = range(plan.n_blocks)
run_blocks(runners, blocks), run_blocks_multiprocess(runners, blocks)  # compile
report = {"one": one, "four": four, "n_blocks": plan.n_blocks}
for name, fold in (("engine", run_blocks), ("threads", run_blocks_multiprocess)):
    state = {"lock": threading.Lock(), "active": 0, "outs": [], "max": 0, "devices": set()}
    t0 = time.perf_counter()
    total = jax.block_until_ready(fold([Probe(r, state) for r in runners], blocks))
    report[name] = {"seconds": time.perf_counter() - t0, "in_flight": state["max"],
                    "devices": len(state["devices"])}
    report[name + "_fields"] = {k: v.tolist() for k, v in to_numpy(total).items()}
report["threads_equal_engine"] = all(
    np.array_equal(report["engine_fields"][k], report["threads_fields"][k], equal_nan=True)
    for k in report["engine_fields"])
print(json.dumps(report, default=repr))
"""

PROCESS = """
process_id, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
try:
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                               process_id=process_id, initialization_timeout=60)
    jax.devices()
except Exception as exc:  # reported to the test, which skips
    print(f"INIT-FAILED: {type(exc).__name__}: {exc}", flush=True)
    sys.exit(3)
report = {"process_index": jax.process_index(), "process_count": jax.process_count(),
          "local_devices": len(jax.local_devices()), "devices": len(jax.devices())}
t0 = time.perf_counter()
report["result"] = as_dict(sweep(game(), **OPTIONS))
report["seconds"] = time.perf_counter() - t0
try:  # resumable runs are refused (each process gets its own directory here)
    sweep(game(), out=os.path.join(os.path.dirname(out), f"run-{process_id}"), **OPTIONS)
except ValueError as exc:
    report["out_refused"] = str(exc)
try:  # process 1 sweeps another game of the same shapes: both processes must refuse
    sweep(game(seed=process_id), **OPTIONS)
except ValueError as exc:
    report["mismatch_refused"] = str(exc)
with open(out, "w") as fh:
    json.dump(report, fh)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child_env(n_devices: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        f" --xla_force_host_platform_device_count={n_devices}").strip()
    env["JAX_PLATFORMS"] = "cpu"
    for key in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        env.pop(key, None)
    return env


def _script(body: str) -> str:
    return textwrap.dedent(COMMON) + textwrap.dedent(body)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start the 4-device process and the two jax.distributed processes together."""
    tmp = tmp_path_factory.mktemp("distributed")
    port = _free_port()
    t0 = time.perf_counter()
    started = {
        "devices": subprocess.Popen([sys.executable, "-c", _script(DEVICES)], env=_child_env(4),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    }
    for i in range(2):
        started[f"p{i}"] = subprocess.Popen(
            [sys.executable, "-c", _script(PROCESS), str(i), str(port), str(tmp / f"p{i}.json")],
            env=_child_env(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = {}
    try:
        for name, proc in started.items():
            left = max(1.0, TIMEOUT - (time.perf_counter() - t0))
            out, err = proc.communicate(timeout=left)
            done[name] = (proc.returncode, out, err, time.perf_counter() - t0)
    finally:
        for proc in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return tmp, done


def _check(done, name):
    code, out, err, _ = done[name]
    assert code == 0, f"{name} exited with {code}:\n{out[-3000:]}\n{err[-5000:]}"


@pytest.fixture(scope="module")
def device_run(runs):
    _, done = runs
    _check(done, "devices")
    return json.loads(done["devices"][1].strip().splitlines()[-1])


@pytest.fixture(scope="module")
def process_runs(runs):
    tmp, done = runs
    for name in ("p0", "p1"):
        code, out, err, _ = done[name]
        if code == 3 and "INIT-FAILED" in out:
            pytest.skip(f"jax.distributed cannot initialise here: {out.strip()}")
        _check(done, name)
    return [json.loads((tmp / f"p{i}.json").read_text()) for i in range(2)]


def test_four_devices_match_one_device(device_run):
    assert device_run["four"] == device_run["one"]
    assert device_run["one"]["n_evaluated"] == 2**9 - 1


def test_threads_keep_every_device_busy(device_run):
    """distributed.evaluate_blocks: the 4 devices have blocks in flight at once."""
    threads = device_run["threads"]
    assert threads["devices"] == 4
    assert threads["in_flight"] >= 2
    assert device_run["threads_equal_engine"]


def test_engine_keeps_every_device_busy(device_run):
    assert device_run["engine"]["devices"] == 4
    assert device_run["engine"]["in_flight"] >= 2


def test_two_processes_match_one_process(device_run, process_runs):
    for i, report in enumerate(process_runs):
        assert (report["process_index"], report["process_count"]) == (i, 2)
        assert (report["local_devices"], report["devices"]) == (2, 4)
        assert report["result"] == device_run["one"]


def test_two_processes_refuse_out_and_different_sweeps(process_runs):
    for report in process_runs:
        assert "not supported with several processes" in report["out_refused"]
        assert "run a different sweep" in report["mismatch_refused"]


def test_partials_round_trip_through_bytes():
    from evjax.sweeps.distributed import _layout, _pack, _unpack, process_blocks
    from evjax.sweeps.summary import empty_summary, to_numpy

    fields = to_numpy(empty_summary(5, 7, 3))
    rng = np.random.default_rng(0)
    fields = {k: (rng.normal(size=v.shape) if v.dtype.kind == "f" else
                  rng.integers(-9, 9, v.shape)).astype(v.dtype) for k, v in fields.items()}
    layout = _layout(fields)
    block, back = _unpack(_pack(17, fields, layout), layout)
    assert block == 17 and back.keys() == fields.keys()
    for k in fields:
        assert back[k].dtype == fields[k].dtype and np.array_equal(back[k], fields[k])
    assert process_blocks(range(3, 10), 1, 3) == [4, 7]
