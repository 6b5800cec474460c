"""Large value payloads as Blob records: chunking, writing, reading.

A payload over `[backend] value_store_min_size` is cut into chunks; each chunk
is one Blob record (so its id is blake3 of the Blob's canonical encoding) and
the Value lists the chunk ids in order. Equal chunks are stored once.

Chunking is fixed-size, aligned on *spans*: a caller that knows where large
nested items lie in the payload (the engine, for a list holding big strings)
passes their byte ranges, and every span is chunked from its own start. The
same item encoded alone and chunked the same way then yields the same blobs,
so `[a, b, c]` of three 5 MiB strings plus the three items recorded as
subvalues cost ~15 MiB, not 30. Without spans the payload is chunked from 0.

Speed (the goal and the figures: docs/valuestore.md): the Blob encoding is a fixed header
followed by the chunk, so ids are computed by streaming header + memoryview
slice into blake3 (no record object, no msgpack of 1 GB), chunks whose sample
does not compress are stored raw without a full zstd attempt, a pack entry is
one writev() of its parts (no joined copy), and reads of raw blobs in packs
pread straight into one output buffer and verify it there.

Pure apart from the writer/store it is handed. Imports nothing above objects.
"""

import os
import struct
import threading
from typing import Iterator, Sequence

import blake3
import zstandard

from ..errors import CorruptObjectError, DecodeError, NotFoundError
from . import compress
from .codec import encode, record_head
from .pack import ENTRY_HEAD
from .records import Blob, Value
from .spans import native_spans  # noqa: F401  (re-exported: callers chunk with spans)

CHUNK_SIZE = 1 << 20  # 1 MiB: 1 GB -> 1024 blob ids (~35 KB Value record)
MIN_CHUNK = 1 << 12
MAX_CHUNK = 1 << 28
_SAMPLE = 4096
_PROBE_RATIO = 0.9  # compress a chunk only if its sample shrinks below this

# codec.encode(Blob(data)) == _head(len(data)) + data:
#   fixarray(3) fixstr"blob" fixint(SCHEMA) fixmap(1) fixstr"data" bin8/16/32(len)
BLOB_HEAD = record_head(Blob)  # what every Blob's canonical bytes start with
_PREFIX = encode(Blob(b""))[:-2]  # all but the bin8 header of the empty data (tests/test_blobs.py)
_RAW = bytes((compress.RAW,))
_local = threading.local()


def _head(n: int) -> bytes:
    if n < 0x100:
        return _PREFIX + b"\xc4" + bytes((n,))
    if n < 0x10000:
        return _PREFIX + b"\xc5" + struct.pack(">H", n)
    return _PREFIX + b"\xc6" + struct.pack(">I", n)


def is_raw_blob(stored_prefix: bytes) -> bool:
    """Whether stored bytes (a prefix will do) are a Blob kept uncompressed."""
    return stored_prefix[:1] == _RAW and stored_prefix[1:].startswith(BLOB_HEAD)


def blob_id(chunk) -> bytes:
    """Object id of the Blob record holding `chunk` (bytes-like)."""
    h = blake3.blake3(_head(len(chunk)))
    h.update(chunk)
    return h.digest()


def blob_canonical(chunk) -> bytes:
    """Canonical bytes of Blob(chunk), built without a record object."""
    return b"".join((_head(len(chunk)), chunk))


def blob_data(canonical, where: str = "") -> memoryview:
    """The chunk inside a Blob's canonical bytes (a view, no copy).
    Raises DecodeError if the bytes are not a Blob record."""
    mv = memoryview(canonical)
    n = len(_PREFIX)
    if bytes(mv[:n]) != _PREFIX or len(mv) < n + 2:
        raise DecodeError(f"object {where} is not a blob record")
    tag = mv[n]
    if tag == 0xC4:
        size, start = mv[n + 1], n + 2
    elif tag == 0xC5:
        (size,), start = struct.unpack_from(">H", mv, n + 1), n + 3
    elif tag == 0xC6:
        (size,), start = struct.unpack_from(">I", mv, n + 1), n + 5
    else:
        raise DecodeError(f"blob record {where} has a bad data header")
    if start + size != len(mv):
        raise DecodeError(f"blob record {where} has a length mismatch")
    return mv[start:]


