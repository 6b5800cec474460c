"""Garbage collection of a directory store: mark from roots, sweep what is old.

Roots (never deleted, nor anything they reach):
- every ref (execs/<uuid>, remotes/..., including a running execution's
  preliminary record);
- every object younger than the grace period (by the mtime of its pack index
  or loose file), and everything it links to: a run that started before gc and
  links old objects keeps them;
- objects in tmp packs (live runs' staging) and everything they link to;
- finished jobs of an execution that still has a ref (a crashed run's jobs are
  salvaged into packs but not yet linked from its preliminary record);
- executions named with `keep` (their ref is restored if it was deleted).
Just before deleting, gc looks again at refs, packs and tmp packs created
meanwhile and marks from them, so a run writing concurrently loses nothing.

Sweep: old loose objects that are unmarked are unlinked; an old pack with
garbage is rewritten holding only its marked objects (new pack, then its idx,
then the old idx and pack are removed) or removed when nothing in it is live.

Memory: one mark byte per packed object (bytearray per pack), the pack
indexes (mmapped, 44 bytes per object), a stack of 8-byte locations, and a
set for loose objects only. Objects are read with pread one at a time; blobs
are marked through their Value without being read.
"""

import fcntl
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from ..errors import CorruptObjectError, GcError, NotFoundError
from ..objects.maintenance import prune_empty_dirs
from ..objects.origins import remove_origin
from ..objects.packentries import entry_at, oid_at, read_at, type_at
from ..objects.progress import Progress, progress_or_none
from ..objects.records import Execution, Job
from .mark import Marker
from .packio import rewrite_pack
from .sweeporder import sweep_order

DEFAULT_GRACE_DAYS = 14.0


@dataclass
class GcReport:
    packs: int = 0
    objects: int = 0
    marked: int = 0
    garbage: int = 0
    garbage_bytes: int = 0
    packs_rewritten: int = 0
    packs_removed: int = 0
    loose_removed: int = 0
    loose_packed: int = 0
    missing_links: int = 0
    order_cycles: int = 0  # units swept newest first because their garbage links formed a cycle
    restored_refs: list = field(default_factory=list)
    dry_run: bool = False
    database: bool = False  # a PostgreSQL repository: no packs, no loose objects

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        if self.database:
            return (f"gc: {self.objects} objects in the database; {self.marked} kept; "
                    f"{verb} {self.garbage} ({_human(self.garbage_bytes)})")
        text = (
            f"gc: {self.objects} objects in {self.packs} packs + loose; {self.marked} kept; "
            f"{verb} {self.garbage} ({_human(self.garbage_bytes)})"
        )
        if not self.dry_run:
            text += (f"; {self.packs_rewritten} pack(s) rewritten, {self.packs_removed} removed, "
                     f"{self.loose_removed} loose removed, {self.loose_packed} loose packed")
        return text


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def collect(
    store,
    refs,
    grace_days: float = DEFAULT_GRACE_DAYS,
    keep: Iterable[str] = (),
    dry_run: bool = False,
    on_garbage: Optional[Callable] = None,
    now: Optional[float] = None,
    progress: Optional[Progress] = None,
) -> GcReport:
    """Run gc on a DirectoryStore with its refs; see the module docstring.

    keep: execution uuids (or prefixes of >= 8 hex digits) to keep even if
    their ref is gone. on_garbage(oid, type, nbytes) is called for each object
    that goes (or would go, in a dry run). progress is told each step gc takes."""
    progress = progress_or_none(progress)
    if grace_days < 0:
        raise GcError("the grace period cannot be negative")
    report = GcReport(dry_run=dry_run)
    cutoff = (time.time() if now is None else now) - grace_days * 86400.0
    lock_fd = _lock(store.root)
    try:
        store.refresh()
        m = Marker(store, cutoff, report)
        try:
            report.packs = len(m.packs)
            known = {p.name for p in m.packs}
            keep_prefixes = _keep_prefixes(keep)
            try:
                progress.phase("marking from refs")
                live_execs = _mark_refs(m, refs)
                progress.phase("marking from recent objects and live runs")
                m.mark_young()
                m.mark_tmp_packs()
                progress.phase("looking for jobs of live executions")
                restore = _rescue(m, live_execs, keep_prefixes)
                if not dry_run:
                    # Look again right before deleting: refs, packs and staging written meanwhile.
                    progress.phase("marking what changed meanwhile")
                    _mark_refs(m, refs)
                    m.mark_new_packs(known)
                    m.mark_tmp_packs()
                    m.mark_young()
                progress.phase("counting garbage")
                _count(m, report, on_garbage)
            except CorruptObjectError as e:
                # Without an object's links gc cannot know what it keeps alive.
                raise CorruptObjectError(f"{e}\ngc stopped before deleting anything; run `redun fsck`.") from None
            if not dry_run:
                _sweep(m, report, progress)
                for name, oid in restore:
                    if refs.get(name) is None:
                        refs.set(name, oid, expected=None)
                        report.restored_refs.append(name)
            else:
                report.restored_refs = [name for name, _ in restore if refs.get(name) is None]
        finally:
            m.close()
        if not dry_run:
            store.refresh()
        return report
    finally:
        os.close(lock_fd)


