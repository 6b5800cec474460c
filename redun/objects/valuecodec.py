"""Pure value codec: plain Python values <-> bytes, without pickle.

Value records store plain results ("native" format) in our own msgpack-based
encoding so they can be displayed, diffed and imported without running any
code; everything else is an opaque protocol-3 pickle ("pickle" format). This
module is pure (no I/O, no engine imports).

Native encoding (one msgpack document; the first byte 0xc1 is reserved for a
future version marker):
- None, bool, str (valid UTF-8 only; lone surrogates go to pickle), bytes, float64, list, dict
  (insertion order, any plain keys) are msgpack's own types; ints in
  [-2**63, 2**64) are msgpack ints.
- ext 1: int outside that range, signed big-endian two's complement, minimal.
- ext 2: tuple; payload is the msgpack array of its items.
- ext 3 / ext 4: set / frozenset; payload is an array of the items, ordered by
  their encoded bytes so equal sets encode identically.
- ext 5: file-like (anything with ``__redun_file__ == (type_name, path, hash)``);
  payload is the array [type_name, path, hash]. Decodes to FileRef.
Subclasses of these types are not plain (their class would be lost).
"""

import threading
from typing import Any, Optional

import msgpack

from ..errors import DecodeError
from .filerefs import FileRef, file_triple
from .plainpickle import NotPlainValue, pickle_plain, safe_unpickle

__all__ = [
    "FORMAT_NATIVE", "FORMAT_PICKLE", "FileRef", "NotPlainValue", "decode_native",
    "encode_native", "native_from_pickle", "pickle_plain", "preview", "safe_unpickle",
    "trim", "type_name",
]

FORMAT_NATIVE = "native"
FORMAT_PICKLE = "pickle"

EXT_BIGINT, EXT_TUPLE, EXT_SET, EXT_FROZENSET, EXT_FILE = 1, 2, 3, 4, 5


# -- encode ----------------------------------------------------------------------


class _NotPlain(Exception):
    pass


_PACK_OPTS = dict(use_bin_type=True, strict_types=True, use_single_float=False, datetime=False)
_local = threading.local()


def _pack(obj: Any) -> bytes:
    # Packers are costly to build; reuse one per thread and nesting level (``_default``
    # packs tuple/set/file payloads while the outer packer is mid-way).
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = []
        _local.depth = 0
    depth = _local.depth
    if depth == len(pool):
        pool.append(msgpack.Packer(default=_default, **_PACK_OPTS))
    packer = pool[depth]
    _local.depth = depth + 1
    try:
        return packer.pack(obj)
    except BaseException:
        packer.reset()
        raise
    finally:
        _local.depth = depth


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def _default(obj: Any) -> Any:
    t = type(obj)
    if t is int:  # only called when outside msgpack's range
        n = (obj.bit_length() + 8) // 8
        return msgpack.ExtType(EXT_BIGINT, obj.to_bytes(n, "big", signed=True))
    if t is tuple:
        return msgpack.ExtType(EXT_TUPLE, _pack(list(obj)))
    if t is set or t is frozenset:
        items = sorted(_pack(item) for item in obj)
        code = EXT_SET if t is set else EXT_FROZENSET
        return msgpack.ExtType(code, _array_header(len(items)) + b"".join(items))
    triple = file_triple(obj)
    if triple is not None:
        return msgpack.ExtType(EXT_FILE, _pack(list(triple)))
    raise _NotPlain(t)


_ATOMS = frozenset({type(None), bool, int, float, str, bytes})
# msgpack packs these itself even with strict_types; they would not decode as themselves.
_PASSTHROUGH = (bytearray, memoryview, msgpack.ExtType, msgpack.Timestamp)
_MAX_DEPTH = 500


def _packable(obj: Any, depth: int = 0) -> bool:
    """False if obj holds a type msgpack would pack without asking ``_default``."""
    t = type(obj)
    if t in _ATOMS:
        return True
    if depth > _MAX_DEPTH:
        return False
    if t is dict:
        for k, v in obj.items():
            if not (type(k) in _ATOMS or _packable(k, depth + 1)):
                return False
            if not (type(v) in _ATOMS or _packable(v, depth + 1)):
                return False
        return True
    if t is list or t is tuple or t is set or t is frozenset:
        for x in obj:
            if not (type(x) in _ATOMS or _packable(x, depth + 1)):
                return False
        return True
    return not isinstance(obj, _PASSTHROUGH)


def encode_native(obj: Any) -> Optional[bytes]:
    """Native bytes for a plain value, or None if obj holds anything else.

    Equal values of equal types encode identically (dicts keep insertion order).
    None means "store a pickle": obj contains a non-plain type, a subclass of a
    plain type, or a recursive or too deeply nested container.
    """
    try:
        if type(obj) not in _ATOMS and not _packable(obj):
            return None
        return _pack(obj)
    except (_NotPlain, ValueError, TypeError, OverflowError, RecursionError, UnicodeError):
        return None


# -- decode ----------------------------------------------------------------------

def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)


