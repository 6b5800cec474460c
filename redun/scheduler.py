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

import getpass
from collections import deque
import os
import queue
import sys
import threading
import time
import traceback as tb_module
import uuid
from typing import Any, Callable, Optional

from .expression import (CondExpression, QuotedExpression, SimpleExpression, TaskExpression, ValueExpression,
                         cond, is_valid_value)
from .hashing import hash_call_node, hash_eval, hash_struct, hash_value
from .objects.records import Job as JobRecord
from .recorder import Recorder, now_us
from .runlog import RunLog, cached_line, format_task_call, log_job_statuses, miss_line, reject_line, run_line
from .task import get_task_registry, task

_EMPTY = object()
_NO_HIT = object()
_SCALARS = (str, int, float, bool, bytes, type(None))


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


# ---------------------------------------------------------------------------
# runtime objects


class Job:
    """A job in this process: one evaluation of a task on concrete arguments."""

    __slots__ = (
        "id", "hex", "task", "expr", "args", "kwargs", "parent", "children", "eval_hash", "args_hash",
        "arg_hashes", "kwarg_hashes", "defaults", "status", "cached", "call_hash", "call_oid", "eval_oid",
        "eval_vhash", "prev_call", "start", "oid", "waiters", "followers", "result", "error", "memo",
        "result_vhash",
    )

    def __init__(self, task, expr, args, kwargs, parent):
        raw = uuid.uuid4().bytes
        self.id = raw
        self.hex = None
        self.task = task
        self.expr = expr
        self.args = args
        self.kwargs = kwargs
        self.parent = parent
        self.children = []
        self.status = "PENDING"
        self.cached = False
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

    @property
    def id_str(self) -> str:
        if self.hex is None:
            h = self.id.hex()
            self.hex = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        return self.hex


class _Gather:
    """Waits for every expression inside a value, then rebuilds it with results."""

    __slots__ = ("value", "left", "results", "ok", "fail", "failed")

    def __init__(self, value, n, ok, fail):
        self.value = value
        self.left = n
        self.results = {}
        self.ok = ok
        self.fail = fail
        self.failed = False

    def done(self, key, result):
        self.results[key] = result
        self.left -= 1
        if self.left == 0 and not self.failed:
            self.ok(_substitute(self.value, self.results))

    def error(self, err):
        if not self.failed:
            self.failed = True
            self.fail(err)


def _is_expr(v) -> bool:
    return isinstance(v, (TaskExpression, SimpleExpression, ValueExpression, CondExpression))


def _collect(value, out: dict) -> None:
    """Expressions anywhere inside value (containers walked), by id."""
    t = type(value)
    if t in _SCALARS:
        return
    if t is list or t is tuple or t is set or t is frozenset:
        for v in value:
            tv = type(v)
            if tv not in _SCALARS:
                _collect(v, out)
    elif t is dict:
        for k, v in value.items():
            _collect(k, out)
            _collect(v, out)
    elif _is_expr(value):
        out[id(value)] = value
    elif isinstance(value, tuple) and hasattr(value, "_fields"):
        for v in value:
            _collect(v, out)


def _substitute(value, results: dict):
    t = type(value)
    if t in _SCALARS:
        return value
    if t is list:
        return [_substitute(v, results) for v in value]
    if t is tuple:
        return tuple(_substitute(v, results) for v in value)
    if t is dict:
        return {_substitute(k, results): _substitute(v, results) for k, v in value.items()}
    if t is set or t is frozenset:
        return t(_substitute(v, results) for v in value)
    if _is_expr(value):
        return results[id(value)]
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return t(*(_substitute(v, results) for v in value))
    return value


class _TaskFailure(Exception):
    """Carries a task's exception up the job tree."""

    def __init__(self, error: BaseException, job: Job, frames: list):
        self.error = error
        self.job = job
        self.frames = frames  # traceback.FrameSummary list inside the task function


# ---------------------------------------------------------------------------


class _Workers:
    """Worker threads running user task functions; results come back on one queue."""

    def __init__(self, max_workers: int, outq):
        self.max = max(1, max_workers)
        self.inq = queue.SimpleQueue()
        self.outq = outq
        self.threads = []
        self.idle = 0
        self.queued = 0  # submitted, not yet taken by a worker
        self.lock = threading.Lock()

    def submit(self, job: Job, func: Callable, args, kwargs) -> None:
        with self.lock:
            self.queued += 1
            spawn = self.queued > self.idle and len(self.threads) < self.max
        self.inq.put((job, func, args, kwargs))
        if spawn:
            t = threading.Thread(target=self._loop, name="redun-worker", daemon=True)
            self.threads.append(t)
            t.start()

    def _loop(self):
        inq, outq = self.inq, self.outq
        while True:
            with self.lock:
                self.idle += 1
            item = inq.get()
            with self.lock:
                self.idle -= 1
                if item is not None:
                    self.queued -= 1
            if item is None:
                return
            job, func, args, kwargs = item
            try:
                outq.put((job, True, func(*args, **kwargs), None))
            except BaseException as e:  # noqa: BLE001 - reported as the job's error
                frames = tb_module.extract_tb(e.__traceback__)[1:]
                outq.put((job, False, e, frames))

    def stop(self):
        for _ in self.threads:
            self.inq.put(None)
        self.threads = []


