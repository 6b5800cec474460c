"""Pure canonical codec: record <-> bytes. No I/O.

Encoding: a msgpack array ``[type_tag, schema_version, {field: value, ...}]``
with the map's keys sorted and every nested map sorted too. Hashes and ids are
msgpack bin (20 bytes for upstream hashes, 32 for object ids, 16 for uuids).
msgpack always picks the shortest integer form, so one record has exactly one
encoding; ``decode`` rejects anything that does not re-encode to the same bytes
when asked to be strict (fsck, bytes from a remote).
"""

import itertools
import operator
import threading
from typing import Any

import msgpack

from ..errors import DecodeError
from .ids import object_id
from .records import RECORD_TYPES, Record
from .schema import compiled

_packer_opts = dict(use_bin_type=True, use_single_float=False, strict_types=True)
_local = threading.local()  # one reusable Packer per thread (packb builds one per call)
_DECODERS: dict = {}  # (record class, schema version) -> Record.from_fields for that version (valid pairs only)
_LINK_CHECKERS: dict = {}  # the same, -> checked_links for that version
_TRUSTED: dict = {}  # the same, -> the trusted (unchecked) decoder for that version
_WIRE_LINKS: dict = {}  # record class -> its wire_links (looked up once per walked object)
_unpackb = msgpack.unpackb


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_sorted(v) for v in value]
    return value


def encode(record: Record, schema: int = 0) -> bytes:
    """Canonical bytes of a record (the input to its object id). schema: write it as that
    (older) version of its type, as it was read (strict decoding of old records)."""
    cls = type(record)
    try:
        packer = _local.packer
    except AttributeError:
        packer = _local.packer = msgpack.Packer(**_packer_opts)
    try:
        if schema and schema != cls.SCHEMA:
            return packer.pack([record.TYPE, schema, _sorted(record.to_fields(schema))])
        return packer.pack([record.TYPE, record.SCHEMA, compiled(cls, "wire")(record)])
    except (TypeError, ValueError, OverflowError, AttributeError) as e:
        packer.reset()
        raise DecodeError(f"cannot encode {record.TYPE} record: {e}") from None


def encode_with_id(record: Record) -> tuple[bytes, bytes]:
    data = encode(record)
    return object_id(data), data


def _checked(data: bytes, purpose: str, cache: dict) -> tuple:
    """(tag, schema, compiled(class, purpose, schema)(fields)) of canonical bytes, every field
    checked. Raises DecodeError (never anything else) on bad input."""
    try:
        obj = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except Exception as e:  # msgpack raises a zoo of types on fuzzed input
        raise DecodeError(f"not a msgpack record: {type(e).__name__}: {e}") from None
    if not (isinstance(obj, list) and len(obj) == 3 and isinstance(obj[0], str)):
        raise DecodeError("record envelope must be [type, schema, fields]")
    tag, schema, fields = obj
    fn = _for_version(tag, schema, purpose, cache)
    if not isinstance(fields, dict):
        raise DecodeError(f"{tag} record fields must be a map")
    try:
        return tag, schema, fn(fields)
    except DecodeError:
        raise
    except Exception as e:
        raise DecodeError(f"bad {tag} record: {type(e).__name__}: {e}") from None


def _for_version(tag, schema, purpose: str, cache: dict):
    """compiled(class of tag, purpose, schema), kept in `cache` by (class, schema) for valid
    pairs only; DecodeError for an unknown type or version."""
    # True == 1, but is not a version: only an int schema may hit the cache
    fn = cache.get((RECORD_TYPES.get(tag), schema)) if type(schema) is int else None
    if fn is None:
        cls = _record_class(tag, schema)
        fn = cache[cls, schema] = compiled(cls, purpose, schema)
    return fn


def decode(data: bytes, strict: bool = False) -> Record:
    """Record from canonical bytes. Raises DecodeError (never anything else) on bad input."""
    tag, schema, record = _checked(data, "decode", _DECODERS)
    if strict and encode(record, schema) != data:
        raise DecodeError(f"{tag} record is not in canonical form")
    return record


def checked_links(data: bytes) -> list:
    """The links of canonical bytes, every field checked as decode() checks it, without
    building the record (a pull's checks of every entry). DecodeError on bad input."""
    return _checked(data, "checked_links", _LINK_CHECKERS)[2]


_BIN32 = b"\xc4 "  # msgpack bin 8 of 32 bytes: how canonical bytes hold each link
_BIN32_LONG = (b"\xc5\x00 ", b"\xc6\x00\x00\x00 ")  # the same length as bin 16 / bin 32 (not canonical)
BIN32_HEADS = (_BIN32, *_BIN32_LONG)
_FIRST32 = operator.itemgetter(slice(None, 32))


