"""Pack-level primitives for gc and bundles, reading with pread (no mmap of
pack data, so gc's resident memory does not grow with the repo); packs are
written by the one PackWriter (objects/packwriter.py) in its sorted mode.

The file formats are those of redun/objects/pack.py; nothing here changes them.
"""

import os
import struct
from typing import Iterator

import blake3
import msgpack

from ..errors import CorruptObjectError
from ..objects import codec, compress
from ..objects.ids import object_id
from ..objects.pack import ENTRY_HEAD, PACK_MAGIC
from ..objects.packfile import PackFile
from ..objects.packwriter import PackWriter

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_PEEK = 64
_BLOB_HEAD = b"\x93\xa4blob"
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


def _peek_tag(canonical_prefix: bytes):
    if len(canonical_prefix) >= 2 and canonical_prefix[0] == 0x93 and 0xA0 <= canonical_prefix[1] <= 0xBF:
        n = canonical_prefix[1] - 0xA0
        if len(canonical_prefix) >= 2 + n:
            return canonical_prefix[2 : 2 + n].decode("ascii", "replace")
    return None


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
    first = os.pread(p.fd, min(size, ENTRY_HEAD + _PEEK), off)
    if len(first) > ENTRY_HEAD and first[ENTRY_HEAD] == compress.RAW:
        tag = _peek_tag(first[ENTRY_HEAD + 1 :])
        if tag is not None:
            return tag
    return read_at(p, pos).TYPE



def _oids(v) -> tuple:
    if not isinstance(v, list) or not all(type(x) is bytes and len(x) == 32 for x in v):
        raise CorruptObjectError("a link list is not a list of 32-byte ids")
    return tuple(v)


def _opt(v) -> tuple:
    if v is None:
        return ()
    if type(v) is not bytes or len(v) != 32:
        raise CorruptObjectError("a link is not a 32-byte id")
    return (v,)


def links_of_canonical(canonical: bytes, where: str) -> tuple:
    """(children to expand, blobs) of a verified record, from its msgpack fields
    without building the record (gc's hot path; fsck does the full validation)."""
    try:
        tag, _schema, f = msgpack.unpackb(canonical, raw=False)
        if tag == "value":
            return _oids(f["subvalues"]), _oids(f["blobs"])
        if tag == "callnode":
            args = f["args"]
            if not isinstance(args, list) or not all(isinstance(a, list) and len(a) == 5 for a in args):
                raise CorruptObjectError("bad args")
            return _opt(f["task"]) + _opt(f["value"]) + _oids([a[3] for a in args]) + _oids(f["children"]), ()
        if tag == "job":
            return _opt(f["task"]) + _opt(f["call_node"]) + _opt(f["eval_value"]) + _oids(f["children"]), ()
        if tag == "execution":
            return _opt(f["job"]), ()
        if tag in ("task", "tag", "blob"):
            return (), ()
    except CorruptObjectError as e:
        raise CorruptObjectError(f"object {where}: {e}; run `redun fsck`") from None
    except Exception as e:  # msgpack's many error types, missing fields
        raise CorruptObjectError(f"object {where} does not decode ({type(e).__name__}); run `redun fsck`") from None
    # an unknown record type: fall back to the full decoder (raises if it is not one)
    return tuple(codec.decode(canonical).links()), ()


def links_at(p, pos: int) -> tuple:
    """(children, blobs) of entry pos of pack p; a blob is not read beyond its first bytes."""
    off, size = entry_at(p.index, pos)
    if size > _BIG_ENTRY:
        first = os.pread(p.fd, ENTRY_HEAD + _PEEK, off)
        if first[ENTRY_HEAD : ENTRY_HEAD + 1] == b"\x00" and first[ENTRY_HEAD + 1 :].startswith(_BLOB_HEAD):
            return (), ()
    oid, stored = stored_at(p, pos)
    where = f"{oid.hex()} in {p.path}"
    canonical = compress.decompress(stored, where)
    if object_id(canonical) != oid:
        raise CorruptObjectError(f"object {where} does not match its id (corrupt); run `redun fsck`")
    return links_of_canonical(canonical, where)


def scan_tmp_pack(path: str) -> Iterator:
    """Records in a tmp pack (a live run's staging), up to the first torn or
    bad entry. Blobs are skipped unread (they link nowhere)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        end = os.fstat(fd).st_size
        if os.pread(fd, len(PACK_MAGIC), 0) != PACK_MAGIC:
            return
        pos = len(PACK_MAGIC)
        while pos + ENTRY_HEAD <= end:
            head = os.pread(fd, ENTRY_HEAD + _PEEK, pos)
            oid, n = head[:32], _U32.unpack_from(head, 32)[0]
            if pos + ENTRY_HEAD + n > end:
                return
            first = head[ENTRY_HEAD : ENTRY_HEAD + n]
            if first[:1] == b"\x00" and first[1:].startswith(_BLOB_HEAD):
                pos += ENTRY_HEAD + n
                continue
            stored = os.pread(fd, n, pos + ENTRY_HEAD)
            try:
                canonical = compress.decompress(stored, path)
                if object_id(canonical) != oid:
                    return
                record = codec.decode(canonical)
            except CorruptObjectError:
                return  # a write in flight or a torn tail
            yield record
            pos += ENTRY_HEAD + n
    finally:
        os.close(fd)


def sorted_pack_writer(packs_dir: str) -> PackWriter:
    """The PackWriter for objects that arrive in increasing id order (gc's
    rewrite, bundles): a tmp pack in packs_dir, 44 bytes of state per object."""
    return PackWriter(PackFile(packs_dir), sorted_ids=True)


def rewrite_pack(packs_dir: str, p) -> str:
    """A new pack holding only the marked entries of p (p.bits), each verified
    while copied. Returns its name; the caller removes the old pack."""
    def live():
        for pos in range(p.index.count):
            if p.bits[pos]:
                oid, stored = stored_at(p, pos)
                where = f"{oid.hex()} in {p.path}"
                if object_id(compress.decompress(stored, where)) != oid:
                    raise CorruptObjectError(f"object {where} does not match its id; run `redun fsck`")
                yield oid, stored

    with sorted_pack_writer(packs_dir) as w:
        w.add_stored_many(live())
    return w.commit()
