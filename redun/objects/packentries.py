"""Entries of an installed pack by their position in its index, read with
pread (no mmap of pack data, so a walk over a large repository keeps its
resident memory flat). Used by gc's marking, bundles and settling a copied
repo. `p` is an open pack: `p.fd`, `p.index` (a PackIndex), `p.path`.
"""

import os
import struct

from ..errors import CorruptObjectError
from . import codec, compress
from .ids import object_id
from .pack import ENTRY_HEAD

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
PEEK = 64  # bytes of a raw entry read to find its type (and a blob's header)
_MAX_OFFSET = 1 << 56  # os.pread takes a signed 64-bit offset; no pack comes near this
_BIG_ENTRY = 1 << 16  # larger entries are checked against the file size before reading


def find_position(index, oid: bytes) -> int:
    """Position of oid in a PackIndex's sorted id table, or -1."""
    data = index.data
    first = oid[0]
    lo = 0 if first == 0 else _U32.unpack_from(data, index.fan_at + 4 * (first - 1))[0]
    hi = _U32.unpack_from(data, index.fan_at + 4 * first)[0]
    base = index.ids_at
    while lo < hi:
        mid = (lo + hi) >> 1
        p = base + 32 * mid
        if data[p : p + 32] < oid:
            lo = mid + 1
        else:
            hi = mid
    if lo < index.count:
        p = base + 32 * lo
        if data[p : p + 32] == oid:
            return lo
    return -1


def oid_at(index, pos: int) -> bytes:
    p = index.ids_at + 32 * pos
    return bytes(index.data[p : p + 32])


def entry_at(index, pos: int) -> tuple:
    """(offset, size) of the entry at pos; an offset no pack can have is damage."""
    off = _U64.unpack_from(index.data, index.off_at + 8 * pos)[0]
    size = _U32.unpack_from(index.data, index.size_at + 4 * pos)[0]
    if off >= _MAX_OFFSET:
        raise CorruptObjectError(f"{index.where}: entry {pos} has offset {off}, outside any pack; run `redun fsck`")
    return off, size


def stored_at(p, pos: int) -> tuple:
    """(oid, stored bytes) of entry pos of pack p (p.fd, p.index, p.path); header checked."""
    oid = oid_at(p.index, pos)
    off, size = entry_at(p.index, pos)
    if size > _BIG_ENTRY and off + size > os.fstat(p.fd).st_size:  # before allocating size bytes
        raise CorruptObjectError(f"object {oid.hex()} in {p.path}: entry lies outside the pack; run `redun fsck`")
    data = os.pread(p.fd, size, off)
    if len(data) != size or size < ENTRY_HEAD or data[:32] != oid or _U32.unpack_from(data, 32)[0] != size - ENTRY_HEAD:
        raise CorruptObjectError(f"object {oid.hex()} in {p.path}: entry is truncated or names another object; run `redun fsck`")
    return oid, data[ENTRY_HEAD:]


def read_at(p, pos: int):
    """The verified record at entry pos of pack p."""
    oid, stored = stored_at(p, pos)
    where = f"{oid.hex()} in {p.path}"
    canonical = compress.decompress(stored, where)
    if object_id(canonical) != oid:
        raise CorruptObjectError(f"object {where} does not match its id (corrupt); run `redun fsck`")
    try:
        return codec.decode(canonical)
    except CorruptObjectError as e:
        raise CorruptObjectError(f"object {where}: {e}") from None


def type_at(p, pos: int) -> str:
    """The record type at entry pos, reading only a few bytes when stored raw."""
    off, size = entry_at(p.index, pos)
    first = os.pread(p.fd, min(size, ENTRY_HEAD + PEEK), off)
    if len(first) > ENTRY_HEAD and first[ENTRY_HEAD] == compress.RAW:
        tag = codec.peek_tag(first[ENTRY_HEAD + 1 :])
        if tag is not None:
            return tag
    return read_at(p, pos).TYPE
