"""fsck: re-verify every stored object, pack and ref, naming each bad one.

What is checked (DirectoryStore):
- every pack index: header, checksum, the pack name it claims, and the digest
  of its pack file (a truncated or edited pack fails here);
- every object in every pack and every loose object: re-read, decompressed,
  re-hashed against its id, decoded strictly (canonical form);
- closure: every link of every object resolves, and every ref names an object
  that exists. (Checking all links of all objects implies the closure of
  everything reachable from refs without holding a visited set.)
Crash debris (tmp packs, packs without index, temp files) is not damage: it is
listed as a note and `recover()` turns it into packs.

Memory stays bounded: objects are streamed one at a time and no id set is
kept for directory stores (the generic path's iter_ids may hold one: ~100
bytes per object, ~100 MB at 1M objects).
"""

import os
from dataclasses import dataclass, field
from typing import Optional

import blake3

from ..errors import CorruptObjectError, NotFoundError, RedunError
from . import codec, compress
from .fileio import open_regular_file, read_regular
from .ids import object_id
from .pack import ENTRY_HEAD, PACK_MAGIC, PackIndex, read_entry, span_in_file
from .progress import NO_PROGRESS, Progress, progress_or_none


@dataclass
class Problem:
    kind: str  # object | pack | index | ref | link | file
    name: str  # object id, pack name, ref name or file name
    message: str
    where: str = ""

    def __str__(self):
        at = f" [{self.where}]" if self.where else ""
        return f"bad {self.kind} {self.name}: {self.message}{at}"


@dataclass
class FsckReport:
    problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    garbage: list = field(default_factory=list)  # link problems of unreachable objects (maint/reach.py)
    objects: int = 0
    packs: int = 0
    loose: int = 0
    refs: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def bad_objects(self) -> set:
        return {p.name for p in self.problems if p.kind == "object"}

    def summary(self) -> str:
        state = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        return (f"checked {self.objects} objects ({self.packs} packs, {self.loose} loose), "
                f"{self.refs} refs: {state}")


