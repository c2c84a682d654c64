"""Which engine runs a job: pandas in this process, or Dask on a cluster (a given scheduler or a
LocalCluster sized to the machine). Every command takes the same two flags and calls `engine_client`.

The engine changes where the work runs, never what it computes: the Dask paths call the very pandas
functions the pandas path calls, once per partition.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from features.errors import LesError

if TYPE_CHECKING:
    from distributed import Client

ENGINES = ("pandas", "dask")


class EngineError(LesError, ValueError):
    """The engine options are inconsistent or malformed; the message names the option."""


class UnreachableSchedulerError(LesError, ConnectionError):
    """No Dask scheduler answered at the given address within the connect timeout."""


@dataclass(frozen=True)
class EngineConfig:
    """`scheduler` None with engine dask means a LocalCluster of `n_workers` processes (default: one
    per core) with `memory_limit` each (a Dask size such as "2GiB"; default: the machine's memory
    shared evenly). A worker past its limit spills to disk, pauses, and is restarted at 95%."""

    engine: str = "pandas"
    scheduler: str | None = None
    n_workers: int | None = None
    threads_per_worker: int = 1
    memory_limit: str | None = None
    connect_timeout_s: float | None = None  # None: Dask's distributed.comm.timeouts.connect

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise EngineError(f"--engine must be one of {list(ENGINES)}, got {self.engine!r}")
        if self.engine == "pandas" and self.scheduler is not None:
            raise EngineError("--scheduler needs --engine dask (pandas runs in this process)")
        if self.scheduler is not None and not self.scheduler.strip():
            raise EngineError("--scheduler is empty; give an address such as tcp://host:8786")
        if self.n_workers is not None and self.n_workers < 1:
            raise EngineError(f"n_workers must be >= 1, got {self.n_workers}")
        if self.threads_per_worker < 1:
            raise EngineError(f"threads_per_worker must be >= 1, got {self.threads_per_worker}")
        if self.connect_timeout_s is not None and self.connect_timeout_s <= 0:
            raise EngineError(f"connect_timeout_s must be > 0, got {self.connect_timeout_s}")
        if self.memory_limit is not None:
            from dask.utils import parse_bytes

            try:
                parse_bytes(self.memory_limit)
            except (ValueError, TypeError) as exc:
                raise EngineError(
                    f"memory_limit {self.memory_limit!r} is not a size (use e.g. 2GiB, 500MB)"
                ) from exc

    @property
    def is_dask(self) -> bool:
        return self.engine == "dask"


@contextmanager
def engine_client(cfg: EngineConfig) -> Iterator[Client | None]:
    """None for pandas; for dask a connected Client (made the default for `.compute()`), closed
    on exit together with the LocalCluster it started, if any."""
    if not cfg.is_dask:
        yield None
        return
    from distributed import Client, LocalCluster

    if cfg.scheduler is not None:
        client = connect(cfg.scheduler, cfg.connect_timeout_s)
        try:
            yield client
        finally:
            client.close()
        return
    with (
        LocalCluster(
            n_workers=cfg.n_workers,
            threads_per_worker=cfg.threads_per_worker,
            processes=True,
            memory_limit=cfg.memory_limit or "auto",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def connect(address: str, timeout_s: float | None = None) -> Client:
    """A Client of the scheduler at `address`, or UnreachableSchedulerError after `timeout_s`
    (default: Dask's connect timeout, set by DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT)."""
    import dask
    from dask.utils import parse_timedelta
    from distributed import Client

    if timeout_s is None:
        timeout_s = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s")
    try:
        return Client(address.strip(), timeout=timeout_s)
    except (OSError, TimeoutError) as exc:
        raise UnreachableSchedulerError(
            f"cannot reach the Dask scheduler at {address!r} within {timeout_s:g} s ({exc}); "
            "check the address and that `dask scheduler` is running and reachable"
        ) from exc


def cluster_summary(client: Client) -> str:
    """One line for the console: where the work runs and with how much memory."""
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    threads = sum(w["nthreads"] for w in workers)
    memory = sum(w.get("memory_limit") or 0 for w in workers)
    limit = f", {memory / 2**30:.1f} GiB memory limit in all" if memory else ""
    return f"dask: {len(workers)} workers, {threads} threads{limit} at {client.scheduler.address}"
