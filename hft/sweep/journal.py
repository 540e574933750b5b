"""Journal storage whose writes the driver groups: one locked, fsynced append per batch, not per call.

Optuna's `JournalFileBackend` takes a file lock and fsyncs for every storage call; an ask is 1 + one
per parameter of them, a tell one per user attribute plus one, so on a busy disk (5-10 ms a fsync)
the driver stalls at tens of trials/s. `BatchedJournal.batch()` keeps the calls made inside it in
memory, visible to this process at once (reads see them as if written), and appends them to the file
in one go when the outermost batch ends, also when it ends by an exception.

Crash safety is that of Optuna's journal with larger steps: the file always holds a prefix of the
calls, in order. A driver killed inside a batch loses only that batch's calls: trials it asked are not
in the file (asked again), results it told leave their trials RUNNING in the file (failed and
re-enqueued on resume, see hft.sweep.study.recover_interrupted), so a resumed sweep still ends with
exactly `n_trials`. Only one process may write the study (the driver); readers (the dashboard, a
report) see whole batches.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from optuna.storages import JournalStorage
from optuna.storages.journal import BaseJournalBackend, JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

__all__ = ["BatchedJournal", "SweepJournalStorage", "batched"]


class BatchedJournal(BaseJournalBackend):
    def __init__(self, path: str) -> None:
        self._file = JournalFileBackend(path)
        self._path = path
        self._pending: list[dict[str, Any]] = []
        self._in_file = 0  # logs known to be in the file (this process is the only writer)
        self._depth = 0
        self.appends = 0  # locked appends made (bench/driver.py reports it)

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        if self._depth == 0 or log_number_from < self._in_file:
            n = log_number_from
            for log in self._file.read_logs(log_number_from):
                n += 1
                yield log
            self._in_file = max(self._in_file, n)
        yield from self._pending[max(0, log_number_from - self._in_file) :]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        if self._depth:
            self._pending.extend(logs)
            return
        self._file.append_logs(logs)
        self.appends += 1

    def flush(self) -> None:
        if self._pending:
            logs, self._pending = self._pending, []
            self._file.append_logs(logs)
            self.appends += 1
            # Tell the file backend where the next log starts, so its next read seeks instead of
            # rescanning the file (we are the only writer: the file ends with our logs).
            offsets = getattr(self._file, "_log_number_offset", None)
            if isinstance(offsets, dict) and self._in_file in offsets:
                offsets[self._in_file + len(logs)] = os.stat(self._path).st_size
            else:  # read them back instead (parses the batch once)
                for _ in self._file.read_logs(self._in_file):
                    pass
            self._in_file += len(logs)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self.flush()


class SweepJournalStorage(JournalStorage):
    """A `JournalStorage` on a `BatchedJournal` that knows its WAITING trials without a scan.

    `study.ask` first looks for an enqueued (WAITING) trial, which Optuna's journal answers by
    scanning every trial of the study: O(finished trials) per ask. Here the WAITING trials are found
    once, then followed through this process's own writes (it is the study's only writer).
    """

    def __init__(self, path: str) -> None:
        super().__init__(BatchedJournal(path))
        self._waiting: dict[int, set[int]] = {}  # study id -> trial ids, once scanned

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        waiting = template_trial is not None and template_trial.state == TrialState.WAITING
        if waiting and study_id in self._waiting:
            self._waiting[study_id].add(trial_id)
        return trial_id

    def get_all_trials(self, study_id: int, deepcopy: bool = True, states=None) -> list[FrozenTrial]:
        if states is None or tuple(states) != (TrialState.WAITING,) or deepcopy:
            return super().get_all_trials(study_id, deepcopy, states)
        if study_id not in self._waiting:
            found = super().get_all_trials(study_id, False, states)
            self._waiting[study_id] = {t._trial_id for t in found}
            return found
        ids = self._waiting[study_id]
        trials = [self.get_trial(i) for i in sorted(ids)]
        ids.difference_update(t._trial_id for t in trials if t.state != TrialState.WAITING)
        return [t for t in trials if t.state == TrialState.WAITING]


@contextlib.contextmanager
def batched(study: Any) -> Iterator[None]:
    """Group the storage calls made inside into one write when `study` is on a batched journal."""
    backend = getattr(getattr(study, "_storage", None), "_backend", None)
    if isinstance(backend, BatchedJournal):
        with backend.batch():
            yield
    else:
        yield
