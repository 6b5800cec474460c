"""Upstream export lines: parsing and validation (pure, no I/O).

An upstream export is one JSON object per line, `_version` 1, with one of five
`_type`s (Execution, Job, Value, CallNode, Tag). `parse_line` checks one line
completely (keys, id formats, timestamps, nested shapes) and returns a
`Line`: its kind, its upstream primary key and the JSON object. Every
problem raises `LineError` whose message names what is wrong; the driver adds
the line number. Extra keys are ignored (as upstream does).

Keys are "<kind letter>:<upstream id>": Values and Tasks share the `v:`
space, as they share upstream's Value table.
"""

import base64
import binascii
import datetime
import json
import re
import time as _time
from dataclasses import dataclass

from ..errors import RecordImportError

VERSION = 1
TYPES = ("Execution", "Job", "Value", "CallNode", "Tag")
TAG_ENTITY_TYPES = ("Execution", "Job", "CallNode", "Task", "Value", "Null")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

# Upstream's key order per record type (json.dumps keeps insertion order).
KEY_ORDER = {
    "Execution": ("_version", "_type", "id", "args", "job_id"),
    "Job": ("_version", "_type", "id", "start_time", "end_time", "task_hash", "cached", "status",
            "call_hash", "parent_id", "children", "execution_id"),
    "Value": ("_version", "_type", "value_hash", "type", "format", "data", "subvalues", "subtype"),
    "CallNode": ("_version", "_type", "call_hash", "task_name", "task_hash", "args_hash", "value_hash",
                 "timestamp", "args", "children"),
    "Tag": ("_version", "_type", "tag_hash", "entity_type", "entity_id", "key", "value", "parents"),
}


class LineError(RecordImportError):
    """One line is malformed; `line` is filled in by the driver."""

    def __init__(self, message: str, line: int = 0):
        self.problem = message
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)

    def at(self, line: int) -> "LineError":
        return LineError(self.problem, line)


@dataclass(slots=True)
class Line:
    kind: str  # one of TYPES
    key: str  # "e:<uuid>", "j:<uuid>", "v:<hash>", "c:<hash>", "t:<hash>"
    obj: dict


# -- field checks ---------------------------------------------------------------
def _need(obj: dict, name: str, kind: str):
    if name not in obj:
        raise LineError(f"{kind} record lacks the key {name!r}")
    return obj[name]


_HASH_RE = re.compile(r"[0-9a-f]{40}\Z")
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def check_hash(v, what: str) -> str:
    if not (type(v) is str and _HASH_RE.match(v)):
        raise LineError(f"{what} is not a redun hash (40 lowercase hex characters): {v!r}")
    return v


def check_uuid(v, what: str) -> str:
    if not (type(v) is str and _UUID_RE.match(v)):
        raise LineError(f"{what} is not a lowercase uuid: {v!r}")
    return v


def _opt(check, v, what):
    return None if v is None else check(v, what)


def _str(v, what: str) -> str:
    if not isinstance(v, str):
        raise LineError(f"{what} must be a string, not {type(v).__name__}")
    return v


def _hash_list(v, what: str) -> list:
    if not isinstance(v, list):
        raise LineError(f"{what} must be a list of hashes")
    for i, h in enumerate(v):
        check_hash(h, f"{what}[{i}]")
    return v


def parse_time(v, what: str) -> int:
    """Upstream timestamp text ('2026-11-24 19:08:53.652979+00:00') -> µs since the epoch."""
    if not isinstance(v, str):
        raise LineError(f"{what} must be a timestamp string, not {type(v).__name__}")
    try:
        t = datetime.datetime.fromisoformat(v)
    except ValueError:
        raise LineError(f"{what} is not a timestamp: {v!r}") from None
    if t.tzinfo is None:
        raise LineError(f"{what} has no time zone: {v!r} (legacy 0.4.x exports are not supported)")
    d = t - _EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def format_time(us: int) -> str:
    """µs since the epoch -> upstream's str(datetime) with +00:00 (no fraction when µs == 0)."""
    secs, frac = divmod(us, 1_000_000)
    text = _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(secs))
    return f"{text}.{frac:06d}+00:00" if frac else f"{text}+00:00"


def decode_data(v, what: str = "data") -> bytes:
    if not isinstance(v, str):
        raise LineError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise LineError(f"{what} is not valid base64") from None


# -- per type ---------------------------------------------------------------------
def _execution(o):
    check_uuid(_need(o, "id", "Execution"), "id")
    _str(_need(o, "args", "Execution"), "args")
    check_uuid(_need(o, "job_id", "Execution"), "job_id")
    return "e:" + o["id"]


