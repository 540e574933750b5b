"""Engine throughput on synthetic XAU/USD ticks (one thread = one core).

    .venv/bin/python bench/engine.py [--ticks 20000000] [--repeat 5] [--batch-ticks 5000000]
    .venv/bin/python bench/engine.py --only batch [--against main] [--k 64] [--repeat 5]
    .venv/bin/python bench/engine.py --only batch-procs [--procs 2] [--k 64] [--repeat 5]

Prints, per built-in strategy (and a user strategy from `examples/`): first-call cost in a fresh
process (cold compile, and with the on-disk cache warm); the bare reference loops (EMA crossover,
window-1000 z-score) measured in the same run, since the machine is shared and noisy; then the median
ticks/s over `--repeat` runs after a warm-up; then end-to-end from a local Parquet store (read +
validate + run), with the next row group read ahead as `hft run` does and in one thread; then K=64
batched configs in config-ticks/s. Everything else runs on one thread.

`--only batch` times the batched EMA-crossover kernel alone (K configs drawn as `bench/sweep.py`'s
sweep draws them, on its synthetic month of XAU/USD, fed in row-group chunks as a sweep feeds them,
validation off) against the same kernel as of git revision `--against`, taking turns, and checks
that both give the same records bit for bit. `--only batch-procs` runs this checkout's kernel in one
process, then in `--procs` processes at once, and prints the throughput ratio: the scaling the
hardware allows sweep actors, before a driver or Ray shares their cores.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from numba import njit

from hft.engine import BUILTINS, BatchRun, Run, exec_params
from hft.engine import strategies as S

CASES = {
    "ema_cross": (S.ema_cross_params(1000, 5000), {}),
    "zscore": (S.zscore_params(1000, 2.5, 0.5), {}),
    "donchian": (S.donchian_params(5000), {}),
    "filtered_ema": (S.filtered_ema_params(1000, 5000, 0.5, 100, 500), {}),
    "market_maker": (S.market_maker_params(0.05, 0.05, 5, 0.01, 1.0), {"max_inventory": 5.0}),
}


def synthetic_xauusd(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first `n` ticks of `hft synth`'s XAU/USD from 2024-01-01 (the demo's and the ingest bench's).

    Its volatility regimes, flickering spreads and session rhythm let the market maker's quotes be
    reached; a plain random walk never comes back through a quote that follows mid every tick.
    """
    from hft.backtest.strategy_tools import synthetic_ticks

    return synthetic_ticks(n, seed, date(2024, 1, 1))


def _ep(extra: dict) -> np.ndarray:
    return exec_params(size=1.0, latency_ms=20, slippage=0.01, taker_per_unit=0.02, stop_loss=5.0, **extra)


def first_call_seconds(cold: bool) -> dict[str, float]:
    """First call per strategy in a new process; `cold` points Numba at an empty cache dir."""
    code = (
        "import time, json, numpy as np\n"
        "t0 = time.perf_counter()\n"
        "import bench.engine as b\n"
        "out = {'import': time.perf_counter() - t0}\n"
        "ts, bid, ask = b.synthetic_xauusd(1000)\n"
        "for name, (sp, extra) in b.CASES.items():\n"
        "    t = time.perf_counter()\n"
        "    r = b.Run(b.BUILTINS[name], sp, b._ep(extra)); r.feed(ts, bid, ask); r.finish()\n"
        "    out[name] = time.perf_counter() - t\n"
        "from examples.momentum_strategy import tick_momentum_nb\n"
        "t = time.perf_counter()\n"
        "from hft.engine import StrategySpec\n"
        "spec = StrategySpec('m', tick_momentum_nb, lambda sp: 502)\n"
        "r = b.Run(spec, np.array([500.0, 2e-4]), b._ep({})); r.feed(ts, bid, ask); r.finish()\n"
        "out['user (example)'] = time.perf_counter() - t\n"
        "print(json.dumps(out))\n"
    )
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        if cold:
            env["NUMBA_CACHE_DIR"] = cache
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        res = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
    import json

    return json.loads(res.stdout.strip().splitlines()[-1])