# -- chunking (pure) ----------------------------------------------------------
def chunk_bounds(size: int, chunk_size: int = CHUNK_SIZE, spans: Sequence = ()) -> Iterator[tuple]:
    """(start, end) of each chunk of a payload of `size` bytes.

    `spans`: sorted, non-overlapping (start, end) byte ranges that must be
    chunked from their own start (large nested items). Bytes between spans
    are chunked from the gap's start. Every chunk is at most chunk_size."""
    if not (MIN_CHUNK <= chunk_size <= MAX_CHUNK):
        raise ValueError(f"chunk_size must be between {MIN_CHUNK} and {MAX_CHUNK}")
    pos = 0
    for s, e in spans:
        if s < pos or e < s or e > size:
            raise ValueError(f"span ({s}, {e}) is out of order or outside the payload of {size} bytes")
        yield from _fixed(pos, s, chunk_size)
        yield from _fixed(s, e, chunk_size)
        pos = e
    yield from _fixed(pos, size, chunk_size)


def _fixed(start: int, end: int, chunk_size: int) -> Iterator[tuple]:
    while start < end:
        stop = min(start + chunk_size, end)
        yield start, stop
        start = stop


# -- compression --------------------------------------------------------------
def _compressors():
    c = getattr(_local, "c", None)
    if c is None:
        c = (zstandard.ZstdCompressor(level=1), zstandard.ZstdCompressor(level=3))
        _local.c = c
    return c


def _worth_compressing(chunk: memoryview) -> bool:
    n = len(chunk)
    if n <= 3 * _SAMPLE:
        return True
    mid = n // 2
    sample = b"".join((chunk[:_SAMPLE], chunk[mid : mid + _SAMPLE], chunk[n - _SAMPLE :]))
    return len(_compressors()[0].compress(sample)) < _PROBE_RATIO * len(sample)


def _stored_parts(chunk) -> list:
    """compress.py framing of Blob(chunk) as a list of buffers (joined, they are
    the stored bytes): zstd when a sample of the chunk shrinks, else raw."""
    head = _head(len(chunk))
    if _worth_compressing(chunk):
        packed = _compressors()[1].compress(b"".join((head, chunk)))
        n = len(head) + len(chunk)
        if len(packed) + 1 < n and compress.within_ratio(n, len(packed)):
            return [b"\x01", packed]
    return [b"\x00", head, chunk]


def stored_form(chunk) -> bytes:
    """The stored (compress.py-framed) bytes of Blob(chunk)."""
    return b"".join(_stored_parts(memoryview(chunk).cast("B")))


# -- writing ------------------------------------------------------------------
def _sink(target):
    """(has, put(oid, chunk)) for a PackWriter, a DirectoryStore or any ObjectStore."""
    if hasattr(target, "add_stored_parts"):  # PackWriter
        store = target.store

        def has(oid):
            return oid in target or store.has(oid)

        def put(oid, chunk):
            target.add_stored_parts(oid, _stored_parts(chunk))

        return has, put
    if hasattr(target, "put_stored"):  # DirectoryStore

        def put(oid, chunk):
            target.put_stored(oid, stored_form(chunk))

        return target.has, put

    def put(oid, chunk):  # generic ObjectStore: it hashes again, fine for remotes
        got = target.put_bytes(blob_canonical(chunk))
        if got != oid:
            raise CorruptObjectError(f"store {target.name} stored blob {oid.hex()} under {got.hex()}")

    return target.has, put


def put_payload(target, payload, chunk_size: int = CHUNK_SIZE, spans: Sequence = ()) -> tuple:
    """Write `payload` (bytes-like) as Blob records; return their ids in order.

    `target`: a PackWriter (a run's staging pack), a DirectoryStore, or any
    ObjectStore. Chunks already present are not written again. See
    chunk_bounds for `spans`. An empty payload yields ()."""
    mv = memoryview(payload).cast("B")
    has, put = _sink(target)
    seen: dict = {}
    out = []
    for s, e in chunk_bounds(len(mv), chunk_size, spans):
        chunk = mv[s:e]
        oid = blob_id(chunk)
        out.append(oid)
        if oid in seen or has(oid):
            seen[oid] = True
            continue
        seen[oid] = True
        put(oid, chunk)
    return tuple(out)


def payload_fields(target, payload, min_size: int, chunk_size: int = CHUNK_SIZE, spans: Sequence = ()) -> dict:
    """Value fields for a payload: {data, blobs, size}. Inline below min_size,
    else written as blobs to `target` and data left empty."""
    n = len(payload)
    if min_size is None or n < min_size:
        return {"data": bytes(payload), "blobs": (), "size": n}
    return {"data": b"", "blobs": put_payload(target, payload, chunk_size, spans), "size": n}


