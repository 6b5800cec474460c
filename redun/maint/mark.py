"""gc's mark state: one mark byte per packed object, a set for loose objects.

See redun/maint/gc.py for what is marked and why. Objects are read with pread via
packio (no mmap of pack data); leaf links (a Value's blobs) are marked unread.
"""

import os
import struct
from typing import Iterable

from ..errors import CorruptObjectError, GcError, NotFoundError
from ..objects.fileio import open_regular
from ..objects.pack import PackIndex
from ..objects.packentries import find_position, read_at, type_at
from .packio import links_at, scan_tmp_pack

_LOC = struct.Struct("<II")


class _Pack:
    __slots__ = ("name", "path", "idx_path", "index", "young", "bits", "fd", "mtime")

    def __init__(self, packs_dir: str, name: str, cutoff: float):
        self.name = name
        self.path = os.path.join(packs_dir, f"pack-{name}.pack")
        self.idx_path = os.path.join(packs_dir, f"pack-{name}.idx")
        self.mtime = os.stat(self.idx_path).st_mtime
        self.index = PackIndex.open(self.idx_path)
        self.young = self.mtime >= cutoff
        self.bits = bytearray(self.index.count)
        self.fd = open_regular(self.path)  # a FIFO or device here is damage, not a pack

    def close(self):
        os.close(self.fd)
        self.index.close()


class Marker:
    """Mark state over a snapshot of the store's packs and loose objects."""

    def __init__(self, store, cutoff: float, report):
        self.store = store
        self.cutoff = cutoff
        self.report = report
        self.packs: list = []
        for name in store.pack_names():
            try:
                self.packs.append(_Pack(store.packs_dir, name, cutoff))
            except (OSError, CorruptObjectError, ValueError) as e:
                raise GcError(f"pack {name} cannot be read ({e}); run `redun fsck` first. Nothing was deleted.")
        self.packs.sort(key=lambda p: p.mtime, reverse=True)
        self.loose_marked: set = set()
        self.stack = bytearray()
        self.loose_stack: list = []
        self.missing = None  # a set to collect ids linked but not in this store (bundles)

    def close(self):
        for p in self.packs:
            p.close()

    # -- marking ------------------------------------------------------------
    def _locate(self, oid: bytes, hint: int) -> tuple:
        """(pack number, position) of a copy of oid, or (-1, -1). `hint`: a pack likely
        to hold it (its parent's: a run writes one pack), tried first. An object in
        several packs may get marked in either; keeping any one copy is enough."""
        packs = self.packs
        if 0 <= hint < len(packs):
            pos = find_position(packs[hint].index, oid)
            if pos >= 0:
                return hint, pos
        for i, p in enumerate(packs):
            pos = find_position(p.index, oid)
            if pos >= 0:
                return i, pos
        return -1, -1

    def mark(self, oid: bytes, expand: bool = True, hint: int = -1) -> bool:
        """Mark oid where it lives; push it for expansion if new. False if absent or already marked."""
        i, pos = self._locate(oid, hint)
        if i >= 0:
            p = self.packs[i]
            if p.bits[pos]:
                return False
            p.bits[pos] = 1
            if expand:
                self.stack += _LOC.pack(i, pos)
            return True
        if oid in self.loose_marked:
            return False
        if os.path.exists(self.store._loose_path(oid)):
            self.loose_marked.add(oid)
            if expand:
                self.loose_stack.append(oid)
            return True
        self.report.missing_links += 1
        if self.missing is not None:
            self.missing.add(oid)
        return False

    def mark_links(self, record) -> None:
        children, leaves = record.link_groups()
        for b in leaves:
            self.mark(b, expand=False)  # blobs link nowhere: no need to read them
        for c in children:
            self.mark(c)

    def drain(self) -> None:
        while self.stack or self.loose_stack:
            if self.stack:
                i, pos = _LOC.unpack_from(self.stack, len(self.stack) - 8)
                del self.stack[-8:]
                children, blob_ids = links_at(self.packs[i], pos)
                for b in blob_ids:
                    self.mark(b, expand=False, hint=i)  # blobs link nowhere: no need to read them
                for c in children:
                    self.mark(c, hint=i)
                continue
            else:
                oid = self.loose_stack.pop()
                record = self._read_loose(oid)
                if record is None:
                    continue
            self.mark_links(record)

    def _read_loose(self, oid: bytes):
        try:
            return self.store.get(oid)
        except NotFoundError:
            return None

    def mark_root(self, oid: bytes) -> None:
        self.mark(oid)
        self.drain()

    def mark_young(self) -> None:
        """Young packs and loose objects are kept whole; mark what they link to."""
        for i, p in enumerate(self.packs):
            if not p.young:
                continue
            for pos in range(p.index.count):
                if not p.bits[pos]:
                    p.bits[pos] = 1
                    self.stack += _LOC.pack(i, pos)
                    self.drain()
        for oid in self.store.iter_loose():
            if oid not in self.loose_marked and self._loose_mtime(oid) >= self.cutoff:
                self.loose_marked.add(oid)
                self.loose_stack.append(oid)
                self.drain()

    def _loose_mtime(self, oid: bytes) -> float:
        try:
            return os.stat(self.store._loose_path(oid)).st_mtime
        except FileNotFoundError:
            return 0.0

    def mark_tmp_packs(self) -> None:
        """Records staged by live (or crashed) runs: keep what they link to."""
        for entry in os.listdir(self.store.packs_dir):
            if entry.startswith("tmp-") and entry.endswith(".pack"):
                for record in scan_tmp_pack(os.path.join(self.store.packs_dir, entry)):
                    self.mark_links(record)
                    self.drain()

    def mark_new_packs(self, known: set) -> None:
        """Packs installed since the snapshot are young: mark what they link to."""
        for name in self.store.pack_names():
            if name in known:
                continue
            try:
                extra = _Pack(self.store.packs_dir, name, self.cutoff)
            except (FileNotFoundError, CorruptObjectError, ValueError):
                raise GcError(f"pack {name} appeared but cannot be read; gc stopped before deleting anything.")
            try:
                for pos in range(extra.index.count):
                    if type_at(extra, pos) != "blob":
                        self.mark_links(read_at(extra, pos))
                        self.drain()
            finally:
                extra.close()

    # -- candidates ---------------------------------------------------------
    def unmarked_old(self) -> Iterable[tuple]:
        """(pack or None, pos or oid) of every old object not (yet) marked."""
        for p in self.packs:
            if p.young:
                continue
            for pos in range(p.index.count):
                if not p.bits[pos]:
                    yield p, pos
        for oid in self.store.iter_loose():
            if oid not in self.loose_marked and self._loose_mtime(oid) < self.cutoff:
                yield None, oid


    def marked_entries(self):
        """(oid, pack number, position) of every marked object, ids increasing
        (pack number -1 for a loose object); an id in several packs comes once.
        Streamed: a k-way merge of the packs' sorted id tables."""
        import heapq

        from ..objects.packentries import oid_at

        def from_pack(i, p):
            bits, index = p.bits, p.index
            pos = bits.find(1)
            while pos >= 0:
                yield oid_at(index, pos), i, pos
                pos = bits.find(1, pos + 1)

        loose = ((oid, -1, 0) for oid in sorted(self.loose_marked))
        last = None
        for entry in heapq.merge(*(from_pack(i, p) for i, p in enumerate(self.packs)), loose):
            if entry[0] != last:
                yield entry
                last = entry[0]
