"""How a benchmark run's load reaches its generator: LAB_* environment variables, one per field
of `LoadConfig`, written by `drive.Load` and read here by both generators (Locust's locustfile
and the threads generator). The names and their types are said once, in the dataclass."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

# How each field's text is read, by its annotation.
READERS = {"float": float, "int": int, "float | None": float, "Path | None": Path}


@dataclass(frozen=True)
class LoadConfig:
    probe_rate: float = 4.0
    think_s: float = 1.0
    warmup_s: float = 0.0
    window_s: float | None = None  # None: run until stopped (the live demo)
    ramp_s: float = 0.0  # the visitors start evenly over this long
    drain_max_s: float = 60.0
    raw_csv: Path | None = None
    burst: int = 0  # >0: that many BurstVisitors; the window closes when their POSTs are answered
    arrival_rate: float = 0.0  # ArrivingVisitors per second
    arrival_seed: int = 1

    @staticmethod
    def variable(name: str) -> str:
        return f"LAB_{name.upper()}"

    def to_env(self) -> dict[str, str]:
        return {
            self.variable(f.name): str(getattr(self, f.name))
            for f in fields(self)
            if getattr(self, f.name) is not None
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> LoadConfig:
        values = {}
        for f in fields(cls):
            text = environ.get(cls.variable(f.name))
            if text:
                values[f.name] = READERS[str(f.type)](text)
        return cls(**values)
