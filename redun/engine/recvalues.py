"""Helpers of the recorder: values read back from records, the File-likes recorded as
subvalues, and the in-memory cache index of a scheduler without a repository."""

import json
from typing import Any

from ..objects.records import CallNode, Job, Tag


def _hydrate(obj: Any) -> Any:
    """Replace FileRefs from native decoding with live File/Dir objects (for validity checks)."""
    from ..objects.valuecodec import FileRef

    t = type(obj)
    if t is FileRef:
        from ..file import file_from_record

        f = file_from_record(obj.type_name, obj.path, obj.hash)
        return obj if f is None else f
    if t is list:
        return [_hydrate(x) for x in obj]
    if t is tuple:
        return tuple(_hydrate(x) for x in obj)
    if t is dict:
        return {_hydrate(k): _hydrate(v) for k, v in obj.items()}
    if t is set:
        return {_hydrate(x) for x in obj}
    return obj


def _file_values(obj: Any, out: list) -> None:
    """File-like objects (and Tasks) nested anywhere in a container: recorded as subvalues."""
    stack = [obj]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is list or t is tuple or t is set or t is frozenset:
            stack.extend(v)
        elif t is dict:
            stack.extend(v.values())
            stack.extend(v.keys())
        elif t in (str, int, float, bool, bytes) or v is None:
            continue
        elif hasattr(t, "__redun_file__") or t.__name__ == "Task":
            out.append(v)


class ValueInfo:
    __slots__ = ("hash", "type", "format", "hash_text")

    def __init__(self, hash: bytes, type: str, format: str, hash_text=None):
        self.hash, self.type, self.format, self.hash_text = hash, type, format, hash_text

    @property
    def hash_str(self) -> str:
        """The value hash as the engine (and upstream) computes with it."""
        return self.hash_text if self.hash_text is not None else self.hash.hex()


class _MemoryIndex:
    """find_eval / find_call_node over this process's records (no repository)."""

    def __init__(self):
        self.evals: dict = {}
        self.calls: dict = {}
        self.call_keys: dict = {}  # call_hash -> (task_hash, args_hash, oid)
        self.calls_in_context: dict = {}  # (task_hash, args_hash, context hash hex) -> oid

    def ingest_many(self, pairs) -> None:
        for oid, rec in pairs:
            if type(rec) is Job and rec.eval_value is not None and rec.status != "FAILED":
                self.evals[rec.eval_hash] = (oid, rec.eval_value, rec.call_hash, rec.call_node)
            elif type(rec) is CallNode:
                self.calls[(rec.task_hash, rec.args_hash)] = oid
                self.call_keys[rec.hash] = (rec.task_hash, rec.args_hash, oid)
            elif type(rec) is Tag and rec.key == "redun.context":
                call = self.call_keys.get(bytes.fromhex(rec.entity_id))
                if call is not None:
                    self.calls_in_context[(call[0], call[1], json.loads(rec.value))] = call[2]

    def find_call_node_in_context(self, task_hash: bytes, args_hash: bytes, context_hash: str):
        return self.calls_in_context.get((task_hash, args_hash, context_hash))

    def commit(self) -> None:
        pass

    def find_eval(self, eval_hash: bytes):
        hit = self.evals.get(eval_hash)
        return hit[:2] if hit else None

    def find_evals(self, eval_hashes) -> dict:
        return {h: self.evals[h] for h in eval_hashes if h in self.evals}

    def find_call_node(self, task_hash, args_hash, execution_id=None):
        return self.calls.get((task_hash, args_hash))
