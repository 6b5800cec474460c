"""What a failed job records as its result: ErrorValue(error, Traceback).

Both pickle as upstream's classes (redun.scheduler.ErrorValue / Traceback) with
upstream's state, and hash as upstream's: the ErrorValue hash is built from the
hashes of the exception and of the Traceback (exception, the task function's
frames, logs), so a failed call's call hash, and the call hashes of the jobs
above it, equal upstream's for the same workflow in the same directory (frames
hold file paths and line numbers).
"""

from typing import Any, Optional

from ..hashing import hash_struct, hash_value
from ..value import Value


class Traceback(Value):
    """An exception and the frames (traceback.FrameSummary) of the task code that raised it."""

    type_name = "redun.Traceback"
    __module__ = "redun.scheduler"

    def __init__(self, error: Any, frames: list, logs: Optional[list] = None):
        self.error = error
        self.frames = frames
        self.logs = logs or []

    def __getstate__(self) -> dict:
        return {"error": self.error, "frames": self.frames, "logs": self.logs}

    def __setstate__(self, state: dict) -> None:
        self.error = state["error"]
        self.frames = state["frames"]
        self.logs = state["logs"]

    def format(self):
        """Lines of the traceback, upstream's layout."""
        for frame in self.frames:
            yield f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n'
            yield f"    {frame.line}\n"
        yield f"{type(self.error).__name__}: {self.error}"


class ErrorValue(Value):
    """A failed job's result: the exception and its Traceback (upstream type redun.ErrorValue)."""

    type_name = "redun.ErrorValue"
    __module__ = "redun.scheduler"

    def __init__(self, error: BaseException, traceback: Any = None):
        self.error = error
        self.traceback = traceback

    def get_hash(self, data: Optional[bytes] = None) -> str:
        return hash_struct(["redun.ErrorValue", hash_value(self.error), hash_value(self.traceback)])

    def __getstate__(self) -> dict:
        return {"error": self.error, "traceback": self.traceback}

    def __setstate__(self, state: dict) -> None:
        self.error = state["error"]
        self.traceback = state["traceback"]

    def __repr__(self) -> str:
        return f"ErrorValue({self.error!r})"


def error_value(failure) -> tuple:
    """(ErrorValue, its hash) of a TaskFailure: the executor's own traceback if it sent one,
    else one from the frames of the task code. An exception that cannot be pickled is
    recorded as Exception(repr(error)), as upstream."""
    error = failure.error
    tb = failure.remote_traceback if failure.remote_traceback is not None else Traceback(error, list(failure.frames))
    value = ErrorValue(error, tb)
    try:
        return value, hash_value(value)
    except Exception:
        error2 = Exception(repr(error))
        value = ErrorValue(error2, Traceback(error2, list(failure.frames)))
        return value, hash_value(value)
