"""One error hierarchy, so callers can catch by cause and every message names what to fix."""

from __future__ import annotations

__all__ = [
    "HftError",
    "ConfigError",
    "DataError",
    "UnknownSymbolError",
    "DecodeError",
    "FeedError",
    "StoreError",
    "StoreAccessError",
    "EngineError",
    "SweepError",
    "ClusterError",
]


class HftError(Exception):
    """Root of every error `hft` raises on purpose."""


class ConfigError(HftError, ValueError):
    """A config file, CLI option or parameter is missing, malformed or out of range."""


class DataError(HftError):
    """Tick data could not be fetched, decoded or validated."""


class UnknownSymbolError(DataError, KeyError):
    """A symbol is not in the instrument table; the message suggests close names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class DecodeError(DataError, ValueError):
    """An hour's body is corrupt: bad LZMA, a length not a multiple of 20, times outside the hour."""


class FeedError(DataError):
    """The feed kept failing for an hour (HTTP errors, timeouts) after every retry."""


class StoreError(HftError):
    """The object store refused a read or write, or a name would escape the store's root."""


class StoreAccessError(StoreError):
    """The object store cannot be reached or used at all: endpoint down, bucket missing, credentials refused.

    Nothing is wrong with the command; check the service and rerun (exit code 3).
    """


class EngineError(HftError):
    """A backtest cannot run on the data or parameters it was given."""


class SweepError(HftError):
    """A sweep spec or study cannot be run or resumed."""


class ClusterError(HftError):
    """Ray could not be started or joined: nothing at `--address`, or the cluster refused our token
    (exit code 3, like StoreAccessError: the environment, not the command, needs fixing)."""
