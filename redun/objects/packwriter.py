"""PackWriter: the one writer of packs and their indexes, over a pluggable sink.

Every pack is written here: a run's staging pack, a push or pull (into a
directory, or built locally and uploaded to S3), repack, recover's salvage,
gc's pack rewrite and unbundle. The sink decides where the bytes go and how
the finished pack is installed (objects/packfile.py: a local tmp pack;
sync/s3remote.py: the same, uploaded); the writer owns the entry
bookkeeping, the digest, the pack name and the index (pack.index_parts).

Each `add()` is one write() to the sink, so a kill -9 leaves a valid prefix
that `DirectoryStore.recover()` salvages: a finished record is never lost.
`add_many()` / `add_stored_many()` write one write() per ~1 MiB (a kill -9
mid-batch keeps a prefix of the batch, in order, so closure holds as long as
the batch lists children before parents).

Two kinds of bookkeeping: by default a dict oid -> (offset, size) (~150
bytes per object; duplicates are skipped and objects can be read back);
with `sorted_ids=True` (gc, bundles: objects arrive in increasing id order)
three compact columns, 44 bytes per object.
"""

import array
import struct
import sys
import threading
from collections import Counter
from typing import Iterable, Optional

import blake3

from ..errors import RedunError
from . import compress
from .pack import ENTRY_HEAD, PACK_MAGIC, index_parts, name_of_ids

_U32 = struct.Struct("<I")
_BATCH_BYTES = 1 << 20


