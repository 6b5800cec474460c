"""Running one task call away from the scheduler (a worker process, a Dask worker).

What travels is the task's module and fullname, never the function itself: the
other side imports the module (as upstream's `load_task_module` does) and takes
the task from its registry, so tasks pickled by reference work under any start
method. What comes back is the return value, or the exception with the frames
of its traceback as plain tuples (a traceback object does not pickle).
"""

import importlib
import pickle
import traceback as tb_module
from typing import Any

CALL = "call"      # task.func(*args, **kwargs)
SCRIPT = "script"  # a script task: run the command its function returns


class RemoteTaskError(Exception):
    """A task's exception that could not be sent back as itself (it does not pickle)."""


def load_task(module_name: str, fullname: str):
    """The registered task `fullname`, importing `module_name` first if needed."""
    from ..task import get_task_registry

    task = get_task_registry().get(fullname)
    if task is None or task.func is None:
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(
                f"Failed to find module {module_name} for task {fullname}. If this is remotely executed, "
                "ensure the module is importable there (installed, or its directory on PYTHONPATH).") from exc
        task = get_task_registry().get(fullname)
    if task is None or task.func is None:
        raise RuntimeError(f"Task {fullname} is not defined after importing module {module_name}.")
    return task


def run_call(kind: str, module_name: str, fullname: str, args: tuple, kwargs: dict) -> tuple:
    """Run one call here: (True, result, None) or (False, error, frames)."""
    try:
        task = load_task(module_name, fullname)
        if kind == SCRIPT:
            from ..scripting import exec_script_task

            return True, exec_script_task(task, args, kwargs), None
        return True, task.func(*args, **kwargs), None
    except BaseException as error:  # noqa: BLE001 - the job's error, reported to the scheduler
        frames = [(f.filename, f.lineno, f.name, f.line) for f in tb_module.extract_tb(error.__traceback__)[1:]]
        return False, error, frames


def dump_outcome(outcome: tuple) -> bytes:
    """Pickle (ok, value, frames); a value or error that does not pickle becomes a RemoteTaskError."""
    try:
        return pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - any pickling failure is reported as the job's error
        ok, value, frames = outcome
        what = "result" if ok else f"exception {type(value).__name__}: {value}"
        error = RemoteTaskError(f"The task's {what} could not be pickled back to the scheduler: "
                                f"{type(exc).__name__}: {exc}")
        return pickle.dumps((False, error, frames), pickle.HIGHEST_PROTOCOL)


def frame_summaries(frames) -> list:
    """FrameSummary objects from the (filename, lineno, name, line) tuples of run_call."""
    if not frames:
        return []
    return [tb_module.FrameSummary(fn, ln, name, line=line) for fn, ln, name, line in frames]


def describe_call(kind: str, job) -> tuple:
    """(kind, module, fullname, args, kwargs): what run_call needs for this job."""
    task = job.task
    return kind, task.load_module, task.fullname, job.call_args, job.call_kwargs


def call_with_outcome(kind: str, module_name: str, fullname: str, args: tuple, kwargs: dict) -> Any:
    """run_call, as a function a Dask worker runs: the outcome tuple is the future's result, so
    task errors come back with their frames and never count as Dask task failures."""
    ok, value, frames = run_call(kind, module_name, fullname, args, kwargs)
    if ok:
        return ok, value, None
    try:
        pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001
        value = RemoteTaskError(f"The task's exception {type(value).__name__}: {value} could not be pickled "
                                f"back to the scheduler: {type(exc).__name__}: {exc}")
    return ok, value, frames
