"""Tasks: decorated functions whose calls become lazy TaskExpressions.

`@task` registers the function in the process-wide TaskRegistry under its
fullname (namespace.name). The task_hash is upstream's: derived from the
fullname and either the decorator-stripped source or the explicit version
(plus hash_includes and call-time option overrides), so the same workflow
gets the same hashes as upstream 0.44.1. A Task pickles as
`redun.task.Task` with upstream's 8-key state.
"""

import inspect
import sys
import types
from typing import Any, Callable, Optional

from .hashing import get_task_source as get_func_source
from .hashing import hash_task

# Option names that change caching behaviour (validated at decoration time).
CACHE_SCOPES = ("NONE", "CSE", "BACKEND")
CHECK_VALID = ("full", "shallow")


class TaskRegistry:
    """fullname -> Task, in registration order."""

    def __init__(self):
        self._tasks: dict = {}

    def add(self, task: "Task") -> None:
        self._tasks[task.fullname] = task

    def get(self, fullname: str) -> Optional["Task"]:
        return self._tasks.get(fullname)

    def __iter__(self):
        return iter(list(self._tasks.values()))

    def __len__(self):
        return len(self._tasks)


_registry = TaskRegistry()


def get_task_registry() -> TaskRegistry:
    return _registry


class Task:
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
        self._export_options: set = set()
        self._hash_includes = hash_includes
        self.source = source if source is not None else _safe_source(func)
        self.hash = self._calc_hash()
        self._signature = None

    # -- identity -----------------------------------------------------------
    @property
    def fullname(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name

    def _calc_hash(self) -> str:
        if self.compat:
            return self.compat[0]
        return hash_task(
            self.fullname,
            source=self.source,
            version=self.version,
            hash_includes=self._hash_includes or (),
            options_override=self._task_options_override,
        )

    def __redun_hash__(self) -> str:
        return self.hash

    def is_valid(self) -> bool:
        """A recorded Task is valid while the registered code still hashes the same."""
        current = _registry.get(self.fullname)
        return current is not None and current._calc_hash() == self.hash

    @property
    def signature(self) -> inspect.Signature:
        if self._signature is None:
            self._signature = inspect.signature(self.func)
        return self._signature

    @property
    def task_options(self) -> dict:
        return {**self._task_options_base, **self._task_options_override}

    def get_task_option(self, key: str, default: Any = None) -> Any:
        if not self._task_options_override:
            return self._task_options_base.get(key, default)
        # call-time overrides are hashed raw (as upstream) but interpreted normalised
        merged = dict(self._task_options_base)
        if "cache" in self._task_options_override:
            merged.pop("cache_scope", None)
        merged = normalise_task_options({**merged, **self._task_options_override})
        return merged.get(key, default)

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

        return TaskExpression(self, args, kwargs)

    def options(self, **options) -> "Task":
        """A copy of this task with call-time option overrides (they enter the hash)."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._task_options_override = {**self._task_options_override, **options}
        new.hash = new._calc_hash()
        return new

    def update_context(self, context: Optional[dict] = None, **kwargs) -> "Task":
        """A copy of this task whose calls see their context updated with context and kwargs
        (merged into any update made before; upstream's Task.update_context)."""
        from .context import merge_dicts

        prev = self._task_options_override.get("_context_override", {})
        return self.options(_context_override=merge_dicts([prev, context or {}, kwargs]))

    def partial(self, *args, **kwargs):
        from functools import partial

        return partial(self, *args, **kwargs)

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
        self._task_options_override = state.get("task_options", {})
        self._export_options = state.get("export_options", set())
        self._signature = None
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


def _safe_source(func: Callable) -> str:
    try:
        return get_func_source(func)
    except (OSError, TypeError):
        return ""


def normalise_task_options(options: dict) -> dict:
    if "cache" in options and "cache_scope" not in options:
        options["cache_scope"] = "BACKEND" if options["cache"] else "CSE"
    scope = options.get("cache_scope")
    if scope is not None:
        scope = getattr(scope, "name", scope)
        if str(scope).upper() not in CACHE_SCOPES:
            raise ValueError(f"cache_scope must be one of {CACHE_SCOPES}, not {scope!r}")
        options["cache_scope"] = str(scope).upper()
    cv = options.get("check_valid")
    if cv is not None:
        cv = getattr(cv, "value", cv)
        if cv not in CHECK_VALID:
            raise ValueError(f"check_valid must be one of {CHECK_VALID}, not {cv!r}")
        options["check_valid"] = cv
    return options


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
    **task_options,
):
    """Decorate a function as a redun task: `@task`, `@task()` or `@task(name=..., version=...)`.

    Options such as cache, cache_scope, check_valid, config_args, executor are
    kept on the task (not hashed)."""

    def deco(f: Callable) -> Task:
        opts = normalise_task_options(dict(task_options))
        t = Task(
            f,
            name=name,
            namespace=namespace,
            version=version,
            compat=compat,
            script=script,
            task_options_base=opts,
            hash_includes=hash_includes,
            source=source,
        )
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

        return SchedulerExpression(self, args, kwargs)


def scheduler_task(name: Optional[str] = None, namespace: Optional[str] = None, version: str = "1",
                   **task_options_base):
    """Register a function as a scheduler task (see SchedulerTask); upstream's decorator."""

    def deco(func: Callable) -> SchedulerTask:
        t = SchedulerTask(func, name=name, namespace=namespace, version=version,
                          task_options_base=normalise_task_options(dict(task_options_base)))
        _registry.add(t)
        return t

    return deco


_default_namespace: Optional[str] = None


def namespace(ns: Optional[str] = None) -> None:
    """Set the default namespace for tasks defined after this call (upstream API)."""
    global _default_namespace
    _default_namespace = ns


def compute_namespace(func: Callable, explicit: Optional[str] = None) -> str:
    """Explicit namespace=, else the module's `redun_namespace`, else the default ("")."""
    if explicit is not None:
        return explicit
    module_ns = getattr(func, "__globals__", {}).get("redun_namespace")
    if module_ns:
        return module_ns
    return _default_namespace or ""


class _TaskModule(types.ModuleType):
    """`redun.task` is both this module and the decorator (upstream exports the
    function as `redun.task`); importing the submodule makes the package
    attribute the module, so the module itself forwards calls to `task()`."""

    def __call__(self, *args, **kwargs):
        return task(*args, **kwargs)


sys.modules[__name__].__class__ = _TaskModule
