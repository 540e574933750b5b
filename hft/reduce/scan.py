"""Find the results under a runs folder and scan them lazily with Polars.

Two sources, one row schema (hft.store.results): sweeps' trial parts
(`{runs}/{sweep}/trials/**/part-*.parquet`, one row per trial) and single runs' `summary.parquet`
(one row per run folder, committed by `summary.yaml`, written last). One fsspec listing finds both,
and each sweep's `kept.parquet` (trades and equity of its kept runs, hft.store.kept);
a run folder whose run id is already a row of its group's parts is not read again, so stores that
mix old per-trial folders and new parts report every run once. Polars reads the files itself (local
or object store) with projection and filter pushdown. A file that is missing, unfinished or
unreadable (a truncated part) is skipped with a `SkippedArtifactWarning` that names it, and counted;
it never sinks the whole report. Legacy tags are normalised on read: no phase = `run`, the old
`search` phase = `train` (in-sample). A report runs several queries over the same rows; inside
`RunsScan.held` they share one read of the objects (in S3 the cost is per object, not per byte).
"""

from __future__ import annotations

import contextlib
import posixpath
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa

from hft.errors import ConfigError, StoreError
from hft.store.fs import Store, open_store
from hft.store.kept import KEPT_FILE
from hft.store.results import METRIC_TYPES, TRIALS_DIR

__all__ = [
    "RUN_ARTIFACTS",
    "CORE_SCHEMA",
    "METRIC_COLUMNS",
    "SUMMARY_PATH",
    "RUN_URL",
    "Skipped",
    "SkippedArtifactWarning",
    "RunsScan",
    "scan_runs",
    "polars_storage_options",
]

# File names of hft.backtest.artifacts, repeated so reports need not import the engine (Numba);
# tests/reduce checks they agree.
SUMMARY_YAML, SUMMARY_PARQUET, TRADES_FILE, EQUITY_FILE = (
    "summary.yaml",
    "summary.parquet",
    "trades.parquet",
    "equity.parquet",
)
RUN_ARTIFACTS = (SUMMARY_YAML, SUMMARY_PARQUET, TRADES_FILE, EQUITY_FILE)
WALKFORWARD_FILE = "walkforward.parquet"
SUMMARY_PATH = "_summary_path"  # column Polars fills with each row's file
RUN_URL = "run_url"  # the run folder, derived from SUMMARY_PATH

_F, _I = pl.Float64, pl.Int64
# Metric names and types: the trial-row schema's (hft.store.results), as Polars types.
METRIC_COLUMNS: dict[str, pl.DataType] = {
    k: pl.from_arrow(pa.array([], type=t)).dtype for k, t in METRIC_TYPES.items()
}
# Columns whose type is fixed whatever a file says (a metric that was None everywhere in one run is
# stored as Parquet `null` there; the fixed type lets every file be read into one frame).
CORE_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String,
    "group": pl.String,
    "strategy": pl.String,
    "symbol": pl.String,
    "start": pl.Date,
    "end": pl.Date,
    "fingerprint": pl.String,
    "params": pl.String,
    **METRIC_COLUMNS,
    "wall_time_s": _F,
    "sweep": pl.String,
    "trial": _I,
    "fold": _I,
    "phase": pl.String,
    "node_id": pl.String,
    "status": pl.String,
    "error": pl.String,
    "daily_dates": pl.List(pl.Date),
    "daily_returns": pl.List(_F),
}
#: a trial is the same result wherever it was written (a part, a run folder, a retried batch)
ROW_KEY = ("group", "phase", "fold", "trial", "run_id")
_CAST = pl.ScanCastOptions(integer_cast=["upcast", "allow-float"], float_cast="upcast")


class SkippedArtifactWarning(UserWarning):
    """A run's artifact is missing, unfinished or unreadable: that run (or that plot) is left out."""


@dataclass(frozen=True)
class Skipped:
    url: str  # the file (or run folder) that was left out
    reason: str  # short cause: unfinished, missing summary.parquet, unreadable summary.parquet, …
    detail: str = ""

    def message(self) -> str:
        return f"skipped {self.url}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]


def polars_storage_options(st: Store) -> dict[str, str] | None:
    """The store's s3fs options translated to Polars' object-store keys (None for local paths)."""
    if st.is_local:
        return None
    opts = dict(st.storage_options)
    endpoint = getattr(st.fs, "endpoint_url", None) or opts.get("endpoint_url")
    client = opts.get("client_kwargs") or {}
    endpoint = endpoint or client.get("endpoint_url")
    out: dict[str, str] = {}
    key = opts.get("key") or getattr(st.fs, "key", None)
    secret = opts.get("secret") or getattr(st.fs, "secret", None)
    token = opts.get("token") or getattr(st.fs, "token", None)
    if key:
        out["aws_access_key_id"] = str(key)
    if secret:
        out["aws_secret_access_key"] = str(secret)
    if token:
        out["aws_session_token"] = str(token)
    if opts.get("anon"):
        out["aws_skip_signature"] = "true"
    region = client.get("region_name") or opts.get("region_name")
    if endpoint:
        out["aws_endpoint_url"] = str(endpoint)
        out["aws_allow_http"] = "true" if str(endpoint).startswith("http://") else "false"
        region = region or "us-east-1"
    if region:
        out["aws_region"] = str(region)
    return out or None


