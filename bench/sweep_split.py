"""Where a month sweep's wall time goes: the fixed per-sweep cost F outside the trials, step by step.

    .venv/bin/python bench/sweep_split.py [--workdir /tmp/hft-bench-sweep] [--trials 256]
                                          [--actors 2] [--batch 64] [--repeat 2]

Reuses the month bench/sweep.py synthesised and ingested in --workdir (run that first). In one local
Ray (2 CPUs): a warm-up sweep, then --repeat timed sweeps; each prints its wall time and the seconds
spent in each step of `run_sweep` (study binding, `optimise`, the kept runs taken from the actors,
those rebuilt and the pack, leaderboard, selection statistics, sweep.yaml), timed by wrapping those
functions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sweep import spec_for

STEPS = ("trial_rows", "prepare_study", "repair_rows", "optimise", "keep_artifacts")
STEPS += ("leaderboard_rows", "_selection", "_write_summary")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", default="/tmp/hft-bench-sweep")
    ap.add_argument("--trials", type=int, default=256)
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    store = str(Path(args.workdir) / "store")
    if not (Path(store) / "ticks").exists():
        sys.exit(f"{store}: no ticks (run bench/sweep.py --workdir {args.workdir} first)")

    import hft.sweep.keep as keep
    import hft.sweep.run as run
    from hft.rayenv import ray_session
    from hft.sweep.pool import ActorPool

    took: dict[str, float] = defaultdict(float)

    def timed(mod, name: str, label: str) -> None:
        f = getattr(mod, name)

        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                took[label] += time.perf_counter() - t

        setattr(mod, name, wrapper)

    for name in STEPS:
        timed(run, name, name)
    timed(keep, "kept_rows", "  keep: scan for the kept rows")
    timed(keep, "collect_retained", "  keep: runs taken from the actors")
    timed(keep, "write_kept", "  keep: rebuild + pack")
    tag = os.getpid()
    with ray_session(num_cpus=2, object_store_memory=256 * 1024**2):
        warm = spec_for(store, f"split-warm-{tag}", 2 * args.actors, 1, args.actors, "random")
        pool = ActorPool(warm.resources)
        try:
            run.run_sweep(warm, pool=pool, progress=False, echo=lambda _s: None)
            for r in range(args.repeat):
                took.clear()
                spec = spec_for(store, f"split-{r}-{tag}", args.trials, args.batch, args.actors, "random", 20)
                url = f"journal:{args.workdir}/{spec.name}.log"
                t = time.perf_counter()
                res = run.run_sweep(spec, pool=pool, storage=url, progress=False, echo=lambda _s: None)
                wall = time.perf_counter() - t
                s = res.stats
                engine = s.engine_s / args.actors
                print(
                    f"{spec.name}: {s.trials} trials, {args.actors} actor(s), wall {wall:.2f}s "
                    f"({s.trials / wall:.1f} trials/s), engine {1000 * s.engine_s / s.trials:.1f} ms/trial; "
                    f"F = wall - engine/actors = {wall - engine:.2f}s"
                )
                for k, v in took.items():
                    print(f"  {k:34s} {v:7.3f}s")
                top = sum(v for k, v in took.items() if not k.startswith(" "))
                print(f"  {'rest of run_sweep':34s} {wall - top:7.3f}s")
        finally:
            pool.close()


if __name__ == "__main__":
    main()