def _lock(root: str) -> int:
    fd = os.open(os.path.join(root, "gc.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise GcError(f"another gc is running on {root}; try again when it has finished.") from None
    return fd


def _mark_refs(m: Marker, refs) -> set:
    live = set()
    for name, oid in refs.list(""):
        m.mark_root(oid)
        if name.startswith("execs/"):
            live.add(name[len("execs/"):])
    return live


def _keep_prefixes(keep: Iterable[str]) -> list:
    out = []
    for k in keep:
        k = k.strip().lower()
        if len(k.replace("-", "")) < 8 or any(c not in "0123456789abcdef-" for c in k):
            raise GcError(f"--keep {k!r}: give an execution id (uuid, or at least 8 of its first characters)")
        out.append(k)
    return out


def _rescue(m: Marker, live_execs: set, keep: list) -> list:
    """Mark jobs of live executions and the executions asked to be kept.
    Returns [(ref name, execution oid)] to restore."""
    from ..objects.ids import uuid_str

    best: dict = {}
    for p, where in m.unmarked_old():  # lazy: bits set meanwhile are re-checked below
        if p is not None and p.bits[where]:
            continue  # marked meanwhile by an earlier rescue
        if p is None and where in m.loose_marked:
            continue
        kind = type_at(p, where) if p is not None else None
        if p is not None and kind not in ("job", "execution"):
            continue
        record = read_at(p, where) if p is not None else m._read_loose(where)
        if type(record) is Job:
            eid = uuid_str(record.execution_id)
            if eid in live_execs or any(eid.startswith(k) for k in keep):
                _mark_here(m, p, where)
                m.mark_links(record)
                m.drain()
        elif type(record) is Execution:
            eid = uuid_str(record.id)
            if any(eid.startswith(k) for k in keep):
                _mark_here(m, p, where)
                m.mark_links(record)
                m.drain()
                oid = oid_at(p.index, where) if p is not None else where
                score = (record.end_time is not None, record.end_time or 0, record.start_time)
                if f"execs/{eid}" not in best or score > best[f"execs/{eid}"][0]:
                    best[f"execs/{eid}"] = (score, oid)
    return [(name, oid) for name, (_, oid) in sorted(best.items())]


def _mark_here(m: Marker, p, where) -> None:
    if p is None:
        m.loose_marked.add(where)
    else:
        p.bits[where] = 1


def _count(m: Marker, report: GcReport, on_garbage) -> None:
    report.objects = sum(p.index.count for p in m.packs) + sum(1 for _ in m.store.iter_loose())
    for p, where in m.unmarked_old():
        if p is not None:
            oid, nbytes = oid_at(p.index, where), entry_at(p.index, where)[1]
        else:
            oid = where
            try:
                nbytes = os.path.getsize(m.store._loose_path(oid))
            except FileNotFoundError:
                continue
        report.garbage += 1
        report.garbage_bytes += nbytes
        if on_garbage is not None:
            kind = type_at(p, where) if p is not None else _loose_type(m, oid)
            on_garbage(oid, kind, nbytes)
    report.marked = report.objects - report.garbage


def _loose_type(m: Marker, oid: bytes) -> str:
    try:
        return m.store.get(oid).TYPE
    except (NotFoundError, CorruptObjectError):
        return "?"


def _sweep(m: Marker, report: GcReport, progress: Progress) -> None:
    """Remove garbage unit by unit, parents before children (maint/sweeporder.py): a kill
    at any point leaves every remaining object with everything it links to."""
    progress.phase("ordering the sweep")
    order, report.order_cycles = sweep_order(m)
    progress.phase("rewriting packs", total=len(order), unit="units")
    for unit in order:
        progress.advance(1)
        if isinstance(unit, int):
            p = m.packs[unit]
            live = p.index.count - p.bits.count(0)
            if live:
                rewrite_pack(m.store.packs_dir, p)
                report.packs_rewritten += 1
            else:
                report.packs_removed += 1
            for path in (p.idx_path, p.path):  # idx first: a pack without idx is never read
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            remove_origin(m.store.packs_dir, p.name)  # last: never a foreign pack without it
        else:
            try:
                os.unlink(m.store._loose_path(unit))
                report.loose_removed += 1
            except FileNotFoundError:
                pass
    # Live loose objects past the grace period (e.g. runs' preliminary records) go into a pack.
    old_live = [oid for oid in m.loose_marked if 0 < m._loose_mtime(oid) < m.cutoff]
    if old_live:
        m.store.pack_loose(old_live)
        report.loose_packed = len(old_live)
    prune_empty_dirs(m.store)


def collect_repo(repo, **kwargs) -> GcReport:
    """collect() on a Repo; when anything was deleted, drops the query index
    (derived, rebuilt on next use) so it never answers with a deleted record.
    A PostgreSQL repository is collected in the database (pg/gc.py), index rows with
    their objects."""
    if getattr(repo, "kind", "local") == "postgresql":
        return _collect_database(repo, **kwargs)
    report = collect(repo.store, repo.refs, **kwargs)
    if not report.dry_run:
        repo.refs.pack_refs()  # maintenance: refs/.packed keeps listing refs one read
    if not report.dry_run and (report.packs_rewritten or report.packs_removed or report.loose_removed):
        from ..index import remove_index_files  # lazy: sqlite only here

        if getattr(repo, "_index", None) is not None:
            repo._index.close()
            repo._index = None
        remove_index_files(repo.index_path)
    return report


def _collect_database(repo, grace_days: float = DEFAULT_GRACE_DAYS, keep: Iterable[str] = (),
                      dry_run: bool = False, on_garbage: Optional[Callable] = None, now: Optional[float] = None,
                      progress: Optional[Progress] = None) -> GcReport:
    from ..pg.gc import collect_database

    if now is not None:
        raise GcError("gc of a PostgreSQL repository measures the grace period by the database's clock; "
                      "`now` cannot be given")
    report = GcReport(dry_run=dry_run, database=True)
    restored = collect_database(repo.db, report, grace_days, keep=keep, dry_run=dry_run, on_garbage=on_garbage,
                                progress=progress_or_none(progress))
    report.restored_refs = [name for name, _ in restored]
    return report
