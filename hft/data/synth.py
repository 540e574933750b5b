"""A seeded synthetic tick model that writes real `.bi5` hours, so scale tests and the demo need no internet.

Each day is generated on its own from `SeedSequence([seed, ordinal, crc32(symbol)])`, and its open and
close are pinned to a deterministic slow anchor path (value noise over the day number), so any two ranges
agree on the days they share and consecutive days join without a gap. The model, all vectorised NumPy:

- arrivals: Poisson per minute with intraday seasonality (quiet Asia, busy London and New York, a peak
  where they overlap), a per-day activity level and a per-minute coupling to volatility;
- sessions: closed Fri 21:00 → Sun 22:00 UTC (crypto trades 24/7) and, for metals, a daily break
  21:00–22:00 UTC; spreads widen into and out of the 21:00 UTC rollover;
- mid: a Gaussian random walk in integer price units whose per-minute volatility follows a log-AR(1)
  (volatility clustering), bridged from this day's anchor to the next one's;
- quotes: integer ask/bid with spread ≥ 1 unit (so bid < ask always), held spreads with rare flickers,
  and float32 volumes from a few round sizes that persist across ticks (as the real feed's do).
"""

from __future__ import annotations

import os
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from hft.data.bi5 import decode_bi5, encode_bi5
from hft.data.instruments import get_instrument
from hft.data.ticks import HOUR_MS, TICK_DTYPE
from hft.errors import ConfigError, DecodeError

__all__ = ["SynthSummary", "synth_day", "write_synth_feed", "bi5_relpath", "symbol_profile", "Profile"]

DAY_MINUTES = 1440
MINUTE_MS = 60_000
#: Expected ticks on a full weekday at activity 1.0: ~550 K/day, ≈ 11 M for a month of XAU/USD.
TICKS_PER_FULL_DAY = 550_000
#: The daily rollover (17:00 New York in summer); metals pause for the hour that follows it.
ROLLOVER_MINUTE = 21 * 60
_VOL_AR_MINUTES = 45.0  # e-folding time of the volatility regime
_VOL_LOG_STD = 0.5  # stationary std of log volatility
_ACTIVITY_VOL_COUPLING = 0.6  # busier when volatile
_DAY_ACTIVITY_STD = 0.10
_ANCHOR_SCALES = (1, 3, 9, 27, 81)  # days; value-noise octaves of the slow price path


@dataclass(frozen=True, slots=True)
class Profile:
    """What a symbol looks like: price level, typical spread and daily volatility, trading calendar."""

    price: float
    spread_bps: float
    daily_vol: float
    kind: str  # "metal" (daily break), "fx" (weekends closed), "crypto" (24/7)


_PROFILES: dict[str, Profile] = {
    "XAUUSD": Profile(2000.0, 1.0, 0.009, "metal"),
    "XAGUSD": Profile(23.0, 4.0, 0.015, "metal"),
    "EURUSD": Profile(1.10, 0.3, 0.005, "fx"),
    "GBPUSD": Profile(1.27, 0.7, 0.006, "fx"),
    "USDJPY": Profile(150.0, 0.4, 0.006, "fx"),
    "BTCUSD": Profile(30000.0, 5.0, 0.03, "crypto"),
    "ETHUSD": Profile(2000.0, 8.0, 0.04, "crypto"),
}
_DEFAULT_PROFILE = Profile(100.0, 2.0, 0.01, "fx")


def symbol_profile(symbol: str) -> Profile:
    """The model's parameters for a symbol (unknown symbols raise `UnknownSymbolError`)."""
    inst = get_instrument(symbol)
    return _PROFILES.get(inst.symbol, _DEFAULT_PROFILE)


