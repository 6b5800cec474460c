"""The scheduler: Scheduler's public API and the run loop that evaluates lazy expressions into jobs.

All bookkeeping runs on one thread (the caller of `run`); user task functions
run on a small pool of worker threads and report back through one queue. Per
call (semantics §5): dedup by expression hash under one parent job; then by
(eval_hash) within the execution (in-flight collapse or CSE); then the
backend cache (single reduction on eval_hash with a full validity check, or
ultimate reduction for check_valid="shallow"); else the task runs. A task may
return an expression, which is evaluated under its job (so cached jobs can
have children). Every finished job is recorded by redun.engine.recorder.

The work is split by concern, all mixed into Scheduler (one object, so the hot
path stays plain attribute access): redun.engine.evaluation reduces expressions,
redun.engine.lifecycle takes one call from submission to its records,
redun.engine.caching checks the backend cache. This module owns a run's setup, its
event loop and its end (status table, traceback, execution record).
"""

import gc
import os
import queue
import sys
import time
import uuid
from collections import deque
from typing import Any, Optional

from .engine.caching import CacheMixin
from .engine.evaluation import EvaluationMixin
from .expression import QuotedExpression, TaskExpression
from .expression import cond  # noqa: F401 - upstream exposes redun.scheduler.cond
from .engine.lifecycle import ErrorValue, JobLifecycleMixin  # noqa: F401 - ErrorValue pickles as redun.scheduler's
from .engine.jobs import Job, _TaskFailure, _has_exprs, _is_expr
from .engine.recorder import Recorder, now_us
from .engine.runlog import RunLog, log_job_statuses, task_traceback_lines
from .task import get_task_registry, task
from .engine.workers import Workers


GC_THRESHOLD = 50_000  # gen-0 allocations between cyclic collections while a run is evaluated


class DryRunResult(Exception):
    """Raised by a dry run when jobs would still have to run."""


@task(name="root_task", namespace="redun", version="1",
      source="def root_task(expr: QuotedExpression):\n    return expr.eval()\n")  # no getsource at import
def root_task(expr: QuotedExpression):
    """Root job of an execution whose expression is not a plain task call."""
    return expr.eval()


