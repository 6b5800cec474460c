"""A remote that is a directory with the `.redun` layout (FORMAT, packs/, refs/).

The local repository is one too, and `cp -r .redun elsewhere` is a valid
remote. The head is derived from the directory itself: the refs under
refs/execs/ (one read of refs/.packed plus the few loose ref files) and the
packs whose index exists. Objects arrive as one pack
written through the store's PackWriter (O_APPEND writes of ~1 MiB batches,
in order; installed pack-then-index on commit); refs are then moved one by one with
the ref store's lock + rename compare-and-swap. A push killed half-way
leaves a tmp pack that is invisible to readers; a retry sends the objects
again, and `store.recover()` (fsck/gc) may salvage the tmp pack safely since
it holds whole objects written children first, so any prefix is closed.
recover() is not called here: it is not safe against a concurrent installer.
"""

import os
from typing import Callable, Optional

from ..errors import RedunError, RefConflictError
from ..objects.directory import DirectoryStore
from ..objects.packgroup import chunks_of
from ..refs import DirectoryRefs
from .haves import Haves
from .plan import SYNC_PREFIXES
from .remote import Head, LocalStoreReads, Remote


class DirectoryRemote(LocalStoreReads, Remote):
    kind = "directory"

    def __init__(self, root: str, store: DirectoryStore, refs: DirectoryRefs,
                 blob_reader: Optional[Callable] = None, on_close: Optional[Callable] = None):
        """root: the repository directory; store, refs: its objects and refs.
        blob_reader: returns the store of blobs kept outside (value_store_path),
        called on the first object the repository lacks. on_close: run by close()."""
        self.root = root
        self.location = root
        self.store = store
        self.refs = refs
        self._packs = Haves([])
        self._loose = True
        self._blob_reader = blob_reader
        self._blobs = None
        self._on_close = on_close

    # -- head ---------------------------------------------------------------
    def read_head(self) -> Head:
        bad: dict = {}
        refs = {}
        for prefix in SYNC_PREFIXES:
            try:
                refs.update(self.refs.list(prefix))  # refs/.packed + the few loose ones
            except RedunError:
                refs.update(self._readable_refs(bad, prefix))
        self.store.refresh()
        self._packs = Haves([p.index for p in self.store.packs()])
        self._loose = self._has_loose()
        return Head(refs=refs, packs=tuple(sorted(p.name for p in self.store.packs())), token=None, bad_refs=bad)

    def _readable_refs(self, bad: dict, prefix: str) -> dict:
        """The refs under prefix that can be read, one by one; each unreadable one goes into `bad`."""
        try:
            names = self.refs.names(prefix)
        except RedunError as e:  # refs/.packed itself: only the loose refs remain
            bad["refs/.packed"] = str(e)
            names = self.refs.loose_names(prefix)
        refs = {}
        for name in names:
            try:
                oid = self.refs.get(name)
            except RedunError as e:
                bad[name] = str(e)
                continue
            if oid is not None:
                refs[name] = oid
        return refs

    def _has_loose(self) -> bool:
        try:
            with os.scandir(self.store.objects_dir) as it:
                return any(e.is_dir() for e in it)
        except FileNotFoundError:
            return False

    def has(self, oid: bytes) -> bool:
        if oid in self._packs:
            return True
        if self._loose:
            h = oid.hex()
            return os.path.exists(os.path.join(self.store.objects_dir, h[:2], h[2:]))
        return False

    def has_any(self, oids) -> bool:
        if not self._packs.indexes and not self._loose:
            return False  # an empty repository (the first push): no object to look up
        return super().has_any(oids)

    def pack_files(self) -> list:
        """The installed packs (MappedPack: name, path, idx_path, index), as of read_head.
        None when blobs are kept outside (value_store_path): the packs' records then link to
        objects no pack holds, so sending packs whole would not carry their closure."""
        if self._blob_reader is not None:
            return None
        return self.store.packs()

    def pack_chunks(self, pack):
        """The bytes of one of pack_files(), a few MiB at a time."""
        return chunks_of(pack.path)

    def index_bytes(self, pack) -> bytes:
        with open(pack.idx_path, "rb") as f:
            return f.read()

    def loose_ids(self):
        return self.store.iter_loose()

    # -- writes -------------------------------------------------------------
    def installs_pack_groups(self) -> bool:
        return True

    def begin_group(self, origin: Optional[dict] = None):
        """A PackGroup (objects/packgroup.py): whole packs and one written pack, made
        visible together or not at all, each marked with its origin."""
        from ..objects.packgroup import PackGroup

        self.store.recover()  # what a killed sync left here first (rolls a cut group forward)
        return PackGroup(self.store.packs_dir, origin=origin)

    def groups_installed(self) -> None:
        self.store.refresh()
        self._packs = Haves([p.index for p in self.store.packs()])

    def begin_pack(self, origin: Optional[dict] = None):
        """A writer for objects arriving from elsewhere: marked with their origin
        (objects/origins.py), all or nothing."""
        self.store.recover()  # what a killed sync left here first
        return self.store.pack_writer(origin=origin)  # one write() per ~1 MiB, order kept

    def update_head(self, head: Head, updates: dict, packs: list) -> None:
        # one packed-refs write per 1000 refs instead of an fsync'd file per ref
        conflicts = [n for n in self.refs.set_many(updates) if self.refs.get(n) != updates[n][1]]
        if updates:
            self.refs.maybe_pack()  # many pushed executions: keep the next head read one file
        if conflicts:
            raise RefConflictError(
                f"{len(conflicts)} ref(s) in {self.root} were changed by another writer during the sync: "
                + ", ".join(conflicts[:5])
            )

    def same_as(self, other: Remote) -> bool:
        if not isinstance(other, DirectoryRemote):
            return False
        return os.path.realpath(self.root) == os.path.realpath(other.root)

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
            self._on_close = None
