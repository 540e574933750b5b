"""On resume, make the study and the trial rows agree again before the sweep goes on.

Actors write a batch's rows (hft.store.results) before its results reach the driver, and the driver
tells the study only after that, so two things can be out of step when a sweep is run again:

- Rows written, study not told: the driver died after a batch's part was written and before the
  tell reached the storage. Those trials are RUNNING in the study and have rows: their results are
  told from the rows (`adopt_written`), so they are neither lost nor computed a second time (which
  would give the same run a second row under a new trial number).
- Study told, rows lost: a part that is unreadable (truncated, corrupt) is skipped by every reader,
  and a deleted part is simply gone. The completed trials without a row are run again under their
  own trial numbers, tags and window (deterministic: the same run id and metrics), and pruned ones
  get their row back from their parameters (`repair_rows`). The study is not touched, so it stays
  exactly as it was; the unreadable part is then moved aside as `{part}.unreadable` (kept for
  inspection, no longer read), and each step is said in one line.
- A walk-forward fold whose out-of-sample rows (its test run, its oos_check runs) were lost is
  tested again by hft.sweep.run (`TrialRows.test_rows_whole`) instead of being read back as done.
"""

from __future__ import annotations

import math
import posixpath
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import optuna
import pyarrow as pa
import pyarrow.parquet as pq
from optuna.trial import TrialState

from hft.errors import ConfigError, StoreError
from hft.store.fs import Store
from hft.store.results import METRIC_TYPES, TRIALS_DIR, write_part
from hft.sweep.driver import SweepStats, objective_values, run_requests
from hft.sweep.labels import metric_attrs
from hft.sweep.spec import SweepSpec
from hft.sweep.worker import BatchRequest, TrialTask, task_row

__all__ = ["TrialRows", "trial_rows", "adopt_written", "repair_rows"]

UNREADABLE = ".unreadable"


@dataclass
class TrialRows:
    """The sweep's rows as they stand before it resumes: training rows by window (fold) and trial,
    the trials of each fold's out-of-sample rows, and the parts that could not be read."""

    by_window: dict[int | None, dict[int, dict[str, Any]]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)  # store-relative paths of skipped parts
    store: Store | None = None  # rooted at the runs folder
    tested: dict[tuple[int, str], set[int]] = field(default_factory=dict)  # (fold, test|oos_check) → trials

    def window(self, fold: int | None) -> dict[int, dict[str, Any]]:
        return self.by_window.get(fold, {})

    def test_rows_whole(self, fold: int, best: int, checks: list[int]) -> bool:
        """Whether a walk-forward fold's out-of-sample rows all stand: the winner's test row, a row
        for each oos_check trial, and no unreadable part in those windows (else it is tested again)."""
        if any(_window_of(p) == ("test", fold) for p in self.unreadable):
            return False
        return best in self.tested.get((fold, "test"), set()) and set(checks) <= self.tested.get(
            (fold, "oos_check"), set()
        )

    def set_aside_tests(self, fold: int, echo: Callable[[str], None]) -> None:
        """After a fold's test windows ran again: move its unreadable test parts out of the way."""
        if self.store is not None:
            for rel in [p for p in self.unreadable if _window_of(p) == ("test", fold)]:
                _set_aside(self.store, rel, f"fold {fold}", echo)


def trial_rows(st: Store, spec: SweepSpec, echo: Callable[[str], None] = print) -> TrialRows:
    """Read the rows of every training window of the sweep (a new sweep has none). Parts that cannot
    be read are named, one `warning:` line each, and remembered for `repair_rows`."""
    from hft.reduce.scan import SkippedArtifactWarning, scan_runs

    if not st.exists("runs", spec.name):
        return TrialRows()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SkippedArtifactWarning)
        try:
            scan = scan_runs(st.uri("runs"), st.storage_options, groups=[spec.name])
        except (ConfigError, StoreError):  # no rows yet
            return TrialRows()
        cols = ["trial", "fold", "phase", "status", "run_id", *METRIC_TYPES, "ticks"]
        cols += [f"param_{k}" for k in spec.space]
        df = scan.collect(lambda lf: lf.select([c for c in dict.fromkeys(cols) if c in scan.schema]))
    for w in caught:
        if issubclass(w.category, SkippedArtifactWarning):
            echo(f"warning: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    out = TrialRows(store=scan.store)
    root = scan.store.uri().rstrip("/") + "/"
    out.unreadable = [
        s.url.removeprefix(root)
        for s in scan.skipped
        if s.reason == "unreadable trial part" and s.url.startswith(root)
    ]
    for row in df.iter_rows(named=True):
        if row.get("trial") is None:
            continue
        if row.get("phase") == "train":
            out.by_window.setdefault(row.get("fold"), {}).setdefault(int(row["trial"]), row)
        elif row.get("phase") in ("test", "oos_check") and row.get("fold") is not None:
            out.tested.setdefault((row["fold"], row["phase"]), set()).add(int(row["trial"]))
    return out


def _params_match(spec: SweepSpec, row: dict[str, Any], params: dict[str, Any]) -> bool:
    for k in spec.space:
        a, b = row.get(f"param_{k}"), params.get(k)
        if isinstance(a, float) or isinstance(b, float):
            if a is None or b is None or not math.isclose(float(a), float(b), rel_tol=1e-12):
                return False
        elif a != b:
            return False
    return True


def adopt_written(study: optuna.Study, spec: SweepSpec, rows: dict[int, dict[str, Any]]) -> list[int]:
    """Tell the study the results of RUNNING trials whose rows were written (the driver died between
    an actor's write and its tell); returns their numbers. A failed row is left to the usual recovery
    (the trial is failed and asked again)."""
    adopted = []
    storage = study._storage
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        row = rows.get(t.number)
        if row is None or row.get("status") not in ("complete", "pruned"):
            continue
        if not _params_match(spec, row, t.params):  # not this trial's row: leave it to recovery
            continue
        if row["status"] == "pruned":
            study.tell(t.number, state=TrialState.PRUNED, skip_if_finished=True)
            adopted.append(t.number)
            continue
        metrics = metric_attrs({k: row.get(k) for k in METRIC_TYPES if k in row})
        run = {"run_id": row.get("run_id"), "folder": None, "ticks": row.get("ticks")}
        for k, v in {**metrics, "run": run}.items():
            storage.set_trial_user_attr(t._trial_id, k, v)
        values, error = objective_values(spec, metrics, row.get("run_id"))
        if error:
            storage.set_trial_user_attr(t._trial_id, "error", error)
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        else:
            study.tell(t.number, values, skip_if_finished=True)
        adopted.append(t.number)
    return adopted


def _span(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:12])
    return shown + (f" … ({len(numbers)} in all)" if len(numbers) > 12 else "")


