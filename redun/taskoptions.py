"""What task options and signatures mean: the cache enums, their normalisation, nout from a
return annotation, and fullname helpers (upstream's `redun.task` names, re-exported there)."""

import enum
import inspect
from typing import Any, Optional


class CacheScope(str, enum.Enum):
    """Where cache hits may come from (upstream's enum; pickles as redun.task.CacheScope and
    compares equal to its text, so options read as "CSE" or CacheScope.CSE alike)."""

    __module__ = "redun.task"

    NONE = "NONE"
    CSE = "CSE"
    BACKEND = "BACKEND"


class CacheCheckValid(str, enum.Enum):
    __module__ = "redun.task"
    FULL = "full"
    SHALLOW = "shallow"


class CacheResult(str, enum.Enum):
    __module__ = "redun.task"
    CSE = "CSE"
    SINGLE = "SINGLE"
    ULTIMATE = "ULTIMATE"
    MISS = "MISS"


def undefined_task(fullname: str, *args, **kwargs) -> None:
    """The function of an unpickled Task whose definition is not loaded."""
    raise ValueError(f"Task {fullname} is undefined.")


def get_tuple_type_length(tuple_type: Any) -> Optional[int]:
    """The length of a `tuple[...]` or namedtuple return annotation, if fixed."""
    if getattr(tuple_type, "__origin__", None) is tuple:
        import typing

        targs = typing.get_args(tuple_type)
        if Ellipsis in targs or not hasattr(tuple_type, "__args__"):
            return None
        if targs == ((),):
            return 0
        return len(targs)
    if inspect.isclass(tuple_type) and issubclass(tuple_type, tuple):
        fields = getattr(tuple_type, "_fields", None)
        if fields:
            return len(fields)
    return None


def split_task_fullname(task_fullname: str) -> tuple:
    if "." in task_fullname:
        ns, name = task_fullname.rsplit(".", 1)
        return ns, name
    return "", task_fullname


def normalise_task_options(options: dict) -> dict:
    """In place, as upstream's Task validation: `cache` becomes `cache_scope`, cache options
    become their enums (a wrong value is an error naming the allowed ones)."""
    if "cache" in options:
        options["cache_scope"] = CacheScope.BACKEND if options.pop("cache") else CacheScope.CSE
    scope = options.get("cache_scope")
    if scope is not None and type(scope) is not CacheScope:
        try:
            options["cache_scope"] = CacheScope(str(getattr(scope, "value", scope)).upper())
        except ValueError:
            raise ValueError(f"cache_scope must be one of NONE, CSE, BACKEND, not {scope!r}") from None
    check = options.get("check_valid")
    if check is not None and type(check) is not CacheCheckValid:
        try:
            options["check_valid"] = CacheCheckValid(getattr(check, "value", check))
        except ValueError:
            raise ValueError(f"check_valid must be one of full, shallow, not {check!r}") from None
    allowed = options.get("allowed_cache_results")
    if allowed is not None:
        options["allowed_cache_results"] = _cache_results(allowed)
    return options


def _cache_results(allowed) -> set:
    """allowed_cache_results as a set of CacheResult (upstream takes only a set)."""
    bad = ValueError("allowed_cache_results must be a set of CacheResult (CSE, SINGLE, ULTIMATE), "
                     f"not {allowed!r}")
    if not isinstance(allowed, set):
        raise bad
    try:
        return {CacheResult(getattr(r, "value", r)) for r in allowed}
    except ValueError:
        raise bad from None
