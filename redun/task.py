"""Tasks: decorated functions whose calls become lazy TaskExpressions.

`@task` registers the function in the process-wide TaskRegistry under its
fullname (namespace.name). The task_hash is upstream's: derived from the
fullname and either the decorator-stripped source or the explicit version
(plus hash_includes and call-time option overrides), so the same workflow
gets the same hashes as upstream 0.44.1. A Task pickles as
`redun.task.Task` with upstream's 8-key state; `PartialTask` (task.partial)
as `redun.task.PartialTask` with the inner task's state and the applied
arguments.
"""

import inspect
import re
import sys
import types
from typing import Any, Callable, Optional

from .hashing import get_task_source as get_func_source
from .hashing import hash_args, hash_struct, hash_task, hash_value
from .namespace import compute_namespace
from .taskoptions import (  # noqa: F401 - upstream's redun.task names
    CacheCheckValid, CacheResult, CacheScope, get_tuple_type_length, normalise_task_options, split_task_fullname,
    undefined_task)
from .value import Value, get_type_registry  # noqa: F401

_NAME = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")
_NAMESPACE = re.compile(r"^[A-Za-z_][A-Za-z_0-9.]*$")
_UNSET = object()


class TaskRegistry:
    """fullname -> Task, in registration order."""

    def __init__(self):
        self._tasks: dict = {}

    def add(self, task: "Task") -> None:
        self._tasks[task.fullname] = task

    def get(self, task_name: Optional[str] = None, hash: Optional[str] = None) -> Optional["Task"]:
        if task_name:
            return self._tasks.get(task_name)
        if hash:
            return next((t for t in self._tasks.values() if t.hash == hash), None)
        raise ValueError("No task field given.")

    @property
    def task_hashes(self) -> set:
        return {t.hash for t in self._tasks.values()}

    def rename(self, old_name: str, new_namespace: str, new_name: str) -> "Task":
        task = self._tasks.pop(old_name)
        task.namespace, task.name = new_namespace, new_name
        self.add(task)
        return task

    def __iter__(self):
        return iter(list(self._tasks.values()))

    def __len__(self):
        return len(self._tasks)


_registry = TaskRegistry()


def get_task_registry() -> TaskRegistry:
    return _registry


