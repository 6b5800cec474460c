"""Walking nested values: finding the lazy expressions inside a value, rebuilding
it with their results, and the argument hashes and defaults of a call.

Containers walked: list, tuple, dict (keys and values), set, frozenset,
namedtuples and dataclass fields, as upstream's nested-value walk. Scalars are
skipped inline: this runs for every argument and result of every job.
"""

from ..expression import Expression, SchedulerExpression, SimpleExpression, TaskExpression
from ..hashing import hash_value
from .jobinfo import JOBINFO_HASH, JobInfo

_SCALARS = frozenset((str, int, float, bool, bytes, type(None)))


class Gather:
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
            self.ok(substitute(self.value, self.results))

    def error(self, err):
        if not self.failed:
            self.failed = True
            self.fail(err)


def is_expr(v) -> bool:
    return isinstance(v, Expression)


def collect_exprs(value, out: dict) -> None:
    """Expressions anywhere inside value (containers walked), by id."""
    t = type(value)
    if t in _SCALARS:
        return
    if t is list or t is tuple or t is set or t is frozenset:
        for v in value:
            tv = type(v)
            if tv not in _SCALARS:
                collect_exprs(v, out)
    elif t is dict:
        for k, v in value.items():
            if type(k) not in _SCALARS:
                collect_exprs(k, out)
            if type(v) not in _SCALARS:
                collect_exprs(v, out)
    elif is_expr(value):
        out[id(value)] = value
    elif isinstance(value, tuple) and hasattr(value, "_fields"):
        for v in value:
            collect_exprs(v, out)
    elif hasattr(t, "__dataclass_fields__") and not isinstance(value, type):
        for name in t.__dataclass_fields__:
            collect_exprs(getattr(value, name), out)


HAS_EXPRS, HAS_INSTANCES = 1, 2


def scan(value, types: tuple) -> int:
    """One walk of value (containers, namedtuples, dataclasses): HAS_EXPRS if an expression is
    inside, | HAS_INSTANCES if an instance of types is. Scalars answer at once: this runs
    for every task result and every call's arguments."""
    t = type(value)
    if t in _SCALARS:
        return 0
    flags = 0
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t in _SCALARS:
            continue
        if t is list or t is tuple or t is set or t is frozenset:
            stack.extend(v)
        elif t is dict:
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, Expression):
            flags |= HAS_EXPRS
        elif types and isinstance(v, types):
            flags |= HAS_INSTANCES
        elif isinstance(v, tuple):
            stack.extend(v)
        elif hasattr(t, "__dataclass_fields__") and not isinstance(v, type):
            stack.extend(getattr(v, name) for name in t.__dataclass_fields__)
    return flags


def contains_instance(value, types: tuple) -> bool:
    return bool(scan(value, types) & HAS_INSTANCES)


def substitute(value, results: dict):
    t = type(value)
    if t in _SCALARS:
        return value
    if t is list:
        return [substitute(v, results) for v in value]
    if t is tuple:
        return tuple(substitute(v, results) for v in value)
    if t is dict:
        return {substitute(k, results): substitute(v, results) for k, v in value.items()}
    if t is set or t is frozenset:
        return t(substitute(v, results) for v in value)
    if is_expr(value):
        return results[id(value)]
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return t(*(substitute(v, results) for v in value))
    if hasattr(t, "__dataclass_fields__") and not isinstance(value, type):
        from ..utils import map_dataclass

        return map_dataclass(lambda v: substitute(v, results), value)
    return value


_SCALAR_HASHES: dict = {}  # (type, value) -> value hash; a scalar's pickle depends on its value only


def arg_hash(a) -> str:
    """hash_value, memoised for scalar arguments (the same salt/flag is hashed once per process)."""
    t = type(a)
    if t is str or t is int or t is bool or a is None:  # not float: -0.0 == 0.0, nan != nan
        key = (t, a)
        h = _SCALAR_HASHES.get(key)
        if h is None:
            if len(_SCALAR_HASHES) > 100_000:
                _SCALAR_HASHES.clear()
            h = _SCALAR_HASHES[key] = hash_value(a)
        return h
    if t is JobInfo:
        return JOBINFO_HASH
    return hash_value(a)


def dedup_key(expr: TaskExpression) -> tuple:
    """Identity of a task call as written (same inputs as upstream's TaskExpression hash, cheaper)."""
    d = expr.__dict__
    ah = d.get("_arg_hashes")
    if ah is None:
        ah = d["_arg_hashes"] = ([arg_hash(a) for a in expr.args],
                                 {k: arg_hash(v) for k, v in expr.kwargs.items()})
    opts = d.get("_options")
    return (expr.task_name, tuple(ah[0]), tuple(sorted(ah[1].items())),
            hash_value(opts) if opts else None)


def notify_ok(waiters: list, result) -> None:
    for ok, _ in waiters:
        ok(result)


def notify_fail(waiters: list, error) -> None:
    for _, fail in waiters:
        fail(error)


def has_exprs(value) -> bool:
    found: dict = {}
    collect_exprs(value, found)
    return bool(found)


def upstream_calls(src, evaluated) -> tuple:
    """call hashes of the task calls whose results fed an argument (dataflow): task calls
    inside it, also through lazy operations, scheduler tasks and derived values (as upstream's
    _find_arg_upstreams)."""
    if src is evaluated:
        return ()
    out = set()
    _find_upstreams(src, out)
    return tuple(sorted(out))


def _find_upstreams(src, out: set) -> None:
    found: dict = {}
    collect_exprs(src, found)
    for e in found.values():
        d = e.__dict__
        if type(e) is TaskExpression or (isinstance(e, TaskExpression) and not isinstance(e, SchedulerExpression)):
            if d.get("call_hash"):
                out.add(d["call_hash"])
            continue
        ups = d.get("_upstreams")
        if ups is not None:
            _find_upstreams(ups, out)
        elif isinstance(e, (SimpleExpression, SchedulerExpression)):
            _find_upstreams((d.get("args", ()), d.get("kwargs", {})), out)


_DEFAULTS: dict = {}


def defaults_of(task, npos: int) -> list:
    """(name, default) of parameters not covered by npos positional args that have defaults."""
    func = task.func
    key = (id(func), npos)
    entry = _DEFAULTS.get(key)
    # the function is kept in the entry and compared: an id is reused once its function is gone
    hit = entry[1] if entry is not None and entry[0] is func else None
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
        _DEFAULTS[key] = (func, hit)
    return hit


def default_value(task, name: str):
    return task.signature.parameters[name].default


