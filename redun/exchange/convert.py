"""Pure conversions between upstream export objects and our records.

Import direction (`*_record`): takes a validated line object (lines.py) and
the object ids of the records it links to (already written: children
first), returns our record. Export direction (`*_text`): takes our record
plus the upstream ids of what it links to, returns upstream's line text
(keys in upstream's order, as json.dumps writes them). No I/O here; drivers
are importer.py/exporter.py.

Mapping (see docs/exchange.md):
- Value with subtype Task -> Task record; a Task exports as a Value with
  subtype Task and a reconstructed pickle (default version/options).
- Value data: plain pickles become "native" only if re-pickling reproduces
  the bytes exactly; otherwise kept as "pickle" bytes. Empty data (upstream
  value store) stays an empty pickle payload.
- CallNode args: key "0", "1"... is a position, anything else a keyword (as
  upstream's import); arg_hash is checked against hash_arg and recomputed on
  export.
- Execution start/end = its root job's; Execution tags fold into
  Execution.tags (key -> JSON text) when their tag_hash recomputes exactly.
"""

import base64
import hashlib
import json
from json.encoder import encode_basestring_ascii as _q  # json.dumps' own (C) string encoder
from typing import Optional

from ..hashing import hash_tag, json_dumps
from ..objects.records import Arg, CallNode, Execution, Job, Tag, Task, Value
from . import pickle3
from .lines import LineError, decode_data, format_time, parse_time

PICKLE_FORMAT = "application/python-pickle"
ERROR_VALUE_TYPE = "redun.ErrorValue"
_H = bytes.fromhex


def uuid_str(raw: bytes) -> str:
    """16 bytes -> canonical uuid text (same as str(uuid.UUID(bytes=raw)), faster)."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _time(obj: dict, key: str) -> Optional[int]:
    """µs since the epoch of a timestamp field (parsed by lines.parse_obj, else here)."""
    us = obj.get("_" + key, False)
    if us is not False:
        return us
    text = obj[key]
    return None if text is None else parse_time(text, key)


def _uuid(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else bytes.fromhex(text.replace("-", ""))


# -- import: upstream object -> record ------------------------------------------
def is_task_value(obj: dict) -> bool:
    sub = obj.get("subtype")
    return bool(sub) and sub.get("_type") == "Task"


def task_record(obj: dict) -> Task:
    sub = obj["subtype"]
    return Task(_H(obj["value_hash"]), sub["namespace"], sub["name"], sub["source"])


def value_payload(obj: dict) -> tuple:
    """(format, payload bytes) for an upstream Value line. A non-pickle upstream
    format (rare) is kept verbatim as our format, payload untouched."""
    data = obj["_data"] if "_data" in obj else decode_data(obj["data"])
    if obj["format"] != PICKLE_FORMAT:
        return obj["format"], data
    if data:
        native = pickle3.native_from_pickle(data)
        if native is not None:
            return "native", native
    return "pickle", data


def value_record(obj: dict, fmt: str, payload_fields: dict, subvalue_oids) -> Value:
    sub = obj.get("subtype")
    path = sub["path"] if sub and sub.get("_type") == "File" else None
    return Value(
        hash=_H(obj["value_hash"]),
        type=obj["type"],
        format=fmt,
        data=payload_fields["data"],
        blobs=tuple(payload_fields["blobs"]),
        size=payload_fields["size"],
        subvalues=tuple(subvalue_oids),
        path=path,
    )


def arg_hash(call_hash: str, position: Optional[int], key: Optional[str], value_hash: str) -> str:
    """hashing.hash_arg specialised for its five strings (hot in import and export;
    tests check it against hash_arg)."""
    c, p, k, v = call_hash.encode(), str(position).encode(), str(key).encode(), value_hash.encode()
    return hashlib.sha512(b"l8:Argument%d:%s%d:%s%d:%s%d:%se" % (len(c), c, len(p), p, len(k), k, len(v), v)
                          ).digest()[:20].hex()  # = hexdigest()[:40], which costs more


def split_arg_key(call_hash: str, name: str, a: dict) -> tuple:
    """(position, key) of one CallNode argument, checked against its arg_hash."""
    if name.isdigit():
        guess, other = (int(name), None), (None, name)
    else:
        guess, other = (None, name), None
    for pos, key in (guess, other):
        if arg_hash(call_hash, pos, key, a["value_hash"]) == a["arg_hash"]:
            return pos, key
        if other is None:
            break
    raise LineError(
        f"argument {name!r}: arg_hash {a['arg_hash']} does not match the call_hash, "
        "position/key and value_hash (corrupt or edited export)"
    )


def call_node_record(obj: dict, task_oid: bytes, value_oid: bytes, arg_value_oids: dict,
                     child_oids, positions=None) -> CallNode:
    """positions: the (position, key) of each argument if already split (split_arg_key)."""
    args = []
    for i, (name, a) in enumerate(obj["args"].items()):
        pos, key = positions[i] if positions is not None else split_arg_key(obj["call_hash"], name, a)
        args.append(Arg(pos, key, _H(a["value_hash"]), arg_value_oids[a["value_hash"]],
                        tuple(map(_H, a["upstream"]))))
    return CallNode(
        hash=_H(obj["call_hash"]),
        task_hash=_H(obj["task_hash"]),
        task=task_oid,
        task_name=obj["task_name"],
        args_hash=_H(obj["args_hash"]),
        args=tuple(args),
        value_hash=_H(obj["value_hash"]),
        value=value_oid,
        children=tuple(child_oids),
        timestamp=_time(obj, "timestamp"),
    )


def job_status(end_time, cached: bool, result_type: Optional[str]) -> str:
    """Upstream's derived status: FAILED for an ErrorValue result, RUNNING without end."""
    if result_type == ERROR_VALUE_TYPE:
        return "FAILED"
    if end_time is None:
        return "RUNNING"
    return "CACHED" if cached else "DONE"