def _window_of(rel: str) -> int | tuple | str | None:
    """The fold of a training part's path (`{sweep}/trials/[fold{k}-train/]part-…`, None: no folds),
    ("test", k) for a fold's test or oos_check part, else "other"."""
    parts = rel.split("/")
    if len(parts) == 3 and parts[1] == TRIALS_DIR:
        return None
    if len(parts) != 4 or parts[1] != TRIALS_DIR or not parts[2].startswith("fold"):
        return "other"
    k, _, phase = parts[2].removeprefix("fold").partition("-")
    if not k.isdigit():
        return "other"
    if phase == "train":
        return int(k)
    return ("test", int(k)) if phase in ("test", "oos_check") else "other"


def repair_rows(
    spec: SweepSpec,
    st: Store,
    study: optuna.Study,
    rows: TrialRows,
    *,
    fold: int | None,
    start: date,
    end: date,
    pool: Callable[[], Any],
    storage_options: dict[str, Any] | None,
    stats: SweepStats,
    echo: Callable[[str], None] = print,
) -> tuple[list[int], list[int]]:
    """Give every COMPLETE and PRUNED trial of the window's study its row again (see the module
    docstring); returns the trial numbers given their row, and those still without one (their rerun
    failed). `pool()` gives the actor pool (started on need)."""
    have = rows.window(fold)
    lost = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if t.number not in have
    ]
    bad = [p for p in rows.unreadable if _window_of(p) == fold]
    if not lost and not bad:
        return [], []
    where = spec.name if fold is None else f"{spec.name} fold {fold}"
    tags = {"sweep": spec.name, "phase": "train", **({} if fold is None else {"fold": fold})}

    def task(t) -> TrialTask:
        cfg = spec.run_config(t.params, start, end, st.url).model_dump(mode="json")
        return TrialTask(t.number, cfg, {**tags, "trial": t.number}, where=f"{where} trial {t.number}")

    done = [t for t in lost if t.state == TrialState.COMPLETE]
    pruned = [t for t in lost if t.state == TrialState.PRUNED]
    failed: list[int] = []
    if lost:
        why = f"unreadable part(s): {', '.join(bad)}; or no part holds them" if bad else "no part holds them"
        echo(
            f"sweep {where}: {len(done)} completed and {len(pruned)} pruned trial(s) have no result row "
            f"({why}); rebuilding them under their own trial numbers: {_span([t.number for t in lost])}"
        )
    if pruned:  # a pruned trial's row is its parameters and tags: nothing to compute
        write_part(st, spec.name, [task_row(task(t), "pruned") for t in pruned], [t.number for t in pruned])
    if done:
        b = spec.resources.batch
        reqs = [
            BatchRequest(
                [task(t) for t in done[i : i + b]],
                storage_options=storage_options or {},
                folders=spec.artifacts_top_k == "all",
            )
            for i in range(0, len(done), b)
        ]
        outs = run_requests(pool(), reqs, stats, max_retries=spec.resources.max_retries)
        for t in done:
            o = outs.get(t.number)
            if o is None or o.status != "complete":
                failed.append(t.number)
                echo(
                    f"warning: sweep {where}: trial {t.number} could not be run again "
                    f"({o.error if o else 'no result'}); its row is still missing (rerun to retry)"
                )
                continue
            values, _err = objective_values(spec, metric_attrs(o.metrics or {}), o.run_id)
            want = list(t.values)
            got = values if isinstance(values, list) else [values]
            if values is None or any(
                not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in zip(got, want, strict=True)
            ):
                echo(
                    f"warning: sweep {where}: trial {t.number} run again gives {got}, the study "
                    f"recorded {want} (did hft or the data change?); its row holds the new result"
                )
    if not failed and rows.store is not None:
        for rel in bad:
            _set_aside(rows.store, rel, where, echo)
    return [t.number for t in lost if t.number not in failed], failed


def _set_aside(st: Store, rel: str, where: str, echo: Callable[[str], None]) -> None:
    """Move an unreadable part out of the dataset (`….parquet.unreadable`), unless a rebuilt part
    has already replaced it under the same name."""
    src = st.path(rel)
    try:
        with st.fs.open(src, "rb") as fh:
            pq.read_metadata(fh)
        return  # readable now: a rebuilt part took its name
    except FileNotFoundError:
        return
    except (OSError, pa.ArrowException):  # still the unreadable file
        pass
    dst = src + UNREADABLE
    try:
        st.fs.mv(src, dst)
    except OSError as exc:
        echo(f"warning: sweep {where}: could not move {st.uri(rel)} aside ({exc}); readers keep skipping it")
        return
    echo(
        f"sweep {where}: moved the unreadable part aside to {posixpath.basename(dst)} (kept, no longer read)"
    )
