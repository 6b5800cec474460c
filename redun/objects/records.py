"""The record types of the provenance Merkle DAG, as frozen slotted classes.

Object ids (blake3, 32 bytes) link records; upstream redun hashes (20 bytes)
are plain indexed fields. A record may only link to records that already
exist, so children are always written before parents (closure invariant).
Times are integer microseconds since the Unix epoch, UTC.

Each class declares FIELDS as (name, kind) pairs; `from_fields` checks every
kind so that decoding hostile bytes fails with DecodeError, not a crash later.
"""

from typing import Any, ClassVar, Optional

from ..errors import DecodeError
from .frozen import Factory, frozen

Oid = bytes


def _check(kind: str, value: Any, name: str) -> Any:
    optional = kind.endswith("?")
    if optional:
        if value is None:
            return None
        kind = kind[:-1]
    check = _KINDS[kind]
    return check(value, name)


def _bin(n: int):
    def check(v, name):
        if not isinstance(v, bytes) or len(v) != n:
            raise DecodeError(f"field {name!r} must be {n} bytes")
        return v

    return check


def _typed(t, label):
    def check(v, name):
        if type(v) is not t:
            raise DecodeError(f"field {name!r} must be {label}")
        return v

    return check


def _list_of(item):
    def check(v, name):
        if not isinstance(v, (list, tuple)):
            raise DecodeError(f"field {name!r} must be a list")
        return tuple(item(x, name) for x in v)

    return check


def _strmap(v, name):
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()):
        raise DecodeError(f"field {name!r} must map text to text")
    return dict(v)


def _arg(v, name):
    # [position|None, key|None, value_hash(20), value oid(32), [upstream call hashes]]
    if not isinstance(v, (list, tuple)) or len(v) != 5:
        raise DecodeError(f"field {name!r}: each argument must be a 5-item list")
    pos, key, vhash, voi, ups = v
    if pos is not None and type(pos) is not int:
        raise DecodeError(f"field {name!r}: argument position must be an int or nil")
    if key is not None and not isinstance(key, str):
        raise DecodeError(f"field {name!r}: argument key must be text or nil")
    return Arg(pos, key, _bin(20)(vhash, name), _bin(32)(voi, name), _list_of(_bin(20))(ups, name))


_KINDS = {
    "h20": _bin(20),
    "oid": _bin(32),
    "uuid": _bin(16),
    "str": _typed(str, "text"),
    "int": _typed(int, "an integer"),
    "bool": _typed(bool, "a boolean"),
    "bytes": _typed(bytes, "bytes"),
    "oids": _list_of(_bin(32)),
    "h20s": _list_of(_bin(20)),
    "strmap": _strmap,
    "args": _list_of(_arg),
}


@frozen
class Arg:
    """One argument of a CallNode: by position or by keyword, with its value."""

    position: Optional[int]
    key: Optional[str]
    value_hash: bytes
    value: Oid
    upstream: tuple = ()  # call hashes whose results fed this argument (dataflow)

    def to_list(self) -> list:
        return [self.position, self.key, self.value_hash, self.value, list(self.upstream)]


_COMPILED: dict = {}  # record class -> ((field, checker, optional), ...)


class Record:
    """Base: subclasses set TYPE (tag), SCHEMA (version) and FIELDS."""

    __slots__ = ()

    TYPE: ClassVar[str]
    SCHEMA: ClassVar[int] = 1
    FIELDS: ClassVar[tuple]

    def to_fields(self) -> dict:
        out = {}
        for name, kind in self.FIELDS:
            v = getattr(self, name)
            if kind == "args":
                v = [a.to_list() for a in v]
            elif isinstance(v, tuple):
                v = list(v)
            out[name] = v
        return out

    @classmethod
    def from_fields(cls, fields: dict) -> "Record":
        compiled = _COMPILED.get(cls)
        if compiled is None:
            compiled = _COMPILED[cls] = tuple(
                (name, _KINDS[kind.rstrip("?")], kind.endswith("?")) for name, kind in cls.FIELDS
            )
        if len(fields) != len(compiled):
            extra = set(fields) - {n for n, _, _ in compiled}
            if extra:
                raise DecodeError(f"{cls.TYPE} record has unknown fields {sorted(extra, key=str)}")
        kwargs = {}
        for name, check, optional in compiled:
            try:
                v = fields[name]
            except KeyError:
                raise DecodeError(f"{cls.TYPE} record lacks field {name!r}") from None
            kwargs[name] = None if (optional and v is None) else check(v, name)
        return cls(**kwargs)

    def links(self) -> tuple:
        """Object ids this record references (must exist before it)."""
        return ()