@njit  # not cached: this file runs both as __main__ and as bench.engine
def bare_ema_cross(bid, ask, a_fast, a_slow):
    """The bound: two EMAs of mid and their sign, nothing else (no orders, no account)."""
    fast = slow = (bid[0] + ask[0]) * 0.5
    longs = 0
    for i in range(bid.shape[0]):
        mid = (bid[i] + ask[i]) * 0.5
        fast += a_fast * (mid - fast)
        slow += a_slow * (mid - slow)
        longs += 1 if fast > slow else 0
    return longs


@njit
def bare_zscore(bid, ask, w):
    """The bound: O(1) rolling mean and variance of mid over `w` ticks and the z-score test."""
    buf = np.zeros(w)
    s = q = 0.0
    hits = 0
    ref = (bid[0] + ask[0]) * 0.5  # deviations from the first mid, as the engine keeps them
    for i in range(bid.shape[0]):
        x = (bid[i] + ask[i]) * 0.5 - ref
        j = i % w
        old = buf[j]
        buf[j] = x
        s += x - old
        q += x * x - old * old
        if i >= w:
            m = s / w
            v = q / w - m * m
            if v > 0.0 and (x - m) / np.sqrt(v) > 2.0:
                hits += 1
    return hits


def bare_loops(ts, bid, ask, repeat: int) -> None:
    n = ts.size
    print(f"\nbare reference loops, {n / 1e6:.0f} M ticks, median of {repeat} (this run's machine bound)")
    for name, fn, args in (
        ("ema_cross", bare_ema_cross, (2 / 1001, 2 / 5001)),
        ("zscore", bare_zscore, (1000,)),
    ):
        fn(bid[:2000], ask[:2000], *args)
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn(bid, ask, *args)
            times.append(time.perf_counter() - t)
        print(f"  {name:<13} {n / statistics.median(times) / 1e6:8.1f} M ticks/s")


def in_memory(ts, bid, ask, repeat: int) -> None:
    n = ts.size
    print(f"\nin memory, {n / 1e6:.0f} M ticks, median of {repeat} (validation included)")
    for name, (sp, extra) in CASES.items():
        times, trades = [], 0
        Run(BUILTINS[name], sp, _ep(extra)).feed(ts[:10_000], bid[:10_000], ask[:10_000])  # warm-up
        for _ in range(repeat):
            run = Run(BUILTINS[name], sp, _ep(extra), trade_cap=1 << 16, mark_cap=1 << 16)
            t = time.perf_counter()
            run.feed(ts, bid, ask)
            times.append(time.perf_counter() - t)
            trades = len(run.finish().trades)
        med = statistics.median(times)
        print(f"  {name:<13} {n / med / 1e6:8.1f} M ticks/s  ({med:.3f} s, {trades} trades)")


