"""Runtime jobs and the helpers the scheduler uses to walk values.

A Job is one evaluation of a task on concrete arguments, in this process.
Values are walked (lists, tuples, dicts, sets, namedtuples) to find the lazy
expressions inside them and to rebuild them with results.
"""

import os

from ..expression import CondExpression, SimpleExpression, TaskExpression, ValueExpression
from ..hashing import hash_value
from .recorder import now_us

_EMPTY = object()
_SCALARS = frozenset((str, int, float, bool, bytes, type(None)))


_ID_POOL: list = []  # random version-4 uuids, drawn 256 at a time (one os.urandom call)
os.register_at_fork(after_in_child=_ID_POOL.clear)  # a forked child must not reuse the parent's ids


def new_job_id() -> bytes:
    """A random (version 4) uuid as 16 bytes, like uuid.uuid4().bytes. Batched: each
    os.urandom call releases the GIL, which costs a thread switch per job while workers run."""
    try:
        return _ID_POOL.pop()
    except IndexError:
        raw = bytearray(os.urandom(16 * 256))
        raw[6::16] = bytes((b & 0x0F) | 0x40 for b in raw[6::16])
        raw[8::16] = bytes((b & 0x3F) | 0x80 for b in raw[8::16])
        _ID_POOL.extend(bytes(raw[i:i + 16]) for i in range(0, len(raw), 16))
        return _ID_POOL.pop()


class Job:
    """A job in this process: one evaluation of a task on concrete arguments."""

    __slots__ = (
        "id", "hex", "task", "expr", "args", "kwargs", "parent", "children", "eval_hash", "args_hash",
        "arg_hashes", "kwarg_hashes", "defaults", "status", "cached", "call_hash", "call_oid", "eval_oid",
        "eval_vhash", "prev_call", "start", "oid", "waiters", "followers", "result", "error", "memo",
        "result_vhash", "scope",
    )

    def __init__(self, task, expr, args, kwargs, parent):
        self.id = new_job_id()
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
        self.scope = "NONE"

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
            if type(k) not in _SCALARS:
                _collect(k, out)
            if type(v) not in _SCALARS:
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
    return hash_value(a)


def _dedup_key(expr: TaskExpression) -> tuple:
    """Identity of a task call as written (same inputs as upstream's TaskExpression hash, cheaper)."""
    d = expr.__dict__
    ah = d.get("_arg_hashes")
    if ah is None:
        ah = d["_arg_hashes"] = ([arg_hash(a) for a in expr.args],
                                 {k: arg_hash(v) for k, v in expr.kwargs.items()})
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