class _Checker:
    def __init__(self, store, refs, progress):
        self.store = store
        self.refs = refs
        self.progress = progress
        self.report = FsckReport()

    def bad(self, kind, name, message, where=""):
        if kind == "object":  # the id and file are shown once, by Problem.__str__
            message = message.replace(f"object {name} in {where}: ", "").replace(f" {name} in {where}", "")
        self.report.problems.append(Problem(kind, name, message, where))

    def check_object(self, oid: bytes, stored, where: str, links: list = None) -> None:
        """Decompress, re-hash, decode strictly, check links; record problems.
        links: collect (oid, record, link) here to be checked in bulk instead."""
        self.report.objects += 1
        h = oid.hex()
        try:
            data = compress.decompress(stored, f"{h} in {where}")
            if object_id(data) != oid:
                raise CorruptObjectError("content does not hash to its id")
            record = codec.decode(data, strict=True)
        except CorruptObjectError as e:
            self.bad("object", h, str(e), where)
            return
        if links is not None:
            links.extend((h, record.TYPE, link) for link in record.links())
            return
        for link in record.links():
            try:
                present = self.store.has(link)
            except RedunError as e:
                present, why = False, str(e)
            else:
                why = "is missing"
            if not present:
                self.bad("link", h, f"{record.TYPE} links to {link.hex()}, which {why}", where)

    # -- directory stores ---------------------------------------------------
    def directory(self) -> None:
        store = self.store
        pdir = store.packs_dir
        names = sorted(os.listdir(pdir))
        for entry in names:
            path = os.path.join(pdir, entry)
            if entry.startswith("pack-") and entry.endswith(".idx"):
                self.pack(entry[5:-4], path)
            elif entry.startswith("pack-") and entry.endswith(".pack"):
                if entry[:-5] + ".idx" not in names:
                    self.report.notes.append(f"pack without index (interrupted install; recover() salvages it): {path}")
            elif entry.startswith("pack-") and entry.endswith(".origin"):
                if entry[:-7] + ".idx" not in names:
                    self.report.notes.append(f"origin file of a pack that is not installed (harmless): {path}")
            elif entry.startswith("install-") and ".journal" in entry:
                self.report.notes.append(f"pack group install journal (live installer or crash; recover() finishes it): {path}")
            elif entry.startswith("tmp-") or ".idx.tmp-" in entry:
                self.report.notes.append(f"temporary file (live writer or crash debris; recover() salvages it): {path}")
            else:
                self.report.notes.append(f"unexpected file in packs/: {path}")
        for oid in store.iter_loose():
            path = store._loose_path(oid)
            try:
                stored = read_regular(path, compress.MAX_STORED_SIZE)
            except FileNotFoundError:
                continue  # packed meanwhile
            except (CorruptObjectError, OSError) as e:
                self.report.loose += 1
                self.bad("object", oid.hex(), f"unreadable loose object: {e}", path)
                continue
            self.report.loose += 1
            self.check_object(oid, stored, path)
            self.progress.advance(1)

    def pack(self, name: str, idx_path: str) -> None:
        self.report.packs += 1
        pack_path = idx_path[:-4] + ".pack"
        try:
            index = PackIndex.open(idx_path)
        except (CorruptObjectError, ValueError, OSError) as e:
            self.bad("index", name, f"unreadable index: {e}", idx_path)
            return
        try:
            try:
                index.verify_checksum()
            except CorruptObjectError:
                self.bad("index", name, "index fails its checksum (corrupt)", idx_path)
            if index.ids_name() != name:
                self.bad("index", name, "index does not list the objects its name promises", idx_path)
            try:
                f = open_regular_file(pack_path)
            except FileNotFoundError:
                self.bad("pack", name, "pack file is missing (its index exists)", pack_path)
                return
            except (CorruptObjectError, OSError) as e:
                self.bad("pack", name, f"unreadable pack: {e}", pack_path)
                return
            with f:
                self.scan_pack(name, index, pack_path, f)
        finally:
            index.close()

    def scan_pack(self, name: str, index: PackIndex, pack_path: str, f) -> None:
        """Read the pack once, front to back (bounded memory, no mmap): digest, and
        every entry checked against the index and re-hashed. If the scan derails
        (bad length, entry not where the index says), the remaining entries are
        read where the index says they are."""
        digest = blake3.blake3()
        stop = None  # offset where the sequential scan stopped trusting the file
        seen = 0
        # f: the pack, opened by pack() as a regular file
        size = os.fstat(f.fileno()).st_size
        magic = f.read(len(PACK_MAGIC))
        digest.update(magic)
        pos = len(magic)
        if magic != PACK_MAGIC:
            self.bad("pack", name, "pack file has a bad header", pack_path)
            stop = 0
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        while stop is None:
            head = f.read(ENTRY_HEAD)
            digest.update(head)
            if len(head) < ENTRY_HEAD:
                if head:
                    stop = pos
                break
            oid, n = head[:32], int.from_bytes(head[32:], "little")
            if index.find(oid) != (pos, ENTRY_HEAD + n) or pos + ENTRY_HEAD + n > size:
                stop = pos
                for chunk in iter(lambda: f.read(1 << 20), b""):  # finish the digest
                    digest.update(chunk)
                break
            body = f.read(n)
            digest.update(body)
            if len(body) < n:
                stop = pos
                break
            self.check_object(oid, body, pack_path)
            self.progress.advance(1)
            seen += 1
            pos += ENTRY_HEAD + n
        if digest.digest() != index.pack_digest:
            self.bad("pack", name, "pack file does not match the digest in its index (truncated or corrupt)",
                     pack_path)
        if stop is None:
            if seen == index.count:
                return
            stop = pos  # the index lists entries beyond the end of the pack
        fd = f.fileno()  # fallback: read the rest where the index says (within the file only)
        for oid, off, n in index.entries():
            if off < stop:
                continue
            try:
                if not span_in_file(off, n, size):
                    raise CorruptObjectError(f"the index places it at {off}+{n}, outside the {size}-byte pack")
                stored = read_entry(os.pread(fd, n, off), 0, n, oid, pack_path)
            except CorruptObjectError as e:
                self.report.objects += 1
                self.bad("object", oid.hex(), str(e), pack_path)
                continue
            self.check_object(oid, stored, pack_path)
            self.progress.advance(1)

    # -- any store ----------------------------------------------------------
    def paged(self) -> None:
        """Stores that stream (oid, stored) pages (PostgreSQL): every object checked as
        above, each page's links looked up in one `missing()` call."""
        where = self.store.name
        for page in self.store.iter_stored_pages():
            links: list = []
            for oid, stored in page:
                self.check_object(oid, stored, where, links)
            absent = set(self.store.missing(list({link for _, _, link in links})))
            for h, kind, link in links:
                if link in absent:
                    self.bad("link", h, f"{kind} links to {link.hex()}, which is missing", where)
            self.progress.advance(len(page))

    def generic(self) -> None:
        where = getattr(self.store, "name", "store")
        for oid in self.store.iter_ids():
            try:
                data = self.store.get_bytes(oid)
            except (CorruptObjectError, NotFoundError) as e:
                self.report.objects += 1
                self.bad("object", oid.hex(), str(e), where)
                continue
            self.check_object(oid, b"\x00" + data, where)
            self.progress.advance(1)

    def check_refs(self) -> None:
        if self.refs is None:
            return
        try:
            names = self.refs.names()
        except RedunError as e:  # the packed refs file: named once, the loose refs still checked
            self.bad("ref", "(packed refs)", str(e))
            names = self.refs.loose_names() if hasattr(self.refs, "loose_names") else []
        for name in names:
            self.report.refs += 1
            try:
                target = self.refs.get(name)
            except RedunError as e:
                self.bad("ref", name, str(e))
                continue
            if target is None:
                continue  # deleted meanwhile
            if not self.store.has(target):
                self.bad("ref", name, f"points to {target.hex()}, which is missing")


def estimate_objects(store) -> Optional[int]:
    """Object count for a progress bar (sum of index counts + loose), or None."""
    packs = getattr(store, "packs", None)
    if packs is None:
        return None
    store.refresh()
    return sum(p.index.count for p in packs()) + sum(1 for _ in store.iter_loose())


def fsck(store, refs=None, progress: Optional[Progress] = None) -> FsckReport:
    """Check `store` (and `refs`, if given); never modifies anything. Reports
    each object checked to `progress`."""
    progress = progress_or_none(progress)
    checker = _Checker(store, refs, progress)
    if hasattr(store, "packs_dir") and hasattr(store, "iter_loose"):
        store.refresh()
        progress.phase("checking objects", total=estimate_objects(store) if progress is not NO_PROGRESS else None)
        checker.directory()
    elif hasattr(store, "iter_stored_pages"):
        progress.phase("checking objects", total=store.count() if progress is not NO_PROGRESS else None)
        checker.paged()
    else:
        progress.phase("checking objects")
        checker.generic()
    progress.phase("checking refs")
    checker.check_refs()
    return checker.report