def _job(o):
    k = "Job"
    check_uuid(_need(o, "id", k), "id")
    o["_start_time"] = parse_time(_need(o, "start_time", k), "start_time")
    o["_end_time"] = None if _need(o, "end_time", k) is None else parse_time(o["end_time"], "end_time")
    check_hash(_need(o, "task_hash", k), "task_hash")
    if not isinstance(_need(o, "cached", k), bool):
        raise LineError("cached must be true or false")
    _opt(check_hash, _need(o, "call_hash", k), "call_hash")
    _opt(check_uuid, _need(o, "parent_id", k), "parent_id")
    check_uuid(_need(o, "execution_id", k), "execution_id")
    return "j:" + o["id"]


def _value(o):
    k = "Value"
    check_hash(_need(o, "value_hash", k), "value_hash")
    _str(_need(o, "type", k), "type")
    _str(_need(o, "format", k), "format")
    decode_data(_need(o, "data", k))
    _hash_list(_need(o, "subvalues", k), "subvalues")
    sub = o.get("subtype")
    if sub is not None:
        if not isinstance(sub, dict) or sub.get("_type") not in ("File", "Task"):
            raise LineError("subtype must be null or an object with _type File or Task")
        if sub["_type"] == "File":
            _str(_need(sub, "path", "File subtype"), "subtype.path")
        else:
            for name in ("name", "namespace", "source"):
                _str(_need(sub, name, "Task subtype"), f"subtype.{name}")
    return "v:" + o["value_hash"]


def _call_node(o):
    k = "CallNode"
    ch = check_hash(_need(o, "call_hash", k), "call_hash")
    _str(_need(o, "task_name", k), "task_name")
    for name in ("task_hash", "args_hash", "value_hash"):
        check_hash(_need(o, name, k), name)
    o["_timestamp"] = parse_time(_need(o, "timestamp", k), "timestamp")
    args = _need(o, "args", k)
    if not isinstance(args, dict):
        raise LineError("args must be an object keyed by argument name or position")
    for name, a in args.items():
        if not isinstance(a, dict):
            raise LineError(f"args[{name!r}] must be an object")
        for f in ("arg_hash", "value_hash"):
            check_hash(_need(a, f, f"argument {name!r}"), f"args[{name!r}].{f}")
        _hash_list(_need(a, "upstream", f"argument {name!r}"), f"args[{name!r}].upstream")
    _hash_list(_need(o, "children", k), "children")
    return "c:" + ch


def _tag(o):
    k = "Tag"
    check_hash(_need(o, "tag_hash", k), "tag_hash")
    et = _need(o, "entity_type", k)
    if et not in TAG_ENTITY_TYPES:
        raise LineError(f"entity_type must be one of {', '.join(TAG_ENTITY_TYPES)}, not {et!r}")
    _str(_need(o, "entity_id", k), "entity_id")
    _str(_need(o, "key", k), "key")
    _need(o, "value", k)
    _hash_list(_need(o, "parents", k), "parents")
    return "t:" + o["tag_hash"]


_CHECKS = {"Execution": _execution, "Job": _job, "Value": _value, "CallNode": _call_node, "Tag": _tag}


def parse_obj(obj) -> Line:
    """Validate one decoded JSON object. Raises LineError. Parsed times are
    added under "_<key>" (µs since the epoch) so converters need not parse again."""
    if not isinstance(obj, dict):
        raise LineError(f"expected a JSON object, found {type(obj).__name__}")
    if "_version" not in obj:
        raise LineError("record lacks the key '_version'")
    if obj["_version"] != VERSION or isinstance(obj["_version"], bool):
        raise LineError(f"unsupported _version {obj['_version']!r} (this redun reads version {VERSION})")
    kind = obj.get("_type")
    check = _CHECKS.get(kind) if isinstance(kind, str) else None
    if check is None:
        raise LineError(f"unknown _type {kind!r} (expected one of {', '.join(TYPES)})")
    return Line(kind, check(obj), obj)


def parse_line(text) -> Line:
    """Parse and validate one line of text (or bytes). Raises LineError."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise LineError(f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not text.strip():
        raise LineError("blank line (expected a JSON object)")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise LineError(f"malformed JSON: {e.msg} at column {e.colno}") from None
    except RecursionError:
        raise LineError("malformed JSON: nested too deeply") from None
    return parse_obj(obj)


def dumps(obj: dict) -> str:
    """One export line, as upstream writes it (default separators, ASCII escapes)."""
    return json.dumps(obj)
