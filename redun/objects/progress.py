"""How a long operation tells its caller how far it has got.

fsck, gc, push/pull, import and reindex report to a `Progress` they are handed;
they never draw anything themselves. The command line hands them one that draws
a status line on a terminal (redun/cli/progress.py); every other caller passes
nothing and the operation reports to NO_PROGRESS, which ignores it all. The
protocol lives here, in the lowest package, so that objects, index, sync,
exchange and maint can all report without importing the CLI.
"""

from typing import Optional


class Progress:
    """Observer of one long operation. This base class ignores every report;
    implementations override the three methods."""

    def phase(self, name: str, total: Optional[int] = None, unit: str = "objects") -> None:
        """A step starts: `name` says what it does ("checking objects"); `total`,
        when known, is how many `unit`s ("objects", "lines", "bytes") it will
        count. The count starts again at 0."""

    def advance(self, n: int = 1) -> None:
        """`n` more units of the current step are done."""

    def update(self, done: int) -> None:
        """`done` units of the current step are done so far (an absolute count)."""


NO_PROGRESS = Progress()


def progress_or_none(progress: Optional[Progress]) -> Progress:
    """The given observer, or NO_PROGRESS for None (so callers never test for None)."""
    return NO_PROGRESS if progress is None else progress