def _ext_hook(code: int, payload: bytes) -> Any:
    if code == EXT_BIGINT:
        if not payload:
            raise DecodeError("empty big-int payload")
        return int.from_bytes(payload, "big", signed=True)
    if code in (EXT_TUPLE, EXT_SET, EXT_FROZENSET, EXT_FILE):
        items = _unpack(payload)
        if type(items) is not list:
            raise DecodeError(f"ext {code} payload is not an array")
        if code == EXT_TUPLE:
            return tuple(items)
        if code == EXT_SET:
            return set(items)
        if code == EXT_FROZENSET:
            return frozenset(items)
        if len(items) != 3 or not all(type(x) is str for x in items):
            raise DecodeError("file payload must be [type_name, path, hash]")
        return FileRef(*items)
    raise DecodeError(f"unknown native ext type {code}")


_TIMESTAMP_MARKERS = (b"\xd6\xff", b"\xd7\xff", b"\xc7\x0c\xff")


def _holds_timestamp(value: Any) -> bool:
    stack = [value]
    while stack:
        x = stack.pop()
        t = type(x)
        if t is msgpack.Timestamp:
            return True
        if t is dict:
            stack.extend(x.keys())
            stack.extend(x.values())
        elif t in (list, tuple, set, frozenset):
            stack.extend(x)
    return False


def decode_native(data: bytes, strict: bool = False) -> Any:
    """The value encoded by ``encode_native``. Raises DecodeError (only) on bad bytes.

    strict=True also requires the bytes to be the canonical encoding (re-encodes).
    A leading 0xc1 byte (reserved for a future format version) is refused.
    """
    if type(data) is not bytes:
        data = bytes(data)
    try:
        value = _unpack(data)
    except DecodeError:
        raise
    except Exception as e:  # msgpack raises many types on fuzzed input
        raise DecodeError(f"not a native value encoding: {type(e).__name__}: {e}") from None
    # msgpack decodes its timestamp ext (-1) itself, bypassing _ext_hook; our encoder
    # never writes one. Only walk the value when the marker bytes occur at all.
    if (
        b"\xff" in data
        and any(marker in data for marker in _TIMESTAMP_MARKERS)
        and _holds_timestamp(value)
    ):
        raise DecodeError("not a native value encoding: holds a msgpack timestamp")
    if strict and encode_native(value) != data:
        raise DecodeError("native value bytes are not in canonical form")
    return value


# -- display -----------------------------------------------------------------------


def trim(text: str, limit: int = 200, ellipsis: str = "...") -> str:
    """Upstream's trim: keep limit-3 characters and append "..." when too long."""
    if len(text) > limit:
        return text[: max(limit - len(ellipsis), 0)] + ellipsis
    return text


def preview(type_name: str, fmt: str, data: bytes, limit: int = 200,
            hash: Optional[str] = None) -> str:
    """A repr for display that never runs stored code.

    native: repr of the decoded value; pickle: repr via ``safe_unpickle`` when the
    pickle is plain data, else a placeholder ``<type>(hash=…, size=N)``.
    """
    value: Any = None
    ok = False
    try:
        if fmt == FORMAT_NATIVE:
            value, ok = decode_native(data), True
        elif fmt == FORMAT_PICKLE:
            value, ok = safe_unpickle(data), True
    except DecodeError:
        ok = False
    if ok:
        try:
            return trim(repr(value), limit)
        except Exception:  # e.g. repr too deep
            pass
    elif fmt != FORMAT_NATIVE:
        from .previewpickle import preview_repr  # classes as inert stand-ins, as upstream shows them

        try:
            return trim(preview_repr(data), limit)
        except Exception as e:  # malformed, too large, or too deep
            if fmt != FORMAT_PICKLE:  # a custom value's own serialization: upstream shows this
                return trim(f"Unpicklable('{e}')", limit)
    parts = ([f"hash={hash[:8]}"] if hash else []) + [f"size={len(data)}"]
    return trim(f"<{type_name}>({', '.join(parts)})", limit)


def native_from_pickle(data: bytes, exact: bool = True) -> Optional[bytes]:
    """Native bytes for a plain pickle (upstream import), or None to keep the pickle.

    exact=True also requires that re-pickling the decoded value reproduces ``data``
    byte for byte, so an export gives back upstream's bytes (pickle memo sharing
    can differ).
    """
    try:
        value = safe_unpickle(data)
    except DecodeError:
        return None
    native = encode_native(value)
    if native is None or not exact:
        return native
    try:
        again = pickle_plain(decode_native(native))
    except Exception:
        return None
    return native if again == bytes(data) else None


# -- type names --------------------------------------------------------------------


def type_name(obj: Any) -> str:
    """The type name upstream records for obj (Value.type column).

    File-likes: their declared type (e.g. redun.File); engine classes with
    ``__redun_hash__`` and a class attribute ``type_name``: that (redun.Task);
    upstream's proxy types by MRO (builtins.set, enum.Enum, datetime.datetime,
    builtins.function, builtins.bool); otherwise "module.ClassName".
    """
    triple = file_triple(obj)
    if triple is not None:
        return triple[0]
    cls = type(obj)
    declared = getattr(cls, "type_name", None)
    if isinstance(declared, str) and hasattr(cls, "__redun_hash__"):
        return declared
    for base in cls.__mro__:
        proxy = _PROXY_TYPE_NAMES.get((base.__module__, base.__qualname__))
        if proxy:
            return proxy
    return f"{cls.__module__}.{cls.__name__}"


_PROXY_TYPE_NAMES = {
    ("builtins", "bool"): "builtins.bool",
    ("builtins", "set"): "builtins.set",
    ("enum", "Enum"): "enum.Enum",
    ("datetime", "datetime"): "datetime.datetime",
    ("builtins", "function"): "builtins.function",
}