def from_parquet(ts, bid, ask, repeat: int) -> None:
    from hft.data.ticks import TICK_DTYPE
    from hft.store.ticks import iter_tick_batches, write_day

    day_ms = 86_400_000
    with tempfile.TemporaryDirectory() as store:
        days = ts // day_ms
        bounds = np.flatnonzero(np.diff(days)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [ts.size]])
        for a, b in zip(starts, ends, strict=True):
            arr = np.zeros(b - a, dtype=TICK_DTYPE)
            arr["ts"], arr["bid"], arr["ask"] = ts[a:b], bid[a:b], ask[a:b]
            day = datetime.fromtimestamp(int(ts[a]) // 1000, tz=UTC).date()
            write_day(store, "XAUUSD", day, arr)
        first = datetime.fromtimestamp(int(ts[0]) // 1000, tz=UTC).date()
        last = datetime.fromtimestamp(int(ts[-1]) // 1000, tz=UTC).date()
        print(f"\nend to end from local Parquet ({len(starts)} day files, zstd), median of {repeat}")
        for name in ("ema_cross", "zscore"):
            sp, extra = CASES[name]
            e2e = {}
            for prefetch in (True, False):
                times = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    run = Run(BUILTINS[name], sp, _ep(extra), trade_cap=1 << 16, mark_cap=1 << 16)
                    for batch in iter_tick_batches(store, "XAUUSD", first, last, prefetch=prefetch):
                        run.feed(batch["ts"], batch["bid"], batch["ask"])
                    run.finish()
                    times.append(time.perf_counter() - t)
                e2e[prefetch] = statistics.median(times)
            read = []
            for _ in range(repeat):
                t = time.perf_counter()
                for _batch in iter_tick_batches(store, "XAUUSD", first, last):
                    pass
                read.append(time.perf_counter() - t)
            rmed = statistics.median(read)
            print(
                f"  {name:<13} {ts.size / e2e[True] / 1e6:8.1f} M ticks/s end to end, reading ahead "
                f"(as `hft run`); {ts.size / e2e[False] / 1e6:.1f} M in one thread; "
                f"read alone {ts.size / rmed / 1e6:.1f} M ticks/s"
            )


def batched(ts, bid, ask, repeat: int, k: int = 64) -> None:
    n = ts.size
    print(f"\nbatched K={k}, {n / 1e6:.0f} M ticks, median of {repeat}")
    for name in ("ema_cross", "zscore"):
        if name == "ema_cross":
            sps = np.stack([S.ema_cross_params(100 + 37 * j, 2000 + 150 * j) for j in range(k)])
        else:
            sps = np.stack([S.zscore_params(500 + 10 * j, 2.0 + 0.02 * j, 0.5) for j in range(k)])
        eps = np.stack([_ep({})] * k)
        BatchRun(BUILTINS[name], sps, eps).feed(ts[:10_000], bid[:10_000], ask[:10_000])  # warm-up
        times = []
        for _ in range(repeat):
            batch = BatchRun(BUILTINS[name], sps, eps)  # record buffers as sweeps size them
            t = time.perf_counter()
            for a in range(0, n, 131_072):  # row-group sized chunks, as from the store
                batch.feed(ts[a : a + 131_072], bid[a : a + 131_072], ask[a : a + 131_072])
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        print(f"  {name:<13} {k * n / med / 1e6:8.1f} M config-ticks/s ({med:.2f} s)")


def month_of_ticks(start: date = date(2024, 3, 1), days: int = 31) -> tuple[np.ndarray, ...]:
    """`hft synth`'s XAU/USD for March 2024 (~11 M ticks), the month `bench/sweep.py` sweeps."""
    from hft.data.synth import synth_day

    t = np.concatenate([synth_day("XAUUSD", start + timedelta(days=d), 0) for d in range(days)])
    return tuple(np.ascontiguousarray(t[c]) for c in ("ts", "bid", "ask"))


def kernel_at(rev: str, where: Path):
    """`batch_nb.batch_ema_cross_nb` as of git revision `rev`, on that revision's `events_nb` and
    `account_nb` (copied under `where` as a package of their own; the rest of `hft` is shared)."""
    root = Path(__file__).resolve().parents[1]
    pkg = "kernel_" + "".join(c if c.isalnum() else "_" for c in rev)
    (where / pkg).mkdir(parents=True, exist_ok=True)
    (where / pkg / "__init__.py").write_text("")
    for name in ("account_nb", "events_nb", "batch_nb"):
        src = subprocess.run(
            ["git", "show", f"{rev}:hft/engine/{name}.py"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for dep in ("account_nb", "events_nb"):
            src = src.replace(f"from hft.engine.{dep} import", f"from {pkg}.{dep} import")
        (where / pkg / f"{name}.py").write_text(src)
    sys.path.insert(0, str(where))
    return importlib.import_module(f"{pkg}.batch_nb").batch_ema_cross_nb


def sweep_draws(k: int) -> tuple[np.ndarray, np.ndarray]:
    """K EMA-crossover configs drawn from bench/sweep.py's search space, and their execution."""
    rng = random.Random(1)
    draws = [(rng.randrange(100, 2001, 50), rng.randrange(3000, 30001, 500)) for _ in range(k)]
    sps = np.stack([S.ema_cross_params(f, s) for f, s in draws])
    eps = np.stack([exec_params(size=1, latency_ms=20, slippage=0.01, taker_per_unit=0.02)] * k)
    return sps, eps


def month_pass(kernel, sps, eps, ts, bid, ask, chunk: int = 131_072):
    """One pass of the batch over the month in store-row-group chunks, as a sweep feeds it: (s, results).
    Record buffers as sweeps size them; no tick check (not the kernel's work)."""
    batch = BatchRun(BUILTINS["ema_cross"], sps, eps, validate=False)
    if kernel is not None:
        batch._kernel = kernel  # the kernel under test in place of this checkout's
    t = time.perf_counter()
    for a in range(0, ts.size, chunk):
        batch.feed(ts[a : a + chunk], bid[a : a + chunk], ask[a : a + chunk])
    return time.perf_counter() - t, batch.finish()


def batch_procs(procs: int, repeat: int, k: int) -> None:
    """The batched kernel in one process, then in `procs` processes at once (no Ray, no driver): how
    far this machine lets sweep actors scale before anything of hft's shares their cores."""
    cmd = [sys.executable, __file__, "--only", "batch-worker", "--k", str(k), "--repeat", str(repeat)]
    took = {}
    for n in (1, procs):
        workers = [
            subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(n)
        ]
        for w in workers:  # each synthesised the month and compiled: start them together
            if w.stdout.readline().strip() != "ready":
                sys.exit("bench/engine.py: a batch worker did not start")
        for w in workers:
            w.stdin.write("go\n")
            w.stdin.flush()
        took[n] = [float(w.stdout.readline()) for w in workers]
        for w in workers:
            w.wait()
    one, many = took[1][0], statistics.mean(took[procs])
    print(f"\nbatched ema_cross kernel, K={k} sweep draws, the month, median of {repeat} passes per process")
    print(f"  1 process:          {one:.3f} s a pass")
    print(f"  {procs} processes at once: {', '.join(f'{t:.3f}' for t in took[procs])} s a pass")
    print(f"  throughput {procs} vs 1: {procs * one / many:.2f}x")


def batch_worker(repeat: int, k: int) -> None:
    from hft.engine.runners_nb import BATCH

    ts, bid, ask = month_of_ticks()
    sps, eps = sweep_draws(k)
    kernel = BATCH[BUILTINS["ema_cross"].signal]
    month_pass(kernel, sps[:2], eps[:2], ts[:20_000], bid[:20_000], ask[:20_000])  # compile / load
    print("ready", flush=True)
    sys.stdin.readline()
    times = [month_pass(kernel, sps, eps, ts, bid, ask)[0] for _ in range(repeat)]
    print(statistics.median(times), flush=True)


def batch_kernel(repeat: int, k: int, against: str) -> None:
    from hft.engine.runners_nb import BATCH

    ts, bid, ask = month_of_ticks()
    n = ts.size
    sps, eps = sweep_draws(k)

    def run(kernel):
        return month_pass(kernel, sps, eps, ts, bid, ask)

    with tempfile.TemporaryDirectory() as where:
        kernels = {
            against: kernel_at(against, Path(where)),
            "this checkout": BATCH[BUILTINS["ema_cross"].signal],
        }
        for kernel in kernels.values():  # compile (or load the cache) outside the timings
            month_pass(kernel, sps[:2], eps[:2], ts[:20_000], bid[:20_000], ask[:20_000])
        times: dict[str, list[float]] = {label: [] for label in kernels}
        results = {}
        for _ in range(repeat):  # taking turns, so a busy spell on a shared machine hits both
            for label, kernel in kernels.items():
                dt, results[label] = run(kernel)
                times[label].append(dt)
    print(
        f"\nbatched ema_cross kernel, K={k} sweep draws, {n / 1e6:.2f} M ticks (March 2024), "
        f"median of {repeat}"
    )
    med = {label: statistics.median(v) for label, v in times.items()}
    for label in kernels:
        print(
            f"  {label:<14} {k * n / med[label] / 1e6:8.0f} M config-ticks/s  ({med[label]:.3f} s; "
            f"{1e3 * med[label] / k:.1f} ms per config; all {', '.join(f'{x:.3f}' for x in times[label])})"
        )
    a, b = results.values()
    same = all(
        x.trades.tobytes() == y.trades.tobytes()
        and x.marks.tobytes() == y.marks.tobytes()
        and x.acct.tobytes() == y.acct.tobytes()
        for x, y in zip(a, b, strict=True)
    )
    trades = sum(len(r.trades) for r in b) / k
    print(
        f"  speed-up {med[against] / med['this checkout']:.2f}x; "
        f"identical trades, marks and accounts: {same} ({trades:.0f} trades per config)"
    )


# --- user strategies: the declared SMA cross (examples/sma_cross.py) against the same SMA cross written
# as a built-in (flat state, hand-made ring, bound to the loop at module level, no bounds checks)
SMA_HDR = 5  # ss = [n, head, sum, diff, target, ring[n]] (ring of deviations from the first mid)


@njit(inline="always")
def sma_builtin_nb(ts, bid, ask, pos, ss, sp, quotes):
    w = np.int64(sp[0])
    n = np.int64(ss[0])
    mid = (bid + ask) * 0.5
    if n == 0:
        ss[SMA_HDR + w] = mid  # the reference kept after the ring
        ss[3] = np.nan  # no previous difference: the first full tick is no crossing (as `cross`)
    x = mid - ss[SMA_HDR + w]
    head = np.int64(ss[1])
    if n >= w:
        ss[2] += x - ss[SMA_HDR + head]
    else:
        ss[2] += x
    ss[SMA_HDR + head] = x
    head += 1
    if head == w:
        head = 0
        s = 0.0
        for j in range(w):
            s += ss[SMA_HDR + j]
        ss[2] = s
    ss[1] = head
    n += 1
    ss[0] = n
    if n >= w:
        diff = mid - (ss[SMA_HDR + w] + ss[2] / w)
        prev = ss[3]
        if prev <= 0.0 < diff:
            ss[4] = 1.0
        elif prev >= 0.0 > diff:
            ss[4] = -1.0
        ss[3] = diff
    return np.int64(ss[4])


def _sma_builtin_runner():
    from hft.engine.loop_nb import _array_load, _array_save, _array_step, run_loop_nb
    from hft.engine.runners_nb import SINGLE

    @njit(nogil=True)
    def run_sma_nb(ts, bid, ask, ep, sp, ss, acct, quotes, tbuf, mbuf, start, check):
        if check:
            return run_loop_nb(
                _array_step, _array_load, _array_save, sma_builtin_nb, ts, bid, ask, ep, sp, ss, acct,
                quotes, tbuf, mbuf, start, True, False,
            )  # fmt: skip
        return run_loop_nb(
            _array_step, _array_load, _array_save, sma_builtin_nb, ts, bid, ask, ep, sp, ss, acct, quotes,
            tbuf, mbuf, start, False, False,
        )  # fmt: skip

    SINGLE[sma_builtin_nb] = run_sma_nb
    from hft.engine import StrategySpec

    return StrategySpec("sma_builtin", sma_builtin_nb, lambda sp: SMA_HDR + int(sp[0]) + 1)


def user_strategies(ts, bid, ask, repeat: int, n: int = 5000) -> None:
    import importlib.util
    from pathlib import Path

    from hft.backtest.params import get_strategy

    path = Path(__file__).resolve().parents[1] / "examples" / "sma_cross.py"
    spec_ = importlib.util.spec_from_file_location("sma_cross", path)
    mod = importlib.util.module_from_spec(spec_)
    sys.modules["sma_cross"] = mod
    spec_.loader.exec_module(mod)
    reg = get_strategy("sma_cross")
    prm = reg.params(n=n)
    cases = {
        "sma_cross (declared, examples/sma_cross.py)": (reg.spec(prm), prm.encode(1.0)),
        "sma_cross written as a built-in": (_sma_builtin_runner(), np.array([float(n)])),
    }
    print(f"\nuser strategies, SMA({n}) cross, {ts.size / 1e6:.0f} M ticks, median of {repeat} (interleaved)")
    rates, trades = {}, {}
    times: dict[str, list[float]] = {label: [] for label in cases}
    for spec, sp in cases.values():
        Run(spec, sp, _ep({})).feed(ts[:10_000], bid[:10_000], ask[:10_000])  # compile
    for _ in range(repeat):  # one of each in turn, so a busy spell on a shared machine hits both
        for label, (spec, sp) in cases.items():
            run = Run(spec, sp, _ep({}), trade_cap=1 << 16, mark_cap=1 << 16)
            t = time.perf_counter()
            run.feed(ts, bid, ask)
            times[label].append(time.perf_counter() - t)
            trades[label] = run.finish().trades
    for label in cases:
        rates[label] = ts.size / statistics.median(times[label]) / 1e6
        print(f"  {label:<44} {rates[label]:8.1f} M ticks/s  ({len(trades[label])} trades)")
    a, b = rates.values()
    ta, tb = trades.values()
    same = ta.tobytes() == tb.tobytes()
    print(f"  built-in / declared: {b / a:.2f}x (goal <= 1.5x); identical trades: {same}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=20_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch-ticks", type=int, default=5_000_000)
    ap.add_argument("--skip-compile", action="store_true")
    ap.add_argument(
        "--only",
        choices=["memory", "user", "batch", "batch-procs", "batch-worker"],
        help="only the in-memory built-ins / user strategies / the batched EMA kernel against --against"
        " / that kernel in 1 and in --procs processes at once",
    )
    ap.add_argument("--procs", type=int, default=2, help="processes at once (--only batch-procs)")
    ap.add_argument(
        "--against", default="main", help="git revision whose batched EMA kernel --only batch times"
    )
    ap.add_argument("--k", type=int, default=64, help="configs in the batch (--only batch)")
    args = ap.parse_args()
    if args.only == "batch":
        batch_kernel(args.repeat, args.k, args.against)
        return
    if args.only == "batch-procs":
        batch_procs(args.procs, args.repeat, args.k)
        return
    if args.only == "batch-worker":
        batch_worker(args.repeat, args.k)
        return
    if args.only:
        ts, bid, ask = synthetic_xauusd(args.ticks)
        bare_loops(ts, bid, ask, args.repeat)
        (in_memory if args.only == "memory" else user_strategies)(ts, bid, ask, args.repeat)
        return
    if not args.skip_compile:
        cold = first_call_seconds(cold=True)
        first_call_seconds(cold=False)  # fills the on-disk cache if this checkout has none yet
        warm = first_call_seconds(cold=False)
        print("first call per process, seconds (cold = empty Numba cache, warm = on-disk cache)")
        for key in cold:
            print(f"  {key:<13} cold {cold[key]:7.2f}   warm {warm[key]:6.2f}")
    ts, bid, ask = synthetic_xauusd(args.ticks)
    bare_loops(ts, bid, ask, args.repeat)
    in_memory(ts, bid, ask, args.repeat)
    user_strategies(ts, bid, ask, args.repeat)
    from_parquet(ts, bid, ask, max(3, args.repeat // 2))
    nb = args.batch_ticks
    batched(ts[:nb], bid[:nb], ask[:nb], max(3, args.repeat // 2))


if __name__ == "__main__":
    main()
