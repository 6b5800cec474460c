"""Helpers users reach for as `redun.utils` (upstream's names and behaviour).

Pickling at redun's protocol, the nested-value walk the scheduler uses
(list, tuple, namedtuple, set, dict keys and values, dataclass fields),
task source text, dict merging and small formatting helpers.
"""

import json
import os
import sys
from collections import defaultdict
from datetime import datetime, timezone
from typing import IO, Any, Callable, Iterable, Iterator, List

# dataclasses, pickle and redun.hashing are imported where used: `redun log` imports this
# module (tag formatting) and its start-up is a feature.
_FROM_HASHING = ("PICKLE_PROTOCOL", "get_task_source", "pickle_dumps")


def __getattr__(name: str) -> Any:
    if name in _FROM_HASHING:  # upstream's names, re-exported from redun.hashing
        from . import hashing

        return getattr(hashing, name)
    raise AttributeError(f"module 'redun.utils' has no attribute {name!r}")


__all__ = [
    "PICKLE_PROTOCOL", "add_import_path", "clear_import_paths", "format_table", "get_func_source",
    "get_import_paths", "iter_nested_value", "iter_nested_value_children", "json_dumps", "map_nested_value",
    "merge_dicts", "pickle_dump", "pickle_dumps", "pickle_loads", "str2bool", "trim_string", "utcnow",
]


def str2bool(text: str) -> bool:
    """'true'/'false' (any case) to a bool; anything else is a ValueError."""
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise ValueError(f"Unknown boolean value: {text!r}")


_import_paths: List[str] = []


def add_import_path(path: str) -> None:
    """Put path first on sys.path and remember it (workers replay the list)."""
    path = os.path.abspath(path)
    if path not in _import_paths:
        _import_paths.append(path)
    if path not in sys.path:
        sys.path.insert(0, path)


def get_import_paths() -> List[str]:
    return list(_import_paths)


def clear_import_paths() -> None:
    _import_paths.clear()


def json_dumps(value: Any) -> str:
    """JSON with sorted keys and no spaces around separators (how tags and context are hashed)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def pickle_dump(obj: Any, file: IO) -> None:
    import pickle

    from .hashing import PICKLE_PROTOCOL

    pickle.dump(obj, file, protocol=PICKLE_PROTOCOL)


def pickle_loads(data: bytes) -> Any:
    import pickle

    return pickle.loads(data)


def get_func_source(func: Callable) -> str:
    """A function's source without its decorators (what an unversioned task hashes)."""
    from .hashing import get_task_source

    return get_task_source(func)


def iter_nested_value_children(value: Any) -> Iterator[tuple]:
    """(is_leaf, child) pairs of one level of a nested value."""
    t = type(value)
    if t is list or t is tuple or t is set or (isinstance(value, tuple) and hasattr(value, "_fields")):
        for item in value:
            yield False, item
    elif t is dict:
        for key in value.keys():
            yield False, key
        for item in value.values():
            yield False, item
    elif hasattr(t, "__dataclass_fields__"):  # dataclasses.is_dataclass, without importing it
        import dataclasses

        for field in dataclasses.fields(value):
            yield False, getattr(value, field.name)
    else:
        yield True, value


def iter_nested_value(value: Any) -> Iterator[Any]:
    """The leaves of a nested value (containers and dataclasses are walked)."""
    stack = [(False, value)]
    while stack:
        is_leaf, item = stack.pop()
        if is_leaf:
            yield item
        else:
            stack.extend(iter_nested_value_children(item))


def map_nested_value(func: Callable, value: Any) -> Any:
    """A copy of value with func applied to each leaf (same container types)."""
    t = type(value)
    if t is list:
        return [map_nested_value(func, v) for v in value]
    if t is tuple:
        return tuple(map_nested_value(func, v) for v in value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return t(*[map_nested_value(func, v) for v in value])
    if t is set:
        return {map_nested_value(func, v) for v in value}
    if t is dict:
        return {map_nested_value(func, k): map_nested_value(func, v) for k, v in value.items()}
    if hasattr(t, "__dataclass_fields__"):  # dataclasses.is_dataclass
        return map_dataclass(lambda v: map_nested_value(func, v), value)
    return func(value)


def map_dataclass(func: Callable, value: Any) -> Any:
    """A dataclass instance rebuilt with func applied to each field value: init fields through
    the constructor, the others set afterwards, extra instance attributes copied over."""
    import dataclasses

    fields = dataclasses.fields(value)
    mapped = type(value)(**{f.name: func(getattr(value, f.name)) for f in fields if f.init})
    for f in fields:
        if not f.init:
            object.__setattr__(mapped, f.name, func(getattr(value, f.name)))
    extra = getattr(value, "__dict__", None)
    if extra:
        for key in set(extra) - set(mapped.__dict__):
            mapped.__dict__[key] = extra[key]
    return mapped


def trim_string(text: str, max_length: int = 200, ellipsis: str = "...") -> str:
    if len(text) > max_length:
        return text[: max(max_length - len(ellipsis), 0)] + ellipsis
    return text


def merge_dicts(dicts: list) -> Any:
    """Merge nested dicts; later values win, dicts under the same key are merged recursively."""
    if len(dicts) == 1:
        return dicts[0]
    if any(not isinstance(d, dict) for d in dicts):
        return dicts[-1]
    grouped: dict = defaultdict(list)
    for d in dicts:
        for key, v in d.items():
            grouped[key].append(v)
    return {key: merge_dicts(vs) for key, vs in grouped.items()}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_table(table: List[list], justs: str, min_width: int = 0) -> Iterable[str]:
    """Rows of text cells as aligned lines ('l'/'r' per column); a blank line after the header."""
    widths = [max(max(len(str(row[j])) for row in table), min_width) for j in range(len(table[0]))]
    for i, row in enumerate(table):
        if i == 1:
            yield ""
        yield " ".join(str(c).ljust(w) if j == "l" else str(c).rjust(w) for c, j, w in zip(row, justs, widths))

