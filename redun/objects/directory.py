"""Directory object store: loose objects for staging, packs for storage.

Layout under the repo root (a `.redun` directory or a copy of one):
    objects/<2 hex>/<62 hex>     loose object (compress.py framing)
    packs/pack-<40 hex>.pack     pack + its .idx (the idx is installed last)
    packs/tmp-<uuid>.pack        a pack being written; its writer holds an
                                 flock on it. A tmp pack whose lock is free was
                                 left by a crash and is salvaged by recover().
Every write is temp file + rename, so a reader sees all of an object or none.
Packs are only ever deleted by repack() (after their objects are in a newer
installed pack) and by gc; readers holding an mmap of a deleted pack keep
reading it, and a reader that misses refreshes its pack list and retries.
"""

import os
import threading
from typing import Iterable, Iterator, Optional

from ..errors import CorruptObjectError, InvalidIdError, NotFoundError
from . import codec, compress, maintenance, origins, packgroup
from .fileio import read_regular
from .ids import OID_LEN, object_id, tmp_token
from .mappedpack import MappedPack
from .packfile import PackFile, fsync_dir
from .packwriter import PackWriter
from .store import ObjectStore, verify

__all__ = ["DirectoryStore", "PackWriter"]

SMALL_PACK = 8192  # packs up to this many objects go into the id -> pack dict
SMALL_TOTAL = 1 << 19  # at most this many ids in that dict (~50 MB); beyond, binary search
COLD_READS = 64  # reads answered by searching small packs one by one before the dict is built


def _check_oid(oid) -> bytes:
    if type(oid) is not bytes or len(oid) != OID_LEN:
        raise InvalidIdError(f"Not an object id (32 bytes): {oid!r:.80}")
    return oid


