"""Pure canonical codec: record <-> bytes. No I/O.

Encoding: a msgpack array ``[type_tag, schema_version, {field: value, ...}]``
with the map's keys sorted and every nested map sorted too. Hashes and ids are
msgpack bin (20 bytes for upstream hashes, 32 for object ids, 16 for uuids).
msgpack always picks the shortest integer form, so one record has exactly one
encoding; ``decode`` rejects anything that does not re-encode to the same bytes
when asked to be strict (fsck, bytes from a remote).
"""

import threading
from typing import Any

import msgpack

from ..errors import DecodeError
from .ids import object_id
from .records import RECORD_TYPES, Record

_packer_opts = dict(use_bin_type=True, use_single_float=False, strict_types=True)
_local = threading.local()  # one reusable Packer per thread (packb builds one per call)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_sorted(v) for v in value]
    return value


_SCALARS = frozenset((bytes, str, int, float, bool, type(None)))
_ORDER: dict = {}  # record class -> its FIELDS sorted by name (the map's key order)


def _canon(value: Any) -> Any:
    """_sorted(value), without recursing into the (common) flat containers."""
    t = type(value)
    if t in _SCALARS:
        return value
    if t is tuple or t is list:
        for v in value:
            if type(v) not in _SCALARS:
                return [_canon(v) for v in value]
        return list(value)
    if t is dict:
        return {k: _canon(value[k]) for k in sorted(value)}
    return _sorted(value)


def _canonical_fields(record: Record) -> dict:
    """Same as _sorted(record.to_fields()) (property-checked in tests/test_codec.py),
    built straight in key order: encode is on every write path."""
    cls = type(record)
    if cls.to_fields is not Record.to_fields:
        return _sorted(record.to_fields())
    order = _ORDER.get(cls)
    if order is None:
        order = _ORDER[cls] = tuple(sorted(cls.FIELDS, key=lambda f: f[0]))
    out = {}
    for name, kind in order:
        v = getattr(record, name)
        if kind == "args":
            out[name] = [_canon(a.to_list()) for a in v]
        elif type(v) in _SCALARS:
            out[name] = v
        else:
            out[name] = _canon(v)
    return out


def encode(record: Record) -> bytes:
    """Canonical bytes of a record (the input to its object id)."""
    fields = _canonical_fields(record)
    try:
        packer = _local.packer
    except AttributeError:
        packer = _local.packer = msgpack.Packer(**_packer_opts)
    try:
        return packer.pack([record.TYPE, record.SCHEMA, fields])
    except (TypeError, ValueError, OverflowError) as e:
        packer.reset()
        raise DecodeError(f"cannot encode {record.TYPE} record: {e}") from None


def encode_with_id(record: Record) -> tuple[bytes, bytes]:
    data = encode(record)
    return object_id(data), data


def decode(data: bytes, strict: bool = False) -> Record:
    """Record from canonical bytes. Raises DecodeError (never anything else) on bad input."""
    try:
        obj = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except Exception as e:  # msgpack raises a zoo of types on fuzzed input
        raise DecodeError(f"not a msgpack record: {type(e).__name__}: {e}") from None
    if not (isinstance(obj, list) and len(obj) == 3 and isinstance(obj[0], str)):
        raise DecodeError("record envelope must be [type, schema, fields]")
    tag, schema, fields = obj
    cls = RECORD_TYPES.get(tag)
    if cls is None:
        raise DecodeError(f"unknown record type {tag!r}")
    if schema != cls.SCHEMA:
        raise DecodeError(f"{tag} record has schema version {schema!r}; this redun reads {cls.SCHEMA}")
    if not isinstance(fields, dict):
        raise DecodeError(f"{tag} record fields must be a map")
    try:
        record = cls.from_fields(fields)
    except DecodeError:
        raise
    except Exception as e:
        raise DecodeError(f"bad {tag} record: {type(e).__name__}: {e}") from None
    if strict and encode(record) != data:
        raise DecodeError(f"{tag} record is not in canonical form")
    return record


def peek_type(data: bytes) -> str:
    """The type tag of encoded record bytes without decoding the fields."""
    # fixarray(3) then a fixstr: 0x93, 0xa0|len, tag bytes
    if len(data) >= 2 and data[0] == 0x93 and 0xA0 <= data[1] <= 0xBF:
        n = data[1] - 0xA0
        return data[2 : 2 + n].decode("ascii", "replace")
    return decode(data).TYPE
