"""Task namespaces (upstream's `redun.namespace`).

A task's namespace is, in order: the `namespace=` given to `@task`, the
`redun_namespace` variable of the module defining it, or the current
namespace set with `namespace()` (empty by default).
"""

import sys
import types
from typing import Any, Optional

_current_namespace = ""


def namespace(_namespace: Optional[str] = None) -> None:
    """Set the namespace of tasks defined after this call; None unsets it."""
    global _current_namespace
    _current_namespace = _namespace or ""


def get_current_namespace() -> str:
    return _current_namespace


def compute_namespace(obj: Any, namespace: Optional[str] = None) -> str:
    """Explicit namespace (even ""), else the defining module's `redun_namespace`, else the current one."""
    if namespace is None:
        module = sys.modules.get(getattr(obj, "__module__", None) or "")
        if module is not None:
            namespace = getattr(module, "redun_namespace", None)
        else:  # a function whose module is not imported (e.g. exec'd code): look at its globals
            namespace = getattr(obj, "__globals__", {}).get("redun_namespace")
    if namespace is not None:
        return namespace
    return get_current_namespace()


class _NamespaceModule(types.ModuleType):
    """`redun.namespace` is upstream's function; once this module is imported, the package
    attribute of that name is the module, so the module itself forwards calls to it."""

    def __call__(self, _namespace: Optional[str] = None) -> None:
        namespace(_namespace)


sys.modules[__name__].__class__ = _NamespaceModule
