"""A progress line on stderr for long work: done, rate, share and time left. Quiet when
piped, and beside data written to the same terminal."""

from __future__ import annotations

import sys
import time


class ProgressLine:
    """`writes_stdout`: the command's data goes to standard output (export, simulate);
    when that is a terminal too, the line stays off rather than break into the data."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        unit: str = "events",
        writes_stdout: bool = False,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.started = time.monotonic()
        self._shown = 0.0
        self.enabled = sys.stderr.isatty() and not (writes_stdout and _is_terminal(sys.stdout))

    def advance(self, count: int) -> None:
        self.update(self.done + count)

    def update(self, done: int, fraction: float | None = None) -> None:
        self.done = done
        now = time.monotonic()
        if not self.enabled or now - self._shown < 0.2:
            return
        self._shown = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        if fraction is None and self.total:
            fraction = min(done / self.total, 1.0)
        text = f"\r{self.label}: {done:,} {self.unit}, {rate:,.0f}/s"
        if fraction:
            left = elapsed * (1 - fraction) / fraction
            bar = "#" * int(fraction * 20)
            text += f"  [{bar:<20}] {fraction:4.0%}  {left:,.0f}s left"
        sys.stderr.write(text + "   ")
        sys.stderr.flush()

    def say(self, text: str) -> None:
        """Replace the line with a note on what the work does now (a step without a count)."""
        if self.enabled:
            sys.stderr.write(f"\r\x1b[K{self.label}: {text}")
            sys.stderr.flush()

    def finish(self) -> float:
        elapsed = time.monotonic() - self.started
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
        return elapsed


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):  # None, or closed
        return False
