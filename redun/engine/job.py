"""A job: one evaluation of a task on concrete arguments, in this process.

The attribute names executors and scheduler tasks use are upstream's
(`id` as a uuid string, `task`, `expr`, `args` as the `(args, kwargs)` pair
sent to the task function, `parent_job`, `child_jobs`, `eval_hash`,
`args_hash`, `call_hash`, `was_cached`, `status`, `get_option()`,
`get_options()`), so a user's own Executor or `@scheduler_task` written for
upstream works here. The rest is the engine's bookkeeping (record ids, waiters,
followers of the same call); the scheduler's thread alone mutates a Job.
"""

import os
import traceback as tb_module

from ..objects.ids import uuid_str
from .clock import now_us

_ID_POOL: list = []  # random version-4 uuids, drawn 256 at a time (one os.urandom call)
os.register_at_fork(after_in_child=_ID_POOL.clear)  # a forked child must not reuse the parent's ids


def new_job_id() -> bytes:
    """A random (version 4) uuid as 16 bytes, like uuid.uuid4().bytes. Batched: each
    os.urandom call releases the GIL, which costs a thread switch per job while workers run."""
    try:
        return _ID_POOL.pop()
    except IndexError:
        raw = bytearray(os.urandom(16 * 256))
        raw[6::16] = bytes((b & 0x0F) | 0x40 for b in raw[6::16])
        raw[8::16] = bytes((b & 0x3F) | 0x80 for b in raw[8::16])
        _ID_POOL.extend(bytes(raw[i:i + 16]) for i in range(0, len(raw), 16))
        return _ID_POOL.pop()


class Job:
    """One task call being evaluated. See the module docstring for the public attributes."""

    __slots__ = (
        "uuid", "_id", "task", "expr", "call_args", "call_kwargs", "parent_job", "child_jobs", "eval_hash",
        "args_hash", "arg_hashes", "kwarg_hashes", "defaults", "status", "was_cached", "call_hash", "call_oid",
        "eval_oid", "eval_vhash", "prev_call", "start", "oid", "waiters", "followers", "result", "error", "memo",
        "result_vhash", "scope", "options", "_merged_options", "execution", "job_tags", "execution_tags",
        "value_tags", "_exported", "prov", "handle_forks", "pre_args", "_context", "context_hash", "__weakref__",
    )

    def __init__(self, task, expr, call_args, call_kwargs, parent_job, execution=None):
        self.uuid = new_job_id()
        self._id = None
        self.task = task
        self.expr = expr
        self.call_args = call_args
        self.call_kwargs = call_kwargs
        self.parent_job = parent_job
        self.child_jobs = []
        self.status = "PENDING"
        self.was_cached = False
        self.call_hash = None
        self.call_oid = None
        self.eval_oid = None
        self.eval_vhash = None
        self.prev_call = None
        self.start = now_us()
        self.oid = None
        self.waiters = []
        self.followers = []
        self.result = _EMPTY
        self.error = None
        self.memo = None
        self.result_vhash = None
        self.scope = "NONE"
        self.options = None  # job-level option overrides (upstream Job.options)
        self._merged_options = None
        self._exported = None
        self.execution = execution
        self.job_tags = None
        self.execution_tags = None
        self.value_tags = None
        self.prov = True  # records provenance (set by the lifecycle from the run and the `prov` option)
        self.handle_forks = None  # Handle hash -> calls it was passed to, under this job
        self.pre_args = None  # (args, kwargs) as given, when preprocessing (Handle forks) changed them
        self._context = None
        self.context_hash = None

    # -- upstream's public attributes ------------------------------------------
    @property
    def id(self) -> str:
        """The job's uuid as text (upstream's Job.id)."""
        if self._id is None:
            self._id = uuid_str(self.uuid)
        return self._id

    @property
    def args(self) -> tuple:
        """(args, kwargs) as the task function receives them (upstream's Job.args)."""
        return self.call_args, self.call_kwargs

    @property
    def eval_args(self) -> tuple:
        return self.call_args, self.call_kwargs

    def get_raw_options(self) -> dict:
        """Task options: definition-time, then exported by the parent, then call-time, then job-level."""
        return merge_raw_options(self.task, self.expr, self.parent_job, self.options)

    def get_options(self) -> dict:
        o = self._merged_options
        if o is None:
            o = self._merged_options = self.get_raw_options()
        return o

    def get_option(self, key: str, default=None, as_type=None):
        value = self.get_options().get(key, default)
        return as_type(value) if as_type is not None else value

    def get_export_options(self) -> dict:
        """The options this job passes on to its child jobs (inherited by theirs in turn)."""
        exported = self._exported
        if exported is None:
            names = set(self.task._export_options)
            if self.expr is not None:
                names.update(getattr(self.expr, "_export_options", ()) or ())
            parent = self.parent_job
            if parent is not None:
                names.update(parent.get_export_options())
            options = self.get_options() if names else {}
            exported = self._exported = {k: options[k] for k in names if k in options}
        return exported

    def get_context(self) -> dict:
        """The job's context: its parent's (the execution's for the root job) updated with its
        call's `update_context` (redun/context.py)."""
        context = self._context
        if context is None:
            parent = self.parent_job
            if parent is not None:
                context = parent.get_context()
            else:
                context = getattr(self.execution, "context", None) or {}
            override = self.get_options().get("_context_override")
            if override:
                from ..utils import merge_dicts

                context = merge_dicts([context, override])
            self._context = context
        return context

    def recording_provenance(self) -> bool:
        return self.prov

    def __repr__(self) -> str:
        return f"Job(id={self.id}, task_name={self.task.fullname})"


