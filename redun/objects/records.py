"""The record types of the provenance Merkle DAG: the one description of their fields.

Object ids (blake3, 32 bytes) link records; upstream redun hashes (20 bytes)
are plain indexed fields. A record may only link to records that already
exist, so children are always written before parents (closure invariant).
Times are integer microseconds since the Unix epoch, UTC.

Each class lists its fields once, in FIELDS (name, kind, default, and whether
the index keeps it). The class, its decoder checks, its canonical encoding,
its links and every walker over encoded records are built from that list by
objects/schema.py; adding a field is one Field here plus a SCHEMA bump (the
field says `since=` that version and has a default; older records still decode).
"""

from typing import ClassVar

from .frozen import Factory
from .kinds import Structs
from .schema import Field, compiled, fields_in, record, struct


@struct
class Arg:
    """One argument of a CallNode: by position or by keyword, with its value.
    On the wire a 5-item list in this order."""

    FIELDS = (
        Field("position", "int?"),
        Field("key", "str?"),
        Field("value_hash", "h20"),
        Field("value", "oid"),
        Field("upstream", "h20s", ()),  # call hashes whose results fed this argument (dataflow)
    )


ARGS = Structs("args", Arg)


class Record:
    """Base: subclasses set TYPE (tag), SCHEMA (version) and FIELDS, and are built by
    @record (objects/schema.py)."""

    __slots__ = ()

    TYPE: ClassVar[str]
    SCHEMA: ClassVar[int] = 1
    FIELDS: ClassVar[tuple]

    def to_fields(self, schema: int = 0) -> dict:
        """The wire field map (unsorted) of this record as written in `schema` (default: the
        class's own version; an older one leaves out the fields added since)."""
        return {f.name: f.kind.to_wire(getattr(self, f.name)) for f in fields_in(type(self), schema or self.SCHEMA)}

    @classmethod
    def from_fields(cls, fields: dict, schema: int = 0) -> "Record":
        """The record from a decoded wire map of version `schema` (default: current), every
        field checked: DecodeError names the first bad one."""
        return compiled(cls, "decode", schema)(fields)

    def links(self) -> tuple:
        """Object ids this record references (must exist before it), in field order."""
        return compiled(type(self), "links")(self)

    def link_groups(self) -> tuple:
        """(ids to follow, ids of leaf records): the links, with those of leaf_links fields
        (Blob chunks, which link nowhere) apart so walkers need not read them."""
        return compiled(type(self), "link_groups")(self)


def full_name(namespace: str, name: str) -> str:
    """A task's full name, as upstream shows it."""
    return f"{namespace}.{name}" if namespace else name


@record
class Task(Record):
    TYPE = "task"
    FIELDS = (
        Field("hash", "h20", indexed=True),
        Field("namespace", "str", indexed=True),
        Field("name", "str", indexed=True),
        Field("source", "str"),
    )

    @property
    def fullname(self) -> str:
        return full_name(self.namespace, self.name)


@record
class Blob(Record):
    """A chunk of a large value's payload."""

    TYPE = "blob"
    FIELDS = (Field("data", "bytes"),)


@record
class Value(Record):
    """A recorded value. `format` says how the payload decodes:
    "native" (redun.objects.valuecodec codec, never pickle), "pickle" (opaque
    protocol-3 pickle; only unpickled when the user asks for the value).
    The payload is `data`, or the concatenation of `blobs` when large."""

    TYPE = "value"
    SCHEMA = 2
    FIELDS = (
        Field("hash", "h20", indexed=True),
        Field("type", "str", indexed=True),
        Field("format", "str", indexed=True),
        Field("data", "bytes", b""),
        Field("blobs", "oids", (), leaf_links=True),
        Field("size", "int", 0, indexed=True),
        Field("subvalues", "oids", (), indexed=True),
        Field("path", "str?", None, indexed=True),  # set for File-like values, for file queries
        # The value's hash as its get_hash() gave it, when that is not 40 hex digits; `hash`
        # (and every hash field that refers to this value) then holds ids.value_hash_bytes(it).
        Field("hash_text", "str?", None, since=2),
    )

    @property
    def hash_str(self) -> str:
        """The value hash as upstream writes it."""
        return self.hash_text if self.hash_text is not None else self.hash.hex()


@record
class CallNode(Record):
    TYPE = "callnode"
    FIELDS = (
        Field("hash", "h20", indexed=True),
        Field("task_hash", "h20", indexed=True),
        Field("task", "oid", indexed=True),
        Field("task_name", "str", indexed=True),
        Field("args_hash", "h20", indexed=True),
        Field("args", ARGS, indexed=True),
        Field("value_hash", "h20", indexed=True),
        Field("value", "oid", indexed=True),
        Field("children", "oids"),
        Field("timestamp", "int", indexed=True),
    )