@frozen
class Task(Record):
    TYPE = "task"
    FIELDS = (("hash", "h20"), ("namespace", "str"), ("name", "str"), ("source", "str"))
    hash: bytes
    namespace: str
    name: str
    source: str

    @property
    def fullname(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name


@frozen
class Blob(Record):
    """A chunk of a large value's payload."""

    TYPE = "blob"
    FIELDS = (("data", "bytes"),)
    data: bytes


@frozen
class Value(Record):
    """A recorded value. `format` says how the payload decodes:
    "native" (redun.objects.valuecodec codec, never pickle), "pickle" (opaque
    protocol-3 pickle; only unpickled when the user asks for the value).
    The payload is `data`, or the concatenation of `blobs` when large."""

    TYPE = "value"
    FIELDS = (
        ("hash", "h20"),
        ("type", "str"),
        ("format", "str"),
        ("data", "bytes"),
        ("blobs", "oids"),
        ("size", "int"),
        ("subvalues", "oids"),
        ("path", "str?"),
    )
    hash: bytes
    type: str
    format: str
    data: bytes = b""
    blobs: tuple = ()
    size: int = 0
    subvalues: tuple = ()
    path: Optional[str] = None  # set for File-like values, for file queries

    def links(self) -> tuple:
        return tuple(self.blobs) + tuple(self.subvalues)


@frozen
class CallNode(Record):
    TYPE = "callnode"
    FIELDS = (
        ("hash", "h20"),
        ("task_hash", "h20"),
        ("task", "oid"),
        ("task_name", "str"),
        ("args_hash", "h20"),
        ("args", "args"),
        ("value_hash", "h20"),
        ("value", "oid"),
        ("children", "oids"),
        ("timestamp", "int"),
    )
    hash: bytes
    task_hash: bytes
    task: Oid
    task_name: str
    args_hash: bytes
    args: tuple
    value_hash: bytes
    value: Oid
    children: tuple
    timestamp: int

    def links(self) -> tuple:
        return (self.task, self.value) + tuple(a.value for a in self.args) + tuple(self.children)


@frozen
class Job(Record):
    """A finished (or failed) job. Written once, when it ends."""

    TYPE = "job"
    FIELDS = (
        ("id", "uuid"),
        ("execution_id", "uuid"),
        ("parent_id", "uuid?"),
        ("task_hash", "h20"),
        ("task", "oid"),
        ("call_hash", "h20?"),
        ("call_node", "oid?"),
        ("eval_hash", "h20?"),
        ("eval_value", "oid?"),
        ("start_time", "int"),
        ("end_time", "int?"),
        ("cached", "bool"),
        ("status", "str"),
        ("children", "oids"),
        ("tags", "strmap"),
    )
    id: bytes
    execution_id: bytes
    parent_id: Optional[bytes]
    task_hash: bytes
    task: Oid
    call_hash: Optional[bytes]
    call_node: Optional[Oid]
    eval_hash: Optional[bytes]
    eval_value: Optional[Oid]  # the task's immediate return value (single-reduction cache)
    start_time: int
    end_time: Optional[int]
    cached: bool
    status: str  # DONE | CACHED | FAILED
    children: tuple = ()
    tags: dict = Factory(dict)

    def __hash__(self):
        return hash((self.id, self.call_hash, self.start_time))

    def links(self) -> tuple:
        out = [self.task]
        if self.call_node is not None:
            out.append(self.call_node)
        if self.eval_value is not None:
            out.append(self.eval_value)
        return tuple(out) + tuple(self.children)


@frozen
class Execution(Record):
    """An execution. While running, its ref names a record with job=None;
    at the end the ref is swapped to the final record."""

    TYPE = "execution"
    FIELDS = (
        ("id", "uuid"),
        ("args", "str"),
        ("job", "oid?"),
        ("start_time", "int"),
        ("end_time", "int?"),
        ("tags", "strmap"),
    )
    id: bytes
    args: str  # JSON text of argv, as upstream stores it
    job: Optional[Oid]
    start_time: int
    end_time: Optional[int]
    tags: dict = Factory(dict)  # key -> JSON text of the value

    def __hash__(self):
        return hash((self.id, self.job, self.end_time))

    def links(self) -> tuple:
        return () if self.job is None else (self.job,)


@frozen
class Tag(Record):
    """An upstream tag on a non-execution entity, kept for import/export fidelity."""

    TYPE = "tag"
    FIELDS = (
        ("hash", "h20"),
        ("entity_type", "str"),
        ("entity_id", "str"),
        ("key", "str"),
        ("value", "str"),
        ("parents", "h20s"),
    )
    hash: bytes
    entity_type: str
    entity_id: str
    key: str
    value: str  # JSON text
    parents: tuple = ()


RECORD_TYPES: dict = {c.TYPE: c for c in (Task, Blob, Value, CallNode, Job, Execution, Tag)}