class Scheduler:
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
        self._workers = _Workers(self.max_workers, self._outq)
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
        outcome: dict = {}
        t0 = time.time()
        try:
            self._evaluate(root, None, lambda v: outcome.setdefault("ok", v),
                           lambda e: outcome.setdefault("err", e))
            self._loop(outcome)
        except BaseException:
            self._workers.stop()
            rec.abort()
            raise
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
            job.arg_hashes = [hash_value(a) for a in args]
            job.kwarg_hashes = {k: hash_value(v) for k, v in hkw.items()}
        job.args_hash = hash_struct(["TaskArguments", job.arg_hashes, job.kwarg_hashes])
        job.eval_hash = hash_eval(job.task.hash, job.args_hash)

        scope = task.get_task_option("cache_scope", "BACKEND")
        if not self._prov:
            scope = "NONE"
        elif not self._use_cache and scope == "BACKEND":
            scope = "CSE"

        # Same call within this execution: collapse into it (in flight) or reuse it (finished).
        if scope != "NONE":
            other = self._cse.get(job.eval_hash)
            if other is not None:
                if other.status in ("PENDING", "RUNNING"):
                    other.followers.append(job)
                    return
                # finished (even failed: CSE reuses errors within an execution)
                self.log(cached_line(job.id_str, format_task_call(task, args, kwargs), job.eval_hash,
                                     other.call_hash))
                self._finish_follower(job, other)
                return
            self._cse[job.eval_hash] = job

        if scope == "BACKEND":
            self._lookups.append((job, args, kwargs))  # looked up in batches (one query per batch)
            return
        self._run_job(job, args, kwargs)

    def _run_job(self, job: Job, args, kwargs) -> None:
        task = job.task
        self.log(run_line(job.id_str, format_task_call(task, args, kwargs), task.get_task_option("executor") or
                          "default", self._dryrun))
        if self._dryrun:
            return
        self._inflight += 1
        self._workers.submit(job, task.func, args, kwargs)

    def _process_lookups(self) -> None:
        batch, self._lookups = self._lookups, []
        hits = None
        index_find = getattr(self.rec.index, "find_evals", None)
        if index_find is not None:
            try:
                hits = index_find([bytes.fromhex(j.eval_hash) for j, _, _ in batch])
            except Exception:
                hits = None
        for job, args, kwargs in batch:
            hit = _NO_HIT if hits is None else hits.get(bytes.fromhex(job.eval_hash))
            if not self._check_backend(job, args, kwargs, hit):
                self._run_job(job, args, kwargs)

    def _check_backend(self, job: Job, args, kwargs, hit=None) -> bool:
        """Cache hit → job proceeds as cached (True); miss → False. hit: prefetched find_eval
        answer (None = no entry), or _NO_HIT to query here."""
        rec = self.rec
        task = job.task
        try:
            if job.expr.task.get_task_option("check_valid", "full") == "shallow":
                oid = rec.index.find_call_node(bytes.fromhex(task.hash), bytes.fromhex(job.args_hash), None)
                if oid is None or not rec.has(oid):
                    return False
                node = rec.get(oid)
                result, vrec = rec.load_value(node.value)
                if vrec.type == "redun.ErrorValue":
                    return False
                job.call_hash = node.hash.hex()
                job.call_oid = oid
                job.cached = True
                job.result_vhash = vrec.hash.hex()
                job.eval_vhash = job.result_vhash
                job.eval_oid = node.value
                self.log(cached_line(job.id_str, format_task_call(task, args, kwargs), job.eval_hash,
                                     job.call_hash))
                self._resolve_job(job, result)
                return True
            if hit is _NO_HIT:
                hit = rec.index.find_eval(bytes.fromhex(job.eval_hash))
            if hit is None:
                return False
            job_oid, val_oid = hit
            result, vrec = rec.load_value(val_oid)  # NotFoundError (other process's pack): miss
            if vrec.type == "redun.ErrorValue":
                return False
        except Exception:  # unreadable cache entry: treat as a miss
            return False
        if not is_valid_value(result):
            self.log(miss_line(job.id_str, repr(result), job.eval_hash))
            return False
        try:
            prev = rec.job_fields(job_oid)
            if prev["call_hash"] is not None and prev["call_node"] is not None:
                job.prev_call = (prev["call_hash"].hex(), prev["call_node"], not prev["children"])
        except Exception:
            pass
        self.log(cached_line(job.id_str, format_task_call(task, args, kwargs), job.eval_hash, None))
        job.cached = True
        job.eval_oid = val_oid
        job.eval_vhash = vrec.hash.hex()
        self._after_eval(job, result, from_cache=True)
        return True

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
            rec = self.rec
            vhash = job.result_vhash or hash_value(result)
            job.result_vhash = vhash
            prev = job.prev_call
            if prev is not None and prev[2] and not job.children and job.result_vhash == job.eval_vhash:
                # leaf cached job: same task, args and value as the job it reuses
                call_hash = prev[0]
            else:
                call_hash = None
            if call_hash is None:
                children = [c for c in job.children if c.call_hash]
                call_hash = hash_call_node(job.task.hash, job.args_hash, vhash, [c.call_hash for c in children])
            if job.call_oid is not None and job.call_hash == call_hash:
                pass  # ultimate reduction: the recorded CallNode is this one
            elif job.prev_call is not None and job.prev_call[0] == call_hash:
                job.call_oid = job.prev_call[1]
            else:
                children = [c for c in job.children if c.call_hash]
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
        for i, (a, h) in enumerate(zip(job.args, job.arg_hashes)):
            src = expr.args[i] if i < len(expr.args) else a
            args.append(rec.arg(i, None, h, rec.value_oid(a, h), _upstream_calls(src, a)))
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
    def _exec_tags(self, expr, tags) -> list:
        from . import __version__

        out = [("redun.version", __version__)]
        user = os.environ.get("REDUN_USER")
        if not user:
            try:
                user = getpass.getuser()
            except Exception:
                user = None
        if user:
            out.append(("user", user))
        if isinstance(expr, TaskExpression) and expr.task is not None and expr.task.namespace:
            out.append(("project", expr.task.namespace))
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

    def _log_traceback(self, failure) -> None:
        if not isinstance(failure, _TaskFailure):
            return
        lines = []
        chain = []
        j = failure.job
        while j is not None:
            chain.append(j)
            j = j.parent
        for j in reversed(chain):
            func = j.task.func
            code = getattr(func, "__code__", None)
            if code is not None:
                try:
                    import linecache

                    text = linecache.getline(code.co_filename, code.co_firstlineno).strip()
                    src_lines, first = _def_line(func)
                except Exception:
                    src_lines, first = text, code.co_firstlineno
                lines.append(f'  Job {j.id_str[:8]}: File "{code.co_filename}", line {first}, in {j.task.name}')
                lines.append(f"    {src_lines}")
                params = {}
                try:
                    bound = j.task.signature.bind(*j.args, **j.kwargs)
                    bound.apply_defaults()
                    params = dict(bound.arguments)
                except Exception:
                    pass
                if params:
                    width = max(map(len, params))
                    for k in sorted(params):
                        lines.append(f"    {k.ljust(width)} = {_trim(repr(params[k]))}")
        for fr in failure.frames:
            lines.append(f'  File "{fr.filename}", line {fr.lineno}, in {fr.name}')
            lines.append(f"    {fr.line}")
        lines.append(f"{type(failure.error).__name__}: {failure.error}")
        self.traceback_lines = lines
        self.log("*** Execution failed. Traceback (most recent task last):")
        for line in lines:
            self.log(line)


