"""Click commands, one module per area (redun/cli/group.py lists them).

Light on purpose (the console entry point is redun/cli/entry.py): the names upstream
users import from `redun.cli` are loaded on first use.
"""

_LAZY = {
    "RedunClient": ("redun.cli.client", "RedunClient"),
    "main": ("redun.cli.entry", "main"),
}


def __getattr__(name):
    spec = _LAZY.get(name)
    if spec is None:
        raise AttributeError(f"module 'redun.cli' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(spec[0]), spec[1])
    globals()[name] = value
    return value