def link_candidates(data: bytes) -> set:
    """Every 32 bytes that follow a msgpack bin-of-32 header anywhere in data: a superset of
    the links of the records whose encoded bytes data concatenates (each link is such a bin,
    in whatever form msgpack reads as one; a payload may hold the same bytes by chance), found
    by bytes.split rather than by decoding each record (a pull's checks of whole packs)."""
    pieces = data.split(_BIN32)
    found = set(map(_FIRST32, itertools.islice(pieces, 1, None)))  # no header before the first
    # a piece shorter than 32 bytes: the header came again inside the 32 bytes after it
    for short in [p for p in found if len(p) < 32]:
        found.discard(short)
        i = 0
        while True:
            try:
                i = pieces.index(short, i + 1)
            except ValueError:
                break
            whole = _BIN32.join(pieces[i: i + 17])[:32]  # 16 more headers alone reach 32 bytes
            if len(whole) == 32:
                found.add(whole)
    for head in _BIN32_LONG if b"\x00 " in data else ():  # both long forms hold 00 20
        at = data.find(head)
        while at >= 0:
            run = data[at + len(head): at + len(head) + 32]
            if len(run) == 32:
                found.add(run)
            at = data.find(head, at + 1)
    return found


def _record_class(tag, schema):
    """The class of records of this type tag and schema version (DecodeError if none)."""
    cls = RECORD_TYPES.get(tag)
    if cls is None:
        raise DecodeError(f"unknown record type {tag!r}")
    if type(schema) is not int or not 1 <= schema <= cls.SCHEMA:
        known = cls.SCHEMA if cls.SCHEMA == 1 else f"versions 1 to {cls.SCHEMA}"
        raise DecodeError(f"{tag} record has schema version {schema!r}; this redun reads {known}")
    return cls


def decode_trusted(data: bytes) -> Record:
    """Record from canonical bytes already verified against their id, without per-field
    checks (export speed). Anything odd is decoded strictly: DecodeError names the problem."""
    try:
        tag, schema, fields = msgpack.unpackb(data, raw=False)
        return _for_version(tag, schema, "trusted", _TRUSTED)(fields)
    except Exception:
        return decode(data)


def links_of_encoded(data: bytes) -> tuple:
    """(ids to follow, ids of leaf records) linked by encoded record bytes, read from the
    msgpack map without building the record: gc, sync and catch-up walk many. Only the
    envelope and the link fields are checked; anything odd raises DecodeError."""
    try:
        tag, schema, fields = _unpackb(data, raw=False)
        cls = RECORD_TYPES[tag]
        if type(schema) is int and 1 <= schema <= cls.SCHEMA:
            return _WIRE_LINKS[cls](fields)
    except DecodeError:
        raise
    except Exception:
        pass
    return _links_or_why(data)


def _links_or_why(data: bytes) -> tuple:
    """links_of_encoded the careful way: builds a type's walker on first use, or raises a
    DecodeError saying what is wrong."""
    try:
        obj = _unpackb(data, raw=False)
    except Exception as e:  # msgpack raises a zoo of types on fuzzed input
        raise DecodeError(f"not a msgpack record: {type(e).__name__}") from None
    if not (isinstance(obj, list) and len(obj) == 3 and isinstance(obj[0], str)):
        raise DecodeError("record envelope must be [type, schema, fields]")
    tag, schema, fields = obj
    cls = _record_class(tag, schema)
    if cls not in _WIRE_LINKS:
        _WIRE_LINKS[cls] = compiled(cls, "wire_links")
    try:
        return _WIRE_LINKS[cls](fields)
    except DecodeError:
        raise
    except Exception as e:  # a link field missing, or not a list
        raise DecodeError(f"{tag} record: bad link fields ({type(e).__name__}: {e})") from None


def peek_tag(prefix: bytes):
    """The type tag at the start of encoded record bytes (a prefix will do), or None."""
    # fixarray(3) then a fixstr: 0x93, 0xa0|len, tag bytes
    if len(prefix) >= 2 and prefix[0] == 0x93 and 0xA0 <= prefix[1] <= 0xBF:
        n = prefix[1] - 0xA0
        if len(prefix) >= 2 + n:
            return prefix[2 : 2 + n].decode("ascii", "replace")
    return None


def peek_type(data: bytes) -> str:
    """The type tag of encoded record bytes without decoding the fields."""
    return peek_tag(data) or decode(data).TYPE


def record_head(cls) -> bytes:
    """The bytes every current encoding of a cls record starts with: envelope, tag, version."""
    return b"\x93" + msgpack.packb(cls.TYPE) + msgpack.packb(cls.SCHEMA)
