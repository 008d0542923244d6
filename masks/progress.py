"""A minimal progress bar for preprocessing: shown on stderr only when it is a terminal and only
once the work has taken more than a second, so quick runs and logs stay clean."""

from __future__ import annotations

import sys
import time


class Progress:
    """``with Progress(total, "what") as p: ... p.advance(n)``."""

    def __init__(self, total: int, description: str, *, delay: float = 1.0):
        self.total = max(total, 1)
        self.description = description
        self.delay = delay
        self.done = 0
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._shown = False
        self._enabled = sys.stderr.isatty()

    def __enter__(self) -> Progress:
        return self

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._start >= self.delay and now - self._last_draw >= 0.1:
            self._last_draw = now
            self._shown = True
            fraction = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * fraction)
            sys.stderr.write(
                f"\rgrammarlib: {self.description} [{bar:<30}] {100 * fraction:5.1f}% "
                f"{now - self._start:5.1f}s"
            )
            sys.stderr.flush()

    def __exit__(self, *exc: object) -> None:
        if self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