@dataclass
class RunsScan:
    """The committed runs under a runs folder, what was skipped, and lazy access to summaries."""

    store: Store  # rooted at the runs folder
    summaries: list[str]  # URLs of the files read: trial parts, then committed summary.parquet files
    schema: dict[str, pl.DataType]
    walkforward: list[str] = field(default_factory=list)  # URLs of walkforward.parquet files
    optuna_files: list[str] = field(default_factory=list)  # local optuna.db / journal files
    skipped: list[Skipped] = field(default_factory=list)
    run_folders: dict[tuple[str, str], str] = field(default_factory=dict)  # (group, run_id) → folder URL
    parts: int = 0  # how many of `summaries` are sweep trial parts
    _held: pl.DataFrame | None = field(default=None, repr=False)  # see `held`
    kept: dict[str, str] = field(default_factory=dict)  # group → URL of its kept.parquet (hft.store.kept)
    _packed: dict[str, set[str]] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return self.store.url

    @property
    def storage_options(self) -> dict[str, str] | None:
        return polars_storage_options(self.store)

    def skip(self, item: Skipped) -> None:
        self.skipped.append(item)
        warnings.warn(item.message(), SkippedArtifactWarning, stacklevel=3)

    def packed(self, group: str, run_id: str) -> str | None:
        """The URL of the pack holding the trades and equity of `run_id` (a sweep's kept run without
        a folder), or None. Each pack's run ids are read once; an unreadable pack is skipped, named."""
        url = self.kept.get(group)
        if url is None:
            return None
        if group not in self._packed:
            try:
                ids = pl.scan_parquet(url, storage_options=self.storage_options).select("run_id").collect()
                self._packed[group] = set(ids["run_id"].to_list())
            except (pl.exceptions.PolarsError, OSError) as exc:
                self._packed[group] = set()
                self.skip(Skipped(url, "unreadable kept.parquet", _first_line(exc)))
        return url if run_id in self._packed[group] else None

    def skipped_counts(self) -> dict[str, int]:
        return dict(Counter(s.reason for s in self.skipped))

    def param_columns(self) -> list[str]:
        return [c for c in self.schema if c.startswith("param_")]

    def lazy(self, files: Sequence[str] | None = None) -> pl.LazyFrame:
        """One lazy scan over `files` (default all committed summaries), in the union schema."""
        files = list(self.summaries if files is None else files)
        if not files:
            return pl.LazyFrame(schema={**self.schema, SUMMARY_PATH: pl.String})
        lf = self._scan(files)
        lf = lf.with_columns(
            pl.when(pl.col("phase").is_null())
            .then(pl.lit("run"))
            .when(pl.col("phase") == "search")
            .then(pl.lit("train"))
            .otherwise(pl.col("phase"))
            .alias("phase"),
            pl.col("status").fill_null("complete"),
        )
        if any(_is_part(f) for f in files):  # a batch retried after a write may repeat a row
            lf = lf.unique(subset=list(ROW_KEY), keep="first", maintain_order=True)
        return lf

    def _scan(self, files: list[str]) -> pl.LazyFrame:
        return pl.scan_parquet(
            files,
            schema=self.schema,
            missing_columns="insert",
            extra_columns="ignore",
            cast_options=_CAST,
            include_file_paths=SUMMARY_PATH,
            storage_options=self.storage_options,
            glob=False,
            hive_partitioning=False,
        )

    @contextlib.contextmanager
    def held(self, columns: Iterable[str]) -> Iterator[RunsScan]:
        """Read `columns` of every summary once; inside the block, `collect` answers each query that
        needs no other column from that frame instead of reading the objects again (one pass over
        10^5 trials' parts in S3 instead of one per query)."""
        cols = [c for c in dict.fromkeys(columns) if c in self.schema and c != SUMMARY_PATH]
        self._held = None
        self._held = self.collect(lambda lf: lf.select(*cols, SUMMARY_PATH))
        try:
            yield self
        finally:
            self._held = None

    def collect(self, query: Callable[[pl.LazyFrame], pl.LazyFrame]) -> pl.DataFrame:
        """Run `query` over every summary (over the frame of `held`, when it holds every column the
        query reads). When Polars cannot read some files they are found by bisection (first with a
        footer-only count, then with the query itself), skipped with a warning, and the query runs
        again over the rest: a few bad files cost O(log n) probes."""
        if self._held is not None:
            try:
                return query(self._held.lazy()).collect()
            except pl.exceptions.ColumnNotFoundError:
                pass  # a column not held: read the objects
        try:
            return query(self.lazy()).collect()
        except (pl.exceptions.PolarsError, OSError) as exc:
            first = exc
        for probe in (_footer_probe, query):
            bad = self._bad_files(self.summaries, probe)
            if len(bad) == len(self.summaries) > 1:
                break  # every file "fails": the query is wrong, not the files
            bad_set = {f for f, _ in bad}
            for f, exc in bad:
                self.skip(Skipped(f, _unreadable(f), _first_line(exc)))
            self.summaries = [f for f in self.summaries if f not in bad_set]
            try:
                return query(self.lazy()).collect()
            except (pl.exceptions.PolarsError, OSError) as exc:
                first = exc
        raise StoreError(f"cannot scan summaries under {self.url}: {_first_line(first)}") from first

    def _bad_files(self, files: list[str], probe, scanner=None) -> list[tuple[str, BaseException]]:
        if not files:
            return []
        scanner = scanner or self.lazy
        try:
            probe(scanner(files)).collect()
            return []
        except (pl.exceptions.PolarsError, OSError) as exc:
            if len(files) == 1:
                return [(files[0], exc)]
        mid = len(files) // 2
        return self._bad_files(files[:mid], probe, scanner) + self._bad_files(files[mid:], probe, scanner)


