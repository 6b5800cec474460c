"""The one progress display of the command line: a status line on stderr.

Commands that take a while (push, pull, import, db reindex, fsck, gc) open it
around their work and hand the `Progress` it yields to the lower layers (the
protocol is redun/objects/progress.py). It draws only when stderr is a
terminal: piped or redirected stderr gets nothing at all, so logs and scripts
see only the command's own output. The line is rewritten in place with a
carriage return (no escape sequences, so any terminal shows it), at most ten
times a second, and erased when the command ends.
"""

import os
import sys
import time
from contextlib import contextmanager
from typing import Iterator, Optional

from ..objects.progress import NO_PROGRESS, Progress

REDRAW_INTERVAL = 0.1  # seconds between two redraws of the same step


def is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no stream, or a closed one
        return False


def _width(stream) -> int:
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns or 80  # a terminal that does not say its size (0) is taken as 80 wide


def _count(n: int, unit: str) -> str:
    if unit == "bytes":
        return f"{n / 1e6:,.1f}"
    return f"{n:,}"


class TerminalProgress(Progress):
    """Draws `<label>: <step> <done>[/<total>] <unit> [(pct%)]` on a terminal stream."""

    def __init__(self, label: str, stream, clock=time.monotonic):
        self.label = label
        self.stream = stream
        self.clock = clock
        self.step = ""
        self.total: Optional[int] = None
        self.unit = "objects"
        self.done = 0
        self.counting = False  # whether the step has reported a count yet
        self.last_draw = None
        self.shown = 0  # characters of the line currently on screen

    # -- the Progress protocol ------------------------------------------------
    def phase(self, name: str, total: Optional[int] = None, unit: str = "objects") -> None:
        self.step, self.total, self.unit = name, total, unit
        self.done, self.counting = 0, False
        self.draw()

    def advance(self, n: int = 1) -> None:
        self.done += n
        self.counting = True
        self._maybe_draw()

    def update(self, done: int) -> None:
        self.done = done
        self.counting = True
        self._maybe_draw()

    # -- drawing --------------------------------------------------------------
    def line(self) -> str:
        text = f"{self.label}: {self.step}" if self.step else self.label
        if self.counting or self.total:
            unit = "MB" if self.unit == "bytes" else self.unit
            if self.total:
                pct = min(100, 100 * self.done // self.total)
                text += f" {_count(self.done, self.unit)}/{_count(self.total, self.unit)} {unit} ({pct}%)"
            else:
                text += f" {_count(self.done, self.unit)} {unit}"
        return text

    def _maybe_draw(self) -> None:
        if self.last_draw is None or self.clock() - self.last_draw >= REDRAW_INTERVAL:
            self.draw()

    def draw(self) -> None:
        text = self.line()[: _width(self.stream) - 1]  # never wrap to a second line
        pad = " " * max(self.shown - len(text), 0)  # erase the tail of a longer previous line
        self._write("\r" + text + pad)
        self.shown = len(text)
        self.last_draw = self.clock()

    def clear(self) -> None:
        if self.shown:
            self._write("\r" + " " * self.shown + "\r")
            self.shown = 0

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # terminal gone: the command's work goes on without it
            self.shown = 0


@contextmanager
def progress_on_stderr(label: str, quiet: bool = False, stream=None) -> Iterator[Progress]:
    """Yield a Progress drawing on stderr (or `stream`) when it is a terminal
    and not `quiet`; otherwise NO_PROGRESS. The line is erased on exit."""
    stream = sys.stderr if stream is None else stream
    if quiet or not is_terminal(stream):
        yield NO_PROGRESS
        return
    display = TerminalProgress(label, stream)
    display.draw()
    try:
        yield display
    finally:
        display.clear()