def job_record(obj: dict, task_oid: bytes, call_oid: Optional[bytes], child_oids,
               result_type: Optional[str], eval_value_oid: Optional[bytes] = None) -> Job:
    """eval_value_oid: the Value a Job line's `eval_value_hash` names (import-upstream)."""
    end_us = _time(obj, "end_time")
    return Job(
        id=_uuid(obj["id"]),
        execution_id=_uuid(obj["execution_id"]),
        parent_id=_uuid(obj["parent_id"]),
        task_hash=_H(obj["task_hash"]),
        task=task_oid,
        call_hash=None if obj["call_hash"] is None else _H(obj["call_hash"]),
        call_node=call_oid,
        # upstream exports no evaluations; import-upstream adds them from upstream's evaluation table
        eval_hash=None if obj.get("eval_hash") is None else _H(obj["eval_hash"]),
        eval_value=eval_value_oid,
        start_time=_time(obj, "start_time"),
        end_time=end_us,
        cached=obj["cached"],
        status=job_status(end_us, obj["cached"], result_type),
        children=tuple(child_oids),
        tags={},
    )


def tag_folds(obj: dict) -> bool:
    """True if an Execution tag can live in Execution.tags and export back identically."""
    return (
        obj["entity_type"] == "Execution"
        and not obj["parents"]
        and hash_tag(obj["entity_id"], obj["key"], obj["value"], []) == obj["tag_hash"]
    )


def execution_record(obj: dict, job_oid: bytes, start_time: int, end_time: Optional[int],
                     tags: dict) -> Execution:
    """start/end are the root job's (upstream stores no execution times)."""
    return Execution(
        id=_uuid(obj["id"]),
        args=obj["args"],
        job=job_oid,
        start_time=start_time,
        end_time=end_time,
        tags=dict(tags),
    )


def tag_record(obj: dict) -> Tag:
    return Tag(
        hash=_H(obj["tag_hash"]),
        entity_type=obj["entity_type"],
        entity_id=obj["entity_id"],
        key=obj["key"],
        value=json_dumps(obj["value"]),
        parents=tuple(_H(p) for p in obj["parents"]),
    )


# -- export: record -> upstream line text ------------------------------------------
# Each *_text function writes the line json.dumps would write for upstream's object
# (default separators, ASCII escapes, keys in lines.KEY_ORDER) without building the dict:
# texts from the user go through the json module's own string encoder; ids, hex hashes,
# timestamps and base64 need no escaping. tests/test_exchange.py checks every line
# against json.dumps of its json.loads.
def _strs(texts) -> str:
    """A JSON list of plain strings (ids, hex hashes: nothing to escape)."""
    return "[" + ", ".join(f'"{t}"' for t in texts) + "]" if texts else "[]"


def _quoted_list(texts) -> str:
    return "[" + ", ".join(_q(t) for t in texts) + "]" if texts else "[]"


def execution_text(rec: Execution, job_id: Optional[str]) -> str:
    job = "null" if job_id is None else f'"{job_id}"'
    return (f'{{"_version": 1, "_type": "Execution", "id": "{uuid_str(rec.id)}", "args": {_q(rec.args)}, '
            f'"job_id": {job}}}')


def execution_tag_texts(rec: Execution) -> list:
    """(tag hash, line) of each of an execution's own tags, by key."""
    eid = uuid_str(rec.id)
    out = []
    for key in sorted(rec.tags):
        value = json.loads(rec.tags[key])
        tag_hash = hash_tag(eid, key, value, [])
        out.append((tag_hash, f'{{"_version": 1, "_type": "Tag", "tag_hash": "{tag_hash}", "entity_type": "Execution", '
                              f'"entity_id": "{eid}", "key": {_q(key)}, "value": {json.dumps(value)}, "parents": []}}'))
    return out


