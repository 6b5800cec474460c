"""fsck of a remote repository (s3://bucket/prefix): its HEAD, every pack it
lists (index checksum and name, pack digest) and every object and link.

Packs are downloaded one at a time into the remote's cache (S3Remote does it
and checks each pack against the digest in its index) and dropped at the end.
"""

from typing import Iterator

from ..errors import CorruptObjectError, NotFoundError, RedunError
from ..objects import compress
from ..objects.fsck import FsckReport, Problem, fsck
from ..objects.store import ObjectStore, verify
from ..refs import MemoryRefs


class RemoteObjects(ObjectStore):
    """Read-only ObjectStore view of a sync Remote at one HEAD."""

    def __init__(self, remote, head):
        self.remote = remote
        self.head = head
        self.name = remote.location

    def has(self, oid: bytes) -> bool:
        return self.remote.has(oid)

    def get_stored(self, oid: bytes) -> tuple:
        return self.remote.get_stored(oid), self.name

    def get_bytes(self, oid: bytes) -> bytes:
        stored = self.remote.get_stored(oid)
        return verify(oid, compress.decompress(stored, f"{oid.hex()} in {self.name}"), self.name)

    def iter_ids(self) -> Iterator[bytes]:
        seen = set()
        for name in self.head.packs:
            # S3Remote keeps the verified index of every HEAD pack (loaded by read_head)
            for oid in self.remote.pack_index(name):
                if oid not in seen:
                    seen.add(oid)
                    yield oid

    def prefix_candidates(self, prefix: str, limit: int = 21) -> list:
        return [o for o in self.iter_ids() if o.hex().startswith(prefix)][:limit]

    def put_bytes(self, canonical: bytes) -> bytes:
        raise RedunError(f"{self.name} is opened read-only for checking")


def fsck_remote(location: str, local_root=None, name=None, progress=None) -> FsckReport:
    """Check the remote at `location` (s3://...); never modifies it."""
    from ..repo.remotes import open_remote  # lazy: boto3 only for S3

    with open_remote(location, local_root, name) as remote:
        try:
            head = remote.read_head()
        except CorruptObjectError as e:
            report = FsckReport()
            report.problems.append(Problem("index", "HEAD", str(e), location))
            return report
        refs = MemoryRefs()
        for ref, oid in head.refs.items():
            refs.set(ref, oid)
        store = RemoteObjects(remote, head)
        report = fsck(store, refs, progress=progress)
        report.packs = len(head.packs)
        for pack in head.packs:
            try:
                remote.pack_index(pack)
            except (CorruptObjectError, NotFoundError) as e:
                report.problems.append(Problem("pack", pack, str(e), location))
        return report
