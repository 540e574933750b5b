"""`optuna-dashboard` on the sweeps of a store (or one storage URL), bound to 127.0.0.1 only.

A sweep keeps its study in `{store}/runs/{sweep}/optuna.journal` (or `optuna.db` with SQLite, or the
older `{store}/runs/optuna.db`). A remote (`s3://`) store cannot hold a study: its sweeps keep them on
the machine that ran them, in `$HFT_STATE_DIR/studies/{store-slug}-{hash}/{sweep}/` (hft.store.state),
which is where `hft dashboard --store s3://…` looks, without contacting the store. Every sweep found
is listed: one sweep is served live; with several, `--sweep NAME` serves that one live, and without
it every sweep is served at once from a read-only snapshot taken at start (restart to refresh).
"""

from __future__ import annotations

import socket
from pathlib import Path

from hft.errors import ConfigError
from hft.reduce.optuna_io import open_storage
from hft.store.fs import Store
from hft.store.state import studies_dir

__all__ = ["find_storages", "free_port", "pick_storage", "serve_dashboard", "studies_folder"]

HOST = "127.0.0.1"


def studies_folder(store: str) -> tuple[Path, bool]:
    """(the folder holding one sub-folder per sweep study, whether the store is remote)."""
    st = Store(store)  # only the URL is parsed: nothing is read from a remote store
    if st.is_local:
        return Path(st.path("runs")), False
    return studies_dir(st.uri()), True


def find_storages(store: str) -> dict[str, str]:
    """Sweep name -> storage URL for every study of the store's sweeps (see the module docstring)."""
    folder, remote = studies_folder(store)
    found: dict[str, str] = {}
    if not remote and (folder / "optuna.db").is_file():
        found["(runs/optuna.db)"] = f"sqlite:///{folder / 'optuna.db'}"
    for f in sorted(folder.glob("*/optuna.journal")):
        found[f.parent.name] = str(f)
    for f in sorted(folder.glob("*/optuna.db")):
        found.setdefault(f.parent.name, f"sqlite:///{f}")
    return dict(sorted(found.items()))


def pick_storage(store: str, sweep: str | None) -> tuple[str, dict[str, str]]:
    """(what to serve, the storages found): the sweep's URL, or '' for all of several."""
    found = find_storages(store)
    folder, remote = studies_folder(store)
    if not found and remote:
        raise ConfigError(
            f"no sweep studies of {store} under {folder} (*/optuna.journal or optuna.db: where `hft sweep` "
            "keeps a remote store's studies, on the machine that ran it); run the dashboard there (same "
            "$HFT_STATE_DIR) or pass --storage URL"
        )
    if not found:
        raise ConfigError(
            f"no sweep studies under {folder} (runs/*/optuna.journal or optuna.db); run `hft sweep` first "
            "or pass --storage URL"
        )
    if sweep is not None:
        if sweep not in found:
            raise ConfigError(f"--sweep {sweep!r}: no study under {folder}; sweeps: {', '.join(found)}")
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
