"""Lazy expressions: the graph a workflow builds before the scheduler runs it.

Calling a task returns a TaskExpression; indexing, attribute access, calls and
arithmetic on an expression return SimpleExpressions. Nothing runs until the
scheduler evaluates them. Each expression's value hash is upstream's, so the
eval values recorded for a job (the immediate return of a task, often an
expression) hash the same as upstream's.
"""

import operator
from typing import Any, Optional

from .hashing import hash_args, hash_bytes, hash_struct, hash_value, pickle_dumps
from .task import get_task_registry
from .value import PROXY_VALIDATORS, Value, proxy_validator


def _unserialize(data):
    """A nested pickle from upstream-shaped expression state (older states hold the object)."""
    if isinstance(data, bytes):
        import pickle

        return pickle.loads(data)
    return data


def _trim(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def format_arguments(args: tuple, kwargs: dict) -> str:
    """Arguments as written in a call: positional, then keywords sorted (upstream's repr)."""
    parts = [repr(a) for a in args]
    parts += [f"{k}={v!r}" for k, v in sorted(kwargs.items())]
    return ", ".join(parts)


def args_hash_of(args, kwargs) -> str:
    """upstream hash_arguments: value hashes of each argument (expressions hash themselves)."""
    return hash_args([hash_value(a) for a in args], {k: hash_value(v) for k, v in kwargs.items()})


class Expression(Value):
    """Base of lazy expressions. Subclasses define _calc_hash()."""

    type_name = "redun.expression.Expression"

    def __redun_hash__(self) -> str:
        h = self.__dict__.get("_hash")
        if h is None:
            h = self._calc_hash()
            self.__dict__["_hash"] = h
        return h

    def get_hash(self, data: Optional[bytes] = None) -> str:
        return self.__redun_hash__()

    def __setattr__(self, name, value):
        self.__dict__[name] = value

    def _calc_hash(self) -> str:
        raise NotImplementedError

    def is_valid(self) -> bool:
        """A cached expression is reusable while everything it refers to still is (defined on
        the class: attribute access on an expression is otherwise lazy)."""
        return is_valid_value((self.__dict__.get("args", ()), self.__dict__.get("kwargs", {}),
                               self.__dict__.get("value")))

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__dict__["_hash"] = None
        self.__dict__["_length"] = None

    # -- lazy operators ------------------------------------------------------
    def __getitem__(self, key: Any):
        if isinstance(key, slice):
            return [self[i] for i in range(key.start or 0, key.stop, key.step or 1)]
        return SimpleExpression("getitem", (self, key))

    def __getattr__(self, name: str):
        if name.startswith("__") or name in _INTERNAL:
            raise AttributeError(name)
        return SimpleExpression("getattr", (self, name))

    def __call__(self, *args, **kwargs):
        return SimpleExpression("call", (self, args, kwargs))

    def __bool__(self) -> bool:
        raise TypeError("Expressions cannot be coerced to bool.")

    def __iter__(self):
        n = self.__dict__.get("_length")
        if n:
            return (self[i] for i in range(n))
        raise TypeError("Expressions of unknown length cannot be iterated.")

    def __await__(self):
        """`await expr` inside an async task evaluates expr now (eager evaluation)."""
        from .executors.asyncloop import get_current_job

        scheduler, job = get_current_job()
        if job is None:
            raise RuntimeError("Can only await on an Expression in a task running in a local thread-mode Executor.")
        return scheduler.evaluate_async(self, job).__await__()



# Lazy operators: the method on Expression, the operation's recorded name (part of the
# expression hash, as upstream's), how to print it and how to apply it.
_OPERATORS = (
    ("__eq__", "eq", "==", operator.eq), ("__ne__", "ne", "!=", operator.ne),
    ("__lt__", "lt", "<", operator.lt), ("__le__", "le", "<=", operator.le),
    ("__gt__", "gt", ">", operator.gt), ("__ge__", "ge", ">=", operator.ge),
    ("__add__", "add", "+", operator.add), ("__radd__", "radd", "+", lambda a, b: b + a),
    ("__sub__", "sub", "-", operator.sub), ("__rsub__", "rsub", "-", lambda a, b: b - a),
    ("__mul__", "mul", "*", operator.mul), ("__rmul__", "rmul", "*", lambda a, b: b * a),
    ("__truediv__", "div", "/", operator.truediv), ("__rtruediv__", "rdiv", "/", lambda a, b: b / a),
    ("__and__", "and", "&", lambda a, b: a and b), ("__rand__", "rand", "&", lambda a, b: b and a),
    ("__or__", "or", "|", lambda a, b: a or b), ("__ror__", "ror", "|", lambda a, b: b or a),
)
_LAZY_OPERATIONS: dict = {name: func for _, name, _, func in _OPERATORS}
_LAZY_OPERATIONS["truediv"] = operator.truediv  # our name for "/" in records written before 2026-12
_SYMBOLS = {name: symbol for _, name, symbol, _ in _OPERATORS}
_REVERSED = {"radd", "rsub", "rmul", "rdiv", "rand", "ror"}
# Attributes the engine and pickle look up on expressions that must not become lazy getattrs.
_INTERNAL = frozenset(("_hash", "_length", "_upstreams", "_options", "_export_options", "_arg_hashes"))


def _make_operator(name: str):
    def op(self, *args, **kwargs):
        return SimpleExpression(name, (self, *args), kwargs)

    return op


for _method, _name, _symbol, _func in _OPERATORS:
    setattr(Expression, _method, _make_operator(_name))
Expression.__hash__ = object.__hash__


def get_lazy_operation(name: str):
    """The function a SimpleExpression named `name` applies (None if unknown)."""
    if name == "getitem":
        return operator.getitem
    if name == "getattr":
        return getattr
    if name == "call":
        return lambda this, args=(), kwargs={}: this(*args, **kwargs)
    return _LAZY_OPERATIONS.get(name)


def lazy_operation(method: Optional[str] = None, name: Optional[str] = None, symbol: Optional[str] = None,
                   reverse: bool = False):
    """Register func as a lazy operation: `Expression.<method>` builds SimpleExpression(name, ...)."""

    def deco(func):
        op_name = name or func.__name__
        setattr(Expression, method or func.__name__, _make_operator(op_name))
        _LAZY_OPERATIONS[op_name] = func
        if symbol:
            _SYMBOLS[op_name] = symbol
        if reverse:
            _REVERSED.add(op_name)
        return func

    return deco


def derive_expression(orig_expr: "Expression", derived_value: Any) -> "Expression":
    """derived_value (lifted into an expression if plain) recorded as computed from orig_expr
    (dataflow: e.g. the error a catch handed to its recover task)."""
    derived = derived_value if isinstance(derived_value, Expression) else ValueExpression(derived_value)
    derived.__dict__["_upstreams"] = [orig_expr]
    return derived


class ApplyExpression(Expression):
    """Base of expressions applying something (a task, an operation) to arguments."""

    type_name = "redun.expression.ApplyExpression"


class TaskExpression(ApplyExpression):
    """A call of a task on (possibly lazy) arguments."""

    type_name = "redun.expression.TaskExpression"

    def __init__(self, task, args: tuple, kwargs: dict, task_options: Optional[dict] = None,
                 export_options: Optional[set] = None, length: Optional[int] = None):
        """task: the Task called, or its fullname (upstream's signature) looked up in the registry."""
        d = self.__dict__
        if isinstance(task, str):
            name, task = task, get_task_registry().get(task)
            if task is not None and task_options:
                task = task.options(**task_options)
        else:
            name = task.fullname
            if task_options is None:
                task_options = task._task_options_override
            if export_options is None:
                export_options = task._export_options
        d["task"] = task
        d["task_name"] = name
        d["args"] = args
        d["kwargs"] = kwargs
        d["_options"] = dict(task_options) if task_options else {}
        d["_export_options"] = set(export_options) if export_options else set()
        d["_length"] = length
        d["_hash"] = None
        d["call_hash"] = None

    def _calc_hash(self) -> str:
        options_hash = hash_bytes(pickle_dumps(self._options))
        parts = ["TaskExpression", self.task_name, args_hash_of(self.args, self.kwargs), options_hash]
        if self._export_options:
            parts.append(hash_struct(sorted(self._export_options)))
        return hash_struct(parts)

    def __repr__(self) -> str:
        return f"{self.task_name}({format_arguments(self.args, self.kwargs)})"

    def __getstate__(self) -> dict:
        # args/kwargs as nested protocol-3 pickles, as upstream's type registry serializes them
        return {
            "task_name": self.task_name,
            "args": pickle_dumps(self.args),
            "kwargs": pickle_dumps(self.kwargs),
            "task_options": self._options,
            "export_options": self._export_options,
            "length": self._length,
        }

    def __setstate__(self, state: dict) -> None:
        d = self.__dict__
        d["_hash"] = None
        d["task_name"] = state["task_name"]
        d["args"] = tuple(_unserialize(state["args"]))
        d["kwargs"] = dict(_unserialize(state["kwargs"]))
        d["_options"] = state.get("task_options", {})
        d["_export_options"] = state.get("export_options", set())
        d["_length"] = state.get("length")
        d["call_hash"] = None
        task = get_task_registry().get(state["task_name"])
        if task is not None and d["_options"]:
            task = task.options(**d["_options"])
        d["task"] = task

    def is_valid(self) -> bool:
        if get_task_registry().get(self.task_name) is None:
            return False
        return all(is_valid_value(v) for v in (self.args, self.kwargs))


class SimpleExpression(ApplyExpression):
    """getitem / getattr / call / arithmetic applied lazily to an expression's result."""

    type_name = "redun.expression.SimpleExpression"

    def __init__(self, func_name: str, args: tuple = (), kwargs: Optional[dict] = None):
        d = self.__dict__
        d["func_name"] = func_name
        d["args"] = args
        d["kwargs"] = kwargs or {}
        d["_hash"] = None
        d["_length"] = None

    def _calc_hash(self) -> str:
        return hash_struct(["SimpleExpression", self.func_name, args_hash_of(self.args, self.kwargs)])

    def apply(self, args: tuple, kwargs: dict) -> Any:
        """Compute the result from concrete (already evaluated) arguments."""
        func = get_lazy_operation(self.func_name)
        if func is None:
            raise NotImplementedError(f"Expression function '{self.func_name}' does not exist")
        return func(*args, **kwargs)

    def __repr__(self) -> str:
        name, args = self.func_name, self.args
        if name in _SYMBOLS and len(args) == 2:
            left, right = (args[1], args[0]) if name in _REVERSED else args
            return f"({left!r} {_SYMBOLS[name]} {right!r})"
        if name == "getitem" and len(args) == 2:
            return f"{args[0]!r}[{args[1]!r}]"
        if name == "getattr" and len(args) == 2:
            return f"{args[0]!r}.{args[1]}"
        if name == "call" and len(args) == 3:
            return f"{args[0]!r}({format_arguments(args[1], args[2])})"
        return f"SimpleExpression({name!r}, {args!r}, {self.kwargs!r})"

    def __getstate__(self) -> dict:
        return {"func_name": self.func_name, "args": pickle_dumps(self.args), "kwargs": pickle_dumps(self.kwargs)}

    def __setstate__(self, state: dict) -> None:
        d = self.__dict__
        d["_hash"] = None
        d["_length"] = None
        d["func_name"] = state["func_name"]
        d["args"] = tuple(_unserialize(state["args"]))
        d["kwargs"] = dict(_unserialize(state["kwargs"]))


class ValueExpression(Expression):
    """A concrete value lifted into an expression."""

    type_name = "redun.expression.ValueExpression"

    def __init__(self, value: Any):
        self.__dict__.update(value=value, _hash=None, _length=None)

    def _calc_hash(self) -> str:
        return hash_struct(["ValueExpression", hash_value(self.value)])

    def __repr__(self) -> str:
        return f"ValueExpression({self.value!r})"

    def __getstate__(self) -> dict:
        from .objects.valuecodec import type_name

        return {"value_type": type_name(self.value), "value": pickle_dumps(self.value)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(value=_unserialize(state["value"]), _hash=None, _length=None)


class QuotedExpression:
    """An expression carried as a plain value: not evaluated until `eval()` hands it back.
    Hashed and pickled as upstream's (a plain object with `_expr`)."""

    def __init__(self, expr: Any):
        self._expr = expr

    def eval(self):
        return self._expr

    def __setstate__(self, state: dict) -> None:
        self._expr = state["_expr"] if "_expr" in state else state["expr"]  # "expr": records before 2026-12

    def __repr__(self) -> str:
        return f"QuotedExpression({self._expr!r})"


def quote(expr: Any) -> QuotedExpression:
    """Quote an expression so that it is not evaluated."""
    return QuotedExpression(expr)


_ATOMIC = frozenset((str, int, float, bool, bytes, type(None)))


def is_valid_value(value: Any) -> bool:
    """Every File/Task/expression/Value leaf inside a (nested) value still matches the world
    (containers, namedtuples and dataclasses are walked, as upstream's is_valid_nested)."""
    if type(value) in _ATOMIC:
        return True
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t in _ATOMIC:
            continue
        if t is list or t is tuple or t is set or t is frozenset:
            stack.extend(v)
            continue
        if t is dict:
            stack.extend(v.keys())
            stack.extend(v.values())
            continue
        if isinstance(v, type):
            continue
        # Looked up on the class: an instance's own __getattr__ (an expression's is lazy)
        # must not stand in for a validity check.
        check = getattr(t, "is_valid", None)
        if check is not None and callable(check):
            if not check(v):
                return False
            continue
        proxy_check = proxy_validator(t) if PROXY_VALIDATORS else None
        if proxy_check is not None and not proxy_check(v):
            return False
        if isinstance(v, tuple):
            stack.extend(v)  # namedtuple
        elif hasattr(t, "__dataclass_fields__"):
            stack.extend(getattr(v, name) for name in t.__dataclass_fields__)
    return True


class SchedulerExpression(TaskExpression):
    """A call of a scheduler task: the scheduler itself evaluates it, handing the task
    function its arguments unevaluated (how cond, catch, apply_tags, ... work)."""

    type_name = "redun.expression.SchedulerExpression"

    def _calc_hash(self) -> str:
        return hash_struct(["SchedulerExpression", self.task_name, args_hash_of(self.args, self.kwargs)])


class CondExpression(SchedulerExpression):
    """Only to read records written before cond became a scheduler task (their pickles
    name this class with state {"exprs": ...}); it is the same call of `redun.cond`."""

    def __setstate__(self, state: dict) -> None:
        if "exprs" not in state:
            super().__setstate__(state)
            return
        d = self.__dict__
        d.update(_hash=None, _length=None, call_hash=None, task_name="redun.cond", args=tuple(state["exprs"]),
                 kwargs={}, _options={}, _export_options=set())
        d["task"] = get_task_registry().get("redun.cond")
