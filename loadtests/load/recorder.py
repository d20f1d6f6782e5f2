"""What a Locust run records: every request with the window it belongs to (`Recorder`), for the
load its environment gives it (`load_env.LoadConfig`)."""

from __future__ import annotations

import itertools
import time
from contextlib import contextmanager

import locust

from loadtests.load.journey import write_raw
from loadtests.load.load_env import LoadConfig


class Recorder:
    """Every request of the run, and which ones are still waiting for an answer."""

    def __init__(self, config: LoadConfig) -> None:
        self.config = config
        self.t0 = time.time()
        self.rows: list[tuple[object, ...]] = []
        self.waiting: dict[int, tuple[float, str]] = {}  # key -> (start, endpoint)
        self.ids = itertools.count()
        self.cpu_warnings: list[float] = []
        self.burst_answered = 0
        self.burst_drained_at: float | None = None

    @property
    def window_start(self) -> float:
        return self.t0 + self.config.warmup_s

    @property
    def burst_at(self) -> float:
        return self.window_start + 1.0

    @property
    def window_end(self) -> float:
        if self.burst_drained_at is not None:
            return self.burst_drained_at + 1.0
        return self.window_start + (self.config.window_s or float("inf"))

    def burst_post_answered(self) -> None:
        self.burst_answered += 1
        if self.burst_answered == self.config.burst:
            self.burst_drained_at = time.time()

    def measuring(self) -> bool:
        return time.time() < self.window_end

    @contextmanager
    def request(self, endpoint: str, user: int):
        """Time one request; the body sets `outcome["status"]` (and `["error"]` on failure)."""
        key = next(self.ids)
        start = time.time()
        began = time.perf_counter()
        outcome: dict[str, object] = {"status": 0, "error": ""}
        self.waiting[key] = (start, endpoint)
        try:
            yield outcome
        except Exception as error:
            outcome["error"] = outcome["error"] or f"{type(error).__name__}: {error}"
        finally:
            latency_ms = (time.perf_counter() - began) * 1000
            del self.waiting[key]
            if self.config.raw_csv is not None:
                self.rows.append(
                    (
                        endpoint,
                        user,
                        f"{start:.6f}",
                        f"{latency_ms:.3f}",
                        outcome["status"],
                        outcome["error"],
                    )
                )

    def window_drained(self) -> bool:
        return not any(start < self.window_end for start, _ in self.waiting.values())

    def write(self, still_waiting: dict[int, tuple[float, str]]) -> None:
        assert self.config.raw_csv is not None
        meta = {
            "t0": self.t0,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "still_waiting": len(still_waiting),
            "burst": self.config.burst,
            "burst_at": self.burst_at if self.config.burst else None,
            "burst_drained_at": self.burst_drained_at,
            "cpu_warnings": self.cpu_warnings,
            "locust_version": locust.__version__,
        }
        write_raw(self.config.raw_csv, list(self.rows), list(still_waiting.values()), meta)
