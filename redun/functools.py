"""Higher-order tasks (upstream's `redun.functools`): compose, identity, delay, force, seq,
const, apply_func, as_task, eval_, map_, starmap, flatten, flat_map, zip_, no_prov.

They are tasks in the `redun` namespace with upstream's names, versions and
call shapes, so the jobs a workflow makes with them, and their hashes, are
upstream's. Two exceptions, told in docs/engine.md: `redun.no_prov` and
`redun.no_prov_helper` have no version upstream, so their task hashes come
from upstream's source text and differ here.
"""

from textwrap import dedent
from typing import Any, Callable, Sequence

from .expression import QuotedExpression, SchedulerExpression, quote
from .promise import Promise
from .task import PartialTask, Task, scheduler_task, task

__all__ = [
    "apply_func", "as_task", "compose", "compose_apply", "const", "delay", "eval_", "flat_map", "flatten",
    "force", "identity", "map_", "no_prov", "seq", "starmap", "zip_",
]


@task(namespace="redun", version="1")
def compose_apply(tasks: Sequence[Task], *args: Any, **kwargs: Any) -> Any:
    """Apply the last task to the arguments, then each earlier one to the result."""
    rev_tasks = reversed(tasks)
    result = next(rev_tasks)(*args, **kwargs)
    for a_task in rev_tasks:
        result = a_task(result)
    return result


def compose(*tasks: Task) -> PartialTask:
    """compose(f, g)(x) == f(g(x))."""
    return compose_apply.partial(tasks)


@task(namespace="redun", version="1")
def identity(x: Any) -> Any:
    return x


def delay(x: Any) -> PartialTask:
    """A task of no arguments that evaluates x when called (see force): a PartialTask's
    arguments are not evaluated while it is passed around."""
    return identity.partial(x)


def force(x: Task) -> Any:
    """Evaluate a delayed value (call the task of no arguments)."""
    return x()


@scheduler_task(namespace="redun")
def seq(scheduler, parent_job, sexpr: SchedulerExpression, exprs: Sequence[Any]) -> Promise:
    """Evaluate the expressions one after the other; their results as a list."""
    if not exprs:
        return Promise(lambda resolve, reject: resolve([]))
    results: list = []

    def then(pair):
        i, value = pair
        results.append(value)
        if i + 1 < len(exprs):
            return scheduler.evaluate((i + 1, exprs[i + 1]), parent_job=parent_job).then(then)
        return results

    return scheduler.evaluate((0, exprs[0]), parent_job=parent_job).then(then)


@task(namespace="redun", version="1")
def const(x: Any, _: Any) -> Any:
    """x; the second argument is evaluated (forcing its jobs to run) and dropped."""
    return x


@task(namespace="redun", version="1")
def apply_func(func: Callable, *args: Any, **kwargs: Any) -> Any:
    """Apply a module-level Python function to possibly lazy arguments."""
    return func(*args, **kwargs)


def as_task(func: Callable) -> PartialTask:
    """A module-level Python function as a task: as_task(max)(10, 20) evaluates to 20."""
    return apply_func.partial(func)


@task(namespace="redun", version="1")
def eval_(code: str, *args: Any, **kwargs: Any) -> Any:
    """Evaluate the Python expression `code` with kwargs (and positional args named by
    pos_args=[...]) as its variables."""
    pos_args = kwargs.pop("pos_args", [])
    if len(pos_args) != len(args):
        raise TypeError(f"Wrong number of positional arguments given {len(args)}, expected {len(pos_args)}.")
    variables = dict(zip(pos_args, args))
    variables.update(kwargs)
    return eval(dedent(code), variables)


@scheduler_task(namespace="redun", version="1")
def map_(scheduler, parent_job, sexpr: SchedulerExpression, a_task: Task, values: Sequence[Any]) -> Promise:
    """[a_task(v) for v in values], values possibly lazy. map_(g, map_(f, xs)) runs as
    map_(compose(g, f), xs), as upstream."""
    tasks = [a_task]
    while isinstance(values, SchedulerExpression) and values.task_name == "redun.map_":
        tasks.append(values.args[0])
        values = values.args[1]
    a_task = tasks[0] if len(tasks) == 1 else compose(*tasks)

    def apply(evaluated_task):
        if isinstance(values, (list, tuple)):
            return scheduler.evaluate([evaluated_task(v) for v in values], parent_job=parent_job)
        return scheduler.evaluate(values, parent_job=parent_job).then(
            lambda vals: scheduler.evaluate([evaluated_task(v) for v in vals], parent_job=parent_job))

    return scheduler.evaluate(a_task, parent_job=parent_job).then(apply)


def starmap(a_task: Task, kwargs: Any = None) -> Any:
    """[a_task(**kw) for kw in kwargs], kwargs (a list of dicts) possibly lazy."""
    return map_(eval_.partial("a_task(**x)", pos_args=["x"], a_task=a_task), [] if kwargs is None else kwargs)


@task(namespace="redun", version="1")
def flatten(list_of_lists: Sequence[Sequence[Any]]) -> list:
    return [value for lst in list_of_lists for value in lst]


@task(namespace="redun", version="1")
def flat_map(a_task: Task, values: list) -> list:
    """flatten(map_(a_task, values))."""
    return flatten(map_(a_task, values))


@task(namespace="redun", version="1")
def zip_(*lists: list) -> list:
    return list(zip(*lists))


@task(name="no_prov_helper", namespace="redun", prov=False)
def _no_prov_helper(expr: QuotedExpression) -> Any:
    """Evaluate the quoted expression with provenance off (exported to every job below)."""
    return expr.eval()


@task(name="no_prov", namespace="redun", check_valid="shallow")
def _no_prov(expr: QuotedExpression) -> Any:
    """Records itself (so a rerun reuses its final result: shallow check), not its subtree."""
    return _no_prov_helper(expr)


def no_prov(expr: Any) -> Any:
    """Evaluate expr without recording the provenance of the jobs it makes; the result
    is still cached as a whole."""
    return _no_prov(quote(expr))
