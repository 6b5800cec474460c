"""Reading pack files for catch-up, streamed: entries, blob detection, whole-pack verification.

A pack is read entry by entry through a buffered file (never whole into memory),
Blob entries of a verified pack are skipped after peeking at their first bytes,
and every file is opened as a regular file only (objects/fileio.py).
"""

import os
import struct

import blake3
import zstandard

from ..errors import CorruptObjectError
from ..objects import compress
from ..objects.blobs import BLOB_HEAD, is_raw_blob
from ..objects.fileio import open_regular, open_regular_file
from ..objects.pack import ENTRY_HEAD
from ..objects.store import verify

_PEEK = 257  # stored bytes read to tell a Blob from a record
_U32 = struct.Struct("<I")
_CHUNK = 1 << 20


def _is_blob(head: bytes, size: int) -> bool:
    """Whether a stored object of `size` bytes starting with `head` is a Blob chunk,
    without inflating a megabyte for it."""
    code = head[0]
    if code == compress.RAW:
        return is_raw_blob(head)
    if code == compress.ZSTD and size > 4096:
        try:
            out = zstandard.ZstdDecompressor().decompressobj().decompress(head[1:_PEEK])
        except zstandard.ZstdError:
            return False
        return out[: len(BLOB_HEAD)] == BLOB_HEAD
    return False


def pack_entries(f, pos: int, end: int, path: str, trusted: bool, live: bool):
    """(oid, canonical bytes or None for a Blob, offset after the entry) for each complete
    entry of the pack file `f` (positioned at `pos`; `end` = its size when opened).
    A live tmp pack stops at the first entry that does not verify (a write in flight);
    a damaged entry of an installed pack is skipped (fsck reports it)."""
    decompress = compress.decompress
    dict_code = compress.ZSTD_DICT  # small objects: never a Blob, no need to peek
    while pos + ENTRY_HEAD <= end:
        head = f.read(ENTRY_HEAD)
        if len(head) < ENTRY_HEAD:
            return
        oid = head[:32]
        n = _U32.unpack_from(head, 32)[0]
        nxt = pos + ENTRY_HEAD + n
        if nxt > end or n == 0:
            return
        if trusted and n > _PEEK:
            stored = f.read(_PEEK)
            if stored[0] != dict_code and _is_blob(stored, n):
                f.seek(n - _PEEK, os.SEEK_CUR)
                yield oid, None, nxt
                pos = nxt
                continue
            stored += f.read(n - _PEEK)
        else:
            stored = f.read(n)
        if len(stored) < n:
            return
        try:
            canonical = decompress(stored, path)
            if not trusted:
                verify(oid, canonical, path)
        except CorruptObjectError:
            if live:
                return
            pos = nxt
            continue
        yield oid, (None if canonical.startswith(BLOB_HEAD) else canonical), nxt
        pos = nxt


def pack_digest_ok(pack_path: str) -> bool:
    """Whether the whole pack matches the blake3 digest recorded in its .idx (streamed)."""
    try:
        fd = open_regular(pack_path[:-5] + ".idx")
        try:
            size = os.fstat(fd).st_size
            digest = os.pread(fd, 32, size - 64) if size >= 64 else b""
        finally:
            os.close(fd)
        h = blake3.blake3(max_threads=blake3.blake3.AUTO)
        with open_regular_file(pack_path) as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
    except (OSError, CorruptObjectError):
        return False
    return len(digest) == 32 and h.digest() == digest