class Task(Value):
    """A registered workflow step. Calling it builds a TaskExpression (lazy)."""

    type_name = "redun.Task"

    def __init__(
        self,
        func: Callable,
        name: Optional[str] = None,
        namespace: Optional[str] = None,
        version: Optional[str] = None,
        compat: Optional[list] = None,
        script: bool = False,
        task_options_base: Optional[dict] = None,
        task_options_override: Optional[dict] = None,
        export_options: Optional[set] = None,
        hash_includes: Optional[list] = None,
        source: Optional[str] = None,
    ):
        self.func = func
        self.name = name or func.__name__
        self.namespace = compute_namespace(func, namespace)
        self.version = version
        self.compat = list(compat or [])
        self.script = script
        self._task_options_base = dict(task_options_base or {})
        self._task_options_override = dict(task_options_override or {})
        self._export_options: set = set(export_options or ())
        self._hash_includes = hash_includes
        self.source = source if source is not None else _safe_source(func)
        self._signature = None
        self.hash = self._calc_hash()  # over the raw overrides, before they are normalised (as upstream)
        self._validate()

    def _validate(self) -> None:
        config_args = self.get_task_option("config_args")
        if config_args:
            valid = list(self.signature.parameters)
            invalid = [a for a in config_args if a not in valid]
            if invalid:
                raise ValueError(f"Invalid config args: {', '.join(invalid)}. Expected all config_args to be one "
                                 f"of the function args/kwargs: {', '.join(valid)}")
        if self.namespace and not _NAMESPACE.match(self.namespace):
            raise ValueError("Task namespace must use only alphanumeric characters, underscore '_', and dot '.', "
                             f"and may not start with a dot: {self.namespace}")
        if not _NAME.match(self.name):
            raise ValueError(f"Task name must use only alphanumeric characters and underscore '_': {self.name}")
        self._nout = nout = self._calc_nout()
        if nout is not None:
            if not isinstance(nout, int) or isinstance(nout, bool):
                raise TypeError("nout must be an int")
            if nout < 0:
                raise TypeError("nout must be non-negative")
        normalise_task_options(self._task_options_base)
        normalise_task_options(self._task_options_override)
        if "prov" in self._task_options_base or "prov" in self._task_options_override:
            self._export_options.add("prov")  # provenance off applies to the whole subtree
        if self.is_async():
            opts = self.get_task_options()
            scope = opts.get("cache_scope")
            if scope is None or (scope == CacheScope.BACKEND and opts.get("check_valid") != CacheCheckValid.SHALLOW):
                raise ValueError(
                    f"Due to current limitations, async tasks like '{self.fullname}' must explicitly set their cache "
                    'option. If caching is turned on, the option `check_valid="shallow"` must be enabled as well. '
                    'Therefore, please set either:  `@task(cache=True, check_valid="shallow")` or '
                    "`@task(cache=False)`.")

    # -- identity -----------------------------------------------------------
    @property
    def fullname(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name

    def _calc_hash(self) -> str:
        if self.compat:
            return self.compat[0]
        return hash_task(
            self.fullname,
            source=self.source if self.source or self.version is not None else get_func_source(self.func),
            version=self.version,
            hash_includes=self._hash_includes or (),
            options_override=self._task_options_override,
        )

    def recompute_hash(self) -> None:
        self.hash = self._calc_hash()

    def get_hash(self, data: Optional[bytes] = None) -> str:
        return self.hash

    def __redun_hash__(self) -> str:
        return self.hash

    def is_valid(self) -> bool:
        """A recorded Task is valid while the registered code still hashes the same."""
        current = _registry.get(self.fullname)
        return current is not None and current._calc_hash() == self.hash

    def is_async(self) -> bool:
        is_async = self.__dict__.get("_is_async")
        if is_async is None:
            is_async = self._is_async = inspect.iscoroutinefunction(self.func)
        return is_async

    @property
    def nout(self) -> Optional[int]:
        """How many values a call returns (the `nout` option, else a `-> tuple[...]` hint)."""
        nout = self.__dict__.get("_nout", _UNSET)
        if nout is _UNSET:
            nout = self._nout = self._calc_nout()
        return nout

    def _calc_nout(self) -> Optional[int]:
        if self.has_task_option("nout"):
            return self.get_task_option("nout")
        func = self.func
        annotations = getattr(func, "__annotations__", None) if func is not None else None
        return get_tuple_type_length(annotations.get("return")) if annotations else None

    @property
    def signature(self) -> inspect.Signature:
        if self._signature is None:
            self._signature = inspect.signature(self.func)
        return self._signature

    # -- options ---------------------------------------------------------------
    @property
    def task_options(self) -> dict:
        return self.get_task_options()

    def get_task_options(self) -> dict:
        return {**self._task_options_base, **self._task_options_override}

    def get_task_option(self, key: str, default: Any = None) -> Any:
        if key in self._task_options_override:
            return self._task_options_override[key]
        return self._task_options_base.get(key, default)

    @property
    def load_module(self) -> str:
        """The module to import for this task elsewhere (another process, a cluster worker):
        the `load_module` task option, else the function's module (upstream's Task.load_module)."""
        return self.get_task_option("load_module") or getattr(self.func, "__module__", None) or ""

    def has_task_option(self, key: str) -> bool:
        return key in self._task_options_override or key in self._task_options_base

    # -- calling -------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        from .expression import TaskExpression

        return TaskExpression(self, args, kwargs, length=self.nout)

    def _copy(self, override: dict, export_options: Optional[set] = None) -> "Task":
        """This task with other call-time overrides (they enter the hash)."""
        return Task(self.func, name=self.name, namespace=self.namespace, version=self.version, compat=self.compat,
                    script=self.script, source=self.source, task_options_base=self._task_options_base,
                    task_options_override=override, export_options=export_options,
                    hash_includes=self._hash_includes)

    def options(self, **options) -> "Task":
        """A copy of this task with call-time option overrides (they enter the hash)."""
        return self._copy({**self._task_options_override, **options})

    def export_options(self, **options) -> "Task":
        """options(), and the named options are also inherited by every job below."""
        names = self._export_options | set(options)
        if "cache" in names:
            names.add("cache_scope")
        return self._copy({**self._task_options_override, **options}, names)

    def update_context(self, context: Optional[dict] = None, **kwargs) -> "Task":
        """A copy of this task whose calls see their context updated with context and kwargs
        (merged into any update made before; upstream's Task.update_context)."""
        from .utils import merge_dicts

        previous = self._task_options_override.get("_context_override", {})
        return self.options(_context_override=merge_dicts([previous, context or {}, kwargs]))

    def partial(self, *args, **kwargs) -> "PartialTask":
        """This task with some arguments applied; calling it supplies the rest."""
        return PartialTask(self, args, kwargs)

    def __repr__(self) -> str:
        return f"Task(fullname={self.fullname}, hash={self.hash[:8]})"

    # -- pickling (upstream layout) -------------------------------------------
    def __getstate__(self) -> dict:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "version": self.version,
            "hash": self.hash,
            "compat": self.compat,
            "script": self.script,
            "task_options": self._task_options_override,
            "export_options": self._export_options,
        }

    def __setstate__(self, state: dict) -> None:
        self.name = state["name"]
        self.namespace = state["namespace"]
        self.version = state["version"]
        self.hash = state["hash"]
        self.compat = state.get("compat", [])
        self.script = state.get("script", False)
        self._task_options_override = normalise_task_options(dict(state.get("task_options", {})))
        self._export_options = set(state.get("export_options", set()))
        self._signature = None
        self.__dict__.pop("_nout", None)
        self.__dict__.pop("_is_async", None)
        registered = _registry.get(self.fullname)
        if registered is not None:
            self.func = registered.func
            self._task_options_base = registered._task_options_base
            self.source = registered.source
            self._hash_includes = registered._hash_includes
        else:
            self.func = None
            self._task_options_base = {}
            self.source = ""
            self._hash_includes = None