@record
class Job(Record):
    """A finished (or failed) job. Written once, when it ends."""

    TYPE = "job"
    FIELDS = (
        Field("id", "uuid", indexed=True),
        Field("execution_id", "uuid", indexed=True),
        Field("parent_id", "uuid?", indexed=True),
        Field("task_hash", "h20", indexed=True),
        Field("task", "oid", indexed=True),
        Field("call_hash", "h20?", indexed=True),
        Field("call_node", "oid?", indexed=True),
        Field("eval_hash", "h20?", indexed=True),
        Field("eval_value", "oid?", indexed=True),  # the task's immediate return value (single-reduction cache)
        Field("start_time", "int", indexed=True),
        Field("end_time", "int?", indexed=True),
        Field("cached", "bool", indexed=True),
        Field("status", "str", indexed=True),  # DONE | CACHED | FAILED
        Field("children", "oids", ()),
        Field("tags", "strmap", Factory(dict)),
    )

    def __hash__(self):
        return hash((self.id, self.call_hash, self.start_time))


@record
class Execution(Record):
    """An execution. While running, its ref names a record with job=None;
    at the end the ref is swapped to the final record."""

    TYPE = "execution"
    SCHEMA = 2
    FIELDS = (
        Field("id", "uuid", indexed=True),
        Field("args", "str", indexed=True),  # JSON text of argv, as upstream stores it
        Field("job", "oid?", indexed=True),
        Field("start_time", "int", indexed=True),
        Field("end_time", "int?", indexed=True),
        Field("tags", "strmap", Factory(dict), indexed=True),  # key -> JSON text of the value
        # Records the execution wrote that no job links: Evaluations (cache entries of scheduler
        # tasks such as catch), Handle states and HandleRollbacks.
        Field("records", "oids", (), since=2),
    )

    def __hash__(self):
        return hash((self.id, self.job, self.end_time))


@record
class Tag(Record):
    """A tag (key = JSON value) on an entity: entity_type Execution, Job, CallNode, Task,
    Value, or Null (a delete marker). hash is upstream's tag_hash; parents are the tags it
    supersedes (an update or delete), so a tag is current while no tag names it as parent.
    An execution's own run-time tags live in Execution.tags instead; tags of everything else
    are Tag records, reached through a TagSet."""

    TYPE = "tag"
    FIELDS = (
        Field("hash", "h20", indexed=True),
        Field("entity_type", "str", indexed=True),
        Field("entity_id", "str", indexed=True),
        Field("key", "str", indexed=True),
        Field("value", "str", indexed=True),  # JSON text
        Field("parents", "h20s", (), indexed=True),
    )


@record
class TagSet(Record):
    """Tag records written together (one run's, one `redun tag` command's, one import's).
    A ref `tags/<name>` names it: that keeps its tags (gc) and is what push/pull move."""

    TYPE = "tagset"
    FIELDS = (
        Field("tags", "oids"),  # Tag records
        Field("values", "oids", ()),  # Values the tags name (a tagged value, a context dict), kept with them
    )


@record
class Evaluation(Record):
    """A cache entry that no job holds (upstream's Evaluation row): the value an evaluation
    reduces to, set by a scheduler task. A catch records what it resolved to (its expression,
    or the recovery call once it recovered), so a later run skips a failure it handled."""

    TYPE = "evaluation"
    FIELDS = (
        Field("eval_hash", "h20", indexed=True),
        Field("task_hash", "h20"),
        Field("args_hash", "h20"),
        Field("value", "oid", indexed=True),
        Field("timestamp", "int", indexed=True),
    )


@record
class Handle(Record):
    """A state of an upstream Handle (a value standing for external state): its hash,
    fullname and key, the recorded Handle value, and the states it was derived from
    (forked into a job, returned by one, merged)."""

    TYPE = "handle"
    FIELDS = (
        Field("hash", "h20", indexed=True),
        Field("fullname", "str", indexed=True),
        Field("key", "str", indexed=True),
        Field("value", "oid", indexed=True),
        Field("parents", "h20s", (), indexed=True),
    )


@record
class HandleRollback(Record):
    """A job ran again from handle state `hash`: the states derived from it before (listed)
    are no longer valid, so cached results holding them are recomputed (upstream's rollback)."""

    TYPE = "handle_rollback"
    FIELDS = (
        Field("hash", "h20"),
        Field("timestamp", "int"),
        Field("invalidated", "h20s", (), indexed=True),
    )


RECORD_TYPES: dict = {c.TYPE: c for c in (Task, Blob, Value, CallNode, Job, Execution, Tag, TagSet, Evaluation,
                                          Handle, HandleRollback)}
"""Record class by type tag: what decoders and walkers look records up in."""