def bi5_relpath(symbol: str, hour: datetime) -> str:
    """`XAUUSD/2024/00/02/13h_ticks.bi5`: the feed's layout, month zero-based."""
    return f"{symbol}/{hour.year:04d}/{hour.month - 1:02d}/{hour.day:02d}/{hour.hour:02d}h_ticks.bi5"


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _seasonality() -> np.ndarray:
    """Relative tick rate per UTC minute of a trading day (before the calendar closes anything)."""
    h = (np.arange(DAY_MINUTES) + 0.5) / 60.0
    w = 0.2  # hours over which a session ramps
    london = _sig((h - 7.0) / w) * _sig((16.5 - h) / w)
    new_york = _sig((h - 12.5) / w) * _sig((21.0 - h) / (2 * w))
    ny_open = np.where(h >= 13.5, np.exp(-(h - 13.5) / 0.5), 0.0)  # cash-open burst
    return 0.45 + 0.8 * london + 0.8 * new_york + 0.4 * ny_open


def _open_minutes(day: date, kind: str) -> np.ndarray:
    """Boolean mask of the minutes the market trades on `day` (UTC)."""
    m = np.arange(DAY_MINUTES)
    if kind == "crypto":
        return np.ones(DAY_MINUTES, dtype=bool)
    wd = day.weekday()
    is_open = np.ones(DAY_MINUTES, dtype=bool)
    if wd == 5:  # Saturday
        is_open[:] = False
    elif wd == 4:  # Friday closes at the rollover
        is_open &= m < ROLLOVER_MINUTE
    elif wd == 6:  # Sunday opens an hour after it
        is_open &= m >= ROLLOVER_MINUTE + 60
    if kind == "metal":
        is_open &= (m < ROLLOVER_MINUTE) | (m >= ROLLOVER_MINUTE + 60)
    return is_open


def _spread_multiplier(kind: str) -> np.ndarray:
    """Spreads build up into the rollover and are widest just after it, decaying over the next hour."""
    if kind == "crypto":
        return np.ones(DAY_MINUTES)
    m = np.arange(DAY_MINUTES, dtype=np.float64)
    reopen = ROLLOVER_MINUTE + (60 if kind == "metal" else 0)
    before = np.where(m < ROLLOVER_MINUTE, 2.0 * np.exp(-(ROLLOVER_MINUTE - 1 - m) / 10.0), 0.0)
    after = np.where(m >= reopen, 5.0 * np.exp(-(m - reopen) / 20.0), 0.0)
    return 1.0 + before + after


def _anchor_log(symbol: str, seed: int, ordinal: int, daily_vol: float) -> float:
    """Log deviation of the day's opening price from the base: smooth, seeded, needs no earlier days."""
    crc = zlib.crc32(symbol.encode())
    total = 0.0
    for scale in _ANCHOR_SCALES:
        k, r = divmod(ordinal, scale)
        v0, v1 = (np.random.default_rng([seed, crc, scale, k + j, 0xA7C]).standard_normal() for j in (0, 1))
        total += np.sqrt(scale / 2.0) * (v0 + (v1 - v0) * r / scale)
    return daily_vol * total / np.sqrt(sum(1.0 / s for s in _ANCHOR_SCALES))  # day-to-day std = daily_vol


def _check(symbol: str, seed: int, activity: float) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if not activity > 0:
        raise ConfigError(f"activity must be > 0, got {activity!r}")