class PartialTask(Task):
    """A task with some arguments applied (`task.partial(...)`). Calling it calls the inner
    task with the applied arguments first; as a value it is not evaluated, so its
    arguments stay as given (expressions included) until it is called."""

    type_name = "redun.PartialTask"

    def __init__(self, task: Task, args: tuple, kwargs: dict):
        self.task = task
        self.args = tuple(args)
        self.kwargs = kwargs
        super().__init__(task.func, name=task.name, namespace=task.namespace, source=task.source)

    def _validate(self) -> None:
        pass  # the inner task was validated

    def _calc_hash(self) -> str:
        args_hash = hash_args([hash_value(a) for a in self.args], {k: hash_value(v) for k, v in self.kwargs.items()})
        return hash_struct(["PartialTask", self.task._calc_hash(), args_hash])

    def __repr__(self) -> str:
        return (f"PartialTask(fullname={self.fullname}, hash={self.hash[:8]}, args={self.args!r}, "
                f"kwargs={self.kwargs!r})")

    def __call__(self, *args, **kwargs):
        return self.task(*self.args, *args, **{**self.kwargs, **kwargs})

    def is_valid(self) -> bool:
        return self.task.is_valid()

    @property
    def nout(self) -> Optional[int]:
        return self.task.nout

    def options(self, **options) -> "PartialTask":
        return self.task.options(**options).partial(*self.args, **self.kwargs)

    def partial(self, *args, **kwargs) -> "PartialTask":
        return PartialTask(self.task, self.args + args, {**self.kwargs, **kwargs})

    def get_task_option(self, key: str, default: Any = None) -> Any:
        return self.task.get_task_option(key, default)

    def get_task_options(self) -> dict:
        return self.task.get_task_options()

    def has_task_option(self, key: str) -> bool:
        return self.task.has_task_option(key)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.update({"task": self.task.__getstate__(), "args": self.args, "kwargs": self.kwargs})
        return state

    def __setstate__(self, state: dict) -> None:
        self.task = Task.__new__(Task)
        self.task.__setstate__(state["task"])
        self.args = state["args"]
        self.kwargs = state["kwargs"]
        super().__setstate__(state)


