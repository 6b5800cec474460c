"""Pack files and pack indexes: the unit of storage and transfer.

Pack (`pack-<name>.pack`):  b"RDPK" u32(version=1), then entries
    oid(32) | u32 length of stored bytes | stored bytes (compress.py framing)
Index (`pack-<name>.idx`):  b"RDIX" u32(version=1) u32(count)
    fanout 256 x u32 (count of ids whose first byte <= i)
    ids     count x 32 (sorted)
    offsets count x u64 (entry start in the pack)
    sizes   count x u32 (whole entry size)
    blake3(pack bytes) (32) | blake3(everything above) (32)
The pack name is the hex of blake3(sorted ids)[:20 bytes], so equal sets of
objects give equal names. Functions here are pure or work on one open file.
"""

import array
import bisect
import itertools
import mmap
import operator
import os
import struct
from typing import Iterator

import blake3

from ..errors import CorruptObjectError
from .fileio import open_regular

PACK_MAGIC = b"RDPK\x00\x00\x00\x01"
IDX_MAGIC = b"RDIX\x00\x00\x00\x01"
ENTRY_HEAD = 36  # oid + u32
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_PREFIX = struct.Struct(">Q24x")
_FIRST = operator.itemgetter(0)
_FAN2_AFTER = 512  # one-shot CLI lookups never pay for the finer fanout
_FAN2_MIN = 8192


def entry_bytes(oid: bytes, stored: bytes) -> bytes:
    return oid + _U32.pack(len(stored)) + stored


def name_of_ids(id_bytes) -> str:
    """A pack's name: blake3 (20 bytes, hex) of its sorted ids, concatenated (bytes or a view)."""
    return blake3.blake3(id_bytes).digest(20).hex()


def pack_name(sorted_ids: list) -> str:
    """The name of the pack of these ids (a sorted list)."""
    return name_of_ids(b"".join(sorted_ids))


def ids_once_in_order(ids: list) -> bool:
    """Whether each id is in the list once, in increasing order."""
    return sorted(ids) == ids and len(set(ids)) == len(ids)


def ids_in_order(index: "PackIndex") -> bool:
    """Whether the index lists each id once, in increasing order (what its name promises)."""
    prefixes = index.id_prefixes()
    if sorted(prefixes) != prefixes:
        return False
    if len(set(prefixes)) == index.count:
        return True  # distinct prefixes in order: the ids are in order
    return ids_once_in_order(index.id_list())


