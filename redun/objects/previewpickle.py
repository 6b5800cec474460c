"""Display a pickled value the way upstream's `redun log` does, without running its code.

`preview_unpickle(data)` loads a pickle in which no global is ever imported:
builtin containers and builtin exception classes are themselves (building
them runs nothing of the user's), redun's own classes (Task, PartialTask,
expressions, JobInfo, ErrorValue, File...) become inert stand-ins that print
like upstream's reprs, and every other class becomes a stand-in that prints
as `Name(args..., attr=value, ...)`, which is what upstream shows for classes
it cannot import (e.g. `Color(2)` for a workflow's Enum).
"""

import builtins
import pickle
from typing import Any

from .filerefs import FILE_CLASSES, FILE_MODULE, FileRef
from .pickleread import Built, Malformed, NotPlain, Symbol, read_sketch

# Builtins a pickle may call: none of them can be made to allocate more than the pickle holds.
_SAFE_BUILTINS = {"set": set, "frozenset": frozenset, "complex": complex}


class PreviewObject:
    """Stand-in for a class that is not imported: keeps constructor args and state."""

    _name = "object"

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        self.__dict__["_preview_args"] = args
        self.__dict__.update(kwargs)
        return self

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            for part in state:
                if isinstance(part, dict):
                    self.__dict__.update(part)
        elif isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state

    def _attrs(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_preview_args", "_state")}

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.__dict__.get("_preview_args", ())]
        parts += [f"{k}={v!r}" for k, v in self._attrs().items()]
        return f"{self._name}({', '.join(parts)})"


def _nested(data: Any) -> Any:
    """Expression state keeps its arguments as nested pickles."""
    if isinstance(data, bytes):
        try:
            return preview_unpickle(data)
        except Exception:
            return PreviewObject()
    return data


def _format_arguments(args: Any, kwargs: Any) -> str:
    parts = [repr(a) for a in (args if isinstance(args, tuple) else ())]
    if isinstance(kwargs, dict):
        parts += [f"{k}={v!r}" for k, v in sorted(kwargs.items(), key=lambda kv: str(kv[0]))]
    return ", ".join(parts)


class _Task(PreviewObject):
    def __repr__(self) -> str:
        d = self.__dict__
        ns, name = d.get("namespace"), d.get("name")
        fullname = f"{ns}.{name}" if ns else name
        return f"Task(fullname={fullname}, hash={str(d.get('hash', ''))[:8]})"


class _PartialTask(_Task):
    def __repr__(self) -> str:
        d = self.__dict__
        inner = d.get("task") if isinstance(d.get("task"), dict) else d
        ns, name = inner.get("namespace"), inner.get("name")
        fullname = f"{ns}.{name}" if ns else name
        return (f"PartialTask(fullname={fullname}, hash={str(d.get('hash', ''))[:8]}, args={d.get('args')!r}, "
                f"kwargs={d.get('kwargs')!r})")


class _Expression(PreviewObject):
    """Expressions keep their arguments (or value) as nested pickles: opened here."""

    def __setstate__(self, state: Any) -> None:
        super().__setstate__(state)
        for key in ("args", "kwargs", "value"):
            if key in self.__dict__:
                self.__dict__[key] = _nested(self.__dict__[key])


class _TaskExpression(_Expression):
    def __repr__(self) -> str:
        d = self.__dict__
        return f"{d.get('task_name')}({_format_arguments(d.get('args'), d.get('kwargs'))})"


_SYMBOLS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "add": "+", "radd": "+",
            "sub": "-", "rsub": "-", "mul": "*", "rmul": "*", "div": "/", "truediv": "/", "rdiv": "/",
            "and": "&", "rand": "&", "or": "|", "ror": "|"}
_REVERSED = {"radd", "rsub", "rmul", "rdiv", "rand", "ror"}


class _SimpleExpression(_Expression):
    def __repr__(self) -> str:
        d = self.__dict__
        name, args, kwargs = d.get("func_name"), d.get("args"), d.get("kwargs")
        args = args if isinstance(args, tuple) else ()
        if name in _SYMBOLS and len(args) == 2:
            left, right = (args[1], args[0]) if name in _REVERSED else args
            return f"({left!r} {_SYMBOLS[name]} {right!r})"
        if name == "getitem" and len(args) == 2:
            return f"{args[0]!r}[{args[1]!r}]"
        if name == "getattr" and len(args) == 2:
            return f"{args[0]!r}.{args[1]}"
        if name == "call" and len(args) == 3:
            return f"{args[0]!r}({_format_arguments(args[1], args[2])})"
        return f"SimpleExpression('{name}', {args!r}, {kwargs!r})"


class _ValueExpression(_Expression):
    def __repr__(self) -> str:
        return f"ValueExpression({self.__dict__.get('value')!r})"


class _QuotedExpression(PreviewObject):
    def __repr__(self) -> str:
        d = self.__dict__
        return f"QuotedExpression({d.get('_expr', d.get('expr'))!r})"


class _JobInfo(PreviewObject):
    def __repr__(self) -> str:
        d = self.__dict__
        return (f"JobInfo(execution_id={d.get('execution_id')}, job_id={d.get('job_id')}, "
                f"eval_hash={d.get('eval_hash')}, args_hash={d.get('args_hash')}, options={d.get('options', {})})")


class _ErrorValue(PreviewObject):
    def __repr__(self) -> str:
        return f"ErrorValue({self.__dict__.get('error')!r})"


