"""Job bookkeeping for the scheduler: one task call from submission to its record.

A submitted call gets a Job and its upstream hashes; it then collapses into the
same call in this execution, goes to the batched backend-cache lookup
(redun.engine.caching), or runs on a worker. When its value (and any expression it
returned) is resolved or it fails, it ends with a status and, with provenance
on, its CallNode and Job records. Kept apart from expression reduction
(redun.engine.evaluation) and the run loop (redun.scheduler); this is the per-job hot
path, so it keeps the original shape: no extra calls or lookups per job.
"""

import traceback as tb_module
from typing import Optional

from ..expression import TaskExpression
from ..hashing import hash_args, hash_call_node, hash_eval, hash_value, hash_value_and_pickle
from ..taskoptions import CacheResult
from ..objects.records import Job as JobRecord
from .clock import now_us
from .. import value as _values
from ..objects.ids import uuid_str
from .errorvalue import ErrorValue, Traceback, error_value  # noqa: F401 - ErrorValue re-exported
from .job import AdoptedJob, Execution, Job, SubrunResult, TaskFailure
from .jobinfo import JOBINFO_HASH, JobInfo
from .limits import LimitError, Limits, job_limits
from .nested import (HAS_EXPRS, HAS_INSTANCES, arg_hash, contains_instance, default_value, defaults_of, has_exprs,
                     is_expr, notify_fail, notify_ok, scan, upstream_calls)
from .runlog import cached_line, format_task_call, reject_line, run_line
from .tagging import record_job_tags


def _without_config_args(task, hashes: list, config_args) -> list:
    """Positional argument hashes minus those of config_args parameters (not hashed)."""
    names = [p.name for p in task.signature.parameters.values()]
    return [h for i, h in enumerate(hashes) if i >= len(names) or names[i] not in config_args]


class SchedulerError(Exception):
    """The scheduler cannot run a job as asked (e.g. an unknown executor); the job fails with it."""