def _safe_source(func: Callable) -> str:
    try:
        return get_func_source(func)
    except (OSError, TypeError):
        return ""


def task(
    func: Optional[Callable] = None,
    *,
    name: Optional[str] = None,
    namespace: Optional[str] = None,
    version: Optional[str] = None,
    compat: Optional[list] = None,
    script: bool = False,
    hash_includes: Optional[list] = None,
    source: Optional[str] = None,
    export_options: Optional[dict] = None,
    **task_options,
):
    """Decorate a function as a redun task: `@task`, `@task()` or `@task(name=..., version=...)`.

    Options such as cache, cache_scope, check_valid, config_args, executor, nout, prov
    are kept on the task (not hashed); export_options are also inherited by child jobs."""

    def deco(f: Callable) -> Task:
        options = dict(task_options)
        names = None
        if export_options:
            options.update(export_options)
            names = set(export_options)
        t = Task(f, name=name, namespace=namespace, version=version, compat=compat, script=script,
                 task_options_base=options, export_options=names, hash_includes=hash_includes, source=source)
        _registry.add(t)
        return t

    if func is not None:
        return deco(func)
    return deco


class SchedulerTask(Task):
    """A task the scheduler evaluates itself: its function is called on the scheduler's thread
    as func(scheduler, parent_job, scheduler_expression, *args, **kwargs) with the arguments
    unevaluated, and returns a Promise of the result (upstream's fexpr-like scheduler task)."""

    def __call__(self, *args, **kwargs):
        from .expression import SchedulerExpression

        return SchedulerExpression(self, args, kwargs, length=self.nout)


def scheduler_task(name: Optional[str] = None, namespace: Optional[str] = None, version: str = "1",
                   **task_options_base):
    """Register a function as a scheduler task (see SchedulerTask); upstream's decorator."""

    def deco(func: Callable) -> SchedulerTask:
        t = SchedulerTask(func, name=name, namespace=namespace, version=version,
                          task_options_base=dict(task_options_base))
        _registry.add(t)
        return t

    return deco


def hash_args_eval(type_registry, task: Task, args: tuple, kwargs: dict) -> tuple:
    """(eval_hash, args_hash) of a call on evaluated arguments, as the scheduler computes them:
    config_args and JobInfo arguments are left out (type_registry: upstream's parameter, unused)."""
    from .hashing import hash_eval

    config_args = task.get_task_option("config_args", []) or []
    names = list(task.signature.parameters)
    kept = [a for i, a in enumerate(args)
            if (names[i] if i < len(names) else None) not in config_args and type(a).__name__ != "JobInfo"]
    kw = {k: v for k, v in kwargs.items() if k not in config_args and type(v).__name__ != "JobInfo"}
    args_hash = hash_args([hash_value(a) for a in kept], {k: hash_value(v) for k, v in kw.items()})
    return hash_eval(task.hash, args_hash), args_hash


class _TaskModule(types.ModuleType):
    """`redun.task` is both this module and the decorator (upstream exports the
    function as `redun.task`); importing the submodule makes the package
    attribute the module, so the module itself forwards calls to `task()`."""

    def __call__(self, *args, **kwargs):
        return task(*args, **kwargs)


sys.modules[__name__].__class__ = _TaskModule
