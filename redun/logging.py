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


def write_plain(level: int, message: str) -> bool:
    """Write one line as `logger.log(level, message)` would, without building a LogRecord,
    when the logging setup is this module's own (one handler, our formatter, no filters, and
    no handler above the `redun` logger that propagation would reach). Returns False
    (nothing written) otherwise, or when the write fails: the caller then goes through
    logging, which applies whatever the user configured and reports errors its own way."""
    lg = logger
    handlers = lg.handlers
    h = log_handler
    if (
        len(handlers) != 1 or handlers[0] is not h or lg.filters or h.filters or h.formatter is not log_formatter
        or h.level > level or not lg.isEnabledFor(level)
    ):
        return False
    if lg.propagate:
        parent = lg.parent
        while parent is not None:
            if parent.handlers:
                return False
            if not parent.propagate:
                break
            parent = parent.parent
    line = f"[redun] {message}{h.terminator}"
    with h.lock:
        stream = sys.stderr
        try:
            stream.write(line)
        except Exception:  # noqa: BLE001 - nothing written: logging writes it, or reports the error its way
            return False
        try:  # as StreamHandler.flush()
            if stream and hasattr(stream, "flush"):
                stream.flush()
        except Exception:  # noqa: BLE001 - the line is out: report as StreamHandler.emit would
            h.handleError(lg.makeRecord(lg.name, level, "(unknown file)", 0, message, None, None))
    return True
