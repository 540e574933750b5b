"""A pool of `SweepWorker` Ray actors that replaces members whose process died.

Actors are created with `max_restarts=0`: a dead actor is noticed by the driver (its call raises
`RayActorError`), the trials it held are handed back for a retry, and a fresh actor takes its slot.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hft.errors import SweepError
from hft.sweep.spec import Resources

__all__ = ["ActorPool", "pool_size"]


def pool_size(resources: Resources) -> int:
    import ray

    if resources.actors:
        return resources.actors
    cpus = float(ray.cluster_resources().get("CPU", 1))
    return max(1, int(cpus // resources.cpus_per_actor))


class ActorPool:
    def __init__(self, resources: Resources, size: int | None = None, worker: type | None = None) -> None:
        """`worker`: the actor class, `SweepWorker` or a subclass of it (tests hold a batch in one)."""
        import ray

        from hft.sweep.worker import SweepWorker

        worker = worker or SweepWorker
        if not issubclass(worker, SweepWorker):
            raise SweepError(f"ActorPool: worker {worker.__name__} is not a SweepWorker")

        self.resources = resources
        opts: dict[str, Any] = {"num_cpus": resources.cpus_per_actor, "max_restarts": 0}
        if resources.memory_mb:
            opts["memory"] = resources.memory_mb * 1024**2
        from hft.backtest.params import user_runtime_env

        if (env := user_runtime_env()) is not None:  # user strategy code, to every node
            opts["runtime_env"] = env
        self._cls = ray.remote(worker).options(**opts)
        self.size = size or pool_size(resources)
        self.actors: list[Any] = [self._spawn() for _ in range(self.size)]
        self.replaced = 0
        self.ready: set[Any] = set()  # actors known to have started (see hft.sweep.driver._Dispatch)

    def _spawn(self):
        return self._cls.remote(self.resources.cache_mb)

    def dispatch(self, stats):
        """The driver's view of this pool (see hft.sweep.driver.Dispatch)."""
        from hft.sweep.driver import _Dispatch

        return _Dispatch(self, stats)

    def replace(self, dead) -> Any:
        """Swap a dead actor for a new one (same slot); returns the new handle."""
        import ray

        try:
            i = self.actors.index(dead)
        except ValueError as exc:
            raise SweepError("replace: that actor is not in the pool") from exc
        with contextlib.suppress(Exception):
            ray.kill(dead, no_restart=True)
        self.actors[i] = self._spawn()
        self.replaced += 1
        self.ready.discard(dead)
        return self.actors[i]

    def pids(self) -> list[int]:
        import ray

        return ray.get([a.pid.remote() for a in self.actors])

    def stats(self) -> list[dict[str, Any]]:
        import ray

        return ray.get([a.stats.remote() for a in self.actors])

    def close(self) -> None:
        import ray

        for a in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(a, no_restart=True)
        self.actors = []
        self.ready = set()
