"""The Remote interface: one side of a push or pull.

A Remote is a repository somewhere (a directory with the `.redun` layout, or
`s3://bucket/prefix`). Both ends of a sync are Remotes; the local repo is a
DirectoryRemote. Contract (tests/test_remote_contract.py runs it over every
implementation):

- read_head() -> Head: the execution refs and the packs the remote holds,
  in one read (one GET on S3). It also fixes the snapshot `has` answers from.
- has(oid) -> bool: whether the remote holds the object, per the last
  read_head (a remote that has an object has its whole closure). Never
  lists the remote's objects.
- get_stored(oid) -> bytes: the object's stored (compressed) bytes; raises
  NotFoundError. The caller verifies the hash; nothing from the remote is
  trusted.
- begin_pack(origin=None) -> PackWriter (objects/packwriter.py, with the remote's sink):
  .add_stored(oid, stored) or .add_stored_many(pairs) objects (children
  first, already verified), then .commit() -> pack name (None if empty) or
  .abort(). Committed objects are durable but not yet named by any ref.
  origin: where the objects come from ({"via": "sync", "from": location});
  a directory keeps it beside the pack (objects/origins.py), S3 does not.
- update_head(head, updates, packs): set refs name -> (old, new) by
  compare-and-swap against `head` and add `packs` to the head. A ref that
  another writer changed meanwhile raises RefConflictError and is left as
  it is; changes to other refs by other writers are merged, never lost.
- optional, for whole-pack transfer (sync/wholepacks.py): pack_files() (a
  source's packs, each with .name and its verified .index, else None),
  pack_chunks(pack) (its bytes, streamed), index_bytes(pack), loose_ids();
  installs_pack_groups() and begin_group(origin) (a destination that takes several
  whole packs at once: a directory installs them all or nothing, S3 uploads them and
  only the next head names them) and groups_installed().
- location: the string the user configured; close() releases files.
Ref names and object ids read from a remote are validated before use; no
name from a remote is ever used to build a local path except after
validation as a pack name (40 hex) or ref name.
"""

import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..errors import InvalidIdError, NotFoundError

_PACK_NAME = re.compile(r"[0-9a-f]{40}\Z")


def check_pack_name(name) -> str:
    if not isinstance(name, str) or not _PACK_NAME.match(name):
        raise InvalidIdError(f"Not a pack name (40 lowercase hex characters): {name!r}")
    return name


@dataclass
class Head:
    """A remote's refs (execs/<uuid> -> oid) and pack names at one moment.
    `token` is what a compare-and-swap of the head compares against (an ETag
    on S3); None when the head does not exist yet."""

    refs: dict = field(default_factory=dict)
    packs: tuple = ()
    token: Optional[str] = None
    format: str = ""  # S3: the HEAD's declared repository format, written back unchanged
    bad_refs: dict = field(default_factory=dict)  # ref name -> why it cannot be read (not in refs)


class Remote:
    location: str = ""
    kind: str = "remote"

    def read_head(self) -> Head:
        raise NotImplementedError

    def has(self, oid: bytes) -> bool:
        raise NotImplementedError

    def has_any(self, oids) -> bool:
        """Whether this remote holds any of `oids` (a whole pack's ids, when planning to send
        it as it is). Remotes that can tell at once that they hold nothing override it."""
        return any(self.has(oid) for oid in oids)

    def get_stored(self, oid: bytes) -> bytes:
        raise NotImplementedError

    def begin_pack(self, origin: Optional[dict] = None):
        raise NotImplementedError

    def update_head(self, head: Head, updates: dict, packs: list) -> None:
        raise NotImplementedError

    # Whole-pack transfer (sync/wholepacks.py); optional.
    def pack_files(self):
        """The source's installed packs as files (name, path, idx_path, index), or None."""
        return None

    def pack_chunks(self, pack):
        raise NotImplementedError

    def index_bytes(self, pack) -> bytes:
        raise NotImplementedError

    def loose_ids(self):
        return iter(())

    def installs_pack_groups(self) -> bool:
        """Whether begin_group(origin) gives a group of whole packs (objects/packgroup.py)."""
        return False

    def groups_installed(self) -> None:
        """Called after a group committed (a directory re-reads its packs)."""

    def same_as(self, other: "Remote") -> bool:
        return self.location == other.location

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalStoreReads:
    """get_stored for a Remote over a store of this machine (`self.store`: a directory or a
    database) whose large values may be kept outside it: `self._blob_reader()` opens that
    value store (value_store_path) on the first object the store lacks."""

    _blob_reader: Optional[Callable] = None
    _blobs = None

    def get_stored(self, oid: bytes) -> bytes:
        try:
            return self.store.get_stored(oid)[0]
        except NotFoundError:
            if self._blob_reader is None:
                raise
            if self._blobs is None:
                self._blobs = self._blob_reader()
            return self._blobs.get_stored(oid)[0]  # a blob kept at [backend] value_store_path
