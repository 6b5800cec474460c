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


def _unserialize(data):
    """A nested pickle from upstream-shaped expression state (older states hold the object)."""
    if isinstance(data, bytes):
        import pickle

        return pickle.loads(data)
    return data


def _trim(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def format_arguments(args: tuple, kwargs: dict) -> str:
    parts = [_trim(repr(a)) for a in args]
    parts += [f"{k}={_trim(repr(v))}" for k, v in kwargs.items()]
    return ", ".join(parts)


def args_hash_of(args, kwargs) -> str:
    """upstream hash_arguments: value hashes of each argument (expressions hash themselves)."""
    return hash_args([hash_value(a) for a in args], {k: hash_value(v) for k, v in kwargs.items()})


class Expression:
    """Base of lazy expressions. Subclasses define _calc_hash()."""

    type_name = "redun.expression.Expression"
    __slots__ = ()

    def __redun_hash__(self) -> str:
        h = self.__dict__.get("_hash")
        if h is None:
            h = self._calc_hash()
            self.__dict__["_hash"] = h
        return h

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
        if name.startswith("_"):
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

    def __add__(self, other):
        return SimpleExpression("add", (self, other))

    def __radd__(self, other):
        return SimpleExpression("radd", (self, other))

    def __sub__(self, other):
        return SimpleExpression("sub", (self, other))

    def __mul__(self, other):
        return SimpleExpression("mul", (self, other))

    def __truediv__(self, other):
        return SimpleExpression("truediv", (self, other))

    def __eq__(self, other):
        return SimpleExpression("eq", (self, other))

    def __ne__(self, other):
        return SimpleExpression("ne", (self, other))

    def __lt__(self, other):
        return SimpleExpression("lt", (self, other))

    def __gt__(self, other):
        return SimpleExpression("gt", (self, other))

    __hash__ = object.__hash__


class TaskExpression(Expression):
    """A call of a task on (possibly lazy) arguments."""

    type_name = "redun.expression.TaskExpression"

    def __init__(self, task, args: tuple, kwargs: dict, task_options: Optional[dict] = None,
                 length: Optional[int] = None):
        d = self.__dict__
        d["task"] = task
        d["task_name"] = task.fullname
        d["args"] = args
        d["kwargs"] = kwargs
        d["_options"] = dict(task_options or task._task_options_override or {})
        d["_export_options"] = set()
        d["_length"] = length
        d["_hash"] = None
        d["call_hash"] = None

    def __setattr__(self, name, value):
        self.__dict__[name] = value

    def _calc_hash(self) -> str:
        options_hash = hash_bytes(pickle_dumps(self._options))
        return hash_struct(["TaskExpression", self.task_name, args_hash_of(self.args, self.kwargs),
                            options_hash])

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


_BINARY = {
    "add": operator.add,
    "radd": lambda a, b: b + a,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "gt": operator.gt,
}


class SimpleExpression(Expression):
    """getitem / getattr / call / arithmetic applied lazily to an expression's result."""

    type_name = "redun.expression.SimpleExpression"

    def __init__(self, func_name: str, args: tuple = (), kwargs: Optional[dict] = None):
        d = self.__dict__
        d["func_name"] = func_name
        d["args"] = args
        d["kwargs"] = kwargs or {}
        d["_hash"] = None
        d["_length"] = None

    def __setattr__(self, name, value):
        self.__dict__[name] = value

    def _calc_hash(self) -> str:
        return hash_struct(["SimpleExpression", self.func_name, args_hash_of(self.args, self.kwargs)])

    def apply(self, args: tuple, kwargs: dict) -> Any:
        """Compute the result from concrete (already evaluated) arguments."""
        name = self.func_name
        if name == "getitem":
            return args[0][args[1]]
        if name == "getattr":
            return getattr(args[0], args[1])
        if name == "call":
            this, cargs, ckwargs = args
            return this(*cargs, **ckwargs)
        func = _BINARY.get(name)
        if func is None:
            raise ValueError(f"unknown SimpleExpression function {name!r}")
        return func(*args, **kwargs)

    def __repr__(self) -> str:
        name, args = self.func_name, self.args
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
    """An expression carried as a value (not evaluated until forced)."""

    type_name = "redun.expression.QuotedExpression"

    def __init__(self, expr: Any):
        self.expr = expr

    def __redun_hash__(self) -> str:
        return hash_struct(["QuotedExpression", hash_value(self.expr)])

    def eval(self):
        return self.expr

    def __repr__(self) -> str:
        return f"QuotedExpression({self.expr!r})"


_ATOMIC = frozenset((str, int, float, bool, bytes, type(None)))


def is_valid_value(value: Any) -> bool:
    """Every File/Task/expression leaf inside a (nested) value still matches the world."""
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
        if check is not None and callable(check) and not check(v):
            return False
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
