"""Content-addressed objects: ids, records, canonical codec, stores."""

from .codec import decode, encode, encode_with_id
from .ids import object_id, parse_oid
from .records import Arg, Blob, CallNode, Execution, Job, Record, Tag, TagSet, Task, Value

__all__ = [
    "Arg", "Blob", "CallNode", "Execution", "Job", "Record", "Tag", "TagSet", "Task", "Value",
    "decode", "encode", "encode_with_id", "object_id", "parse_oid",
]
