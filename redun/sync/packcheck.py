"""Streaming checks of a whole pack as its bytes go by (sync/wholepacks.py).

`PackCheck(name, index, where, entries)` is fed the pack's bytes in order, from wherever
they come (a local file, an S3 download) on their way to wherever they go (a staged copy,
an S3 upload), so nothing is read twice:

- always: the bytes are blake3-hashed; `finish()` compares the digest with the one in the
  pack's index (already checked against its checksum and its name).
- entries=True (a source this machine does not trust): every entry is parsed as it arrives
  (oid | u32 length | stored bytes), decompressed (bounded), hashed against its id and
  decoded field by field, in batches of BATCH entries; the links that leave a batch are
  kept. At `finish()` the (id, offset, size) of the entries, sorted once, must equal the
  index's columns byte for byte (so every entry a reader finds through the index is one
  checked here), and the links that leave the pack are returned for the caller to prove
  held (in bulk: one set difference, no index lookup per link).
"""

import array
import sys

import blake3

from ..errors import CorruptObjectError
from ..objects import codec, compress
from ..objects.ids import object_id
from ..objects.pack import ENTRY_HEAD, PACK_MAGIC, PackIndex
from ..objects.store import verify

BATCH = 4096  # entries per batch


def check_entries(entries: list, where: str) -> set:
    """Check a batch of (oid, stored) entries: decompressed (bounded), hashed against their
    id, decoded field by field. Returns their links to objects outside the batch."""
    ids = {oid for oid, _ in entries}
    links: list = []
    decompress, checked_links = compress.decompress, codec.checked_links
    for oid, stored in entries:
        try:
            data = decompress(stored)
        except CorruptObjectError:
            decompress(stored, f"{oid.hex()} in {where}")  # raises again, naming the object
            raise
        if object_id(data) != oid:
            verify(oid, data, where)  # raises, naming the object
        try:
            links += checked_links(data)
        except CorruptObjectError as e:
            raise CorruptObjectError(f"object {oid.hex()} in {where}: {e}") from None
    return set(links).difference(ids)


class PackCheck:
    def __init__(self, name: str, index: PackIndex, where: str, entries: bool):
        self.name, self.index, self.where, self.entries = name, index, where, entries
        self._path = f"{where}/packs/pack-{name}.pack"
        self.hasher = blake3.blake3()
        self._buf = bytearray()
        self._pos = 0  # file offset of self._buf[0]
        self._ids: list = []  # entry ids, in pack order
        self._offsets = array.array("Q")
        self._sizes = array.array("I")
        self._batch: list = []
        self._outside: set = set()

    def chunks(self, chunks):
        """Pass chunks through, checking each."""
        for chunk in chunks:
            self.feed(chunk)
            yield chunk

    def feed(self, chunk) -> None:
        self.hasher.update(chunk)
        if not self.entries:
            return
        self._buf += chunk
        self._parse()

    def _parse(self) -> None:
        buf, pos = self._buf, 0
        if self._pos == 0:
            if len(buf) < len(PACK_MAGIC):
                return
            if bytes(buf[: len(PACK_MAGIC)]) != PACK_MAGIC:
                raise CorruptObjectError(f"pack {self._pack()} has a bad header")
            pos = len(PACK_MAGIC)
        end = len(buf)
        view = memoryview(buf)
        try:
            while pos + ENTRY_HEAD <= end:
                n = int.from_bytes(view[pos + 32: pos + ENTRY_HEAD], "little")
                if n > compress.MAX_STORED_SIZE:
                    raise CorruptObjectError(f"pack {self._pack()}: entry at offset {self._pos + pos} claims {n} bytes")
                if pos + ENTRY_HEAD + n > end:
                    break
                oid = bytes(view[pos: pos + 32])
                self._batch.append((oid, bytes(view[pos + ENTRY_HEAD: pos + ENTRY_HEAD + n])))
                self._ids.append(oid)
                self._offsets.append(self._pos + pos)
                self._sizes.append(ENTRY_HEAD + n)
                pos += ENTRY_HEAD + n
        finally:
            view.release()
        del buf[:pos]
        self._pos += pos
        if len(self._batch) >= BATCH:
            self._check_batch()

    def _check_batch(self) -> None:
        batch, self._batch = self._batch, []
        if batch:
            self._outside |= check_entries(batch, self._path)

    def _pack(self) -> str:
        return self._path

    def finish(self) -> set:
        """Raise CorruptObjectError unless the bytes fed are the pack its index describes;
        returns the links (entries=True) that no entry of the pack holds."""
        if self.hasher.digest() != self.index.pack_digest:
            raise CorruptObjectError(f"pack {self._pack()} does not match its index digest "
                                     "(damaged or replaced); nothing was changed")
        if not self.entries:
            return set()
        self._check_batch()
        if self._buf or self._pos == 0:
            raise CorruptObjectError(f"pack {self._pack()} ends inside an entry")
        outside = self._outside.difference(self._ids)
        self._outside = set()
        self._match_index()
        return outside

    def _match_index(self) -> None:
        order = sorted(range(len(self._ids)), key=self._ids.__getitem__)
        ids = b"".join(self._ids[i] for i in order)
        offsets = array.array("Q", (self._offsets[i] for i in order))
        sizes = array.array("I", (self._sizes[i] for i in order))
        if sys.byteorder != "little":
            offsets.byteswap()
            sizes.byteswap()
        idx = self.index
        data = idx.data
        if (len(order) != idx.count or ids != data[idx.ids_at: idx.off_at]
                or offsets.tobytes() != data[idx.off_at: idx.size_at]
                or sizes.tobytes() != data[idx.size_at: idx.tail_at]):
            raise CorruptObjectError(f"pack index of {self._pack()} does not list the pack's entries "
                                     "as they are (ids, offsets or sizes differ)")
        self._ids, self._offsets, self._sizes = [], array.array("Q"), array.array("I")
