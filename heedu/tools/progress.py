r"""A dependency-free, one-line progress bar for the tools and the ``heedu`` command.

``label [#####.....] done/total  pct  rate  elapsed  ETA``, redrawn in place with ``\r`` on a
terminal. Elsewhere (a log file, a pipe, CI) only the final line is written, once.

Examples
--------
>>> import io
>>> bar, out = ProgressBar(4, label="encrypted", unit="images", width=8, interactive=True), io.StringIO()
>>> bar.update(4, out)
>>> out.getvalue().split("]")[0].strip()
'encrypted [########'
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ProgressBar:
    """A one-line progress bar: ``label [#####.....] done/total  pct  rate  elapsed  ETA``, redrawn with ``\\r``.

    Dependency-free. Writes to ``stream`` (default: ``sys.stderr`` at the time of each write) at
    most every ``min_interval`` seconds, plus on the first and last update; :meth:`close` ends the line.
    ``interactive`` (default: whether the stream is a terminal) decides whether the line is redrawn
    while it runs; if not, :meth:`close` writes the final line alone.
    """

    def __init__(
        self, total: int, label: str = "", unit: str = "images", width: int = 24, min_interval: float = 0.2,
        interactive: bool | None = None,
    ) -> None:
        self.total = max(0, total)
        self.label, self.unit, self.width, self.min_interval = label, unit, width, min_interval
        self.interactive = interactive
        self.done = 0
        self.started = time.perf_counter()
        self._last_draw = -math.inf
        self._last_length = 0

    def line(self) -> str:
        elapsed = time.perf_counter() - self.started
        fraction = self.done / self.total if self.total else 1.0
        filled = min(self.width, int(fraction * self.width))
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else math.inf
        prefix = f"{self.label} " if self.label else ""
        return (
            f"{prefix}[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} {self.unit} "
            f"{100 * fraction:5.1f}%  {rate:.2f} {self.unit}/s  elapsed {_duration(elapsed)}  ETA {_duration(eta)}"
        )

    def _draw(self, stream: TextIO) -> None:
        text = self.line()
        pad = " " * max(0, self._last_length - len(text))  # erase the tail of a longer previous line
        stream.write(f"\r{text}{pad}")
        stream.flush()
        self._last_length = len(text)
        self._last_draw = time.perf_counter()

    def _redraws(self, stream: TextIO) -> bool:
        if self.interactive is not None:
            return self.interactive
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())

    def update(self, count: int = 1, stream: TextIO | None = None) -> None:
        self.done = min(self.total, self.done + count)
        stream = stream or sys.stderr
        if not self._redraws(stream):
            return
        now = time.perf_counter()
        if self.done >= self.total or self._last_length == 0 or now - self._last_draw >= self.min_interval:
            self._draw(stream)

    def close(self, stream: TextIO | None = None) -> None:
        stream = stream or sys.stderr
        self._draw(stream)
        stream.write("\n")
        stream.flush()