def index_parts(ids: bytes, offsets: bytes, sizes: bytes, counts: list, pack_digest: bytes) -> list:
    """The .idx layout before its trailing checksum, from sorted columns: `ids`
    (count x 32 bytes; bytes or bytearray, not copied), `offsets`/`sizes` (little-endian u64/u32), `counts` (objects
    per first id byte). The one writer of the format: build_index and gc's
    streaming writer both use it; the caller appends blake3 of the parts."""
    total, fanout = 0, []
    for c in counts:
        total += c
        fanout.append(total)
    return [IDX_MAGIC, _U32.pack(len(ids) // 32), struct.pack("<256I", *fanout), ids, offsets, sizes, pack_digest]


def build_index(entries: list, pack_digest: bytes) -> bytes:
    """entries: (oid, offset, size) for every object in the pack."""
    entries = sorted(entries)
    count = len(entries)
    counts = [0] * 256
    for oid, _, _ in entries:
        counts[oid[0]] += 1
    body = b"".join(index_parts(
        b"".join(e[0] for e in entries),
        struct.pack(f"<{count}Q", *(e[1] for e in entries)),
        struct.pack(f"<{count}I", *(e[2] for e in entries)),
        counts, pack_digest))
    return body + blake3.blake3(body).digest()


class _Ids:
    """Sequence view of the sorted id table, for bisect."""

    __slots__ = ("buf", "base", "n")

    def __init__(self, buf, base, n):
        self.buf, self.base, self.n = buf, base, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        p = self.base + 32 * i
        return self.buf[p : p + 32]


class PackIndex:
    """Read side of an .idx file (mmapped). Lookups are O(log n) within a fanout bucket."""

    def __init__(self, data, where: str):
        self.where = where
        self.data = data
        if len(data) < 8 + 4 + 1024 + 64 or bytes(data[:8]) != IDX_MAGIC:
            raise CorruptObjectError(f"pack index {where} has a bad header")
        (self.count,) = _U32.unpack_from(data, 8)
        self.fan_at = 12
        self.ids_at = self.fan_at + 1024
        self.off_at = self.ids_at + 32 * self.count
        self.size_at = self.off_at + 8 * self.count
        self.tail_at = self.size_at + 4 * self.count
        if len(data) != self.tail_at + 64:
            raise CorruptObjectError(f"pack index {where} is truncated or has trailing bytes")
        if _U32.unpack_from(data, self.fan_at + 4 * 255)[0] != self.count:
            raise CorruptObjectError(f"pack index {where} has an inconsistent fanout table")
        self._ids = _Ids(data, self.ids_at, self.count)
        self._fan = None
        self._fan2 = None  # built after _FAN2_AFTER lookups on an index of >= _FAN2_MIN ids
        self._lookups = 0

    @classmethod
    def open(cls, path: str) -> "PackIndex":
        fd = open_regular(path)
        try:
            if os.fstat(fd).st_size == 0:
                raise CorruptObjectError(f"pack index {path} is empty")
            data = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        return cls(data, path)

    def id_list(self) -> list:
        """Every id, in the index's order (sliced in bulk)."""
        region, n = bytes(self.data[self.ids_at: self.off_at]), self.count
        return list(map(region.__getitem__, map(slice, range(0, 32 * n, 32), range(32, 32 * n + 32, 32))))

    def id_prefixes(self) -> list:
        """The first 8 bytes of every id, as ints, in the index's order."""
        return list(map(_FIRST, _PREFIX.iter_unpack(bytes(self.data[self.ids_at: self.off_at]))))

    def ids_name(self) -> str:
        """What the pack is named after its ids (pack_name): to check against its name."""
        return name_of_ids(self.data[self.ids_at: self.off_at])

    def verify_checksum(self) -> None:
        body = self.data[: self.tail_at + 32]
        if blake3.blake3(body).digest() != bytes(self.data[self.tail_at + 32 : self.tail_at + 64]):
            raise CorruptObjectError(f"pack index {self.where} fails its checksum")

    @property
    def pack_digest(self) -> bytes:
        return bytes(self.data[self.tail_at : self.tail_at + 32])

    def _bucket(self, first: int) -> tuple:
        fan = self._fan
        if fan is None:
            fan = self._fan = (0,) + struct.unpack_from("<256I", self.data, self.fan_at)
        return fan[first], fan[first + 1]

    def find(self, oid: bytes):
        """(offset, size) of oid's entry, or None. Inline binary search: ~2x bisect over _Ids."""
        i = self.position(oid)
        if i is None:
            return None
        off = _U64.unpack_from(self.data, self.off_at + 8 * i)[0]
        size = _U32.unpack_from(self.data, self.size_at + 4 * i)[0]
        return off, size

    def position(self, oid: bytes):
        """Index of oid in the sorted id table, or None."""
        fan2 = self._fan2
        if fan2 is not None:
            k = (oid[0] << 8) | oid[1]
            lo, hi = fan2[k], fan2[k + 1]
        else:
            fan = self._fan
            if fan is None:
                fan = self._fan = (0,) + struct.unpack_from("<256I", self.data, self.fan_at)
            first = oid[0]
            lo, hi = fan[first], fan[first + 1]
            self._lookups += 1
            if self._lookups == _FAN2_AFTER and self.count >= _FAN2_MIN:
                self._build_fan2()
        data, base = self.data, self.ids_at
        while lo < hi:
            mid = (lo + hi) >> 1
            p = base + 32 * mid
            v = data[p : p + 32]
            if v < oid:
                lo = mid + 1
            elif v == oid:
                return mid
            else:
                hi = mid
        return None

    def _build_fan2(self) -> None:
        """A 65536-entry fanout on the first two bytes (256 KiB), built in memory for
        busy big indexes: a lookup then compares ~1 id instead of ~log2(count/256)."""
        ids = self.ids_bytes()
        counts = [0] * 65536
        for a, b in zip(ids[0::32], ids[1::32]):
            counts[(a << 8) | b] += 1
        self._fan2 = array.array("I", itertools.chain((0,), itertools.accumulate(counts)))

    def ids_bytes(self) -> bytes:
        """The whole sorted id table (32 bytes per object)."""
        return bytes(self.data[self.ids_at : self.off_at])

    def with_prefix(self, prefix: str, limit: int) -> list:
        if len(prefix) % 2:
            low = bytes.fromhex(prefix + "0")
        else:
            low = bytes.fromhex(prefix)
        if not low:
            lo, hi = 0, self.count
        elif len(prefix) == 1:  # one hex digit spans 16 fanout buckets
            lo, hi = self._bucket(low[0])[0], self._bucket(low[0] | 0x0F)[1]
        else:
            lo, hi = self._bucket(low[0])
        i = bisect.bisect_left(self._ids, low, lo, hi)
        out = []
        while i < hi and len(out) < limit:
            oid = self._ids[i]
            if not oid.hex().startswith(prefix):
                break
            out.append(oid)
            i += 1
        return out

    def __iter__(self) -> Iterator[bytes]:
        for i in range(self.count):
            yield self._ids[i]

    def entries(self) -> Iterator[tuple]:
        for i in range(self.count):
            off = struct.unpack_from("<Q", self.data, self.off_at + 8 * i)[0]
            size = _U32.unpack_from(self.data, self.size_at + 4 * i)[0]
            yield self._ids[i], off, size

    def close(self):
        try:
            self.data.close()
        except (BufferError, AttributeError):
            pass


def span_in_file(offset: int, size: int, file_size: int) -> bool:
    """Whether an idx entry (offset, size) lies inside a pack of file_size bytes (checked
    before reading it: idx fields are u64/u32 and may be anything in a damaged index)."""
    return len(PACK_MAGIC) <= offset and ENTRY_HEAD <= size and offset + size <= file_size


def read_entry(buf, offset: int, size: int, oid: bytes, where: str) -> bytes:
    """The stored (compressed) bytes of the entry at offset, checked against oid."""
    if offset + size > len(buf) or size < ENTRY_HEAD:
        raise CorruptObjectError(f"object {oid.hex()} in {where}: entry lies outside the pack (truncated pack?)")
    if bytes(buf[offset : offset + 32]) != oid:
        raise CorruptObjectError(f"object {oid.hex()} in {where}: entry header names another object")
    (n,) = _U32.unpack_from(buf, offset + 32)
    if ENTRY_HEAD + n != size:
        raise CorruptObjectError(f"object {oid.hex()} in {where}: entry length mismatch")
    return bytes(buf[offset + ENTRY_HEAD : offset + size])


def scan_entries(buf, where: str) -> Iterator[tuple]:
    """Walk a pack from the start: yields (oid, offset, size, stored).
    Stops quietly at the first incomplete entry (a torn write); the caller
    verifies each object's hash."""
    if len(buf) < len(PACK_MAGIC) or bytes(buf[: len(PACK_MAGIC)]) != PACK_MAGIC:
        raise CorruptObjectError(f"pack {where} has a bad header")
    pos = len(PACK_MAGIC)
    end = len(buf)
    while pos + ENTRY_HEAD <= end:
        oid = bytes(buf[pos : pos + 32])
        (n,) = _U32.unpack_from(buf, pos + 32)
        if pos + ENTRY_HEAD + n > end:
            return
        yield oid, pos, ENTRY_HEAD + n, bytes(buf[pos + ENTRY_HEAD : pos + ENTRY_HEAD + n])
        pos += ENTRY_HEAD + n
