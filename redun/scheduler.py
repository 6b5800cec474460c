"""The scheduler: evaluates lazy expressions into jobs, with upstream's caching.

All bookkeeping runs on one thread (the caller of `run`); user task functions
run on a small pool of worker threads and report back through one queue. Per
call (semantics §5): dedup by expression hash under one parent job; then by
(eval_hash) within the execution (in-flight collapse or CSE); then the
backend cache (single reduction on eval_hash with a full validity check, or
ultimate reduction for check_valid="shallow"); else the task runs. A task may
return an expression, which is evaluated under its job (so cached jobs can
have children). Every finished job is recorded by redun.recorder.
"""

import gc
import os
import queue
import sys
import time
import traceback as tb_module
import uuid
from collections import deque
from typing import Any, Optional

from .caching import CacheMixin
from .expression import CondExpression, QuotedExpression, SimpleExpression, TaskExpression, ValueExpression
from .expression import cond  # noqa: F401 - upstream exposes redun.scheduler.cond
from .hashing import hash_args, hash_call_node, hash_eval, hash_struct, hash_value
from .jobs import (_EMPTY, Job, arg_hash, _Gather, _TaskFailure, _collect, _dedup_key, _default_value, _defaults,
                   _has_exprs, _is_expr, _notify_fail, _notify_ok, _upstream_calls)
from .objects.records import Job as JobRecord
from .recorder import Recorder, now_us
from .runlog import RunLog, cached_line, format_task_call, log_job_statuses, reject_line, run_line
from .runlog import task_traceback_lines
from .task import get_task_registry, task
from .workers import Workers


GC_THRESHOLD = 50_000  # gen-0 allocations between cyclic collections while a run is evaluated


class ErrorValue:
    """A failed job's result: the exception and its traceback text (upstream type redun.ErrorValue)."""

    type_name = "redun.ErrorValue"

    def __init__(self, error: BaseException, traceback: Optional[str] = None):
        self.error = error
        self.traceback = traceback

    def __redun_hash__(self) -> str:
        try:
            eh = hash_value(self.error)
        except Exception:
            eh = hash_value(repr(self.error))
        return hash_struct(["redun.ErrorValue", eh, hash_value(self.traceback)])

    def __getstate__(self) -> dict:
        return {"error": self.error, "traceback": self.traceback}

    def __setstate__(self, state: dict) -> None:
        self.error = state["error"]
        self.traceback = state["traceback"]

    def __repr__(self) -> str:
        return f"ErrorValue({self.error!r})"


class DryRunResult(Exception):
    """Raised by a dry run when jobs would still have to run."""


@task(name="root_task", namespace="redun", version="1",
      source="def root_task(expr: QuotedExpression):\n    return expr.eval()\n")  # no getsource at import
def root_task(expr: QuotedExpression):
    """Root job of an execution whose expression is not a plain task call."""
    return expr.eval()


