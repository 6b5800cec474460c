"""Protocol-3 pickles in upstream's shape, built without importing the engine.

Values: redun.objects.valuecodec does the work (`native_from_pickle` keeps a
pickle as native only if re-pickling gives back the same bytes;
`pickle_plain` writes FileRefs as upstream's `redun.file` classes).

Tasks: upstream exports a task as a Value whose data is the pickled
`redun.task.Task` (state: name, namespace, version, hash, compat, script,
task_options, export_options). We pickle a small stand-in class with the
C pickler and rewrite its one GLOBAL opcode (`c<module>\\n<name>\\n`; protocol
3 writes a class once, then memo lookups) to `redun.task\\nTask`. If the
marker text also occurs inside the data, the pure-Python pickler writes the
upstream name directly instead.
"""

import io
import pickle

from ..objects import valuecodec as V

PROTOCOL = 3
_MODULE = __name__


class _UpstreamTask:
    """Stand-in for redun.task.Task while pickling."""

    __slots__ = ("_state",)
    marker = f"c{_MODULE}\n_UpstreamTask\n".encode()
    target = b"credun.task\nTask\n"

    def __init__(self, state: dict):
        self._state = state

    def __getstate__(self):
        return self._state


class _SlowPickler(pickle._Pickler):
    def save_global(self, obj, name=None):
        if obj is _UpstreamTask:
            self.write(obj.target)
            self.memoize(obj)
            return
        super().save_global(obj, name)


def task_pickle(name: str, namespace: str, task_hash: str) -> bytes:
    """The pickle upstream stores for a task with default version/compat/options."""
    task = _UpstreamTask({
        "name": name,
        "namespace": namespace,
        "version": None,
        "hash": task_hash,
        "compat": [],
        "script": False,
        "task_options": {},
        "export_options": set(),
    })
    data = pickle.dumps(task, protocol=PROTOCOL)
    if data.count(_UpstreamTask.marker) == 1:
        return data.replace(_UpstreamTask.marker, _UpstreamTask.target)
    buf = io.BytesIO()
    _SlowPickler(buf, protocol=PROTOCOL).dump(task)
    return buf.getvalue()


def native_from_pickle(data: bytes):
    """Native bytes for a plain upstream pickle whose bytes we can reproduce exactly, else None.

    Read by the bounded reader (never CPython's unpicklers: the bytes come from
    an import file); re-pickling the decoded native value must give `data`."""
    return V.native_from_pickle(data, exact=True)


def pickle_from_native(native: bytes) -> bytes:
    """Upstream pickle bytes of a native value."""
    return V.pickle_plain(V.decode_native(native))
