"""Expression reduction: lazy values in, job submissions out.

This is the part that mirrors upstream's expression semantics and nothing
else: the same call written twice under one parent job is one job; a
SimpleExpression is applied once its arguments are known; a SchedulerExpression
is handed, unevaluated, to its scheduler task; task calls go to the ready queue
for the job lifecycle (redun.engine.lifecycle). It never touches the recorder.

Contract of `evaluate(value, parent, ok, fail)`: it eventually calls exactly one
of ok(result), with every expression inside value replaced by its result, or
fail(failure), always on the scheduler's thread.
"""

from typing import Optional

from ..expression import SchedulerExpression, SimpleExpression, TaskExpression, ValueExpression
from ..promise import Promise
from .job import _EMPTY, Failures, Job
from .lazycall import evaluate_lazy_call, needs_lazy_call
from .nested import Gather, collect_exprs, dedup_key, has_exprs, is_expr


class Evaluator:
    """Reduces values for one execution. `exec_job(expr, args, kwargs, parent, ok, fail)` is
    the lifecycle's entry point, called through the ready queue."""

    def __init__(self, scheduler, ready, exec_job, execution):
        self.scheduler = scheduler
        self.ready = ready
        self.exec_job = exec_job
        self.execution = execution  # engine.job.Execution: its id and context
        self.root_memo: dict = {}
        self.failures = Failures()  # exceptions handed to scheduler tasks -> their failures

    def evaluate(self, value, parent: Optional[Job], ok, fail) -> None:
        if is_expr(value):
            self.eval_expr(value, parent, ok, fail)
            return
        found: dict = {}
        collect_exprs(value, found)
        if not found:
            ok(value)
            return
        g = Gather(value, len(found), ok, fail)
        for key, e in found.items():
            self.eval_expr(e, parent, lambda r, k=key: g.done(k, r), g.error)

    def promise(self, value, parent: Optional[Job]) -> Promise:
        """evaluate() as a Promise, for scheduler tasks: it rejects with the user's exception
        (which still carries the failing job and frames for the traceback)."""
        p = Promise()
        self.evaluate(value, parent, p.do_resolve, lambda failure: p.do_reject(self.failures.exception(failure)))
        return p

    def _memo_entry(self, key, parent, ok, fail, expr=None):
        """The shared entry of a call under this parent, or None after registering a new one
        (then the caller evaluates and settles it through settle()). expr: a task call, whose
        duplicates get its call_hash once it is known (their dataflow is the same call)."""
        memo = self.root_memo if parent is None else parent.memo
        if memo is None:
            memo = parent.memo = {}
        waiting = memo.get(key)
        if waiting is not None:
            if expr is not None and waiting[2] is not expr:
                ok = _copy_call_hash(waiting[2], expr, ok)
            if waiting[0] is _EMPTY:
                waiting[1].append((ok, fail))
            elif waiting[0] == "ok":
                ok(waiting[1])
            else:
                fail(waiting[1])
            return None
        entry = memo[key] = [_EMPTY, [(ok, fail)], expr]
        return entry

    def eval_expr(self, expr, parent: Optional[Job], ok, fail) -> None:
        t = type(expr)
        if t is TaskExpression or (isinstance(expr, TaskExpression) and not isinstance(expr, SchedulerExpression)):
            entry = self._memo_entry(dedup_key(expr), parent, ok, fail, expr)
            if entry is None:
                return
            resolved, failed = _settlers(entry)
            task = expr.task
            if task is not None and needs_lazy_call(task, expr):
                evaluate_lazy_call(self, expr, task, parent, resolved, failed)
            elif has_exprs((expr.args, expr.kwargs)):
                self.evaluate((expr.args, expr.kwargs), parent,
                              lambda ev: self.ready.append((self.exec_job, (expr, ev[0], ev[1], parent, resolved,
                                                                            failed))), failed)
            else:
                self.ready.append((self.exec_job, (expr, expr.args, expr.kwargs, parent, resolved, failed)))
        elif isinstance(expr, SchedulerExpression):
            entry = self._memo_entry(("sexpr", expr.__redun_hash__()), parent, ok, fail)
            if entry is not None:
                self._eval_scheduler_expr(expr, parent, *_settlers(entry))
        elif isinstance(expr, SimpleExpression):
            def apply(ev):
                try:
                    result = expr.apply(ev[0], ev[1])
                except Exception as e:
                    fail(self.failures.failure(e, parent))
                    return
                self.evaluate(result, parent, ok, fail)

            self.evaluate((expr.args, expr.kwargs), parent, apply, fail)
        elif isinstance(expr, ValueExpression):
            ok(expr.value)
        else:
            ok(expr)

    def _eval_scheduler_expr(self, expr, parent, ok, fail) -> None:
        from ..task import get_task_registry

        task = get_task_registry().get(expr.task_name)
        if task is None:
            fail(self.failures.failure(NotImplementedError(f"Scheduler task '{expr.task_name}' does not exist"),
                                       parent))
            return
        try:
            promise = task.func(self.scheduler, parent, expr, *expr.args, **expr.kwargs)
        except Exception as e:
            fail(self.failures.failure(e, parent))
            return
        if not isinstance(promise, Promise):
            fail(self.failures.failure(TypeError(f"scheduler task {expr.task_name} returned {type(promise).__name__}, "
                                      "not a Promise"), parent))
            return
        promise.then(ok, lambda error: fail(self.failures.failure(error, parent)))


def _copy_call_hash(first, dup, ok):
    def done(v):
        dup.__dict__["call_hash"] = first.__dict__.get("call_hash")
        ok(v)

    return done


def _settlers(entry: list) -> tuple:
    """(resolved, failed) callbacks that settle a memo entry and notify everyone waiting on it."""

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

    return resolved, failed