class Scheduler(CacheMixin):
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

    def _count(self, job: Job, status: str) -> None:
        c = self._counts.get(job.task.fullname)
        if c is None:
            c = self._counts[job.task.fullname] = {"PENDING": 0, "RUNNING": 0, "FAILED": 0, "CACHED": 0,
                                                    "DONE": 0, "TOTAL": 0}
        c[status] += 1

    def _status_counts(self) -> dict:
        out = {}
        for name, c in self._counts.items():
            c = dict(c)
            c["PENDING"] = c["TOTAL"] - c["FAILED"] - c["CACHED"] - c["DONE"]
            out[name] = c
        return out

    # -- evaluation ------------------------------------------------------------------
    def _evaluate(self, value, parent: Optional[Job], ok, fail) -> None:
        if _is_expr(value):
            self._eval_expr(value, parent, ok, fail)
            return
        found: dict = {}
        _collect(value, found)
        if not found:
            ok(value)
            return
        g = _Gather(value, len(found), ok, fail)
        for key, e in found.items():
            self._eval_expr(e, parent, lambda r, k=key: g.done(k, r), g.error)

    def _eval_expr(self, expr, parent: Optional[Job], ok, fail) -> None:
        t = type(expr)
        if t is TaskExpression or isinstance(expr, TaskExpression):
            memo = self._root_memo if parent is None else parent.memo
            if memo is None:
                memo = parent.memo = {}
            key = _dedup_key(expr)
            waiting = memo.get(key)
            if waiting is not None:
                if waiting[0] is _EMPTY:
                    waiting[1].append((ok, fail))
                elif waiting[0] == "ok":
                    ok(waiting[1])
                else:
                    fail(waiting[1])
                return
            entry = memo[key] = [_EMPTY, [(ok, fail)]]

            def resolved(v):
                cbs = entry[1]
                entry[0], entry[1] = "ok", v
                for cb, _ in cbs:
                    cb(v)

            def failed(e):
                cbs = entry[1]
                entry[0], entry[1] = "err", e
                for _, cb in cbs:
                    cb(e)

            if _has_exprs((expr.args, expr.kwargs)):
                self._evaluate((expr.args, expr.kwargs), parent,
                               lambda ev: self._ready.append((self._exec_job, (expr, ev[0], ev[1], parent, resolved,
                                                                                failed))), failed)
            else:
                self._ready.append((self._exec_job, (expr, expr.args, expr.kwargs, parent, resolved, failed)))
        elif isinstance(expr, SimpleExpression):
            def apply(ev):
                try:
                    result = expr.apply(ev[0], ev[1])
                except Exception as e:
                    fail(_TaskFailure(e, parent, tb_module.extract_tb(e.__traceback__)))
                    return
                self._evaluate(result, parent, ok, fail)

            self._evaluate((expr.args, expr.kwargs), parent, apply, fail)
        elif isinstance(expr, ValueExpression):
            ok(expr.value)
        elif isinstance(expr, CondExpression):
            self._eval_cond(expr.exprs, 0, parent, ok, fail)
        else:
            ok(expr)

    def _eval_cond(self, exprs: tuple, i: int, parent, ok, fail) -> None:
        if i >= len(exprs):
            ok(None)
        elif i == len(exprs) - 1:  # the else branch
            self._evaluate(exprs[i], parent, ok, fail)
        else:
            def decide(value):
                if value:
                    self._evaluate(exprs[i + 1], parent, ok, fail)
                else:
                    self._eval_cond(exprs, i + 2, parent, ok, fail)

            self._evaluate(exprs[i], parent, decide, fail)

    # -- jobs ------------------------------------------------------------------------
    def _exec_job(self, expr: TaskExpression, args: tuple, kwargs: dict, parent, ok, fail) -> None:
        task = expr.task
        if task is None or task.func is None:
            fail(_TaskFailure(RuntimeError(f"Unknown task {expr.task_name}"), parent, []))
            return
        # Jobs record the registered task (its hash); call-time options only change behaviour.
        registered = self.task_registry.get(task.fullname) if task._task_options_override else task
        job = Job(registered or task, expr, args, kwargs, parent)
        job.waiters.append((ok, fail))
        if parent is None:
            self._root_job = job
        else:
            parent.children.append(job)
        self._count(job, "TOTAL")

        # Hash the preprocessed arguments: defaults merged into kwargs, config_args dropped.
        hkw = dict(kwargs)
        for name, default in _defaults(task, len(args)):
            if name not in hkw:
                hkw[name] = default
        config_args = task.get_task_option("config_args")
        if config_args:
            for name in config_args:
                hkw.pop(name, None)
        job.defaults = [k for k in hkw if k not in kwargs]
        pre = expr.__dict__.get("_arg_hashes") if args is expr.args and kwargs is expr.kwargs else None
        if pre is not None:
            job.arg_hashes = pre[0]
            kh = dict(pre[1])
            dh = self._default_hashes
            for k in job.defaults:
                h = dh.get((id(task), k))
                if h is None:
                    h = dh[(id(task), k)] = hash_value(hkw[k])
                kh[k] = h
            if config_args:
                for name in config_args:
                    kh.pop(name, None)
            job.kwarg_hashes = kh
        else:
            job.arg_hashes = [arg_hash(a) for a in args]
            job.kwarg_hashes = {k: arg_hash(v) for k, v in hkw.items()}
        job.args_hash = hash_args(job.arg_hashes, job.kwarg_hashes)
        job.eval_hash = hash_eval(job.task.hash, job.args_hash)

        scope = task.get_task_option("cache_scope", "BACKEND")
        if not self._prov:
            scope = "NONE"
        elif not self._use_cache and scope == "BACKEND":
            scope = "CSE"

        job.scope = scope
        if scope != "NONE" and self._same_call(job, args, kwargs):
            return
        if scope == "BACKEND":
            self._lookups.append((job, args, kwargs))  # looked up in batches (one query per batch)
            return
        self._run_job(job, args, kwargs)

    def _same_call(self, job: Job, args, kwargs) -> bool:
        """The same call already ran in this execution: collapse into it while it runs (silently,
        as upstream), or reuse it once finished (CSE; errors too). True if handled."""
        other = self._cse.get(job.eval_hash)
        if other is None:
            return False
        if other.status == "PENDING":
            other.followers.append(job)
            return True
        self.log(cached_line(job.id_str, format_task_call(job.task, args, kwargs), job.eval_hash,
                             other.call_hash))
        self._finish_follower(job, other)
        return True

    def _run_job(self, job: Job, args, kwargs) -> None:
        task = job.task
        if job.scope != "NONE":
            if self._same_call(job, args, kwargs):  # a twin from the same lookup batch is running
                return
            self._cse[job.eval_hash] = job
        if not getattr(self.runlog, "quiet", False):
            self.log(run_line(job.id_str, format_task_call(task, args, kwargs),
                              task.get_task_option("executor") or "default", self._dryrun))
        if self._dryrun:
            return
        self._inflight += 1
        self._workers.submit(job, task.func, args, kwargs)

    def _done_job(self, job: Job, result) -> None:
        """The task function returned (worker → main thread)."""
        if self._prov:
            try:
                job.eval_vhash = hash_value(result)
                job.eval_oid = self.rec.value_oid(result, job.eval_vhash)
            except Exception as e:
                self._reject_job(job, _TaskFailure(e, job, tb_module.extract_tb(e.__traceback__)))
                return
        self._after_eval(job, result, from_cache=False)

    def _after_eval(self, job: Job, result, from_cache: bool) -> None:
        if _is_expr(result) or _has_exprs(result):
            self._evaluate(result, job, lambda v: self._resolve_job(job, v),
                           lambda e: self._reject_job(job, e))
        else:
            job.result_vhash = job.eval_vhash
            self._resolve_job(job, result)

    def _resolve_job(self, job: Job, result) -> None:
        job.result = result
        if self._prov:
            vhash = job.result_vhash or hash_value(result)
            job.result_vhash = vhash
            children = [c for c in job.children if c.call_hash]
            call_hash = hash_call_node(job.task.hash, job.args_hash, vhash, [c.call_hash for c in children])
            if job.call_oid is not None and job.call_hash == call_hash:
                pass  # ultimate reduction: the recorded CallNode is this one
            elif job.prev_call is not None and job.prev_call[0] == call_hash:
                job.call_oid = job.prev_call[1]  # same call as the job the cache hit came from
            else:
                job.call_oid = self._record_call_node(job, call_hash, result, vhash, children)
            job.call_hash = call_hash
        job.expr.__dict__["call_hash"] = job.call_hash
        status = "CACHED" if job.cached else "DONE"
        self._end_job(job, status)
        for f in job.followers:
            self._finish_follower(f, job)
        self._ready.append((_notify_ok, (job.waiters, result)))

    def _finish_follower(self, job: Job, other: Job) -> None:
        """job is the same call as other (finished): it ends CACHED with other's result."""
        job.cached = True
        job.call_hash = other.call_hash
        job.call_oid = other.call_oid
        job.eval_oid = other.eval_oid
        if other.status == "FAILED":
            self._end_job(job, "FAILED")
            self._ready.append((_notify_fail, (job.waiters, other.error)))
            return
        job.result = other.result
        job.expr.__dict__["call_hash"] = job.call_hash
        self._end_job(job, "CACHED")
        self._ready.append((_notify_ok, (job.waiters, other.result)))

    def _end_job(self, job: Job, status: str) -> None:
        self._count(job, status)
        job.status = status
        if job.scope != "NONE":
            self._cse.setdefault(job.eval_hash, job)
        if not self._prov:
            return
        rec = self.rec
        parent = job.parent
        job.oid = rec.job(JobRecord(
            job.id, self._exec_id, parent.id if parent is not None else None,
            bytes.fromhex(job.task.hash), rec.task_oid(job.task),
            bytes.fromhex(job.call_hash) if job.call_hash else None, job.call_oid,
            bytes.fromhex(job.eval_hash), job.eval_oid if status != "FAILED" else None,
            job.start, now_us(), job.cached, status,
            tuple(c.oid for c in job.children if c.oid is not None), {},
        ))

    def _reject_job(self, job: Job, failure) -> None:
        if job.status in ("DONE", "CACHED", "FAILED"):
            return
        if not isinstance(failure, _TaskFailure):
            failure = _TaskFailure(failure, job, [])
        if self._failure is None:
            self._failure = failure
        self.log(reject_line(job.id_str, format_task_call(job.task, job.args, job.kwargs)))
        job.error = failure
        if self._prov:
            rec = self.rec
            err = ErrorValue(failure.error, "".join(tb_module.format_list(failure.frames)))
            try:
                vhash = hash_value(err)
                voi = rec.value_oid(err, vhash)
            except Exception:
                err = ErrorValue(Exception(repr(failure.error)), err.traceback)
                vhash = hash_value(err)
                voi = rec.value_oid(err, vhash)
            children = [c for c in job.children if c.call_hash]
            call_hash = hash_call_node(job.task.hash, job.args_hash, vhash, [c.call_hash for c in children])
            job.call_oid = self._record_call_node(job, call_hash, err, vhash, children, value_oid=voi)
            job.call_hash = call_hash
        self._end_job(job, "FAILED")
        for f in job.followers:
            self._finish_follower(f, job)
        self._ready.append((_notify_fail, (job.waiters, failure)))

    def _record_call_node(self, job: Job, call_hash: str, result, vhash: str, children: list,
                          value_oid: Optional[bytes] = None) -> bytes:
        rec = self.rec
        task = job.task
        if value_oid is None:
            value_oid = rec.value_oid(result, vhash)
        expr = job.expr
        args = []
        value_oid_of, make_arg = rec.value_oid, rec.arg
        if job.args is expr.args:  # arguments were plain values: no dataflow from other calls
            for i, (a, h) in enumerate(zip(job.args, job.arg_hashes)):
                args.append(make_arg(i, None, h, value_oid_of(a, h), ()))
        else:
            n = len(expr.args)
            for i, (a, h) in enumerate(zip(job.args, job.arg_hashes)):
                src = expr.args[i] if i < n else a
                args.append(make_arg(i, None, h, value_oid_of(a, h), _upstream_calls(src, a)))
        for k in sorted(job.kwargs):
            h = job.kwarg_hashes.get(k)
            if h is None:
                continue
            v = job.kwargs[k]
            args.append(rec.arg(None, k, h, rec.value_oid(v, h), _upstream_calls(expr.kwargs.get(k, v), v)))
        for k in job.defaults:
            h = job.kwarg_hashes[k]
            v = _default_value(task, k)
            args.append(rec.arg(None, k, h, rec.value_oid(v, h), ()))
        return rec.call_node(call_hash, task, rec.task_oid(task), job.args_hash, args, vhash, value_oid,
                             tuple(c.call_oid for c in children if c.call_oid is not None))

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