def _trim(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _def_line(func) -> tuple:
    import inspect

    lines, first = inspect.getsourcelines(func)
    for i, line in enumerate(lines):
        if line.lstrip().startswith("def ") or line.lstrip().startswith("async def "):
            return line.strip(), first + i
    return lines[0].strip(), first


def _dedup_key(expr: TaskExpression) -> tuple:
    """Identity of a task call as written (same inputs as upstream's TaskExpression hash, cheaper)."""
    d = expr.__dict__
    ah = d.get("_arg_hashes")
    if ah is None:
        ah = d["_arg_hashes"] = ([hash_value(a) for a in expr.args],
                                 {k: hash_value(v) for k, v in expr.kwargs.items()})
    opts = d.get("_options")
    return (expr.task_name, tuple(ah[0]), tuple(sorted(ah[1].items())),
            hash_value(opts) if opts else None)


def _notify_ok(waiters: list, result) -> None:
    for ok, _ in waiters:
        ok(result)


def _notify_fail(waiters: list, error) -> None:
    for _, fail in waiters:
        fail(error)


def _has_exprs(value) -> bool:
    found: dict = {}
    _collect(value, found)
    return bool(found)


def _upstream_calls(src, evaluated) -> tuple:
    """call hashes of the task calls whose results fed an argument (dataflow)."""
    if src is evaluated:
        return ()
    found: dict = {}
    _collect(src, found)
    out = []
    for e in found.values():
        ch = e.__dict__.get("call_hash") if isinstance(e, TaskExpression) else None
        if ch:
            out.append(ch)
    return tuple(sorted(set(out)))


_DEFAULTS_CACHE: dict = {}


def _defaults(task, npos: int) -> list:
    """(name, default) of parameters not covered by npos positional args that have defaults."""
    key = (id(task.func), npos)
    hit = _DEFAULTS_CACHE.get(key)
    if hit is None:
        import inspect

        hit = []
        for i, p in enumerate(task.signature.parameters.values()):
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if i < npos and p.kind != p.KEYWORD_ONLY:
                continue
            if p.default is not inspect.Parameter.empty:
                hit.append((p.name, p.default))
        _DEFAULTS_CACHE[key] = hit
    return hit


def _default_value(task, name: str):
    return task.signature.parameters[name].default


def _shell_quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def apply_tags(value, tags=(), job_tags=(), execution_tags=()):  # pragma: no cover
    return value