class DirectoryStore(ObjectStore):
    def __init__(self, root: str, durable: bool = False):
        self.root = root
        self.name = root
        self.objects_dir = os.path.join(root, "objects")
        self.packs_dir = os.path.join(root, "packs")
        self.durable = durable  # fsync loose objects and their directory (packs are always fsynced)
        os.makedirs(self.objects_dir, exist_ok=True)
        os.makedirs(self.packs_dir, exist_ok=True)
        self._packs: dict = {}  # name -> MappedPack
        self._order: list = []  # newest first
        # Small packs (one per run) are looked up through one dict instead of
        # one binary search each; big packs (after repack) are searched.
        self._small: dict = {}  # oid -> MappedPack, for packs of <= SMALL_PACK objects
        self._small_packs: set = set()
        self._small_budget = SMALL_TOTAL
        self._pending: list = []  # small packs whose ids are not in the dict yet
        self._cold_reads = 0  # reads served without building the dict (see get_stored)
        self._big: list = []  # newest first
        self._recent = None  # the pack that answered the last cold read
        self._writers: list = []
        self._foreign = None  # names of packs with an origin file (objects/origins.py), listed lazily
        self._lock = threading.RLock()
        self.refresh()

    # -- packs --------------------------------------------------------------
    def pack_names(self) -> list:
        """Names of installed packs (those with an index), as on disk now. A pack group whose
        installer died mid-install is finished first (objects/packgroup.py)."""
        entries = os.listdir(self.packs_dir)
        if packgroup.has_journal(entries):
            try:
                if packgroup.roll_forward(self.packs_dir):
                    entries = os.listdir(self.packs_dir)
            except OSError:
                pass  # a read-only copy: recover() there finishes it
        return [e[5:-4] for e in entries if e.startswith("pack-") and e.endswith(".idx")]

    def refresh(self) -> bool:
        """Pick up packs installed (or removed) by other processes. True if anything changed.
        Dropped packs are not closed: a concurrent reader may still hold them."""
        with self._lock:
            names = set(self.pack_names())
            gone = [n for n in self._packs if n not in names]
            for n in gone:
                p = self._packs.pop(n)
                if n in self._small_packs:
                    self._small_packs.discard(n)
                    self._small_budget += p.count_hint
                    if p in self._pending:
                        self._pending.remove(p)
                        continue
                    ids = p.index.ids_bytes()
                    for i in range(0, len(ids), 32):
                        if self._small.get(ids[i : i + 32]) is p:
                            del self._small[ids[i : i + 32]]
            new = 0
            for n in names - set(self._packs):
                try:
                    p = MappedPack(self.packs_dir, n)
                except OSError:
                    continue  # being installed/removed: a later refresh sees it
                self._packs[n] = p
                new += 1
                c = p.count_hint
                if c is not None and c <= SMALL_PACK and self._small_budget >= c:
                    self._small_budget -= c
                    self._small_packs.add(n)
                    self._pending.append(p)  # ids go into the dict on first lookup
            if new or gone:
                self._order = sorted(self._packs.values(), key=lambda p: p.mtime, reverse=True)
                self._big = [p for p in self._order if p.name not in self._small_packs]
                rank = {p.name: i for i, p in enumerate(self._order)}
                self._pending.sort(key=lambda p: rank[p.name])  # cold reads: newest first
            if new or gone:
                self._foreign = None
            return bool(new or gone)

    def packs(self) -> list:
        """Open installed packs, newest first (a damaged pack is left out: fsck reports it)."""
        return [p for p in self._order if p.usable()]

    def pack_writer(self, all_or_nothing: bool = False, origin: Optional[dict] = None) -> PackWriter:
        """A writer staging a tmp pack here; its objects are readable through this store at once.
        all_or_nothing: if the writer dies before commit(), nothing of it is kept (see PackFile).
        origin: the objects come from elsewhere (objects/origins.py); implies all_or_nothing."""
        return PackWriter(PackFile(self.packs_dir, all_or_nothing, origin), store=self)

    def foreign_origins(self, oid: bytes) -> list:
        """[] when a copy of oid was written here (a local pack, a loose object, a live writer
        of this process); else the origin of every pack holding it (objects/origins.py).
        Cheap when no pack came from elsewhere (one cached listing)."""
        foreign = self._foreign
        if foreign is None:
            foreign = self._foreign = origins.foreign_names(self.packs_dir)
        if not foreign:
            return []
        found = []
        for name in foreign:
            p = self._packs.get(name)
            if p is not None and p.usable() and p.index.position(oid) is not None:
                found.append(name)
        if not found:
            return []  # held only by local packs (or loose)
        for w in self._writers:
            if oid in w:
                return []
        for p in self.packs():
            if p.name not in foreign and p.index.position(oid) is not None:
                return []
        if os.path.exists(self._loose_path(oid)):
            return []
        return [origins.read_origin(self.packs_dir, name) for name in sorted(found)]

    def write_pack(self, canonicals) -> Optional[str]:
        """Write an iterable of canonical bytes as one pack; returns its name."""
        with self.pack_writer() as w:
            w.add_many(canonicals)
        return w.commit()

    # -- loose --------------------------------------------------------------
    def _loose_path(self, oid: bytes) -> str:
        h = _check_oid(oid).hex()
        return os.path.join(self.objects_dir, h[:2], h[2:])

    def put_bytes(self, canonical: bytes) -> bytes:
        oid = object_id(canonical)
        self.put_stored(oid, compress.compress(canonical))
        return oid

    def put_stored(self, oid: bytes, stored: bytes) -> None:
        """Write a loose object in stored form (caller has verified it)."""
        if self.has(oid):
            return
        path = self._loose_path(oid)
        d = os.path.dirname(path)
        tmp = os.path.join(d, f".tmp-{tmp_token()}")
        for attempt in range(100):
            try:
                f = open(tmp, "wb")
                break
            except FileNotFoundError:
                # missing, or removed by a concurrent prune_empty_dirs between our makedirs
                # and open (it removes only empty directories: once tmp exists, d stays)
                if attempt == 99:
                    raise
                os.makedirs(d, exist_ok=True)
        with f:
            f.write(stored)
            if self.durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if self.durable:
            fsync_dir(d)

    def iter_loose(self) -> Iterator[bytes]:
        """Ids of loose objects (streamed from the directory listing)."""
        try:
            subdirs = os.listdir(self.objects_dir)
        except FileNotFoundError:
            return
        for sub in subdirs:
            if len(sub) != 2:
                continue
            try:
                names = os.listdir(os.path.join(self.objects_dir, sub))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for n in names:
                if len(n) == 62 and not n.startswith("."):
                    try:
                        yield bytes.fromhex(sub + n)
                    except ValueError:
                        continue

    # -- reads --------------------------------------------------------------
    def get_stored(self, oid: bytes, hint: Optional[str] = None) -> tuple:
        """(stored bytes, where) without decompressing; raises NotFoundError.
        `hint`: name of the pack that probably holds oid (tried first; a wrong or stale
        hint costs one lookup)."""
        _check_oid(oid)
        for w in list(self._writers):
            s = w.read(oid)
            if s is not None:
                return s, w.tmp_path
        for attempt in (0, 1):
            hinted = self._packs.get(hint) if hint is not None else None
            if hinted is not None:  # the caller's hint first: one lookup instead of a search
                s = hinted.read(oid)
                if s is not None:
                    self._recent = hinted
                    return s, hinted.path
            if self._pending and self._cold_reads < COLD_READS:
                # a few reads (`redun log <id>`) search the small packs directly: building
                # building the id -> pack dict is costly at 1M objects (docs/design.md, Stores) and pays
                # off only for many reads
                self._cold_reads += 1
                first = [self._recent] if self._recent is not None and self._recent is not hinted else []
                for p in first + [p for p in self._pending if p not in first and p is not hinted]:
                    s = p.read(oid)
                    if s is not None:
                        self._recent = p  # records read together usually share a pack (one run)
                        return s, p.path
            elif self._pending:
                self._ingest_small()
            p = self._small.get(oid)
            if p is not None:
                s = p.read(oid)
                if s is not None:
                    return s, p.path
            for p in self._big:
                s = p.read(oid)
                if s is not None:
                    return s, p.path
            path = self._loose_path(oid)
            try:
                return read_regular(path, compress.MAX_STORED_SIZE), path
            except FileNotFoundError:
                pass
            if attempt == 0 and not self.refresh():
                break
        raise NotFoundError(f"No object {oid.hex()} in {self.name}.")

    def get_bytes(self, oid: bytes, hint: Optional[str] = None) -> bytes:
        try:
            stored, where = self.get_stored(oid, hint)
            return verify(oid, compress.decompress(stored, f"{oid.hex()} in {where}"), where)
        except CorruptObjectError as damaged:
            # the copy found first is bad: any other pack (or a loose copy) may hold a good one
            for stored, where in self._other_copies(oid):
                try:
                    return verify(oid, compress.decompress(stored, f"{oid.hex()} in {where}"), where)
                except CorruptObjectError:
                    continue
            raise damaged

    def _other_copies(self, oid: bytes) -> Iterator[tuple]:
        """(stored bytes, where) of every copy of oid in the installed packs and loose
        (only read after a damaged copy: the common path never looks beyond the first)."""
        for p in self.packs():
            try:
                s = p.read(oid)
            except CorruptObjectError:
                continue
            if s is not None:
                yield s, p.path
        path = self._loose_path(oid)
        try:
            yield read_regular(path, compress.MAX_STORED_SIZE), path
        except (OSError, CorruptObjectError):
            return

    def get_from(self, oid: bytes, hint: Optional[str]):
        """get(oid), looking in pack `hint` first (e.g. the pack the index says it came from)."""
        data = self.get_bytes(oid, hint)
        try:
            return codec.decode(data)
        except CorruptObjectError as e:
            raise CorruptObjectError(f"object {oid.hex()} in {self.name}: {e}") from None

    def _has_now(self, oid: bytes) -> bool:
        for w in self._writers:
            if oid in w.entries:
                return True
        if self._pending:
            self._ingest_small()
        if oid in self._small:
            return True
        for p in self._big:
            if p.usable() and p.index.position(oid) is not None:
                return True
        return os.path.exists(self._loose_path(oid))

    def has(self, oid: bytes) -> bool:
        if self._has_now(_check_oid(oid)):
            return True
        return self.refresh() and self._has_now(oid)

    def missing(self, oids: Iterable[bytes]) -> list:
        self.refresh()
        return [o for o in oids if not self._has_now(_check_oid(o))]

    def iter_ids(self) -> Iterator[bytes]:
        """Every id once. With one pack (after repack) nothing is held in memory;
        with several, a set of the ids seen (~100 bytes per object)."""
        packs = self.packs()
        if len(packs) <= 1:
            yield from (packs[0].index if packs else ())
            for oid in self.iter_loose():
                if not packs or packs[0].index.position(oid) is None:
                    yield oid
            return
        seen = set()
        for p in packs:
            for oid in p.index:
                if oid not in seen:
                    seen.add(oid)
                    yield oid
        for oid in self.iter_loose():
            if oid not in seen:
                seen.add(oid)
                yield oid

    def prefix_candidates(self, prefix: str, limit: int = 21) -> list:
        self.refresh()
        found = []
        for w in list(self._writers):
            found.extend(o for o in list(w.entries) if o.hex().startswith(prefix) and o not in found)
        for p in self.packs():
            for oid in p.index.with_prefix(prefix, limit):
                if oid not in found:
                    found.append(oid)
        if len(prefix) >= 2:
            d = os.path.join(self.objects_dir, prefix[:2])
            try:
                for n in os.listdir(d):
                    if len(n) == 62 and (prefix[:2] + n).startswith(prefix):
                        oid = bytes.fromhex(prefix[:2] + n)
                        if oid not in found:
                            found.append(oid)
            except (FileNotFoundError, ValueError):
                pass
        else:
            found.extend(o for o in self.iter_loose() if o.hex().startswith(prefix) and o not in found)
        return found[:limit]

    # -- maintenance (redun/objects/maintenance.py) --------------------------
    def pack_loose(self, oids=None) -> Optional[str]:
        """Move loose objects (all, or the given ones) into one pack, then delete them."""
        return maintenance.pack_loose(self, oids)

    def repack(self, include_loose: bool = True) -> Optional[str]:
        """Merge every pack (and loose objects) into one; see maintenance.repack."""
        return maintenance.repack(self, include_loose)

    def recover(self) -> list:
        """Salvage crash debris into packs; returns the names installed. See maintenance.recover."""
        return maintenance.recover(self)

    def release_pages(self) -> None:
        """Let the OS take back the pages of packs read so far: they stay mapped and are
        read again on the next use. A long listing calls this every page, so its resident
        memory does not grow with the packs it has read."""
        with self._lock:
            for p in self._packs.values():
                p.release_pages()

    def close(self):
        with self._lock:
            for p in self._packs.values():
                p.close()
            self._packs.clear()
            self._order = []
            self._big = []
            self._small = {}
            self._small_packs = set()
            self._small_budget = SMALL_TOTAL
            self._pending = []
            self._recent = None

    def _ingest_small(self) -> None:
        with self._lock:
            small = self._small
            for p in self._pending:
                if not p.usable():
                    continue
                ids = p.index.ids_bytes()
                for i in range(0, len(ids), 32):
                    small.setdefault(ids[i : i + 32], p)
            self._pending = []
