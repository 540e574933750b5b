"""Each sweep actor's best finished trials of a training window, held until the driver packs them.

At the end of a sweep the driver packs the top K trials per objective of each window (hft.sweep.keep):
metric finite, ordered by the metric in the objective's direction then trial number, one trial per run
id. Under one total order the global top K is a subset of the union of every actor's local top K
(a trial ranked below K others on its own actor is ranked below them globally too), so actors that
hold their local top K (engine result and summary; Arrow only when asked) spare the driver running
those trials again. Bounded: at most K x objectives runs per window, `max_windows` windows and about
`max_bytes` of engine results per actor, oldest windows dropped first. What no actor holds (actor
replaced, resumed sweep, Pareto-front members, evicted windows) the driver rebuilds, so correctness
never depends on this.
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from hft.sweep.spec import SweepSpec

__all__ = ["RetainPolicy", "RetainedRun", "RetainedRuns", "WindowTopK"]

Window = tuple  # (store URL, sweep name, fold or None)


@dataclass(frozen=True)
class RetainPolicy:
    """What an actor keeps of a batch's completed trials (travels in `BatchRequest.retain`)."""

    window: Window  # trials ranked together: (store URL, sweep, fold)
    top_k: int
    objectives: tuple[tuple[str, str], ...]  # (metric, "maximize" | "minimize")

    @classmethod
    def for_window(cls, spec: SweepSpec, store: str, fold: int | None) -> RetainPolicy | None:
        """The sweep's policy for one training window; None when nothing is packed per objective
        (`artifacts_top_k: all` writes folders, 0 keeps only a Pareto front)."""
        k = spec.artifacts_top_k
        if k == "all" or not k:
            return None
        objectives = tuple((o.metric, o.direction) for o in spec.objectives)
        return cls((store, spec.name, fold), int(k), objectives)


@dataclass
class RetainedRun:
    """A completed trial as the actor computed it: engine result (`trades`, `marks`) and summary."""

    run_id: str
    trial: int
    summary: dict[str, Any]  # what record_run returned: run_id, group, created, metrics, ...
    res: Any  # the engine's RunResult

    @property
    def created(self) -> str | None:
        return self.summary.get("created")

    @property
    def nbytes(self) -> int:
        return int(self.res.trades.nbytes + self.res.marks.nbytes)

    def packed(self) -> pa.Table:
        """Its row of the kept pack (hft.store.kept), as the driver's rebuild would make it."""
        from hft.backtest import artifacts as A
        from hft.store.kept import kept_row

        return kept_row(
            self.run_id,
            self.summary["group"],
            A.yaml_bytes(self.summary),
            A.trades_table(self.res.trades),
            A.equity_table(self.res.marks),
        )


class WindowTopK:
    """One window's local top K per objective (the order of hft.sweep.keep.kept_rows)."""

    def __init__(self, policy: RetainPolicy) -> None:
        self.policy = policy
        # per objective: ascending (sort key, trial, run_id); the sort key puts the best first
        self._ranks: list[list[tuple[tuple[float, int], int, str]]] = [[] for _ in policy.objectives]
        self.runs: dict[int, RetainedRun] = {}  # trial -> run, for every trial in some ranking

    def offer(self, run: RetainedRun) -> bool:
        """Rank `run` under each objective; True if it is held afterwards."""
        metrics = run.summary.get("metrics") or {}
        for ranks, (metric, direction) in zip(self._ranks, self.policy.objectives, strict=True):
            v = metrics.get(metric)
            if v is None or not math.isfinite(v := float(v)):
                continue
            key = (-v if direction == "maximize" else v, run.trial)
            same = next((i for i, r in enumerate(ranks) if r[2] == run.run_id), None)
            if same is not None:  # one trial per run id: the better ranked one
                if ranks[same][0] <= key:
                    continue
                del ranks[same]
            if len(ranks) >= self.policy.top_k and key >= ranks[-1][0]:
                continue
            bisect.insort(ranks, (key, run.trial, run.run_id))
            del ranks[self.policy.top_k :]
        live = {r[1] for ranks in self._ranks for r in ranks}
        if run.trial in live:
            self.runs[run.trial] = run
        self.runs = {t: r for t, r in self.runs.items() if t in live}
        return run.trial in self.runs

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self.runs.values())


class RetainedRuns:
    """An actor's held runs by window, until the driver takes them (`take`) or they are evicted."""

    def __init__(self, max_windows: int = 64, max_bytes: int = 256 * 1024**2) -> None:
        self.max_windows, self.max_bytes = max_windows, max_bytes
        self._windows: OrderedDict[Window, WindowTopK] = OrderedDict()
        self.evicted = 0  # windows dropped before the driver took them

    def offer(self, policy: RetainPolicy, run: RetainedRun) -> bool:
        w = self._windows.get(policy.window)
        if w is None or w.policy != policy:
            w = self._windows[policy.window] = WindowTopK(policy)
        self._windows.move_to_end(policy.window)
        held = w.offer(run)
        self._evict()
        return held and policy.window in self._windows

    def _evict(self) -> None:
        """Oldest windows first, past the window count or the byte budget (never the newest)."""
        total = sum(w.nbytes for w in self._windows.values())
        while len(self._windows) > 1 and (len(self._windows) > self.max_windows or total > self.max_bytes):
            _, old = self._windows.popitem(last=False)
            total -= old.nbytes
            self.evicted += 1
        if len(self._windows) > self.max_windows:  # max_windows 0: hold nothing
            self._windows.clear()

    def __len__(self) -> int:
        return sum(len(w.runs) for w in self._windows.values())

    @property
    def windows(self) -> list[Window]:
        return list(self._windows)

    def take(
        self, windows: list[Window], wanted: dict[str, tuple[int, str | None]]
    ) -> list[tuple[str, int, pa.Table]]:
        """(run id, trial, pack row) of each held run that `wanted` names with the same trial and
        `created` stamp (the row the driver packs); the windows are dropped, taken or not."""
        out = []
        for window in windows:
            w = self._windows.pop(tuple(window), None)
            for run in w.runs.values() if w else ():
                if wanted.get(run.run_id) == (run.trial, run.created):
                    out.append((run.run_id, run.trial, run.packed()))
        return out