class _Thread(PreviewObject):
    def __repr__(self) -> str:
        return f"Thread({self.__dict__.get('expr')})"


class _File(PreviewObject):
    cls_name = "File"

    def __setstate__(self, state: Any) -> None:
        super().__setstate__(state)
        type_name, key = FILE_CLASSES[self.cls_name]
        d = self.__dict__
        if isinstance(d.get(key), str) and isinstance(d.get("hash"), str):
            d["_ref"] = FileRef(type_name, d[key], d["hash"])

    def __repr__(self) -> str:
        ref = self.__dict__.get("_ref")
        return repr(ref) if ref is not None else super().__repr__()


_KNOWN = {
    ("redun.task", "Task"): _Task, ("redun.task", "SchedulerTask"): _Task,
    ("redun.task", "PartialTask"): _PartialTask,
    ("redun.expression", "TaskExpression"): _TaskExpression,
    ("redun.expression", "SchedulerExpression"): _TaskExpression,
    ("redun.expression", "SimpleExpression"): _SimpleExpression,
    ("redun.expression", "ValueExpression"): _ValueExpression,
    ("redun.expression", "QuotedExpression"): _QuotedExpression,
    ("redun.scheduler", "JobInfo"): _JobInfo,
    ("redun.scheduler", "ErrorValue"): _ErrorValue,
    ("redun.scheduler", "Thread"): _Thread,
}
_KNOWN.update({(FILE_MODULE, name): type(f"_{name}Preview", (_File,), {"cls_name": name, "_name": name})
               for name in FILE_CLASSES})


def _exception_class(module: str, name: str):
    if module != "builtins":
        return None
    cls = getattr(builtins, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, BaseException) else None


def _resolve(module: str, name: str, classes: dict) -> Any:
    """The class a global of the pickle stands for (never imported): a safe builtin, a builtin
    exception, one of redun's stand-ins, or a stand-in class made for it (one per name)."""
    if module == "builtins" and name in _SAFE_BUILTINS:
        return _SAFE_BUILTINS[name]
    exc = _exception_class(module, name)
    if exc is not None:
        return exc
    known = _KNOWN.get((module, name))
    if known is not None:
        return known
    cls = classes.get((module, name))
    if cls is None:
        short = name.rsplit(".", 1)[-1]
        cls = classes[(module, name)] = type(short, (PreviewObject,), {"_name": short})
    return cls


class _Builder:
    """Builds the preview value from a bounded sketch of the pickle (objects/pickleread.py:
    lengths, memo and work are checked against the input's size before anything is made, so
    hostile bytes cannot make this allocate more than a small multiple of themselves, which
    CPython's unpickler does not promise). Shared parts stay shared and cycles stay cycles."""

    def __init__(self):
        self.classes: dict = {}
        self.done: dict = {}  # id(sketch part) -> its preview value

    def build(self, v: Any) -> Any:
        t = type(v)
        if t in (str, bytes, int, float, bool, complex) or v is None:
            return v
        hit = self.done.get(id(v))
        if hit is not None:
            return hit[1]
        if t is list:
            out: Any = []
            self.done[id(v)] = (v, out)
            out.extend(self.build(x) for x in v)
        elif t is dict:
            out = {}
            self.done[id(v)] = (v, out)
            for k, x in v.items():
                out[self.build(k)] = self.build(x)
        elif t in (tuple, set, frozenset, bytearray):
            out = t(self.build(x) for x in v) if t is not bytearray else bytearray(v)
            self.done[id(v)] = (v, out)
        elif t is Symbol:
            out = _resolve(v.module, v.name, self.classes)
        elif t is Built:
            out = self._instance(v)
        else:  # a FileRef and the like: already inert
            out = v
        return out

    def _instance(self, v: Built) -> Any:
        cls = self.build(v.symbol)
        if not isinstance(cls, type):
            raise pickle.UnpicklingError(f"pickle calls {v.symbol!r}")
        inst = cls(*self.build(v.args), **self.build(v.kwargs))
        self.done[id(v)] = (v, inst)
        if v.state is not None:
            state = self.build(v.state)
            if hasattr(inst, "__setstate__"):
                inst.__setstate__(state)
            elif isinstance(state, dict):
                inst.__dict__.update(state)
        return inst


def preview_unpickle(data: bytes) -> Any:
    """The value of a pickle, with every non-builtin class as an inert stand-in. Raises
    ValueError (NotPlain / Malformed: beyond its budget or not a pickle) and the like."""
    try:
        sketch = read_sketch(data)
    except (NotPlain, Malformed) as e:
        raise ValueError(str(e)) from None
    return _Builder().build(sketch)


def preview_repr(data: bytes, budget: int = 100_000) -> str:
    """repr of preview_unpickle(data). A pickle can reference one object many times, so a
    small one may unfold into an enormous repr: past `budget` items it is refused
    (ValueError) before any text is built."""
    value = preview_unpickle(data)
    stack, seen = [value], 0
    while stack:
        v = stack.pop()
        seen += 1
        if seen > budget:
            raise ValueError("pickle unfolds into too large a value to display")
        t = type(v)
        if t in (list, tuple, set, frozenset):
            stack.extend(v)
        elif t is dict:
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (PreviewObject, BaseException)):
            stack.extend(getattr(v, "args", ()) if isinstance(v, BaseException) else ())
            stack.extend(v.__dict__.values())
        elif t in (str, bytes):
            seen += len(v) // 64
    return repr(value)
