"""Task calls whose options or default arguments are themselves lazy (upstream semantics).

`@task(executor=get_context("tool.executor", "default"))` and
`def f(flag=get_context("tool.flag", False))` are evaluated for each call before
the call is hashed: options under the parent job, then the default arguments under
the new job's environment (its parent, with the context the new job will have:
JobEnv), so get_context sees the call's own `update_context`. The evaluated
defaults are passed to the task as keyword arguments (their values are hashed, as
upstream hashes them) and the evaluated options become the job's options.

Only calls that need it come here: `lazy_parts(task)` is computed once per task, and
a call whose task has no lazy option or default (almost all) never pays for it.
"""

from .job import JobEnv, merge_raw_options
from .nested import has_exprs, is_expr

_NOT_LAZY = ((), False)


def lazy_parts(task) -> tuple:
    """(names of parameters with lazy defaults, whether definition-time options are lazy), cached."""
    parts = task.__dict__.get("_lazy_parts")
    if parts is None:
        names = ()
        if task.func is not None:
            try:
                params = task.signature.parameters.values()
            except (TypeError, ValueError):
                params = ()
            names = tuple(p.name for p in params if p.default is not p.empty
                          and (is_expr(p.default) or has_exprs(p.default)))
        lazy_options = has_exprs(task._task_options_base)
        parts = (names, lazy_options) if names or lazy_options else _NOT_LAZY
        task.__dict__["_lazy_parts"] = parts
    return parts


def needs_lazy_call(task, expr) -> bool:
    parts = lazy_parts(task)
    if parts is not _NOT_LAZY:
        return True
    opts = expr._options
    return bool(opts) and has_exprs(opts)


def evaluate_lazy_call(evaluator, expr, task, parent, resolved, failed) -> None:
    """Evaluate expr's options, then its lazy defaults (JobEnv), then its arguments; then
    hand the call to the lifecycle with the defaults as keyword arguments."""
    names = lazy_parts(task)[0]
    raw = merge_raw_options(task, expr, parent, None)

    def with_options(options):
        from ..task import normalise_task_options

        options = normalise_task_options(dict(options))
        npos = len(expr.args)
        params = list(task.signature.parameters)
        wanted = {}
        for name in names:
            pos = params.index(name)
            if pos < npos or name in expr.kwargs:
                continue
            wanted[name] = task.signature.parameters[name].default
        env = JobEnv(parent, _context_for(evaluator, parent, options))
        evaluator.evaluate(wanted, env, lambda defaults: with_defaults(options, defaults), failed)

    def with_defaults(options, defaults):
        def call(ev):
            kwargs = dict(defaults)
            kwargs.update(ev[1])
            evaluator.ready.append((evaluator.exec_job, (expr, ev[0], kwargs, parent, resolved, failed, options)))

        if has_exprs((expr.args, expr.kwargs)):
            evaluator.evaluate((expr.args, expr.kwargs), parent, call, failed)
        else:
            call((expr.args, expr.kwargs))

    evaluator.evaluate(raw, parent, with_options, failed)


def _context_for(evaluator, parent, options) -> dict:
    """The context the new job will have: its parent's (or the execution's) and its override."""
    if parent is not None:
        context = parent.get_context()
    else:
        context = evaluator.execution.context
    override = options.get("_context_override")
    if override:
        from ..utils import merge_dicts

        context = merge_dicts([context, override])
    return context

