"""codec.encode for the three records a run writes per job (Job, Value, CallNode),
with each field map written out instead of walked: the run's hot path.
Byte-identical to codec.encode (tests/test_codec.py checks it on generated records).
"""

import msgpack

from .records import CallNode, Job, Value

_PACK = msgpack.Packer(use_bin_type=True, strict_types=True, use_single_float=False)


def encode_job(r: Job) -> bytes:
    """codec.encode(r) for a Job, without the generic field walk (sorted keys, lists)."""
    fields = {
        "cached": r.cached,
        "call_hash": r.call_hash,
        "call_node": r.call_node,
        "children": list(r.children),
        "end_time": r.end_time,
        "eval_hash": r.eval_hash,
        "eval_value": r.eval_value,
        "execution_id": r.execution_id,
        "id": r.id,
        "parent_id": r.parent_id,
        "start_time": r.start_time,
        "status": r.status,
        "tags": {k: r.tags[k] for k in sorted(r.tags)},
        "task": r.task,
        "task_hash": r.task_hash,
    }
    return _PACK.pack(["job", Job.SCHEMA, fields])


def encode_value(r: Value) -> bytes:
    """codec.encode(r) for a Value (hot path)."""
    return _PACK.pack(["value", Value.SCHEMA, {
        "blobs": list(r.blobs), "data": r.data, "format": r.format, "hash": r.hash, "path": r.path,
        "size": r.size, "subvalues": list(r.subvalues), "type": r.type,
    }])


def encode_call_node(r: CallNode) -> bytes:
    """codec.encode(r) for a CallNode (hot path)."""
    return _PACK.pack(["callnode", CallNode.SCHEMA, {
        "args": [[a.position, a.key, a.value_hash, a.value, list(a.upstream)] for a in r.args],
        "args_hash": r.args_hash, "children": list(r.children), "hash": r.hash, "task": r.task,
        "task_hash": r.task_hash, "task_name": r.task_name, "timestamp": r.timestamp, "value": r.value,
        "value_hash": r.value_hash,
    }])


FAST_ENCODERS = {Job: encode_job, Value: encode_value, CallNode: encode_call_node}