# -- reading ------------------------------------------------------------------
def _blob_chunk(store, oid: bytes):
    """Verified chunk of blob `oid` as a bytes-like object."""
    get_stored = getattr(store, "get_stored", None)
    if get_stored is not None:
        stored, where = get_stored(oid)
        where = f"{oid.hex()} in {where}"
        if stored[:1] == b"\x00":
            canonical = memoryview(stored)[1:]
        else:
            canonical = compress.decompress(stored, where)
        if blake3.blake3(canonical).digest() != oid:
            raise CorruptObjectError(f"blob {where} does not match its id (corrupt)")
    else:
        canonical = store.get_bytes(oid)  # verified by the store
        where = f"{oid.hex()} in {store.name}"
    return blob_data(canonical, where)


def _chunk(store, value: Value, i: int):
    oid = value.blobs[i]
    try:
        return _blob_chunk(store, oid)
    except NotFoundError:
        raise NotFoundError(
            f"Blob {oid.hex()} (chunk {i + 1} of {len(value.blobs)}) of value "
            f"{value.hash.hex()} is missing from {getattr(store, 'name', 'the store')}. "
            "Pull it from the remote that has it, or check value_store_path."
        ) from None


def _size_error(value: Value, total: int) -> CorruptObjectError:
    return CorruptObjectError(
        f"value {value.hash.hex()}: its blobs hold {total} bytes but the record says {value.size}"
    )


def iter_payload(store, value: Value) -> Iterator:
    """Stream a Value's payload: its inline data, or its blobs in order (each
    verified, bytes-like). Raises NotFoundError naming the missing blob,
    CorruptObjectError if a blob is bad or the total size differs from Value.size."""
    if not value.blobs:
        yield value.data
        return
    total = 0
    for i in range(len(value.blobs)):
        chunk = _chunk(store, value, i)
        total += len(chunk)
        if total > value.size:
            raise _size_error(value, total)
        yield chunk
    if total != value.size:
        raise _size_error(value, total)


def read_payload(store, value: Value):
    """The whole payload of a Value, bytes-like: its `data` (bytes) when inline,
    else one bytearray filled in place from the blobs (each verified), so a
    1 GB value is copied once. pickle.loads and msgpack accept either.
    Errors as iter_payload."""
    if not value.blobs:
        return value.data
    out = bytearray(value.size)
    mv = memoryview(out)
    fds: dict = {}
    pos = 0
    try:
        for i, oid in enumerate(value.blobs):
            n = _read_from_pack(store, oid, mv, pos, fds)
            if n is None:
                chunk = _chunk(store, value, i)
                n = len(chunk)
                if pos + n > value.size:
                    raise _size_error(value, pos + n)
                mv[pos : pos + n] = chunk
            pos += n
    finally:
        for fd in fds.values():
            os.close(fd)
    if pos != value.size:
        raise _size_error(value, pos)
    return out


def _read_from_pack(store, oid: bytes, out: memoryview, pos: int, fds: dict):
    """Fast path for a DirectoryStore: pread a raw blob straight into out[pos:]
    and verify it there. Returns its length, or None to use the general path."""
    packs = getattr(store, "packs", None)
    if packs is None:
        return None
    for p in packs():
        hit = p.index.find(oid)
        if hit is None:
            continue
        off, size = hit
        fd = fds.get(p.path)
        if fd is None:
            fd = fds[p.path] = os.open(p.path, os.O_RDONLY)
        first = os.pread(fd, min(size, ENTRY_HEAD + 1 + len(_PREFIX) + 5), off)
        if first[:32] != oid or first[ENTRY_HEAD : ENTRY_HEAD + 1] != b"\x00":
            return None  # compressed or damaged: the general path reports it
        stored_len = size - ENTRY_HEAD - 1
        n = stored_len - len(_PREFIX) - 5
        if n < 0x10000:  # short blobs: not worth the fast path
            return None
        head = _head(n)
        if first[ENTRY_HEAD + 1 :] != head or pos + n > len(out):
            return None
        dest = out[pos : pos + n]
        got = os.preadv(fd, [dest], off + ENTRY_HEAD + 1 + len(head))
        h = blake3.blake3(head)
        h.update(dest)
        if got != n or h.digest() != oid:
            raise CorruptObjectError(f"blob {oid.hex()} in {p.path} does not match its id (corrupt)")
        return n
    return None


__all__ = [
    "CHUNK_SIZE",
    "blob_id",
    "blob_canonical",
    "blob_data",
    "chunk_bounds",
    "native_spans",
    "put_payload",
    "payload_fields",
    "iter_payload",
    "read_payload",
    "stored_form",
]
