"""A PostgreSQL repository as one end of a push or pull (the Remote contract, sync/remote.py).

The head is the execution refs (one query); `has` asks the database, which holds whole
closures (objects are committed children first, refs set after); objects arrive through
the store's PgWriter in batches of whole records; refs move by compare-and-swap in one
transaction (PgRefs.set_many). There are no packs: update_head ignores none, it gets none.
"""

from ..errors import RefConflictError
from ..sync.plan import SYNC_PREFIX
from ..sync.remote import Head, LocalStoreReads, Remote


class PgRemote(LocalStoreReads, Remote):
    kind = "postgresql"

    def __init__(self, store, refs, location: str, on_close=None, blob_reader=None):
        self.store = store
        self.refs = refs
        self.location = location
        self._on_close = on_close
        self._blob_reader = blob_reader
        self._blobs = None

    def read_head(self) -> Head:
        return Head(refs=dict(self.refs.list(SYNC_PREFIX)), packs=(), token=None)

    def has(self, oid: bytes) -> bool:
        return self.store.has(oid)

    def begin_pack(self, origin=None):
        """origin: where the objects come from (objects/origins.py), kept with each one."""
        return self.store.pack_writer(origin=origin)

    def update_head(self, head: Head, updates: dict, packs: list) -> None:
        conflicts = [n for n in self.refs.set_many(updates) if self.refs.get(n) != updates[n][1]]
        if conflicts:
            raise RefConflictError(
                f"{len(conflicts)} ref(s) in {self.location} were changed by another writer during the sync: "
                + ", ".join(conflicts[:5])
            )

    def same_as(self, other: Remote) -> bool:
        return isinstance(other, PgRemote) and other.store.db.conninfo == self.store.db.conninfo

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
            self._on_close = None
