"""`optuna-dashboard` on a sweep's Optuna storage, bound to 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import socket
from pathlib import Path

from hft.errors import ConfigError
from hft.reduce.optuna_io import open_storage

__all__ = ["default_storage", "free_port", "serve_dashboard"]


def default_storage(store: str) -> str:
    """The sweep default: `sqlite:///{store}/runs/optuna.db` (local stores only)."""
    db = Path(store).expanduser().resolve() / "runs" / "optuna.db"
    if not db.is_file():
        raise ConfigError(f"no Optuna storage at {db}; pass --storage sqlite:///PATH or a journal file")
    return f"sqlite:///{db}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve_dashboard(storage: str, host: str = "127.0.0.1", port: int = 8080, announce=print) -> None:
    """Block serving the dashboard; `port` 0 picks a free one. Needs the `dashboard` extra."""
    try:
        import optuna_dashboard
    except ImportError as exc:
        raise ConfigError("optuna-dashboard is not installed: pip install 'hft[dashboard]'") from exc
    backend = open_storage(storage)
    port = port or free_port(host)
    with socket.socket() as s:  # fail with one line, not a server traceback, when the port is taken
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
        try:
            s.bind((host, port))
        except OSError as exc:
            msg = f"{host}:{port}: {exc.strerror}; pick another --port (0 = any free port)"
            raise ConfigError(msg) from None
    announce(f"optuna-dashboard on {storage}: http://{host}:{port}/ (Ctrl-C to stop)")
    optuna_dashboard.run_server(backend, host=host, port=port)
