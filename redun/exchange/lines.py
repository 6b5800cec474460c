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

try:  # a dependency that parses upstream lines faster; parse_line uses json without it (tested)
    from orjson import loads as _fast_loads
except ImportError:
    _fast_loads = None

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


def _str(v, what: str) -> str:
    if not isinstance(v, str):
        raise LineError(f"{what} must be a string, not {type(v).__name__}")
    return v


def _hash_list(v, what: str) -> list:
    if not isinstance(v, list):
        raise LineError(f"{what} must be a list of hashes")
    match = _HASH_RE.match
    for h in v:
        if not (type(h) is str and match(h)):  # name the first bad one
            i = next(i for i, h in enumerate(v) if not (type(h) is str and match(h)))
            check_hash(v[i], f"{what}[{i}]")
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


_SECONDS: dict = {}  # whole seconds -> their text (an export's times crowd into few seconds)


def format_time(us: int) -> str:
    """µs since the epoch -> upstream's str(datetime) with +00:00 (no fraction when µs == 0)."""
    secs, frac = divmod(us, 1_000_000)
    text = _SECONDS.get(secs)
    if text is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        text = _SECONDS[secs] = _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(secs))
    return f"{text}.{frac:06d}+00:00" if frac else f"{text}+00:00"


def decode_data(v, what: str = "data") -> bytes:
    if not isinstance(v, str):
        raise LineError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise LineError(f"{what} is not valid base64") from None


# -- per type (required keys are checked before these run) ---------------------------
def _execution(o):
    check_uuid(o["id"], "id")
    _str(o["args"], "args")
    check_uuid(o["job_id"], "job_id")
    return "e:" + o["id"]


def _job(o):
    check_uuid(o["id"], "id")
    o["_start_time"] = parse_time(o["start_time"], "start_time")
    end = o["end_time"]
    o["_end_time"] = None if end is None else parse_time(end, "end_time")
    check_hash(o["task_hash"], "task_hash")
    if type(o["cached"]) is not bool:
        raise LineError("cached must be true or false")
    if o["call_hash"] is not None:
        check_hash(o["call_hash"], "call_hash")
    if o["parent_id"] is not None:
        check_uuid(o["parent_id"], "parent_id")
    check_uuid(o["execution_id"], "execution_id")
    # our extension (written by `redun db import-upstream` from upstream's evaluation table):
    # the job's evaluation and, on the newest job of it, the value the cache holds
    if o.get("eval_hash") is not None:
        check_hash(o["eval_hash"], "eval_hash")
    if o.get("eval_value_hash") is not None:
        check_hash(o["eval_value_hash"], "eval_value_hash")
        if o.get("eval_hash") is None:
            raise LineError("eval_value_hash needs eval_hash")
    return "j:" + o["id"]


def _value(o):
    check_hash(o["value_hash"], "value_hash")
    _str(o["type"], "type")
    _str(o["format"], "format")
    o["_data"] = decode_data(o["data"])  # checked once here, used by convert.value_payload
    del o["data"]
    if o["subvalues"]:
        _hash_list(o["subvalues"], "subvalues")
    elif type(o["subvalues"]) is not list:
        raise LineError("subvalues must be a list of hashes")
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
    ch = check_hash(o["call_hash"], "call_hash")
    _str(o["task_name"], "task_name")
    check_hash(o["task_hash"], "task_hash")
    check_hash(o["args_hash"], "args_hash")
    check_hash(o["value_hash"], "value_hash")
    o["_timestamp"] = parse_time(o["timestamp"], "timestamp")
    args = o["args"]
    if type(args) is not dict:
        raise LineError("args must be an object keyed by argument name or position")
    match = _HASH_RE.match
    for name, a in args.items():
        if type(a) is not dict:
            raise LineError(f"args[{name!r}] must be an object")
        try:
            ah, vh, up = a["arg_hash"], a["value_hash"], a["upstream"]
            ok = type(ah) is str and match(ah) and type(vh) is str and match(vh) and type(up) is list
        except KeyError:
            ok = False
        if ok and up:
            _hash_list(up, f"args[{name!r}].upstream")
        elif not ok:  # the messages are built only for a bad argument
            check_hash(_need(a, "arg_hash", f"argument {name!r}"), f"args[{name!r}].arg_hash")
            check_hash(_need(a, "value_hash", f"argument {name!r}"), f"args[{name!r}].value_hash")
            _hash_list(_need(a, "upstream", f"argument {name!r}"), f"args[{name!r}].upstream")
    _hash_list(o["children"], "children")
    return "c:" + ch


def _tag(o):
    check_hash(o["tag_hash"], "tag_hash")
    et = o["entity_type"]
    if et not in TAG_ENTITY_TYPES:
        raise LineError(f"entity_type must be one of {', '.join(TAG_ENTITY_TYPES)}, not {et!r}")
    _str(o["entity_id"], "entity_id")
    _str(o["key"], "key")
    _hash_list(o["parents"], "parents")
    return "t:" + o["tag_hash"]


_REQUIRED = {kind: frozenset(keys) for kind, keys in KEY_ORDER.items()}
_REQUIRED["Value"] = _REQUIRED["Value"] - {"subtype"}  # upstream's import treats it as optional
_CHECKS = {"Execution": _execution, "Job": _job, "Value": _value, "CallNode": _call_node, "Tag": _tag}


def parse_obj(obj) -> Line:
    """Validate one decoded JSON object. Raises LineError. Parsed times are
    added under "_<key>" (µs since the epoch) and a Value's base64 `data` is
    replaced by its bytes under "_data", so converters need not parse again."""
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
    if not obj.keys() >= _REQUIRED[kind]:
        missing = _REQUIRED[kind] - obj.keys()
        name = next(k for k in KEY_ORDER[kind] if k in missing)
        raise LineError(f"{kind} record lacks the key {name!r}")
    return Line(kind, check(obj), obj)


def parse_line(text) -> Line:
    """Parse and validate one line of text (or bytes). Raises LineError.

    With orjson installed it parses first; the standard library parses again
    whenever that fails, the line is invalid, or it is a Tag (whose `value` is
    any JSON: orjson reads integers beyond 64 bits as floats), so results and
    error messages are the standard library's. Every other valid line holds
    numbers only where both parsers agree (`_version`, extra keys we ignore)."""
    if _fast_loads is not None:
        try:
            obj = _fast_loads(text)
            if type(obj) is dict and obj.get("_type") != "Tag":
                return parse_obj(obj)
        except (ValueError, LineError):  # orjson.JSONDecodeError is a ValueError
            pass
    return _parse_slow(text)


def _parse_slow(text) -> Line:
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
