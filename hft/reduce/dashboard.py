"""`optuna-dashboard` on the sweeps of a store (or one storage URL), bound to 127.0.0.1 only.

A sweep keeps its study in `{store}/runs/{sweep}/optuna.journal` (or `optuna.db` with SQLite, or the
older `{store}/runs/optuna.db`). `hft dashboard --store DIR` finds them all: one sweep is served live;
with several, `--sweep NAME` serves that one live, and without it every sweep is served at once from
a read-only snapshot taken at start (restart to refresh).
"""

from __future__ import annotations

import socket
from pathlib import Path

from hft.errors import ConfigError
from hft.reduce.optuna_io import open_storage

__all__ = ["find_storages", "free_port", "pick_storage", "serve_dashboard"]

HOST = "127.0.0.1"


def find_storages(store: str) -> dict[str, str]:
    """Sweep name -> storage URL for every study file under `{store}/runs`."""
    runs = Path(store).expanduser().resolve() / "runs"
    found: dict[str, str] = {}
    if (runs / "optuna.db").is_file():
        found["(runs/optuna.db)"] = f"sqlite:///{runs / 'optuna.db'}"
    for f in sorted(runs.glob("*/optuna.journal")):
        found[f.parent.name] = str(f)
    for f in sorted(runs.glob("*/optuna.db")):
        found.setdefault(f.parent.name, f"sqlite:///{f}")
    return found


def pick_storage(store: str, sweep: str | None) -> tuple[str, dict[str, str]]:
    """(what to serve, the storages found): the sweep's URL, or '' for all of several."""
    found = find_storages(store)
    runs = Path(store).expanduser().resolve() / "runs"
    if not found:
        raise ConfigError(
            f"no sweep studies under {runs} (runs/*/optuna.journal or optuna.db); run `hft sweep` first "
            "or pass --storage URL"
        )
    if sweep is not None:
        if sweep not in found:
            raise ConfigError(f"--sweep {sweep!r}: no study under {runs}; sweeps: {', '.join(found)}")
        return found[sweep], found
    return (next(iter(found.values())) if len(found) == 1 else ""), found


def merged(found: dict[str, str]):
    """Every study of `found` copied into one in-memory storage (names kept unless they clash)."""
    import optuna

    from hft.reduce.optuna_io import study_names

    target = optuna.storages.InMemoryStorage()
    taken: set[str] = set()
    for sweep, url in found.items():
        src = open_storage(url)
        for name in study_names(src):
            to = name if name not in taken else f"{sweep}/{name}"
            optuna.copy_study(from_study_name=name, from_storage=src, to_storage=target, to_study_name=to)
            taken.add(to)
    return target


def free_port(host: str = HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _check_port(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
        try:
            s.bind((HOST, port))
        except OSError as exc:
            raise ConfigError(
                f"port {port} on {HOST} is in use ({exc.strerror or exc}); pass --port N or --port 0 for a "
                "free one"
            ) from None


def serve_dashboard(storage, port: int = 8080, announce=print, what: str = "") -> None:
    """Block serving the dashboard on 127.0.0.1; `storage` is a URL or an Optuna storage; `port` 0
    picks a free one. Needs the `dashboard` extra."""
    try:
        import optuna_dashboard
    except ImportError as exc:
        raise ConfigError("optuna-dashboard is not installed: pip install 'hft[dashboard]'") from exc
    backend = open_storage(storage) if isinstance(storage, str) else storage
    port = port or free_port(HOST)
    _check_port(port)
    announce(f"optuna-dashboard on {what or storage}: http://{HOST}:{port}/ (Ctrl-C to stop)")
    optuna_dashboard.run_server(backend, host=HOST, port=port)