class JobLifecycle:
    """Takes the task calls of one execution from submission to their records.

    Collaborators: the recorder (records, cache reads), the run log, the evaluator
    (set by the scheduler after both exist: it evaluates what a job returned), the
    cache checker (backend lookups, batched), the event loop (ready queue, jobs in
    flight) and the executors by name. State: this execution's jobs by eval_hash
    (CSE), status counts, the first failure and the root job."""

    def __init__(self, scheduler, rec, runlog, loop, executors: dict, exec_id: bytes, prov: bool,
                 use_cache: bool, dryrun: bool, execution=None):
        self.scheduler = scheduler
        self.rec = rec
        self.runlog = runlog
        self.log = runlog.log
        self.quiet = not runlog.enabled() if hasattr(runlog, "enabled") else getattr(runlog, "quiet", False)
        self.loop = loop
        self.ready = loop.ready
        self.executors = executors
        self.task_registry = scheduler.task_registry
        self.evaluate = None  # Evaluator.evaluate, wired by the scheduler
        self.processing = None  # handles.ValueProcessing, wired by the scheduler
        self.lookups: list = []  # BACKEND-scope jobs waiting for the next batched cache lookup
        self._exec_id = exec_id
        self._prov = prov
        self._use_cache = use_cache
        self._dryrun = dryrun
        self._cse: dict = {}
        self._counts: dict = {}
        self._default_hashes: dict = {}
        self.failure = None
        self.root_job = None
        self.limits = Limits(scheduler.limits)
        self._limits_held = self.limits.holding  # the same dict: empty unless a job holds limits
        if execution is None:  # a lifecycle made without the scheduler's Execution (its id, context)
            execution = Execution(uuid_str(exec_id), getattr(scheduler, "context", None))
        self.execution = execution
        # Contexts are looked at only once one exists (config, run(context=), update_context):
        # runs without any pay nothing for them.
        self.context_active = bool(execution.context)
        self._context_hashes: dict = {}  # id(context dict) -> (dict, value hash)

    def status_counts(self) -> dict:
        """{task fullname: {status: count}} (the JOB STATUS table). A job exists here once its
        arguments are evaluated, so an unfinished one is RUNNING (upstream's definition)."""
        out = {}
        for name, c in self._counts.items():
            c = dict(c)
            c["RUNNING"] = c["TOTAL"] - c["FAILED"] - c["CACHED"] - c["DONE"]
            out[name] = c
        return out

    def _count(self, job: Job, status: str) -> None:
        c = self._counts.get(job.task.fullname)
        if c is None:
            c = self._counts[job.task.fullname] = {"PENDING": 0, "RUNNING": 0, "FAILED": 0, "CACHED": 0,
                                                    "DONE": 0, "TOTAL": 0}
        c[status] += 1

    def exec_job(self, expr: TaskExpression, args: tuple, kwargs: dict, parent, ok, fail, options=None) -> None:
        """A task call whose arguments are evaluated: hash it, then collapse it into the same
        call of this execution, queue it for the backend cache, or run it. options: the call's
        evaluated options when they were lazy (engine/lazycall.py)."""
        task = expr.task
        if task is None or task.func is None:
            fail(TaskFailure(RuntimeError(f"Unknown task {expr.task_name}"), parent, []))
            return
        # Jobs record the registered task (its hash); call-time options only change behaviour.
        registered = self.task_registry.get(task.fullname) if task._task_options_override else task
        job = Job(registered or task, expr, args, kwargs, parent, self.execution)
        if _values.PREPROCESS_TYPES and contains_instance((args, kwargs), _values.PREPROCESS_TYPES):
            job.pre_args = (args, kwargs)
            args, kwargs = self.processing.preprocess(job, args, kwargs)  # e.g. Handles fork
            job.call_args, job.call_kwargs = args, kwargs
        job.waiters.append((ok, fail))
        if parent is None:
            if self.root_job is None:
                self.root_job = job
        else:
            parent.child_jobs.append(job)
        self._count(job, "TOTAL")
        if options is None:
            options = job.get_options()
        else:
            job._merged_options = options
        if self.context_active or "_context_override" in options:
            self.context_active = True
            self._set_context_hash(job)

        # Hash the preprocessed arguments: defaults merged into kwargs, config_args dropped.
        hkw = dict(kwargs)
        for name, default in defaults_of(task, len(args)):
            if name not in hkw:
                hkw[name] = default
        config_args = options.get("config_args")
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
                    h = dh[(id(task), k)] = arg_hash(hkw[k])
                kh[k] = h
            if config_args:
                for name in config_args:
                    kh.pop(name, None)
            job.kwarg_hashes = kh
        else:
            job.arg_hashes = [arg_hash(a) for a in args]
            job.kwarg_hashes = {k: arg_hash(v) for k, v in hkw.items()}
        if JOBINFO_HASH in job.arg_hashes or JOBINFO_HASH in job.kwarg_hashes.values():
            args, kwargs = self._fill_job_info(job, args, kwargs)
        else:
            pos = _without_config_args(task, job.arg_hashes, config_args) if config_args else job.arg_hashes
            job.args_hash = hash_args(pos, job.kwarg_hashes)
            job.eval_hash = hash_eval(job.task.hash, job.args_hash)

        # Provenance: off for the run (--no-prov), or by the task option `prov` (exported to
        # the subtree, so a job under one that records nothing records nothing either).
        job.prov = self._prov and options.get("prov", True) and (parent is None or parent.prov)
        scope = options.get("cache_scope", "BACKEND")
        if not job.prov:
            scope = "NONE"
        elif not self._use_cache and scope == "BACKEND":
            scope = "CSE"

        job.scope = scope
        if scope != "NONE" and self._same_call(job, args, kwargs):
            return
        if scope == "BACKEND":
            self.lookups.append((job, args, kwargs))  # looked up in batches (one query per batch)
            return
        self.run_job(job, args, kwargs)

    def _set_context_hash(self, job: Job) -> None:
        """A job with a non-empty context gets its value hash as context_hash (CSE and shallow
        cache checks only match the same context, as upstream)."""
        context = job.get_context()
        if not context:
            return
        hit = self._context_hashes.get(id(context))
        if hit is None or hit[0] is not context:
            hit = self._context_hashes[id(context)] = (context, hash_value(context))
        job.context_hash = hit[1]

    def uses_backend_cache(self) -> bool:
        return self._prov and self._use_cache

    def _fill_job_info(self, job: Job, args: tuple, kwargs: dict) -> tuple:
        """JobInfo arguments are left out of the hashes; the task gets one describing this job
        (passed explicitly when it was a default), recorded as that argument's value."""
        pos = job.arg_hashes
        config_args = job.get_options().get("config_args")
        if config_args:
            pos = _without_config_args(job.task, pos, config_args)
        job.args_hash = hash_args([h for h in pos if h != JOBINFO_HASH],
                                  {k: h for k, h in job.kwarg_hashes.items() if h != JOBINFO_HASH})
        job.eval_hash = hash_eval(job.task.hash, job.args_hash)
        info = JobInfo.from_job(job, self.execution.id)
        info_hash = hash_value(info)
        args = tuple(info if type(a) is JobInfo else a for a in args)
        kwargs = {k: info if type(v) is JobInfo else v for k, v in kwargs.items()}
        for name in [k for k in job.defaults if type(default_value(job.task, k)) is JobInfo]:
            kwargs[name] = info
            job.defaults.remove(name)
        job.arg_hashes = [info_hash if h == JOBINFO_HASH else h for h in job.arg_hashes]
        job.kwarg_hashes = {k: info_hash if h == JOBINFO_HASH else h for k, h in job.kwarg_hashes.items()}
        job.call_args, job.call_kwargs = args, kwargs
        return args, kwargs

    def _same_call(self, job: Job, args, kwargs) -> bool:
        """The same call already ran in this execution: collapse into it while it runs (silently,
        as upstream), or reuse it once finished (CSE; errors too). True if handled."""
        other = self._cse.get(job.eval_hash if job.context_hash is None else (job.eval_hash, job.context_hash))
        if other is None:
            return False
        allowed = job.get_options().get("allowed_cache_results")
        if allowed is not None and CacheResult.CSE not in allowed:  # the task refuses this execution's results
            return False
        if other.status == "PENDING":
            other.followers.append(job)
            return True
        self.log(cached_line(job.id, format_task_call(job.task, args, kwargs), job.eval_hash,
                             other.call_hash))
        self._finish_follower(job, other)
        return True

    def run_job(self, job: Job, args, kwargs) -> None:
        """Not cached: hand the job to its executor (dry run: only say so)."""
        if job.scope != "NONE":
            if self._same_call(job, args, kwargs):  # a twin from the same lookup batch is running
                return
            self._cse[job.eval_hash if job.context_hash is None else (job.eval_hash, job.context_hash)] = job
        self.start_job(job, args, kwargs)

    def start_job(self, job: Job, args, kwargs) -> None:
        """Take the job's resource limits (or wait for them), then submit it to its executor."""
        task = job.task
        options = job.get_options()
        if "limits" in options and not self._dryrun:
            try:
                need = job_limits(job, options["limits"])
                if need and not self.limits.acquire(job, need, args, kwargs):
                    return  # restarted by release_limits when running jobs give theirs back
            except LimitError as error:
                self.reject_job(job, TaskFailure(error, job, []))
                return
        name = options.get("executor") or "default"
        executor = self.executors.get(name)
        if executor is None:
            self.reject_job(job, TaskFailure(SchedulerError(
                f'Unknown executor "{name}". Define it in redun.ini as [executors.{name}] with a type, '
                f"or use one of: {', '.join(sorted(self.executors))}."), job, []))
            return
        if task.is_async() and not executor.supports_async():
            self.reject_job(job, TaskFailure(SchedulerError(f'Executor "{name}" does not support async tasks'),
                                             job, []))
            return
        if not self.quiet:
            self.log(run_line(job.id, format_task_call(task, args, kwargs), name, self._dryrun))
        if self._dryrun:
            return
        if _values.PREPROCESS_TYPES:  # states derived from an argument handle before are rolled back
            self.processing.rollback(args, kwargs)
        self.loop.inflight += 1
        if task.script:
            executor.submit_script(job)
        else:
            executor.submit(job)

    def release_limits(self, job: Job) -> None:
        """The job's executor reported: give back its limits, restart the waiting jobs that fit."""
        for waiting in self.limits.release(job):
            self.ready.append((self.start_job, waiting))

    def done_job(self, job: Job, result) -> None:
        """The task function returned (reported by its executor, on the scheduler's thread)."""
        if self._limits_held:
            self.release_limits(job)
        if result.__class__ is SubrunResult and result.get("job_oid"):  # see redun.scheduler.subrun
            job.child_jobs.append(AdoptedJob(result["job_oid"], result["job_id"]))
        flags = scan(result, _values.POSTPROCESS_TYPES)  # one walk: expressions, values to postprocess
        if flags & HAS_INSTANCES:
            try:
                result = self.processing.postprocess(job, result)  # e.g. a Handle takes the call
            except Exception as e:
                self.reject_job(job, TaskFailure(e, job, tb_module.extract_tb(e.__traceback__)))
                return
        if job.prov:
            try:
                job.eval_vhash, pickled = hash_value_and_pickle(result)
                job.eval_oid = self.rec.value_oid(result, job.eval_vhash, pickled)
            except Exception as e:
                self.reject_job(job, TaskFailure(e, job, tb_module.extract_tb(e.__traceback__)))
                return
        self.after_eval(job, result, flags & HAS_EXPRS)

    def after_eval(self, job: Job, result, has_expressions=None) -> None:
        """The job's immediate value is known (run or cached): evaluate what it holds."""
        if has_expressions is None:
            has_expressions = is_expr(result) or has_exprs(result)
        if has_expressions:
            self.evaluate(result, job, lambda v: self.resolve_job(job, v), lambda e: self.reject_job(job, e))
        else:
            job.result_vhash = job.eval_vhash
            self.resolve_job(job, result)

    def resolve_job(self, job: Job, result) -> None:
        job.result = result
        if job.prov and job.call_oid is not None and job.was_cached:
            job.expr.__dict__["call_hash"] = job.call_hash  # ultimate reduction: the recorded CallNode is this one
        elif job.prov:
            vhash = job.result_vhash or hash_value(result)
            job.result_vhash = vhash
            children = [c for c in job.child_jobs if c.call_hash]
            call_hash = hash_call_node(job.task.hash, job.args_hash, vhash, [c.call_hash for c in children])
            if job.prev_call is not None and job.prev_call[0] == call_hash:
                job.call_oid = job.prev_call[1]  # same call as the job the cache hit came from
            else:
                job.call_oid = self._record_call_node(job, call_hash, result, vhash, children)
            job.call_hash = call_hash
            job.expr.__dict__["call_hash"] = call_hash
        elif self._prov:  # this job records nothing, but its call hash is part of its parent's
            children = [c.call_hash for c in job.child_jobs if c.call_hash]
            job.call_hash = hash_call_node(job.task.hash, job.args_hash, job.result_vhash or hash_value(result),
                                           children)
        self._end_job(job, "CACHED" if job.was_cached else "DONE")
        for f in job.followers:
            self._finish_follower(f, job)
        self.ready.append((notify_ok, (job.waiters, result)))

    def _finish_follower(self, job: Job, other: Job) -> None:
        """job is the same call as other (finished): it ends CACHED with other's result."""
        job.was_cached = True
        job.call_hash = other.call_hash
        job.call_oid = other.call_oid
        job.eval_oid = other.eval_oid
        if other.status == "FAILED":
            self.log(reject_line(job.id, format_task_call(job.task, job.call_args, job.call_kwargs)))
            self._end_job(job, "FAILED")
            self.ready.append((notify_fail, (job.waiters, other.error)))
            return
        job.result = other.result
        if job.prov:
            job.expr.__dict__["call_hash"] = job.call_hash
        self._end_job(job, "CACHED")
        self.ready.append((notify_ok, (job.waiters, other.result)))

    def _end_job(self, job: Job, status: str) -> None:
        self._count(job, status)
        job.status = status
        if job.scope != "NONE":
            self._cse.setdefault(job.eval_hash if job.context_hash is None else (job.eval_hash, job.context_hash),
                                 job)
        if not job.prov:
            return
        rec = self.rec
        if job.job_tags is not None or job.context_hash is not None or job.get_options().get("tags"):
            record_job_tags(rec, job, job.get_options(), self.execution.id)
        parent = job.parent_job
        job.oid = rec.job(JobRecord(
            job.uuid, self._exec_id, parent.uuid if parent is not None else None,
            bytes.fromhex(job.task.hash), rec.task_oid(job.task),
            bytes.fromhex(job.call_hash) if job.call_hash else None, job.call_oid,
            bytes.fromhex(job.eval_hash), job.eval_oid if status != "FAILED" else None,
            job.start, now_us(), job.was_cached, status,
            tuple(c.oid for c in job.child_jobs if c.oid is not None), {},
        ))

    def reject_job(self, job: Job, failure) -> None:
        if job.status in ("DONE", "CACHED", "FAILED"):
            return
        if not isinstance(failure, TaskFailure):
            failure = TaskFailure(failure, job, [])
        if self._limits_held:
            self.release_limits(job)
        if self.failure is None:
            self.failure = failure
        self.log(reject_line(job.id, format_task_call(job.task, job.call_args, job.call_kwargs)))
        job.error = failure
        try:  # as upstream: the exception carries the executor's traceback (None for local jobs)
            failure.error.redun_traceback = failure.remote_traceback
        except (AttributeError, TypeError):
            pass
        if job.prov:
            rec = self.rec
            err, vhash = error_value(failure)
            voi = rec.value_oid(err, vhash)
            children = [c for c in job.child_jobs if c.call_hash]
            call_hash = hash_call_node(job.task.hash, job.args_hash, vhash, [c.call_hash for c in children])
            job.call_oid = self._record_call_node(job, call_hash, err, vhash, children, value_oid=voi)
            job.call_hash = call_hash
        self._end_job(job, "FAILED")
        for f in job.followers:
            self._finish_follower(f, job)
        self.ready.append((notify_fail, (job.waiters, failure)))

    def _record_call_node(self, job: Job, call_hash: str, result, vhash: str, children: list,
                          value_oid: Optional[bytes] = None) -> bytes:
        rec = self.rec
        task = job.task
        if value_oid is None:
            value_oid = rec.value_oid(result, vhash)
        expr = job.expr
        args = []
        value_oid_of, make_arg = rec.value_oid, rec.arg
        call_args, call_kwargs = job.call_args, job.call_kwargs
        arg_hashes, kwarg_hashes = job.arg_hashes, job.kwarg_hashes
        if job.pre_args is not None:  # the arguments as given, before preprocessing (as upstream records)
            call_args, call_kwargs = job.pre_args
            arg_hashes = [arg_hash(a) for a in call_args]
            kwarg_hashes = {**kwarg_hashes, **{k: arg_hash(v) for k, v in call_kwargs.items() if k in kwarg_hashes}}
        if call_args is expr.args:  # arguments were plain values: no dataflow from other calls
            for i, (a, h) in enumerate(zip(call_args, arg_hashes)):
                args.append(make_arg(i, None, h, value_oid_of(a, h), ()))
        else:
            n = len(expr.args)
            for i, (a, h) in enumerate(zip(call_args, arg_hashes)):
                src = expr.args[i] if i < n else a
                args.append(make_arg(i, None, h, value_oid_of(a, h), upstream_calls(src, a)))
        for k in sorted(call_kwargs):
            h = kwarg_hashes.get(k)
            if h is None:
                continue
            v = call_kwargs[k]
            args.append(rec.arg(None, k, h, rec.value_oid(v, h), upstream_calls(expr.kwargs.get(k, v), v)))
        for k in job.defaults:
            h = job.kwarg_hashes[k]
            v = default_value(task, k)
            args.append(rec.arg(None, k, h, rec.value_oid(v, h), ()))
        return rec.call_node(call_hash, task, rec.task_oid(task), job.args_hash, args, vhash, value_oid,
                             tuple(c.call_oid for c in children if c.call_oid is not None))
