"""MemoryRefs: the ref contract (contract.py) in a dict, for tests and in-memory views."""

import threading

from ..errors import InvalidIdError
from .contract import ANY, RefStore, check_ref_value, conflict_error, check_ref_name


class MemoryRefs(RefStore):
    def __init__(self):
        self._refs: dict = {}
        self._lock = threading.Lock()

    def get(self, name):
        check_ref_name(name)
        return self._refs.get(name)

    def set(self, name, new, expected=ANY):
        check_ref_name(name)
        check_ref_value(name, new)
        with self._lock:
            for other in self._refs:
                if other.startswith(name + "/") or name.startswith(other + "/"):
                    raise InvalidIdError(f"ref '{name}' clashes with existing ref '{other}'")
            cur = self._refs.get(name)
            if expected is not ANY and cur != expected:
                raise conflict_error(name, expected, cur)
            self._refs[name] = new

    def delete(self, name, expected=ANY):
        check_ref_name(name)
        with self._lock:
            cur = self._refs.get(name)
            if expected is not ANY and cur != expected:
                raise conflict_error(name, expected, cur)
            self._refs.pop(name, None)

    def list(self, prefix=""):
        with self._lock:
            items = sorted(self._refs.items())
        for name, oid in items:
            if name.startswith(prefix):
                yield name, oid