_EMPTY = object()


def merge_raw_options(task, expr, parent, job_options) -> dict:
    """A call's options before evaluation: the registered task's, then those exported by the
    parent job, then call-time (task.options(...)), then job-level overrides."""
    base = task._task_options_base
    exported = parent.get_export_options() if parent is not None else None
    call = expr._options if expr is not None else None
    if not exported and not call and not job_options:
        return base
    merged = dict(base)
    if exported:
        merged.update(exported)
    if call:
        if "cache" in call and "cache_scope" not in call:
            merged.pop("cache_scope", None)
        merged.update(call)
    if job_options:
        merged.update(job_options)
    from ..task import normalise_task_options

    return normalise_task_options(merged)


class DryRunResult(Exception):
    """Raised by a dry run when jobs would still have to run (redun.scheduler.DryRunResult)."""


class Execution:
    """The execution a job belongs to (upstream's redun.scheduler.Execution): its id and the
    context its root job starts from."""

    __slots__ = ("id", "context", "job")

    def __init__(self, id: str, context=None):
        self.id = id
        self.context = context if context is not None else {}
        self.job = None

    def __repr__(self) -> str:
        return f"Execution(id={self.id[:8]})"


class JobEnv:
    """A job as seen by expressions evaluated for a call about to become its child: its
    default arguments see the new job's context (upstream's JobEnv). Everything but the
    context and the dedup memo is the job's own."""

    def __init__(self, job, context: dict):
        self.job = job
        self._env_context = context
        self.memo = None

    def get_context(self) -> dict:
        return self._env_context

    def __getattr__(self, name):
        if self.job is None:
            raise AttributeError(name)
        return getattr(self.job, name)


class TaskFailure(Exception):
    """Carries a task's exception up the job tree, with the job it came from and its frames."""

    def __init__(self, error: BaseException, job, frames: list, remote_traceback=None):
        self.error = error
        self.job = job
        self.frames = frames  # traceback.FrameSummary list inside the task function
        self.remote_traceback = remote_traceback  # what an executor passed as error_traceback, if not frames


def as_failure(error, job) -> TaskFailure:
    """The TaskFailure for an error raised or rejected at `job`."""
    if isinstance(error, TaskFailure):
        return error
    frames = tb_module.extract_tb(error.__traceback__) if isinstance(error, BaseException) else []
    return TaskFailure(error, job, frames)


class Failures:
    """The failures behind the exceptions handed to scheduler tasks, by exception identity.

    A scheduler task's promise rejects with the user's exception; when the task passes it
    on (a catch that does not match, a seq that fails), the failure it came from is found
    again here, so the traceback still names the job that raised it. Nothing is attached
    to the exception itself: its pickle (and so its hash, e.g. as a recover task's
    argument) stays the user's."""

    __slots__ = ("_by_id",)

    def __init__(self):
        self._by_id: dict = {}

    def exception(self, failure) -> BaseException:
        if not isinstance(failure, TaskFailure):
            return failure
        self._by_id[id(failure.error)] = failure  # the failure keeps the exception (and its id) alive
        return failure.error

    def failure(self, error, job) -> TaskFailure:
        if isinstance(error, TaskFailure):
            return error
        carried = self._by_id.get(id(error))
        if carried is not None and carried.error is error:
            return carried
        return as_failure(error, job)


class SubrunResult(dict):
    """What redun.subrun_root_task returns (upstream's dict). With `job_oid`, the scheduler
    makes the sub-scheduler's root job (recorded in this execution) a child of the
    subrun job's record."""


class AdoptedJob:
    """A job recorded by a sub-scheduler, listed among a job's children in its record. It has no
    call_hash here, so it does not enter the parent's call hash (upstream's parent does not
    know the sub-scheduler's jobs either)."""

    __slots__ = ("oid", "call_hash", "call_oid", "id")

    def __init__(self, oid: bytes, job_id: str):
        self.oid = oid
        self.id = job_id
        self.call_hash = None
        self.call_oid = None
