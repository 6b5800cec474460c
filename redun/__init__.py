"""redun: workflows with git-like, content-addressed provenance.

The user-facing API (`task`, `File`, `Scheduler`, ...) has upstream 0.44.1's
names and import paths. It is imported lazily so that `redun log` starts fast
and the object layers never load the engine.
"""

__version__ = "0.44.1"
version = __version__

_LAZY = {
    "namespace": "redun.namespace",
    "get_current_namespace": "redun.namespace",
    "run": "redun.scheduler",
    "task": "redun.task",
    "Task": "redun.task",
    "PartialTask": "redun.task",
    "get_task_registry": "redun.task",
    "File": "redun.file",
    "Dir": "redun.file",
    "ShardedS3Dataset": "redun.file",
    "script": "redun.scripting",
    "Scheduler": "redun.scheduler",
    "get_current_scheduler": "redun.scheduler",
    "set_current_scheduler": "redun.scheduler",
    "cond": "redun.scheduler",
    "catch": "redun.scheduler",
    "throw": "redun.scheduler",
    "apply_tags": "redun.scheduler",
    "merge_handles": "redun.scheduler",
    "Handle": "redun.handle",
    "get_context": "redun.context",
    "register_executor": "redun.executors.base",
    "LocalExecutor": "redun.executors.local",
    "Value": "redun.value",
}


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'redun' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


__all__ = [
    "Dir", "File", "Handle", "PartialTask", "Scheduler", "ShardedS3Dataset", "Task", "apply_tags", "catch", "cond",
    "get_current_namespace", "get_current_scheduler", "get_task_registry", "merge_handles", "namespace", "run",
    "script", "set_current_scheduler", "task", "throw", "version", "__version__",
]
