"""A flood of bad connections must not fill the disk with log lines.

Each of the web servers' own loggers lets at most `LINES_PER_WINDOW` lines through per
`WINDOW_S`; the first line after a window that dropped some says how many.
"""

from __future__ import annotations

import logging
import time

LINES_PER_WINDOW = 20
WINDOW_S = 10.0
# The loggers a flood of connections writes to: asyncio's event loop (accept errors, callbacks),
# uvicorn's and gunicorn's error logs.
FLOODED = ("asyncio", "uvicorn.error", "gunicorn.error")


class FloodGate(logging.Filter):
    def __init__(self, lines: int = LINES_PER_WINDOW, window_s: float = WINDOW_S) -> None:
        super().__init__()
        self.lines, self.window_s = lines, window_s
        self.window_start, self.passed, self.dropped = time.monotonic(), 0, 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self.window_start >= self.window_s:
            self.window_start, self.passed = now, 0
        if self.passed >= self.lines:
            self.dropped += 1
            return False
        self.passed += 1
        if self.dropped and isinstance(record.msg, str):
            record.msg = f"[{self.dropped} similar lines dropped before this one] {record.msg}"
            self.dropped = 0
        return True


def limit_log_floods(names: tuple[str, ...] = FLOODED) -> None:
    """Put a FloodGate on each of these loggers (once)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, FloodGate) for f in logger.filters):
            logger.addFilter(FloodGate())