class Scheduler(EvaluationMixin, JobLifecycleMixin, CacheMixin):
    """Runs expressions. `Scheduler()` records to memory; `Scheduler(repo=...)` to a repository."""

    def __init__(self, config=None, repo=None, max_workers: Optional[int] = None, quiet: bool = False,
                 log: Optional[RunLog] = None):
        self.repo = repo
        self.config = config if config is not None else (repo.config if repo is not None else None)
        if max_workers is None:
            max_workers = 20
            if self.config is not None and hasattr(self.config, "getint"):
                max_workers = self.config.getint("executors.default", "max_workers", 20)
        self.max_workers = max_workers
        self.runlog = log or RunLog(quiet=quiet)
        self._memory_recorder = None if repo is not None else Recorder(None)
        self.task_registry = get_task_registry()
        self.traceback_lines: list = []

    def log(self, message: str = "") -> None:
        self.runlog.log(message)

    def load(self, migrate: Optional[bool] = None) -> None:
        """Upstream API: open the backend. Ours opens lazily; kept for compatibility."""

    @property
    def root_job(self) -> Optional[Job]:
        """The root job of the last run (its hashes, children, status)."""
        return self._root_job

    def status_counts(self) -> dict:
        """{task fullname: {status: count}} of the last run (the JOB STATUS table)."""
        return self._status_counts()

    # -- public API --------------------------------------------------------------
    def run(self, expr: Any, exec_argv: Optional[list] = None, dryrun: bool = False, cache: bool = True,
            tags=(), execution_id: Optional[str] = None, record: bool = True) -> Any:
        """Evaluate expr; returns the result or raises the failing task's exception."""
        self._dryrun = dryrun
        self._use_cache = cache
        self._prov = record
        if self.repo is not None:
            rec = Recorder(self.repo, record=record and not dryrun)
        else:
            rec = self._memory_recorder
        self.rec = rec
        self._cse: dict = {}
        self._counts: dict = {}
        self._inflight = 0
        self._outq = queue.SimpleQueue()
        self._workers = Workers(self.max_workers, self._outq)
        self._root_memo: dict = {}
        self._failure: Optional[_TaskFailure] = None
        self._root_job: Optional[Job] = None
        self._ready: deque = deque()
        self._default_hashes: dict = {}
        self._lookups: list = []
        self.traceback_lines = []
        exec_id = uuid.UUID(execution_id).bytes if execution_id else uuid.uuid4().bytes
        self.execution_id = str(uuid.UUID(bytes=exec_id))
        if exec_argv is None:
            exec_argv = ["scheduler.run", repr(expr)[:200]]
        start = now_us()
        rec.start_execution(exec_id, list(exec_argv), dict(self._exec_tags(expr, tags)), start)
        self.log("Start Execution {}:  redun {}".format(self.execution_id, " ".join(
            _shell_quote(a) for a in exec_argv[1:])))
        self._validate_tasks()
        self._exec_id = exec_id

        if isinstance(expr, TaskExpression) and not _has_exprs((expr.args, expr.kwargs)):
            root = expr
        elif _is_expr(expr) or _has_exprs(expr):
            root = root_task(QuotedExpression(expr))
        else:
            root = expr
        # Each job allocates a few dozen small objects, almost none cyclic: the default
        # gen-0 threshold (700) makes the cyclic GC a third of the scheduler's CPU.
        old_gc = gc.get_threshold()
        gc.set_threshold(max(old_gc[0], GC_THRESHOLD), *old_gc[1:])
        try:
            return self._run_root(root, rec)
        finally:
            gc.set_threshold(*old_gc)

    def _run_root(self, root, rec: Recorder) -> Any:
        outcome: dict = {}
        t0 = time.time()
        # Deeply nested expressions (a task returning f(f(f(...)))) are hashed and pickled
        # recursively, as upstream does; allow depth for them while we run.
        old_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old_limit, 20_000))
        try:
            self._evaluate(root, None, lambda v: outcome.setdefault("ok", v),
                           lambda e: outcome.setdefault("err", e))
            self._loop(outcome)
        except BaseException:
            self._workers.stop()
            rec.abort()
            raise
        finally:
            sys.setrecursionlimit(old_limit)
        self._workers.stop()
        log_job_statuses(self.runlog, self._status_counts())
        self.log(f"Execution duration: {time.time() - t0:.2f} seconds")
        root_job = self._root_job
        rec.finish_execution(root_job.oid if root_job is not None else None, now_us())
        if "ok" in outcome:
            return outcome["ok"]
        if "err" in outcome:
            failure = outcome["err"]
            self._log_traceback(failure)
            raise failure.error if isinstance(failure, _TaskFailure) else failure
        if self._dryrun:
            self.log("Dryrun: Additional jobs would run.")
            raise DryRunResult()
        raise RuntimeError("execution ended without a result")

    # -- event loop ----------------------------------------------------------------
    def _loop(self, outcome: dict) -> None:
        """Run ready continuations (breadth-first, no deep recursion); block on workers when idle."""
        get = self._outq.get
        outq_empty = self._outq.empty
        flush = self.rec.flush_writes
        ready = self._ready
        while True:
            while ready:
                func, args = ready.popleft()
                func(*args)
            if self._lookups:
                self._process_lookups()
                continue
            if not self._inflight:
                break
            if outq_empty():
                flush()  # about to wait: finished jobs reach the pack first (kill -9 keeps them)
            job, ok, value, frames = get()
            self._inflight -= 1
            if ok:
                self._done_job(job, value)
            else:
                self._reject_job(job, _TaskFailure(value, job, frames or []))

    def _status_counts(self) -> dict:
        out = {}
        for name, c in self._counts.items():
            c = dict(c)
            c["PENDING"] = c["TOTAL"] - c["FAILED"] - c["CACHED"] - c["DONE"]
            out[name] = c
        return out

    # -- helpers ----------------------------------------------------------------------
    def _log_traceback(self, failure) -> None:
        if not isinstance(failure, _TaskFailure):
            return
        self.traceback_lines = task_traceback_lines(failure.job, failure.frames, failure.error)
        self.log("*** Execution failed. Traceback (most recent task last):")
        for line in self.traceback_lines:
            self.log(line)

    def _exec_tags(self, expr, tags) -> list:
        """Execution tags: the config's [tags] section, then the caller's (the CLI adds
        redun.version, git, user, project, as upstream's `redun run` does)."""
        out = []
        if self.config is not None and hasattr(self.config, "section"):
            out.extend(self.config.section("tags").items())
        out.extend(tags)
        return out

    def _validate_tasks(self) -> None:
        missing = [t for t in self.task_registry if not t.namespace and t.func is not None]
        if missing:
            names = ", ".join(f"{os.path.basename(t.func.__code__.co_filename)}:{t.func.__name__}" for t in missing)
            self.log("Tasks will require namespace soon. Either set namespace in the `@task` decorator or with "
                     "the module-level variable `redun_namespace`.\ntasks needing namespace: " + names)


def _shell_quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def apply_tags(value, tags=(), job_tags=(), execution_tags=()):  # pragma: no cover
    return value
