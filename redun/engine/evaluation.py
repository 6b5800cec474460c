"""Expression reduction for the scheduler: lazy values in, job submissions out.

Kept apart from job bookkeeping because this is the part that mirrors
upstream's expression semantics (dedup of the same call under one parent,
SimpleExpression application, cond short-circuiting) and nothing else: it never
touches the recorder. Task calls are handed on through the ready queue to
`_exec_job` (redun.engine.lifecycle).
"""

import traceback as tb_module
from typing import Optional

from ..expression import CondExpression, SimpleExpression, TaskExpression, ValueExpression
from .jobs import _EMPTY, Job, _Gather, _TaskFailure, _collect, _dedup_key, _has_exprs, _is_expr


class EvaluationMixin:
    """Mixed into Scheduler: needs self._root_memo, self._ready and self._exec_job.

    Contract: `_evaluate(value, parent, ok, fail)` eventually calls exactly one of
    ok(result) — value with every expression inside replaced by its result — or
    fail(failure), on the scheduler's thread.
    """

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
