"""The sweep driver's ceiling: trials/s of the real ask/tell loop against a pool that answers instantly.

    .venv/bin/python bench/driver.py [--actors 256] [--batch 8] [--finished 1000 10000]
                                     [--samplers grid random tpe] [--storages sqlite journal]
                                     [--trials 2000] [--tpe-trials 300] [--repeat 1] [--workdir DIR]

For each storage × sampler × number of already finished trials, a study is filled with that many
finished trials in bulk (`study.add_trials`, with the metrics and run user attributes a real sweep
leaves), then `hft.sweep.driver.optimise` runs --trials more (--tpe-trials for TPE) against
`StandInPool`: --actors in-process stand-in actors behind the driver's `Dispatch` seam that return
every batch at once with made-up metrics. No Ray and no engine, so the wall time is the driver's
alone: sampler, storage, building requests, telling results. Prints trials/s per cell (median over
--repeat), trials per CPU-second of this process (what an idle core would give; the machine may be
shared), and the ask / tell shares.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from collections import deque
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

START, END = date(2024, 3, 1), date(2024, 3, 31)


def spec_for(store: str, name: str, sampler: str, batch: int, actors: int):
    from hft.sweep import parse_spec

    space = {  # 191 × 109 = 20,819 grid points: room for 10^4 finished plus the timed ones
        "fast": {"type": "int", "low": 100, "high": 2000, "step": 10},
        "slow": {"type": "int", "low": 3000, "high": 30000, "step": 250},
    }
    return parse_spec(
        {
            "name": name,
            "data": {"symbol": "XAUUSD", "start": START, "end": END, "store": store},
            "strategy": {"name": "ema_cross"},
            "execution": {"size": 1, "latency_ms": 20, "slippage": 0.01, "taker_per_unit": 0.02},
            "space": space,
            "sampler": {"type": sampler, "seed": 7},
            "objectives": [{"metric": "sharpe"}],
            "n_trials": 1,
            "resources": {"actors": actors, "batch": batch},
        },
        where=f"bench {name}",
    )


def fake_metrics(key: int) -> dict[str, float]:
    """A run's metrics, made up but stable per trial (all 16 of hft.sweep.spec.METRICS)."""
    from hft.sweep.spec import METRICS

    h = hashlib.blake2b(str(key).encode(), digest_size=8).digest()
    x = int.from_bytes(h, "little") / 2**64
    return {m: round((i + 1) * (x - 0.4), 6) for i, m in enumerate(METRICS)}


class StandInPool:
    """`actors` in-process stand-ins: every call returns at once, in the order sent (see Dispatch)."""

    def __init__(self, actors: int) -> None:
        self.actors = list(range(actors))

    def dispatch(self, stats):
        return _StandInDispatch(self, stats)


class _StandInDispatch:
    def __init__(self, pool: StandInPool, stats) -> None:
        self.stats = stats
        self.idle = deque(pool.actors)
        self.inflight: dict = {}
        self.starting: dict = {}  # stand-ins never die, so none is ever replaced
        self._done: deque = deque()
        self._n = 0

    def behind(self) -> int:
        """Nothing queues behind a call here: every call is answered the moment it is sent."""
        return 0

    def send(self, job) -> None:
        from hft.sweep.worker import StepReport, TrialOutcome

        job.actor = self.idle.popleft()
        outs = [
            TrialOutcome(
                t.key, "complete", fake_metrics(t.key), f"run{t.key:06d}", f"runs/x/run{t.key:06d}", ticks=1
            )
            for t in job.req.tasks
        ]
        self._n += 1
        self.inflight[self._n] = job
        self._done.append((self._n, StepReport(done=True, outcomes=outs)))

    def advance(self, job, prune) -> None:  # pragma: no cover - the bench runs without a pruner
        raise NotImplementedError("the stand-in pool runs whole batches only")

    def wait(self, block: bool = True):
        if not self._done:
            return None
        ref, rep = self._done.popleft()
        job = self.inflight.pop(ref)
        self.stats.add(rep, 0.0)
        return job, rep, None

    def release(self, job) -> None:
        self.idle.append(job.actor)
        job.actor = None


