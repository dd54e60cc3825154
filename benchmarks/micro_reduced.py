"""Micro-benchmark of ``evjax.charging.reduced``: coalitions per second of the O(T) cost stage.

    python benchmarks/micro_reduced.py            # N in {20, 30}, T = 24 (a few minutes)
    python benchmarks/micro_reduced.py --quick    # smaller samples, N = 20 only
    python benchmarks/micro_reduced.py --n 20 --reps 7

One random game per N (constant b), then every configuration below is compiled, checked and
timed round-robin (``--reps`` rounds, interleaved so that a busy shared machine slows all of
them alike). Each timed call is one compiled fold over min(2^N, 2^24) coalitions
(``--coalitions``; the GEMM rows a quarter of that, at most 2^22): every coalition at N = 20,
the first 2^24 at N = 30, whose rate is extrapolated to the full 2^30 - 1. Rates are coalitions per
wall-clock second (median and best of the rounds) and per CPU-second of this process (best),
the latter being the per-core figure that other processes on the machine disturb least.

The process runs XLA on 2 host devices (``--xla_force_host_platform_device_count=2``, Eigen
single-threaded): "1 dev" rows use one device (the cost loop runs on one core), "2 dev" rows
split the chunks over both with ``shard_map``. Do not add ``intra_op_parallelism_threads=1``:
with it the two devices' programs run one after the other, on one core.

Configurations (R = the reduction that ends every fold):

* ``gemm B``: :func:`folds.fold_bitmasks`, batches of B consecutive bitmasks, sums by a
  GEMM of the (N, B) masks with the feature table, R = sum of the costs.
* ``subset L``: :func:`folds.fold_chunks` on ``subset_table(tables, L)``, 8 chunks of 2^L
  coalitions per step, R = sum of the costs.
* ``subset L + <reduction>``: the same with what a sweep engine needs, each row adding to the
  previous: ``ratios, count > 1``; ``per-size sum (segment_sum)`` on the popcount of the
  bitmasks; ``per-size sum/min/max (sorted)``: the table's columns sorted by popcount so that
  each size is a static slice of every chunk (no scatter over coalitions); ``top-10``: the 10
  largest ratios of each group with their bitmasks (``lax.top_k`` per step, merged).
* ``engine-style L``: the pattern of ``evjax.sweeps.engine`` before this module's folds: a
  scan over single chunks on the (W, 2^L) columns-first table (``reduced_tables._costs_columns``),
  with ratios, count and per-size sums in the same step, so XLA fuses the cost loop into each
  consumer of the reduction.

Checks before timing (the script aborts otherwise): the GEMM and subset folds give the same
sum of costs over the same coalitions, and ``coalition_costs`` matches ``evjax.cost_ratios``
(method="dense") on a few coalitions to 1e-10.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + " --xla_force_host_platform_device_count=2 --xla_cpu_multi_thread_eigen=false"
).strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, PartitionSpec as P  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

import evjax  # noqa: E402
from evjax.charging import reduced  # noqa: E402
from evjax.charging.ratios import ratios_from_costs  # noqa: E402
from evjax.charging.reduced import tables as reduced_tables  # noqa: E402
from evjax.sweeps import folds  # noqa: E402

T_STEPS = 24
TOP_K = 10


def make_game(n: int, t: int, seed: int = 0) -> evjax.ChargingGame:
    rng = np.random.default_rng(seed)
    d = rng.uniform(1.0, 5.0, n)
    xbar = d[:, None] * rng.dirichlet(np.ones(t), n)
    return evjax.ChargingGame(rng.uniform(1, 3, t), 0.7, rng.uniform(0.5, 2, n), d, xbar)


# --------------------------------------------------------------------------- reductions
# Each is (init(n, low_bits), reduce(carry, bits, cnash, nash)) with costs (3, G, B).


def _sum_init(n, low_bits):
    return jnp.zeros(3)


def _sum_reduce(carry, bits, cnash, nash):
    return carry + jnp.sum(cnash, axis=(1, 2)) + jnp.sum(nash, axis=(1, 2))


def _ratios(cnash, nash):
    return ratios_from_costs(cnash, nash, fill=1.0)


def _count_init(n, low_bits):
    return jnp.zeros(3, jnp.int64)


def _count_reduce(carry, bits, cnash, nash):
    return carry + jnp.sum(_ratios(cnash, nash) > 1.0, axis=(1, 2))


def _segsum_init(n, low_bits):
    return _count_init(n, low_bits), jnp.zeros((3, n + 1))


def _segsum_reduce(carry, bits, cnash, nash):
    count, per = carry
    r = _ratios(cnash, nash)
    size = jax.lax.population_count(bits).reshape(-1)
    seg = jax.vmap(lambda x: jax.ops.segment_sum(x.reshape(-1), size, per.shape[1]))(r)
    return count + jnp.sum(r > 1.0, axis=(1, 2)), per + seg


def _bounds(low_bits):
    return np.cumsum([0] + [math.comb(low_bits, s) for s in range(low_bits + 1)])


def _sorted_init(n, low_bits):
    return (
        _count_init(n, low_bits),
        jnp.zeros((3, n + 1)),
        jnp.full((3, n + 1), jnp.inf),
        jnp.full((3, n + 1), -jnp.inf),
    )


def _sorted_stats(carry, bits, r, low_bits):
    """Per-size sum/min/max with the columns sorted by popcount: static slices per size."""
    count, s_sum, s_min, s_max = carry
    bounds = _bounds(low_bits)
    base = jax.lax.population_count(bits[:, 0])  # column 0 is the empty low subset
    for s in range(low_bits + 1):
        part = r[:, :, bounds[s] : bounds[s + 1]]
        idx = base + s
        s_sum = s_sum.at[:, idx].add(jnp.sum(part, axis=2))
        s_min = s_min.at[:, idx].min(jnp.min(part, axis=2))
        s_max = s_max.at[:, idx].max(jnp.max(part, axis=2))
    return count + jnp.sum(r > 1.0, axis=(1, 2)), s_sum, s_min, s_max


def _sorted_reduce_for(low_bits):
    def reduce(carry, bits, cnash, nash):
        return _sorted_stats(carry, bits, _ratios(cnash, nash), low_bits)

    return reduce


def _segstats_init(n, low_bits):
    return _sorted_init(n, low_bits)


def _segstats_reduce(carry, bits, cnash, nash):
    """Per-size sum/min/max by segment reductions on the popcount (natural column order)."""
    count, s_sum, s_min, s_max = carry
    r = _ratios(cnash, nash).reshape(3, -1)
    size = jax.lax.population_count(bits).reshape(-1)
    k = s_sum.shape[1]

    def seg(op):
        return jax.vmap(lambda x: op(x, size, k))(r)

    return (
        count + jnp.sum(r > 1.0, axis=1),
        s_sum + seg(jax.ops.segment_sum),
        jnp.minimum(s_min, seg(jax.ops.segment_min)),
        jnp.maximum(s_max, seg(jax.ops.segment_max)),
    )


def _topk_init(n, low_bits):
    return _segstats_init(n, low_bits), (
        jnp.full((3, TOP_K), -jnp.inf),
        jnp.zeros((3, TOP_K), jnp.int64),
    )


def _merge_top(top, r, bits):
    """The TOP_K largest of (carried top, this step's ratios), per group, with bitmasks."""
    top_v, top_c = top
    v, i = jax.lax.top_k(r, TOP_K)
    c = bits.reshape(-1)[i]
    v, i2 = jax.lax.top_k(jnp.concatenate([top_v, v], 1), TOP_K)
    return v, jnp.take_along_axis(jnp.concatenate([top_c, c], 1), i2, 1)


def _topk_reduce(carry, bits, cnash, nash):
    """Per-size stats, then top-10 with ``lax.top_k`` on every step."""
    stats, top = carry
    stats = _segstats_reduce(stats, bits, cnash, nash)
    return stats, _merge_top(top, _ratios(cnash, nash).reshape(3, -1), bits)


def _merge_top_argmax(top, r, codes):
    """As ``_merge_top`` by TOP_K passes of argmax (vectorised; XLA's CPU top_k sorts).

    ``codes`` has the shape of ``r``: the bitmask of every value."""
    vals = jnp.concatenate([top[0], r], 1)
    codes = jnp.concatenate([top[1], codes], 1)
    rows = jnp.arange(vals.shape[0])
    out_v, out_c = [], []
    for _ in range(TOP_K):
        j = jnp.argmax(vals, axis=1)
        out_v.append(vals[rows, j])
        out_c.append(codes[rows, j])
        vals = vals.at[rows, j].set(-jnp.inf)
    return jnp.stack(out_v, 1), jnp.stack(out_c, 1)


def _merge_top_blocks(top, r, bits, block=64):
    """As ``_merge_top``, on a short list: the TOP_K blocks (of ``block``) with the largest
    maxima hold the TOP_K largest values, so argmax passes run over TOP_K * block values."""
    g, m = r.shape
    codes = jnp.broadcast_to(bits.reshape(-1), r.shape)
    if m % block or m <= TOP_K * block:
        return _merge_top_argmax(top, r, codes)
    blocks = r.reshape(g, m // block, block)
    best = _argmax_passes(jnp.max(blocks, axis=2))  # (g, TOP_K) block indices
    cand = jnp.take_along_axis(blocks, best[:, :, None], 1).reshape(g, -1)
    code_blocks = codes.reshape(g, m // block, block)
    cand_c = jnp.take_along_axis(code_blocks, best[:, :, None], 1).reshape(g, -1)
    return _merge_top_argmax(top, cand, cand_c)


def _argmax_passes(vals):
    rows = jnp.arange(vals.shape[0])
    out = []
    for _ in range(TOP_K):
        j = jnp.argmax(vals, axis=1)
        out.append(j)
        vals = vals.at[rows, j].set(-jnp.inf)
    return jnp.stack(out, 1)


def _topk_blocks_reduce(carry, bits, cnash, nash):
    stats, top = carry
    stats = _segstats_reduce(stats, bits, cnash, nash)
    return stats, _merge_top_blocks(top, _ratios(cnash, nash).reshape(3, -1), bits)


def _topk_guarded_reduce(carry, bits, cnash, nash):
    """As ``_topk_blocks_reduce``, the merge skipped (``lax.cond``) when nothing beats the k-th."""
    stats, top = carry
    stats = _segstats_reduce(stats, bits, cnash, nash)
    r = _ratios(cnash, nash).reshape(3, -1)
    beats = jnp.any(jnp.max(r, axis=1) > top[0][:, -1])
    top = jax.lax.cond(beats, lambda: _merge_top_blocks(top, r, bits), lambda: top)
    return stats, top


# --------------------------------------------------------------------------- compiled folds


@eqx.filter_jit
def _engine_style(tables, low_cols, highs, low_bits):
    """Scan over single chunks on the (W, 2^L) table, reduction in the same step."""
    n = tables.n_stations
    low_codes = jnp.arange(2**low_bits)

    def step(carry, high):
        count, per = carry
        hs = reduced.high_sums(tables, high, low_bits)
        cnash, nash = reduced_tables._costs_columns(tables, low_cols + hs[:, None])
        r = _ratios(cnash, nash)
        size = jax.lax.population_count((high << low_bits) | low_codes)
        seg = jax.vmap(lambda x: jax.ops.segment_sum(x, size, n + 1))(r)
        return (count + jnp.sum(r > 1.0, axis=1), per + seg), None

    init = (jnp.zeros(3, jnp.int64), jnp.zeros((3, n + 1)))
    return jax.lax.scan(step, init, highs)[0]


def _sharded(fold, mesh):
    """``fold(tables, table, xs)`` with xs split over the mesh's devices (one core each)."""

    def per_device(tables, table, xs):
        out = fold(tables, table, xs, varying=True)
        return jax.tree.map(lambda v: v[None], out)

    return eqx.filter_jit(
        jax.shard_map(per_device, mesh=mesh, in_specs=(P(), P(), P("d")), out_specs=P("d"))
    )


def chunk_fold(reduce, init_fn, low_bits, n, group):
    def fold(tables, table, highs, varying=False):
        init = init_fn(n, low_bits)
        if varying:
            init = jax.tree.map(lambda v: jax.lax.pcast(v, ("d",), to="varying"), init)
        return folds._fold_chunks(tables, table, highs.reshape(-1, group), reduce, init)

    return fold


# --------------------------------------------------------------------------- timing


def run_round_robin(calls, reps):
    """{name: (fn, n_coalitions)} -> {name: (median wall rate, best wall rate, best cpu rate)}."""
    for fn, _ in calls.values():
        _common.block(fn())  # compile and warm up
    walls = {name: [] for name in calls}
    cpus = {name: [] for name in calls}
    for _ in range(reps):
        for name, (fn, _) in calls.items():
            c0, t0 = time.process_time(), time.perf_counter()
            _common.block(fn())
            walls[name].append(time.perf_counter() - t0)
            cpus[name].append(time.process_time() - c0)
    return {
        name: (
            count / statistics.median(walls[name]),
            count / min(walls[name]),
            count / max(min(cpus[name]), 1e-9),
        )
        for name, (_, count) in calls.items()
    }


def check(game, tables, n):
    rng = np.random.default_rng(1)
    masks = (rng.random((4, n)) < 0.5).astype(float)
    masks[:, 0] = 1.0
    cnash, nash = reduced.coalition_costs(tables, masks)
    mine = np.asarray(ratios_from_costs(cnash, nash))
    for m, r in zip(masks, mine):
        ref = np.array(evjax.cost_ratios(game, m, method="dense"))
        if not np.allclose(r, ref, rtol=1e-10, atol=0):
            raise SystemExit(f"reduced ratios {r} differ from dense {ref} for mask {m}")
    low = 9
    table = reduced.subset_table(tables, low)
    highs = jnp.arange(8)
    by_table = folds.fold_chunks(tables, table, highs, _sum_reduce, jnp.zeros(3))
    bits = jnp.arange(8 * 2**low).reshape(8, -1)
    by_gemm = folds.fold_bitmasks(tables, bits, _sum_reduce, jnp.zeros(3))
    if not np.allclose(by_table, by_gemm, rtol=1e-12):
        raise SystemExit(f"subset-table sums {by_table} differ from GEMM sums {by_gemm}")
    # the reductions timed below, against numpy on the first 2^16 bitmasks
    count = 2**16
    highs = jnp.arange(count >> low)
    stats, (top_v, top_c) = folds.fold_chunks(
        tables, table, highs, _topk_guarded_reduce, _topk_init(n, low))
    bits = np.arange(count)
    cnash, nash = reduced.coalition_costs(tables, (bits[:, None] >> np.arange(n)) & 1)
    r = np.asarray(_ratios(cnash, nash)).T  # (3, count)
    size = np.array([bin(b).count("1") for b in bits])
    want_sum = np.stack([np.bincount(size, g, n + 1) for g in r])
    want_min = np.stack([[g[size == k].min() if (size == k).any() else np.inf
                          for k in range(n + 1)] for g in r])
    want_max = np.stack([[g[size == k].max() if (size == k).any() else -np.inf
                          for k in range(n + 1)] for g in r])
    want_top = -np.sort(-r, axis=1)[:, :TOP_K]
    top_c = np.asarray(top_c)
    ok = (
        np.all((r > 1.0 + 1e-12).sum(axis=1) <= stats[0])  # singletons: ratio 1 +- rounding
        and np.all(stats[0] <= (r > 1.0 - 1e-12).sum(axis=1))
        and np.allclose(stats[1], want_sum, rtol=1e-12)
        and np.allclose(stats[2], want_min, rtol=1e-12)
        and np.allclose(stats[3], want_max, rtol=1e-12)
        and np.allclose(top_v, want_top, rtol=1e-12)
        and np.allclose(np.take_along_axis(r, top_c, 1), want_top, rtol=1e-12)
        and all(len(set(row)) == TOP_K for row in top_c.tolist())
    )
    if not ok:
        raise SystemExit("the benchmark's reductions disagree with numpy")


def bench_n(n, args, mesh):
    game = make_game(n, T_STEPS)
    tables = reduced.coalition_tables(game)
    check(game, tables, n)
    total = args.coalitions or min(2**n, 2**24)
    gemm_total = max(2**16, min(total // 4, 2**22))
    calls = {}

    for log_b in range(12, 17):
        b = 2**log_b
        bits = jnp.arange(gemm_total, dtype=jnp.int64).reshape(-1, b)
        calls[f"gemm B=2^{log_b} | 1 dev"] = (
            lambda bits=bits: folds.fold_bitmasks(tables, bits, _sum_reduce, jnp.zeros(3)),
            gemm_total,
        )

    tabs = {}
    for low in args.low_bits:
        table = reduced.subset_table(tables, low)
        tabs[low] = table
        group = 8 if low <= 12 else 1
        highs = jnp.arange(total >> low)
        calls[f"subset L={low} | 1 dev"] = (
            lambda table=table, highs=highs, group=group: folds.fold_chunks(
                tables, table, highs, _sum_reduce, jnp.zeros(3), group=group
            ),
            total,
        )

    low = args.best_l
    order = np.argsort([bin(j).count("1") for j in range(2**low)], kind="stable")
    sorted_table = reduced.subset_table(tables, low, order=order)
    natural = reduced.subset_table(tables, low)
    highs = jnp.arange(total >> low)
    variants = [
        ("ratios, count > 1", natural, _count_reduce, _count_init),
        ("per-size sum (segment_sum)", natural, _segsum_reduce, _segsum_init),
        ("per-size sum/min/max (sorted)", sorted_table, _sorted_reduce_for(low), _sorted_init),
        ("per-size sum/min/max (segment)", natural, _segstats_reduce, _segstats_init),
        ("per-size stats + top-10 (top_k)", natural, _topk_reduce, _topk_init),
        ("per-size stats + top-10 (blocks)", natural, _topk_blocks_reduce, _topk_init),
        ("per-size stats + top-10 (guarded blocks)", natural, _topk_guarded_reduce, _topk_init),
    ]
    for label, table, red, init in variants:
        calls[f"subset L={low} + {label} | 1 dev"] = (
            lambda table=table, red=red, init=init: folds.fold_chunks(
                tables, table, highs, red, init(n, low)
            ),
            total,
        )
    for eng_low in sorted({low, 12}):
        cols = reduced.subset_sums(tables, eng_low)
        eng_highs = jnp.arange(total >> eng_low)
        calls[f"engine-style L={eng_low} | 1 dev"] = (
            lambda cols=cols, eng_highs=eng_highs, eng_low=eng_low: _engine_style(
                tables, cols, eng_highs, eng_low
            ),
            total,
        )
    if mesh is not None:
        for label, table, red, init in [
            ("", natural, _sum_reduce, _sum_init),
            (" + per-size stats + top-10 (guarded blocks)", natural, _topk_guarded_reduce,
             _topk_init),
        ]:
            fn = _sharded(chunk_fold(red, init, low, n, 8), mesh)
            calls[f"subset L={low}{label} | 2 dev"] = (
                lambda fn=fn, table=table: fn(tables, table, highs), total)
    if args.only:
        calls = {k: v for k, v in calls.items() if any(o in k for o in args.only)}
    rates = run_round_robin(calls, args.reps)
    rows = []
    for name, (med, best, cpu) in rates.items():
        config, dev = name.split(" | ")
        row = [config, dev, f"{med:.3g}", f"{best:.3g}", f"{cpu:.3g}"]
        if n > 24:
            row.append(_common.format_seconds((2**n - 1) / best))
        rows.append(row)
    headers = ["configuration", "devices", "coalitions/s (median)", "best", "per CPU-s"]
    if n > 24:
        headers.append(f"2^{n} - 1 at best rate (s)")
    return _common.markdown_table(headers, rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 20 only, 3 rounds")
    parser.add_argument("--n", type=int, nargs="*", default=None, help="station counts")
    parser.add_argument("--reps", type=int, default=5, help="timing rounds")
    parser.add_argument("--coalitions", type=int, default=None,
                        help="coalitions per call (default min(2^N, 2^24))")
    parser.add_argument("--low-bits", type=int, nargs="*", default=[9, 10, 12, 14])
    parser.add_argument("--best-l", type=int, default=9, help="L of the reduction rows")
    parser.add_argument("--only", nargs="*", help="time only configurations containing these")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps = 3
        args.n = args.n or [20]
    ns = args.n or [20, 30]
    c = args.coalitions
    if c is not None and (c & (c - 1) or c < 2**17):
        parser.error("--coalitions must be a power of two >= 2^17")
    devices = jax.devices()
    mesh = Mesh(np.array(devices[:2]), ("d",)) if len(devices) >= 2 else None
    print(f"# evjax.charging.reduced micro-benchmark, {_common.now_utc()}")
    print(_common.format_machine(_common.machine_info()))
    print(f"  threads: {_common.thread_settings()}")
    print(f"  load average at start: {os.getloadavg()}")
    for n in ns:
        total = args.coalitions or min(2**n, 2**24)
        print(f"\n## N = {n}, T = {T_STEPS}: {total} coalitions per call, {args.reps} rounds\n")
        print(bench_n(n, args, mesh), flush=True)
    print(f"\n  load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