def synth_day(symbol: str, day: date, seed: int = 0, *, activity: float = 1.0) -> np.ndarray:
    """One UTC day of ticks (TICK_DTYPE, sorted), exactly as `decode_bi5` would return them from the files.

    `activity` scales the tick rate (1.0 ≈ 550 K ticks on a full weekday); daily volatility is kept.
    """
    _check(symbol, seed, activity)
    inst = get_instrument(symbol)
    prof = _PROFILES.get(inst.symbol, _DEFAULT_PROFILE)
    factor = inst.decimal_factor
    if prof.price * factor * 1.5 >= 2**32:
        raise ConfigError(f"{inst.symbol}: price {prof.price} × decimal factor {factor} overflows .bi5")
    crc = zlib.crc32(inst.symbol.encode())
    rng = np.random.default_rng(np.random.SeedSequence([seed, day.toordinal(), crc]))

    # Volatility regime per minute: stationary log-AR(1), computed as a causal exponential filter.
    phi = np.exp(-1.0 / _VOL_AR_MINUTES)
    lags = phi ** np.arange(DAY_MINUTES)
    eps = rng.standard_normal(DAY_MINUTES) * _VOL_LOG_STD * np.sqrt(1.0 - phi * phi)
    logvol = np.convolve(eps, lags)[:DAY_MINUTES] + lags * phi * rng.standard_normal() * _VOL_LOG_STD

    # Arrivals: seasonality × calendar × day level × volatility coupling, scaled to TICKS_PER_FULL_DAY.
    season = _seasonality()
    reference = float(season[_open_minutes(date(2024, 1, 2), prof.kind)].sum())  # a full Tuesday
    base_rate = TICKS_PER_FULL_DAY * activity / reference
    day_level = np.exp(_DAY_ACTIVITY_STD * rng.standard_normal() - _DAY_ACTIVITY_STD**2 / 2)
    c = _ACTIVITY_VOL_COUPLING
    coupling = np.exp(c * logvol - (c * _VOL_LOG_STD) ** 2 / 2)
    rate = base_rate * day_level * season * coupling * _open_minutes(day, prof.kind)
    counts = rng.poisson(rate)
    n = int(counts.sum())
    if n == 0:
        return np.empty(0, dtype=TICK_DTYPE)

    minute = np.repeat(np.arange(DAY_MINUTES), counts)
    day_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000
    ts = minute.astype(np.int64) * MINUTE_MS + rng.integers(0, MINUTE_MS, n)
    ts.sort()  # minute blocks stay in place, so `minute` still lines up with `ts`
    ts += day_ms

    # Mid: random walk in price units, per-tick volatility from the regime, bridged anchor → next anchor.
    p0 = prof.price * factor * np.exp(_anchor_log(inst.symbol, seed, day.toordinal(), prof.daily_vol))
    p1 = prof.price * factor * np.exp(_anchor_log(inst.symbol, seed, day.toordinal() + 1, prof.daily_vol))
    sigma_tick = prof.daily_vol * prof.price * factor / np.sqrt(TICKS_PER_FULL_DAY * activity)
    steps = rng.standard_normal(n) * (sigma_tick * np.exp(logvol[minute] - _VOL_LOG_STD**2 / 2))
    steps[0] = 0.0
    walk = np.cumsum(steps)
    frac = np.arange(n) / max(n - 1, 1)
    mid = np.rint(p0 + walk - frac * (walk[-1] - (p1 - p0))).astype(np.int64)

    # Spread: base × rollover widening × regime, held per minute, with occasional one-to-three-unit
    # flickers, ≥ 1 unit; bid below mid, ask above. Quotes that mostly repeat keep the files as
    # compressible as the real feed's (~5 bytes per tick), so decode benchmarks mean something.
    base_spread = prof.price * factor * prof.spread_bps / 1e4
    widen = _spread_multiplier(prof.kind)[minute] * np.exp(0.35 * logvol[minute])
    flicker = (rng.random(n) < 0.15) * rng.integers(-3, 4, n)
    spread = np.rint(base_spread * widen).astype(np.int64) + flicker
    np.maximum(spread, 1, out=spread)
    bid = np.maximum(mid - spread // 2, 1)
    ask = bid + spread

    out = np.empty(n, dtype=TICK_DTYPE)
    out["ts"] = ts
    out["ask"] = ask / float(factor)  # the same division decode_bi5 does: bit-identical round trip
    out["bid"] = bid / float(factor)
    for side in ("ask_volume", "bid_volume"):
        out[side] = _volumes(rng, n)
    return out


#: Volumes (millions) as the feed quotes them: a few round sizes, most often 1.0 and 1.5.
_VOLUME_LEVELS = np.array([0.75, 1.0, 1.12, 1.25, 1.5, 1.69, 1.87, 2.25, 2.62, 3.0, 3.37, 3.75], np.float32)
_VOLUME_WEIGHTS = np.array([4, 30, 5, 4, 10, 2, 3, 6, 2, 3, 2, 3], dtype=np.float64)


def _volumes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Top-of-book sizes persist: a new size on ~30 % of ticks, else the previous tick's."""
    if n == 0:
        return np.empty(0, np.float32)
    drawn = rng.choice(_VOLUME_LEVELS, size=n, p=_VOLUME_WEIGHTS / _VOLUME_WEIGHTS.sum())
    changes = rng.random(n) < 0.3
    changes[0] = True
    return drawn[np.maximum.accumulate(np.where(changes, np.arange(n), 0))]


@dataclass(frozen=True)
class SynthSummary:
    symbol: str
    start: date
    end: date
    hours: int  # hour files present (every hour of every day, empty ones as 0-byte files)
    ticks: int
    bytes: int  # total size of the hour files
    files_changed: int  # files (re)written; 0 on an identical rerun
    day_ticks: dict[date, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return (
            f"{self.symbol} {self.start.isoformat()}..{self.end.isoformat()}: {self.hours} hours, "
            f"{self.ticks:,} ticks, {self.bytes / 1e6:.1f} MB, {self.files_changed} files written"
        )


def _held_ticks(path: Path, symbol: str, hour: datetime, factor: int) -> np.ndarray | None:
    """The ticks an existing hour file holds, or None if it is missing or unreadable (then rewrite it)."""
    try:
        return decode_bi5(path.read_bytes(), symbol=symbol, hour=hour, decimal_factor=factor)
    except (OSError, DecodeError):
        return None


def _write_atomic(path: Path, data: bytes) -> bool:
    """Temp file + rename in the same folder; skips (returns False) when the file already holds `data`."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the feed's files are plain readable data
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def write_synth_feed(
    out_dir: str | os.PathLike[str],
    symbol: str,
    start: date,
    end: date,
    seed: int = 0,
    *,
    activity: float = 1.0,
    workers: int | None = None,
) -> SynthSummary:
    """Write every hour of `start..end` (inclusive) as `.bi5` files under `out_dir` in the feed's layout.

    Idempotent and atomic: a rerun rewrites nothing, an interrupted run leaves only whole files. LZMA
    dominates and releases the GIL, so hours are compressed on `workers` threads (default: one per core).
    """
    if end < start:
        raise ConfigError(f"end {end.isoformat()} is before start {start.isoformat()}")
    _check(symbol, seed, activity)
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    inst = get_instrument(symbol)
    root = Path(out_dir)

    def write_hour(hour: datetime, ticks: np.ndarray) -> tuple[int, bool]:
        path = root / bi5_relpath(inst.symbol, hour)
        held = _held_ticks(path, inst.symbol, hour, inst.decimal_factor)
        if held is not None and np.array_equal(held, ticks):  # decoding is ~10x cheaper than LZMA encoding
            return path.stat().st_size, False
        body = encode_bi5(ticks, hour=hour, decimal_factor=inst.decimal_factor)
        return len(body), _write_atomic(path, body)

    hours = ticks = nbytes = changed = 0
    day_ticks: dict[date, int] = {}
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        day = start
        while day <= end:
            arr = synth_day(inst.symbol, day, seed, activity=activity)
            day_ticks[day] = int(arr.size)
            ticks += arr.size
            day_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000
            cuts = np.searchsorted(arr["ts"], day_ms + HOUR_MS * np.arange(25))
            starts = [datetime(day.year, day.month, day.day, h, tzinfo=UTC) for h in range(24)]
            slices = [arr[cuts[h] : cuts[h + 1]] for h in range(24)]
            for size, was_written in pool.map(write_hour, starts, slices):
                hours += 1
                nbytes += size
                changed += was_written
            day += timedelta(days=1)
    return SynthSummary(inst.symbol, start, end, hours, ticks, nbytes, changed, day_ticks)