def export_status(rec: Job) -> str:
    if rec.end_time is None and rec.status not in ("FAILED",):
        return "RUNNING"
    return rec.status if rec.status in ("DONE", "CACHED", "FAILED", "RUNNING") else "DONE"


def job_text(rec: Job, child_ids: list) -> str:
    end = "null" if rec.end_time is None else f'"{format_time(rec.end_time)}"'
    call = "null" if rec.call_hash is None else f'"{rec.call_hash.hex()}"'
    parent = "null" if rec.parent_id is None else f'"{uuid_str(rec.parent_id)}"'
    return (f'{{"_version": 1, "_type": "Job", "id": "{uuid_str(rec.id)}", '
            f'"start_time": "{format_time(rec.start_time)}", "end_time": {end}, '
            f'"task_hash": "{rec.task_hash.hex()}", "cached": {"true" if rec.cached else "false"}, '
            f'"status": "{export_status(rec)}", "call_hash": {call}, "parent_id": {parent}, '
            f'"children": {_strs(child_ids)}, "execution_id": "{uuid_str(rec.execution_id)}"}}')


def task_text(rec: Task) -> str:
    h = rec.hash.hex()
    data = base64.b64encode(pickle3.task_pickle(rec.name, rec.namespace, h)).decode("ascii")
    return (f'{{"_version": 1, "_type": "Value", "value_hash": "{h}", "type": "redun.Task", '
            f'"format": "{PICKLE_FORMAT}", "data": "{data}", "subvalues": [], '
            f'"subtype": {{"_type": "Task", "name": {_q(rec.name)}, "namespace": {_q(rec.namespace)}, '
            f'"source": {_q(rec.source)}}}}}')


def value_text(rec: Value, payload: bytes, subvalue_hashes: list) -> str:
    fmt = PICKLE_FORMAT
    if rec.format == "native":
        payload = pickle3.pickle_from_native(payload)
    elif rec.format != "pickle":
        fmt = rec.format  # an upstream format we keep verbatim
    subtype = "null"
    if rec.path is not None and not rec.type.endswith("Dir") and "FileSet" not in rec.type:
        subtype = f'{{"_type": "File", "path": {_q(rec.path)}}}'
    return (f'{{"_version": 1, "_type": "Value", "value_hash": {_q(rec.hash_str)}, "type": {_q(rec.type)}, '
            f'"format": {_q(fmt)}, "data": "{base64.b64encode(payload).decode("ascii")}", '
            f'"subvalues": {_quoted_list(sorted(subvalue_hashes))}, "subtype": {subtype}}}')


def call_node_text(rec: CallNode, child_hashes: list, value_hashes: Optional[dict] = None) -> str:
    """value_hashes: value oid -> hash text, for values whose hash is not hex (Value.hash_text)."""
    ch = rec.hash.hex()
    texts = value_hashes or {}
    args = []
    for a in rec.args:
        name = a.key if a.key is not None else str(a.position)
        vh = texts.get(a.value) or a.value_hash.hex()
        args.append(f'{_q(name)}: {{"arg_hash": "{arg_hash(ch, a.position, a.key, vh)}", "value_hash": {_q(vh)}, '
                    f'"upstream": {_strs(sorted(u.hex() for u in a.upstream))}}}')
    return (f'{{"_version": 1, "_type": "CallNode", "call_hash": "{ch}", "task_name": {_q(rec.task_name)}, '
            f'"task_hash": "{rec.task_hash.hex()}", "args_hash": "{rec.args_hash.hex()}", '
            f'"value_hash": {_q(texts.get(rec.value) or rec.value_hash.hex())}, '
            f'"timestamp": "{format_time(rec.timestamp)}", "args": {{{", ".join(args)}}}, '
            f'"children": {_strs(child_hashes)}}}')


def tag_text(rec: Tag) -> str:
    return (f'{{"_version": 1, "_type": "Tag", "tag_hash": "{rec.hash.hex()}", "entity_type": {_q(rec.entity_type)}, '
            f'"entity_id": {_q(rec.entity_id)}, "key": {_q(rec.key)}, "value": {json.dumps(json.loads(rec.value))}, '
            f'"parents": {_strs([p.hex() for p in rec.parents])}}}')


# The same lines as dicts (`redun log --format json` writes them with sorted keys).
def execution_line(rec: Execution, job_id: Optional[str]) -> dict:
    return json.loads(execution_text(rec, job_id))


def job_line(rec: Job, child_ids: list) -> dict:
    return json.loads(job_text(rec, child_ids))


def task_line(rec: Task) -> dict:
    return json.loads(task_text(rec))


def value_line(rec: Value, payload: bytes, subvalue_hashes: list) -> dict:
    return json.loads(value_text(rec, payload, subvalue_hashes))


def call_node_line(rec: CallNode, child_hashes: list, value_hashes: Optional[dict] = None) -> dict:
    return json.loads(call_node_text(rec, child_hashes, value_hashes))
