"""Control flow as scheduler tasks: upstream's `cond`, `catch`, `catch_all` and `throw`.

A scheduler task receives its arguments unevaluated and decides what to
evaluate: `cond` evaluates a predicate, then only the branch it selects;
`catch` evaluates an expression and, if it fails with a matching exception,
a recover task called with that exception.

Caching of a caught expression (upstream's design): a failed job is never
reused from the cache, so a catch records its own cache entry once it has
succeeded, keyed by its eval_hash: the expression itself when it succeeded,
or the recover call (`recover(error)`) when it recovered. A later execution
evaluates that entry instead, so a recovered failure is not run again; an
error the recovery re-raises is never cached.
"""

from ..expression import derive_expression
from ..hashing import hash_args, hash_eval, hash_value
from ..promise import Promise, wait_promises
from ..task import CacheScope, scheduler_task, task
from ..utils import map_nested_value


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


@task(namespace="redun", version="1")
def throw(error: Exception) -> None:
    """Raise error (lazily: e.g. as a branch of cond)."""
    raise error


@scheduler_task(namespace="redun")
def catch(scheduler, parent_job, sexpr, expr, *catch_args):
    """catch(expr, ErrorClass, recover[, ErrorClass2, recover2, ...]): the result of expr,
    or, if it raises an instance of ErrorClass (a class or a tuple of classes), the result
    of recover(error). An unmatched error propagates. Catches nest, and work under map_."""
    if len(catch_args) % 2:
        raise TypeError("catch() takes the expression, then pairs of error class and recover task.")
    pairs = list(zip(catch_args[::2], catch_args[1::2]))
    args_hash = hash_args([hash_value(a) for a in (expr,) + catch_args], {})
    eval_hash = hash_eval(catch.hash, args_hash)

    def cache_and_pass(cached_expr):
        def on_result(result):
            scheduler.set_cache(eval_hash, catch.hash, args_hash, cached_expr)
            return result

        return on_result

    def on_error(error):
        for error_class, recover in pairs:
            if isinstance(error, error_class):
                # dataflow: expr --> error --> recover(error) --> this catch
                recover_expr = recover(derive_expression(expr, error))
                derive_expression(recover_expr, sexpr)
                return scheduler.evaluate(recover_expr, parent_job=parent_job).then(cache_and_pass(recover_expr))
        raise error

    scope = sexpr._options.get("cache_scope", CacheScope.BACKEND)
    if scheduler.is_using_cache() and scope == CacheScope.BACKEND:
        found, cached_expr = scheduler.get_eval_cache(eval_hash)
        if found:
            return scheduler.evaluate(cached_expr, parent_job=parent_job).catch(on_error)
    return scheduler.evaluate(expr, parent_job=parent_job).then(cache_and_pass(expr), on_error)


@scheduler_task(namespace="redun", version="1")
def catch_all(scheduler, parent_job, sexpr, exprs, error_class=None, recover=None):
    """Evaluate every expression inside the nested value exprs, letting each finish; then,
    if any failed: without recover, raise the first error; with recover, if every error is
    an error_class, return recover(the value with each failed term replaced by its error),
    else raise the first error that is not."""
    pending = []

    def eval_term(value):
        promise = scheduler.evaluate(value, parent_job=parent_job)
        pending.append(promise)
        return promise

    def settled(value):
        if isinstance(value, Promise):
            return value.value if value.is_fulfilled else value.error
        return value

    pending_value = map_nested_value(eval_term, exprs)

    def postprocess(_):
        errors = [p.error for p in pending if p.is_rejected]
        if not errors:
            return map_nested_value(settled, pending_value)
        if recover is None:
            raise errors[0]

        def do_recover(evaluated):
            classes, recover_task = evaluated
            for error in errors:
                if not isinstance(error, classes):
                    raise error
            return scheduler.evaluate(recover_task(map_nested_value(settled, pending_value)), parent_job=parent_job)

        return scheduler.evaluate((error_class, recover), parent_job=parent_job).then(do_recover)

    return wait_promises(pending).then(postprocess)
