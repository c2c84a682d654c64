"""Wall time and peak resident memory of a block, sampled from a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil


@dataclass
class Measurement:
    seconds: float = 0.0
    rss_before_mb: float = 0.0
    rss_peak_mb: float = 0.0

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_peak_mb - self.rss_before_mb


@contextmanager
def measured(interval_s: float = 0.02) -> Iterator[Measurement]:
    process = psutil.Process()
    result = Measurement(rss_before_mb=process.memory_info().rss / 2**20)
    result.rss_peak_mb = result.rss_before_mb
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            result.rss_peak_mb = max(result.rss_peak_mb, process.memory_info().rss / 2**20)
            time.sleep(interval_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        done.set()
        thread.join()
        result.rss_peak_mb = max(result.rss_peak_mb, process.memory_info().rss / 2**20)
