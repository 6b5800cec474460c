"""Reading pack images for catch-up: entries, blob detection, whole-pack verification.

Pure helpers apart from `pack_digest_ok`, which reads the pack's .idx.
"""

import struct

import blake3
import zstandard

from ..errors import CorruptObjectError
from ..objects import compress
from ..objects.pack import ENTRY_HEAD
from ..objects.store import verify

_BLOB_HEAD = b"\x93\xa4blob\x01"  # canonical Blob records start so (see objects/blobs.py)


def _is_blob(stored: bytes) -> bool:
    """Whether a stored object is a Blob chunk, without inflating a megabyte for it."""
    code = stored[0]
    if code == compress.RAW:
        return stored[1:8] == _BLOB_HEAD
    if code == compress.ZSTD and len(stored) > 4096:
        try:
            head = zstandard.ZstdDecompressor().decompressobj().decompress(stored[1:257])
        except zstandard.ZstdError:
            return False
        return head[:7] == _BLOB_HEAD
    return False


def pack_entries(data: bytes, pos: int, path: str, trusted: bool, live: bool):
    """(oid, canonical bytes or None for a Blob, offset after the entry) for each complete
    entry of a pack image. A live tmp pack stops at the first entry that does not verify
    (a write in flight); a damaged entry of an installed pack is skipped (fsck reports it)."""
    end = len(data)
    decompress = compress.decompress
    length = struct.Struct("<I").unpack_from
    dict_code = compress.ZSTD_DICT  # small objects: never a Blob, no need to peek
    while pos + ENTRY_HEAD <= end:
        oid = data[pos : pos + 32]
        nxt = pos + ENTRY_HEAD + length(data, pos + 32)[0]
        if nxt > end:
            return
        stored = data[pos + ENTRY_HEAD : nxt]
        try:
            if trusted and stored[0] != dict_code and _is_blob(stored):
                yield oid, None, nxt
                pos = nxt
                continue
            canonical = decompress(stored, path)
            if not trusted:
                verify(oid, canonical, path)
        except (CorruptObjectError, IndexError):
            if live:
                return
            pos = nxt
            continue
        yield oid, canonical, nxt
        pos = nxt


def pack_digest_ok(pack_path: str, data: bytes) -> bool:
    """Whether the whole pack matches the blake3 digest recorded in its .idx."""
    try:
        with open(pack_path[:-5] + ".idx", "rb") as f:
            f.seek(-64, 2)
            digest = f.read(32)
    except OSError:
        return False
    return blake3.blake3(data, max_threads=blake3.blake3.AUTO).digest() == digest
