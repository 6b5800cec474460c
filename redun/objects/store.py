"""The object store contract, shared by every implementation.

Contract (tests/test_store_contract.py runs it over every implementation):
- put_bytes(canonical) stores an object under object_id(canonical) and returns
  the id; storing the same bytes twice is a no-op. After put returns, get of
  that id succeeds in this process; `flush()` makes it durable for others.
- get_bytes(oid) returns exactly the canonical bytes, verified against oid;
  raises NotFoundError if absent, CorruptObjectError if the bytes are bad.
- has(oid) / missing(oids) answer presence without reading contents.
- resolve_prefix(hex) returns the one id with that hex prefix, or raises
  NotFoundError / AmbiguousPrefixError (listing the candidates).
- iter_ids() streams every id once, in no particular order (objects still in
  an uncommitted PackWriter are not listed).
- Ids arriving as bytes must be 32 bytes (InvalidIdError otherwise, before
  any path is built); hex prefixes are validated by check_prefix.
- Nothing is ever rewritten or deleted by these calls (repack/gc are separate
  and only delete what another installed pack holds, or what is unreachable).
DirectoryStore adds: pack_writer(), write_pack(), put_stored/get_stored (the
stored, compressed form, for copying without recompressing), pack_loose(),
repack(), recover(), refresh(), packs().
"""

from typing import Iterable, Iterator

from ..errors import AmbiguousPrefixError, CorruptObjectError, NotFoundError
from . import codec
from .ids import check_prefix, object_id
from .records import Record


class ObjectStore:
    """Abstract base; subclasses implement the five primitives marked below."""

    name = "store"

    # -- primitives ---------------------------------------------------------
    def get_bytes(self, oid: bytes) -> bytes:
        raise NotImplementedError

    def put_bytes(self, canonical: bytes) -> bytes:
        raise NotImplementedError

    def has(self, oid: bytes) -> bool:
        raise NotImplementedError

    def iter_ids(self) -> Iterator[bytes]:
        raise NotImplementedError

    def prefix_candidates(self, prefix: str, limit: int = 21) -> list:
        """Up to `limit` ids whose hex starts with `prefix` (already validated)."""
        raise NotImplementedError

    # -- derived ------------------------------------------------------------
    def flush(self) -> None:
        """Make everything put so far durable and visible to other processes."""

    def close(self) -> None:
        self.flush()

    def hold_live_run(self, exec_id: bytes):
        """Mark execution exec_id as running until the returned handle's release(): gc keeps
        whatever this store receives meanwhile, linked or not (a run links some of its records
        only later). Stores that stage a run's writes where gc looks (a directory's tmp pack)
        or that gc never sweeps need nothing more: the default holds nothing."""
        return _NO_HOLD

    def release_pages(self) -> None:
        """Let the OS reclaim memory this store maps for reading (packs); reads still work.
        Stores that map nothing hold nothing to release."""

    def put(self, record: Record) -> bytes:
        return self.put_bytes(codec.encode(record))

    def get(self, oid: bytes) -> Record:
        data = self.get_bytes(oid)
        try:
            return codec.decode(data)
        except CorruptObjectError as e:
            raise CorruptObjectError(f"object {oid.hex()} in {self.name}: {e}") from None

    def missing(self, oids: Iterable[bytes]) -> list:
        return [o for o in oids if not self.has(o)]

    def resolve_prefix(self, prefix: str) -> bytes:
        prefix = check_prefix(prefix.lower() if isinstance(prefix, str) else prefix)
        found = self.prefix_candidates(prefix)
        if not found:
            raise NotFoundError(f"No object with id prefix '{prefix}' in {self.name}.")
        if len(found) > 1:
            raise AmbiguousPrefixError(prefix, sorted(o.hex() for o in found))
        return found[0]

    def iter_records(self) -> Iterator[tuple]:
        for oid in self.iter_ids():
            yield oid, self.get(oid)


class _NoHold:
    def release(self) -> None:
        pass


_NO_HOLD = _NoHold()


def verify(oid: bytes, data: bytes, where: str) -> bytes:
    """Check that data hashes to oid; return data."""
    if object_id(data) != oid:
        raise CorruptObjectError(f"object {oid.hex()} in {where} does not match its id (corrupt)")
    return data
