"""The `redun` logger: every "[redun] " line of a run goes through it, as upstream's do.

`logger` is logging.getLogger("redun") with one handler writing
"[redun] <message>" to stderr, at level INFO; `redun --log-level LEVEL` sets its
level, so `redun --log-level ERROR run ...` prints no INFO line. `log_levels` maps
the CLI's level names to logging levels (upstream's names). The handler looks up
sys.stderr when it writes (not when it is made), so a test that captures stderr
sees the lines.
"""

import logging as _logging
import sys

log_levels = {
    "ERROR": _logging.ERROR,
    "WARN": _logging.WARN,
    "INFO": _logging.INFO,
    "DEBUG": _logging.DEBUG,
}


class _StderrHandler(_logging.StreamHandler):
    """A StreamHandler on whatever sys.stderr is at the time of each record."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ assigns it; the property wins
        pass


log_formatter = _logging.Formatter("[redun] %(message)s")
log_handler = _StderrHandler()
log_handler.setFormatter(log_formatter)

logger = _logging.getLogger("redun")
if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
    logger.addHandler(log_handler)
if logger.level == _logging.NOTSET:
    logger.setLevel(_logging.INFO)


def set_log_level(name: str) -> None:
    """Set the redun logger's level by upstream's name (ERROR, WARN, INFO, DEBUG)."""
    try:
        logger.setLevel(log_levels[name])
    except KeyError:
        raise ValueError(f"log level must be one of {', '.join(log_levels)}, not {name!r}") from None
