"""Context: values that reach deep tasks without being passed through every task (upstream's).

An execution has a context dict: `[scheduler] context` / `context_file` in redun.ini,
then `Scheduler.run(..., context=...)`, then `redun run --context a.b=1` /
`--context-file ctx.json`. A job sees its parent's context (the root job sees the
execution's) merged with its own call's `task.update_context({...})`.
`get_context("a.b", default)` is a scheduler task: used as a task argument,
default or option it evaluates to the value at that dotted path in the context of
the job it is evaluated for, or the default.

Caching follows upstream: the value get_context yields is an ordinary argument,
so it enters the job's hashes; a job whose context is not empty also has a
context_hash (the value hash of the dict), so the same call under another
context is not collapsed into it (CSE) nor served from a call node recorded under
another context (check_valid="shallow"). Single reduction (eval_hash) does not
look at the context, as upstream's does not.
"""

from typing import Any, Optional

from .task import scheduler_task


def get_context_value(context: dict, var_path: str, default: Any) -> Any:
    """The value at a dot-separated path ('foo.bar.baz') of a context dict, or default."""
    value: Any = context
    for part in var_path.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


@scheduler_task(namespace="redun")
def get_context(scheduler, parent_job, sexpr, var_path: str, default: Optional[Any] = None):
    """The value of a context variable (dot-separated path) for the job being evaluated,
    or default (None if not given)."""
    context = parent_job.get_context() if parent_job is not None else scheduler.context
    return scheduler.evaluate(context, parent_job=parent_job).then(
        lambda context: get_context_value(context, var_path, default)
    )