def prefill(study, spec, n: int) -> float:
    """`n` finished trials in one go, as a sweep leaves them (params, value, metrics, run)."""
    import optuna

    from hft.sweep.study import make_sampler

    t = time.perf_counter()
    dists = spec.distributions()
    sampler = make_sampler(spec)
    grid = getattr(sampler, "_all_grids", None)
    names = getattr(sampler, "_param_names", None)
    rng = __import__("random").Random(1)
    trials = []
    for i in range(n):
        if grid is not None:
            gid = len(grid) - 1 - i  # from the end, so the sampler still has to look for open points
            params = dict(zip(names, grid[gid], strict=True))
            system = {"grid_id": gid, "search_space": {k: list(v) for k, v in sampler._search_space.items()}}
        else:
            params = {k: rng.choice(p.grid()) for k, p in spec.space.items()}
            system = {}
        m = fake_metrics(-1 - i)
        trials.append(
            optuna.trial.create_trial(
                params=params,
                distributions=dists,
                value=m["sharpe"],
                user_attrs={"metrics": m, "run": {"run_id": f"pre{i}", "folder": "x", "ticks": 1}},
                system_attrs=system,
            )
        )
    from hft.sweep.journal import batched

    with batched(study):  # one write for a journal (SQLite: one transaction per trial)
        study.add_trials(trials)
    return time.perf_counter() - t


def one(workdir: Path, storage: str, sampler: str, finished: int, trials: int, batch: int, actors: int):
    from hft.sweep.driver import SweepStats, optimise
    from hft.sweep.study import open_storage, open_study

    name = f"{sampler}-{storage}-{finished}-{time.monotonic_ns()}"
    spec = spec_for(str(workdir / "store"), name, sampler, batch, actors)
    folder = workdir / name
    folder.mkdir(parents=True)
    url = f"journal:{folder}/optuna.journal" if storage == "journal" else f"sqlite:///{folder}/optuna.db"
    study = open_study(spec, open_storage(url), name)
    fill_s = prefill(study, spec, finished)
    study = open_study(spec, open_storage(url), name)  # a driver starting on an existing study
    stats = SweepStats()
    t, cpu = time.perf_counter(), time.process_time()
    w = optimise(
        study,
        spec,
        StandInPool(actors),
        start=START,
        end=END,
        store=str(workdir / "store"),
        n_trials=finished + trials,
        stats=stats,
        progress=False,
    )
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    done = w.counts["complete"] - finished
    if done != trials:
        raise SystemExit(f"{name}: {done} trials completed, expected {trials}")
    return {
        "tps": trials / wall,
        "tpcs": trials / cpu,
        "ask_ms": 1e3 * stats.ask_s / trials,
        "tell_ms": 1e3 * stats.tell_s / trials,
        "fill_s": fill_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--actors", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--finished", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--samplers", nargs="+", default=["grid", "random", "tpe"])
    ap.add_argument("--storages", nargs="+", default=["sqlite", "journal"])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--tpe-trials", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="hft-bench-driver-", dir=a.workdir) as tmp:
        work = Path(tmp)
        print(
            f"driver ceiling: {a.actors} stand-in actors, batch {a.batch}; trials/s (ask / tell ms per trial)"
        )
        cols = ("trials/s", "/CPU-s", "ask ms", "tell ms", "prefill s")
        print(f"{'storage':8} {'sampler':7} {'finished':>8} " + " ".join(f"{c:>9}" for c in cols))
        for storage in a.storages:
            for sampler in a.samplers:
                for finished in a.finished:
                    n = a.tpe_trials if sampler == "tpe" else a.trials
                    runs = [
                        one(work, storage, sampler, finished, n, a.batch, a.actors) for _ in range(a.repeat)
                    ]
                    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                    print(
                        f"{storage:8} {sampler:7} {finished:>8,} {med['tps']:>9,.0f} {med['tpcs']:>9,.0f} "
                        f"{med['ask_ms']:>9.2f} {med['tell_ms']:>9.2f} {med['fill_s']:>9.1f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
