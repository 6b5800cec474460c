"""redun: workflows with git-like, content-addressed provenance.

The user-facing API (`task`, `File`, `Scheduler`, ...) is imported lazily so
that `redun log` starts fast and the object layers never load the engine.
"""

__version__ = "0.44.1"

_LAZY = {
    "task": "redun.task",
    "Task": "redun.task",
    "File": "redun.file",
    "Dir": "redun.file",
    "ShardedS3Dataset": "redun.file",
    "script": "redun.scripting",
    "Scheduler": "redun.scheduler",
    "namespace": "redun.task",
    "get_task_registry": "redun.task",
    "cond": "redun.scheduler",
    "Value": "redun.value",
    "apply_tags": "redun.scheduler",
    "get_context": "redun.context",
}


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'redun' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


__all__ = sorted(_LAZY) + ["__version__"]