class PackWriter:
    """Appends objects to a sink; commit() turns them into an indexed pack.

    store: a DirectoryStore that serves the objects added here to readers in
    this process at once (others see them after commit()) and refreshes its
    pack list after commit. Thread-safe. Use as a context manager: commit on
    success, abort on exception."""

    def __init__(self, sink, store=None, sorted_ids: bool = False):
        self.sink = sink
        self.store = store
        self.lock = threading.Lock()
        self.closed = False
        self.name: Optional[str] = None
        sink.write(PACK_MAGIC)
        self.offset = len(PACK_MAGIC)
        self.digest = blake3.blake3(PACK_MAGIC)
        if sorted_ids:
            self.entries = None
            self._ids, self._offsets, self._sizes = bytearray(), array.array("Q"), array.array("I")
            self._last = b""
        else:
            self.entries: dict = {}  # oid -> (offset, size)
        if store is not None:
            store._writers.append(self)

    @property
    def tmp_path(self) -> str:
        """The sink's file (the tmp pack while writing)."""
        return self.sink.path

    @property
    def fd(self):
        return self.sink.fd

    def __len__(self):
        return len(self.entries) if self.entries is not None else len(self._sizes)

    def __contains__(self, oid) -> bool:
        return self._find(oid) is not None

    # -- writes -------------------------------------------------------------
    def add(self, canonical: bytes) -> bytes:
        """Add one object (canonical bytes); returns its id. One write()."""
        oid = blake3.blake3(canonical).digest()
        if self._find(oid) is None:
            self.add_stored(oid, compress.compress(canonical))
        return oid

    def add_stored(self, oid: bytes, stored: bytes) -> None:
        """Add an object already in stored (compressed) form; the caller verified it."""
        self._flush_batch([oid + _U32.pack(len(stored)) + stored])

    def add_stored_parts(self, oid: bytes, parts: list) -> None:
        """add_stored for an object whose stored form is split in parts (a large
        blob): one writev() of the whole entry, so the payload is never joined
        in memory and a crash still leaves a valid prefix."""
        n = sum(len(p) for p in parts)
        entry = [oid, _U32.pack(n), *parts]
        size = ENTRY_HEAD + n
        with self.lock:
            if not self._admit(oid):
                return
            self.sink.writev(entry, size)
            for p in entry:
                self.digest.update(p)
            self._record(oid, self.offset, size)
            self.offset += size

    def add_many(self, canonicals: Iterable[bytes]) -> list:
        """Add objects in order with one write() per ~1 MiB; returns their ids.
        Streams: at most ~1 MiB of input is held at a time."""
        hasher, find = blake3.blake3, self._find
        oids, todo, size = [], [], 0
        for data in canonicals:
            oid = hasher(data).digest()
            oids.append(oid)
            if find(oid) is None:
                todo.append((oid, data))
                size += len(data)
                if size >= _BATCH_BYTES:
                    self._add_batch(todo)
                    todo, size = [], 0
        if todo:
            self._add_batch(todo)
        return oids

    def _add_batch(self, todo: list) -> None:
        self.append_stored([oid for oid, _ in todo], compress.compress_many([d for _, d in todo]))

    def add_stored_many(self, items: Iterable[tuple]) -> None:
        """Add (oid, stored) pairs in order, batched like add_many; the caller verified them."""
        pack_len = _U32.pack
        batch, size = [], 0
        for oid, stored in items:
            entry = oid + pack_len(len(stored)) + stored
            batch.append(entry)
            size += len(entry)
            if size >= _BATCH_BYTES:
                self._flush_batch(batch)
                batch, size = [], 0
        if batch:
            self._flush_batch(batch)

    def append_stored(self, oids, stored) -> None:
        """add_stored_many for a small batch (one job's records, under ~1 MiB): one
        write(), without the generic batching (the run's per-job hot path: entries are
        framed straight into the write, each payload copied once)."""
        pack_len = _U32.pack
        if self.entries is None:  # a sorted writer checks the order: the general path
            self._flush_batch([oid + pack_len(len(data)) + data for oid, data in zip(oids, stored)])
            return
        with self.lock:
            if self.closed:
                raise self._closed_error()
            seen, new, out, off = self.entries, {}, [], self.offset
            for oid, data in zip(oids, stored):
                if oid in seen or oid in new:  # keep the first copy only
                    continue
                n = len(data)
                new[oid] = (off, ENTRY_HEAD + n)
                out += (oid, pack_len(n), data)
                off += ENTRY_HEAD + n
            if out:
                self._write_framed(out, new, off)

    def _flush_batch(self, batch: list) -> None:
        with self.lock:
            if self.closed:
                raise self._closed_error()
            out, off = [], self.offset
            if self.entries is not None:
                seen, new = self.entries, {}
                for entry in batch:
                    oid = entry[:32]
                    if oid in seen or oid in new:  # keep the first copy only
                        continue
                    new[oid] = (off, len(entry))
                    out.append(entry)
                    off += len(entry)
            else:
                new = []
                for entry in batch:
                    if self._admit(entry[:32]):
                        new.append((entry[:32], off, len(entry)))
                        out.append(entry)
                        off += len(entry)
            if out:
                self._write_framed(out, new, off)

    def _write_framed(self, out: list, new, off: int) -> None:
        """Under the lock: write the framed entries' parts `out`, which end at offset `off`,
        and note their entries `new` ({oid: (offset, length)} in an unsorted writer, else
        [(oid, offset, length)])."""
        data = b"".join(out)
        self.sink.write(data)
        self.digest.update(data)
        if self.entries is not None:
            self.entries.update(new)
        else:
            for oid, o, n in new:
                self._record(oid, o, n)
        self.offset = off

    def _admit(self, oid: bytes) -> bool:
        """Whether oid is new here (under the lock); raises once closed, or for
        an id out of order in a sorted writer."""
        if self.closed:
            raise self._closed_error()
        if self.entries is not None:
            return oid not in self.entries
        if oid <= self._last:
            if oid == self._last:
                return False
            raise ValueError("this PackWriter (sorted_ids) needs ids in increasing order")
        self._last = oid
        return True

    def _record(self, oid: bytes, offset: int, size: int) -> None:
        if self.entries is not None:
            self.entries[oid] = (offset, size)
        else:
            self._ids += oid
            self._offsets.append(offset)
            self._sizes.append(size)

    def _closed_error(self) -> RedunError:
        return RedunError(
            f"pack writer {self.tmp_path} was already committed or aborted; nothing more can be "
            "added to it (open a new one with store.pack_writer())"
        )

    # -- reads --------------------------------------------------------------
    def _find(self, oid: bytes):
        if self.entries is not None:
            return self.entries.get(oid)
        ids, lo, hi = self._ids, 0, len(self._sizes)
        while lo < hi:
            mid = (lo + hi) >> 1
            if ids[32 * mid : 32 * mid + 32] < oid:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(self._sizes) and ids[32 * lo : 32 * lo + 32] == oid:
            return self._offsets[lo], self._sizes[lo]
        return None

    def read(self, oid: bytes) -> Optional[bytes]:
        """Stored bytes of an object added here, or None."""
        with self.lock:
            hit = self._find(oid)
            if hit is None or self.closed:
                return None
            off, size = hit
            return self.sink.pread(size - ENTRY_HEAD, off + ENTRY_HEAD)

    # -- finish -------------------------------------------------------------
    def _index(self) -> tuple:
        """(pack name, index parts with their checksum) from the entries."""
        if self.entries is not None:
            order = sorted(self.entries)
            ids = b"".join(order)
            offsets = array.array("Q", [self.entries[o][0] for o in order])
            sizes = array.array("I", [self.entries[o][1] for o in order])
        else:
            ids, offsets, sizes = self._ids, self._offsets, self._sizes
        firsts = Counter(ids[::32])
        counts = [firsts.get(b, 0) for b in range(256)]
        if sys.byteorder != "little":
            offsets, sizes = array.array("Q", offsets), array.array("I", sizes)
            offsets.byteswap()
            sizes.byteswap()
        parts = index_parts(ids, offsets.tobytes(), sizes.tobytes(), counts, self.digest.digest())
        check = blake3.blake3()
        for part in parts:
            check.update(part)
        return name_of_ids(ids), parts + [check.digest()]

    def commit(self) -> Optional[str]:
        """Make the pack durable and visible; returns its name (None if empty). Idempotent."""
        with self.lock:
            if self.closed:
                return self.name
            self.closed = True
        try:
            if not len(self):
                self.sink.discard()
                return None
            name, index = self._index()
            # The sink keeps its lock until close(), after the index is installed (see recover()).
            self.sink.install(name, index)
            self.name = name
            return name
        finally:
            self.sink.close()
            self._detach()
            if self.name is not None and self.store is not None:
                self.store.refresh()

    def abort(self) -> None:
        """Throw away everything added; nothing becomes visible to others."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
        self.sink.discard()
        self._detach()

    def _detach(self):
        if self.store is not None:
            try:
                self.store._writers.remove(self)
            except ValueError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()
