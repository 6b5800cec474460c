"""gc's pack-level work: links of an entry without building its record,
the records of live runs' tmp packs, and rewriting a pack with its live
entries (through the one PackWriter, objects/packwriter.py, sorted mode).
Entries are read by position with objects/packentries.py (pread, no mmap).

The file formats are those of redun/objects/pack.py; nothing here changes them.
"""

import os
import struct
from typing import Iterator

from ..errors import CorruptObjectError
from ..objects import codec, compress
from ..objects.blobs import is_raw_blob
from ..objects.ids import object_id
from ..objects.pack import ENTRY_HEAD, PACK_MAGIC
from ..objects.packentries import PEEK, entry_at, stored_at
from ..objects.origins import read_origin
from ..objects.packfile import PackFile
from ..objects.packwriter import PackWriter

_U32 = struct.Struct("<I")
_BIG_ENTRY = 1 << 16  # larger entries: a blob is recognised by its first bytes, not read


def links_of_canonical(canonical: bytes, where: str) -> tuple:
    """(children to expand, blobs) of a verified record, from its msgpack fields without
    building the record (gc's hot path; fsck does the full validation)."""
    try:
        return codec.links_of_encoded(canonical)
    except CorruptObjectError as e:
        raise CorruptObjectError(f"object {where}: {e}; run `redun fsck`") from None


def links_at(p, pos: int) -> tuple:
    """(children, blobs) of entry pos of pack p; a blob is not read beyond its first bytes."""
    off, size = entry_at(p.index, pos)
    if size > _BIG_ENTRY:
        first = os.pread(p.fd, ENTRY_HEAD + PEEK, off)
        if is_raw_blob(first[ENTRY_HEAD:]):
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
            head = os.pread(fd, ENTRY_HEAD + PEEK, pos)
            oid, n = head[:32], _U32.unpack_from(head, 32)[0]
            if pos + ENTRY_HEAD + n > end:
                return
            first = head[ENTRY_HEAD : ENTRY_HEAD + n]
            if is_raw_blob(first):
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


def sorted_pack_writer(packs_dir: str, origin=None) -> PackWriter:
    """The PackWriter for objects that arrive in increasing id order (gc's
    rewrite, bundles): a tmp pack in packs_dir, 44 bytes of state per object.
    origin: where the objects came from (objects/origins.py), kept with the new pack."""
    return PackWriter(PackFile(packs_dir, origin=origin), sorted_ids=True)


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

    with sorted_pack_writer(packs_dir, read_origin(packs_dir, p.name)) as w:  # foreign stays foreign
        w.add_stored_many(live())
    return w.commit()
