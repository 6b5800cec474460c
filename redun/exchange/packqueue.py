"""PackQueue: an import's records on their way into its pack.

Records are queued and written in batches (one compress + one write() per
~1 MiB instead of one per record), in the order they were added, so every
record still follows what it links to. `present` says whether a record is
already stored: queued, written by this import, or in the repository when the
import started.
"""

import os

from ..objects import compress

WRITE_BATCH_BYTES = 1 << 20  # records queued before one compress + write to the pack


class PackQueue:
    def __init__(self, store, writer):
        self.store = store
        self.writer = writer
        self.pending: dict = {}  # oid -> canonical bytes queued for the pack, in order
        self.pending_size = 0
        self._packs = None  # indexes of the repository's packs, read on first use
        self._loose = True

    def add(self, oid: bytes, data: bytes) -> None:
        """Queue one record; written with its batch by flush()."""
        self.pending[oid] = data
        self.pending_size += len(data)
        if self.pending_size >= WRITE_BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            stored = compress.compress_many(list(self.pending.values()))
            self.writer.add_stored_many(zip(self.pending, stored))
            self.pending, self.pending_size = {}, 0

    def present(self, oid: bytes) -> bool:
        if oid in self.writer.entries or oid in self.pending:
            return True
        if not hasattr(self.store, "packs"):  # a database: one keyed lookup
            return self.store.has(oid)
        if self._packs is None:
            self.store.refresh()
            self._packs = [p.index for p in self.store.packs()]
            self._loose = any(True for _ in self.store.iter_loose())
        for idx in self._packs:
            if idx.find(oid) is not None:
                return True
        if not self._loose:  # no loose objects when we started, and we write none
            return False
        h = oid.hex()
        return os.path.exists(os.path.join(self.store.objects_dir, h[:2], h[2:]))