def _is_part(url: str) -> bool:
    return f"/{TRIALS_DIR}/" in url and posixpath.basename(url).startswith("part-")


def _unreadable(url: str) -> str:
    return "unreadable trial part" if _is_part(url) else "unreadable summary.parquet"


def _footer_probe(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.select(pl.len())


def _resolve_root(url: str, storage_options: dict[str, Any] | None) -> Store:
    st = open_store(url, storage_options)
    if not st.fs.isdir(st.root):
        raise StoreError(f"runs folder {st.uri()} does not exist (expected {{store}}/runs)")
    # A store root holding a `runs` folder is accepted in place of the runs folder itself.
    if posixpath.basename(st.root) != "runs" and st.fs.isdir(st.path("runs")):
        st = open_store(st.uri("runs").rstrip("/"), storage_options)
    return st


def _schema_of(files: list[str], opts, scan: RunsScan) -> dict[str, pl.DataType] | None:
    for f in files[:3]:
        try:
            return dict(pl.scan_parquet(f, storage_options=opts).collect_schema())
        except (pl.exceptions.PolarsError, OSError):
            continue  # an unreadable file is found (and named) by RunsScan.collect
    return None


def _merge(a: pl.DataType, b: pl.DataType) -> pl.DataType:
    if a == b or b == pl.Null:
        return a
    if a == pl.Null:
        return b
    if a.is_numeric() and b.is_numeric():
        return pl.Float64
    return pl.String


def scan_runs(
    url: str,
    storage_options: dict[str, Any] | None = None,
    *,
    groups: Sequence[str] | None = None,
) -> RunsScan:
    """List the run folders under `url` (the runs folder or the store holding it).

    `groups` prunes by group folder before anything is read (partition pruning on the layout
    `{runs}/{group}/{run_id}/`). Raises StoreError when the folder does not exist.
    """
    st = _resolve_root(url, storage_options)
    root = st.root.rstrip("/")
    # with `groups`, only their folders are listed (the store's other sweeps cost nothing); a name
    # that is not one folder is never listed and is reported missing below
    tops = (
        [()]
        if groups is None
        else [(g,) for g in dict.fromkeys(groups) if g not in ("", ".", "..") and "/" not in g]
    )
    listing: list[str] = []
    for top in tops:
        try:
            listing += st.fs.find(st.path(*top), withdirs=False)
        except OSError as exc:
            raise StoreError(f"cannot list {st.uri(*top)}: {exc}") from exc
    folders: dict[str, set[str]] = {}
    walkforward: list[str] = []
    optuna_files: list[str] = []
    parts: dict[str, list[str]] = {}  # group → its trial parts
    kept: dict[str, str] = {}  # group → its kept.parquet
    for path in listing:
        path = str(path)
        rel = path[len(root) :].lstrip("/")
        name = posixpath.basename(rel)
        if name.startswith("."):
            continue  # temp files of in-flight atomic writes
        if f"/{TRIALS_DIR}/" in f"/{rel}" and name.startswith("part-") and name.endswith(".parquet"):
            parts.setdefault(rel.split("/", 1)[0], []).append(st.uri(rel))
        elif name in RUN_ARTIFACTS:
            folders.setdefault(posixpath.dirname(rel), set()).add(name)
        elif name == WALKFORWARD_FILE:
            walkforward.append(st.uri(rel))
        elif name == KEPT_FILE and rel.count("/") == 1:
            kept[rel.split("/", 1)[0]] = st.uri(rel)
        elif st.is_local and (name.endswith(".db") or name.endswith(".journal") or name.endswith(".log")):
            optuna_files.append(st.uri(rel))
    if groups is not None:
        known = {rel.split("/", 1)[0] for rel in folders} | set(parts)
        missing = sorted(set(groups) - known)
        if missing:
            raise ConfigError(f"--group: no runs for {', '.join(missing)} under {st.uri()}")
    scan = RunsScan(st, [], {}, sorted(walkforward), sorted(optuna_files), kept=kept)
    by_group: dict[str, list[str]] = {}
    for group in sorted(parts):
        files = sorted(parts[group])
        scan.summaries += files
        by_group[group] = list(files)
    # only a run folder in a group that has parts can repeat a part's row: read the parts' ids then
    collide = {g for g in by_group if any(rel.startswith(f"{g}/") for rel in folders)}
    covered = _part_run_ids(scan, [f for g in sorted(collide) for f in by_group[g]])
    scan.parts = len(scan.summaries)
    for rel in sorted(folders):
        names = folders[rel]
        group, run_id = posixpath.dirname(rel), posixpath.basename(rel)
        if SUMMARY_YAML in names:
            scan.run_folders[(group, run_id)] = st.uri(rel)
        if (group, run_id) in covered:
            continue  # this run is a row of its sweep's parts
        if SUMMARY_YAML not in names:
            scan.skip(Skipped(st.uri(rel), "unfinished run", "no summary.yaml commit marker"))
        elif SUMMARY_PARQUET not in names:
            scan.skip(Skipped(st.uri(rel, SUMMARY_PARQUET), "missing summary.parquet"))
        else:
            f = st.uri(rel, SUMMARY_PARQUET)
            scan.summaries.append(f)
            by_group.setdefault(group, []).append(f)
    opts = scan.storage_options
    schema: dict[str, pl.DataType] = {}
    for files in by_group.values():
        for col, dtype in (_schema_of(files, opts, scan) or {}).items():
            schema[col] = _merge(schema[col], dtype) if col in schema else dtype
    for col, dtype in list(schema.items()):
        if dtype == pl.Null:
            schema[col] = pl.Float64 if col.startswith("param_") else pl.String
    scan.schema = {**schema, **CORE_SCHEMA}
    return scan


def _part_run_ids(scan: RunsScan, files: list[str]) -> set[tuple[str, str]]:
    """(group, run_id) of every row in the parts `files`; unreadable ones are skipped, named."""
    if not files:
        return set()

    def query(lf: pl.LazyFrame) -> pl.LazyFrame:
        return lf.select("group", "run_id").drop_nulls()

    opts = scan.storage_options
    schema = {"group": pl.String, "run_id": pl.String}

    def ids(fs: list[str]) -> pl.LazyFrame:
        return pl.scan_parquet(
            fs,
            schema=schema,
            missing_columns="insert",
            extra_columns="ignore",
            storage_options=opts,
            glob=False,
            hive_partitioning=False,
        )

    try:
        df = query(ids(files)).collect()
    except (pl.exceptions.PolarsError, OSError):
        bad = dict(scan._bad_files(files, _footer_probe, ids))
        bad |= dict(scan._bad_files([f for f in files if f not in bad], query, ids))
        for f, exc in bad.items():
            scan.skip(Skipped(f, _unreadable(f), _first_line(exc)))
        scan.summaries = [f for f in scan.summaries if f not in bad]
        good = [f for f in files if f not in bad]
        df = query(ids(good)).collect() if good else pl.DataFrame(schema=schema)
    return set(zip(df["group"].to_list(), df["run_id"].to_list(), strict=True))


def with_run_url(df: pl.DataFrame | pl.LazyFrame):
    """Replace the file column by the run folder URL (for a part's row: `{sweep folder}/{run_id}`)."""
    path = pl.col(SUMMARY_PATH)
    part = path.str.contains(f"/{TRIALS_DIR}/", literal=True)
    folder = (
        pl.when(part)
        .then(pl.concat_str(path.str.replace(f"/{TRIALS_DIR}/.*$", ""), pl.lit("/"), pl.col("run_id")))
        .otherwise(path.str.replace(r"/summary\.parquet$", ""))
    )
    return df.with_columns(folder.alias(RUN_URL)).drop(SUMMARY_PATH)
