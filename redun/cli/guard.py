"""How every command line ends: our errors become `redun: error: <message>`
with their exit code (no traceback), a reader closing stdout (`redun log |
head`) is a quiet exit 0, Ctrl-C is exit 130. Free of click, so the entry
point's fast path shares it."""

import os
import sys

from ..errors import RedunError


def guarded(fn, *args) -> None:
    """Run fn(*args) and translate how it ends; returns only on success."""
    try:
        fn(*args)
        sys.stdout.flush()
    except RedunError as e:
        sys.stderr.write(f"redun: error: {e}\n")
        sys.exit(e.exit_code)
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(0)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)


def _silence_stdout() -> None:
    """After the reader of stdout left, point stdout at /dev/null so the
    interpreter's final flush does not print a second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
