"""The executor interface and registry (upstream's `redun.executors.base` API).

An executor receives jobs from the scheduler's thread (`submit(job)`, or
`submit_script(job)` for script tasks), runs `job.task.func(*args, **kwargs)`
with `args, kwargs = job.args` wherever it likes, and reports back by calling
`scheduler.done_job(job, result)` or `scheduler.reject_job(job, error)`, from
any thread. It never records anything: the scheduler alone writes records, so
where a job ran does not change its provenance. `start()` is called before a
run's first job and `stop()` after its last.

Executors are named; a job runs on `job.get_option("executor")` or "default".
They are built from `[executors.NAME]` sections of redun.ini by their `type`
(registered with `register_executor`), or added with `Scheduler.add_executor`.
"""

import importlib
from typing import Any, Callable, Optional

from ..errors import ConfigError


class ExecutorError(Exception):
    """An executor cannot run a job (the job fails with it)."""


class Executor:
    """Base class of executors; see the module docstring for the contract."""

    def __init__(self, name: str, scheduler=None, config=None):
        self.name = name
        self._scheduler = scheduler

    def set_scheduler(self, scheduler) -> None:
        self._scheduler = scheduler

    def supports_async(self) -> bool:
        return False

    def log(self, *messages: Any, **kwargs) -> None:
        self._scheduler.log(f"Executor[{self.name}]:", *messages, **kwargs)

    def submit(self, job) -> None:
        self._scheduler.reject_job(job, ExecutorError(f"Executor {type(self).__name__} does not support "
                                                      "submitting tasks."))

    def submit_script(self, job) -> None:
        self._scheduler.reject_job(job, ExecutorError(f"Executor {type(self).__name__} does not support "
                                                      "submitting script tasks."))

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def scratch_root(self) -> str:
        raise NotImplementedError(f"Executor {type(self).__name__} has no scratch directory.")


class _Provider:
    """An executor class, imported only when first used (registered by dotted name)."""

    def __init__(self, cls):
        self._cls = cls

    @property
    def executor_class(self) -> type:
        if isinstance(self._cls, str):
            module, _, name = self._cls.rpartition(".")
            self._cls = getattr(importlib.import_module(module), name)
        return self._cls


_PROVIDERS: dict = {}


def register_executor(executor_name: str, executor_class_name: Optional[str] = None) -> Callable:
    """Register an executor type: as a class decorator, `@register_executor("mine")`, or by
    dotted class name, `register_executor("mine", "my_module.MyExecutor")`."""
    if executor_class_name is not None:
        _PROVIDERS[executor_name] = _Provider(executor_class_name)
        return _PROVIDERS[executor_name]

    def deco(cls):
        _PROVIDERS[executor_name] = _Provider(cls)
        return cls

    return deco


# Upstream's executor types that need cloud services or container runtimes this build does not
# ship; naming one in redun.ini is an error at start-up, never a silent local run.
NOT_IN_THIS_BUILD = ("aws_batch", "aws_glue", "docker", "k8s", "gcp_batch")


def get_executor_class(executor_name: str, required: bool = True) -> Optional[type]:
    provider = _PROVIDERS.get(executor_name)
    if provider is None:
        if required:
            raise ExecutorError(_unknown_type_message(executor_name))
        return None
    return provider.executor_class


def _unknown_type_message(type_name: str, where: str = "") -> str:
    supported = ", ".join(sorted(_PROVIDERS))
    if type_name in NOT_IN_THIS_BUILD:
        return (f"Executor type '{type_name}'{where} is not supported by this build of redun "
                f"(supported types: {supported}).")
    return f"Unknown executor type '{type_name}'{where}; supported types: {supported}."


def executors_from_config(config) -> dict:
    """{name: Executor} for every [executors.NAME] section of a Config (type required)."""
    out = {}
    if config is None or not hasattr(config, "subsections"):
        return out
    for name in config.subsections("executors"):
        section = config.section(f"executors.{name}")
        type_name = section.get("type")
        where = f" in [executors.{name}] of {config.path or 'the config'}"
        if not type_name:
            raise ConfigError(f"[executors.{name}] needs a `type` (e.g. type = local){where}.")
        provider = _PROVIDERS.get(type_name)
        if provider is None:
            raise ConfigError(_unknown_type_message(type_name, where))
        out[name] = provider.executor_class(name, config=section)
    return out


def section_value(config, key: str, default=None):
    """A key of an executor's config section (a dict or upstream's SectionProxy), or default."""
    if config is None:
        return default
    value = config.get(key)
    return default if value is None else value


def section_int(config, key: str, default: int, name: str = "") -> int:
    raw = section_value(config, key)
    if raw is None:
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"[executors.{name}] {key} must be an integer, not {raw!r}") from None


register_executor("local", "redun.executors.local.LocalExecutor")
register_executor("alias", "redun.executors.alias.AliasExecutor")
register_executor("dask", "redun.executors.dask.DaskExecutor")
