"""Control flow as scheduler tasks (upstream's `redun.cond`, ...).

A scheduler task receives its arguments unevaluated and decides what to
evaluate: `cond` evaluates a predicate, then only the branch it selects.
"""

from ..task import scheduler_task


@scheduler_task(namespace="redun")
def cond(scheduler, parent_job, sexpr, cond_expr, then_expr, *rest):
    """Lazy if-then-else: cond(c1, then1[, c2, then2, ...][, otherwise]). Without an
    otherwise clause and no true predicate, the result is None."""
    exprs = (cond_expr, then_expr) + rest

    def choose(i: int):
        def decide(pred):
            if pred:
                return scheduler.evaluate(exprs[i + 1], parent_job=parent_job)
            nxt = i + 2
            if nxt >= len(exprs):
                return None
            if nxt == len(exprs) - 1:
                return scheduler.evaluate(exprs[nxt], parent_job=parent_job)
            return scheduler.evaluate(exprs[nxt], parent_job=parent_job).then(choose(nxt))

        return decide

    return scheduler.evaluate(cond_expr, parent_job=parent_job).then(choose(0))
