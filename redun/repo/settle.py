"""Copies of a live repository (`cp -r .redun`) made while runs write.

A file-by-file copy sees each directory at a different moment: GNU cp on ext4
copies `objects/`, `packs/`, `refs/` in inode order, so refs can be newer than
the packs copied before them (a run that finished mid-copy), packs can lack
their index, and tmp packs are cut mid-entry. Every file is still whole
(all writes are temp + rename, packs are append-only), so the copy is a valid
repository once it is *settled*:

1. salvage tmp packs and index-less packs (DirectoryStore.recover), as after
   a crash: their lock is free in the copy;
2. roll back each ref whose target is missing to the newest record the copy
   has for it (an execution's preliminary record: it then reads as a run that
   was still going), or drop it if the copy has none (the run started after
   the copy was taken);
3. drop the query index (derived; it may describe packs the copy lacks).

A repository records the inode of its directory in `.redun/ORIGIN`; opening a
repository whose directory has another inode (a copy) settles it once and
records the new inode. Settling a consistent repository changes nothing but
that file, so a false alarm (a move across filesystems) is harmless.
"""

import os

from ..errors import CorruptObjectError, NotFoundError, RedunError, RefConflictError

ORIGIN_FILENAME = "ORIGIN"


def _inode(root: str) -> str:
    return str(os.stat(root).st_ino)


def write_origin(root: str) -> None:
    tmp = os.path.join(root, f"{ORIGIN_FILENAME}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            f.write(_inode(root) + "\n")
        os.replace(tmp, os.path.join(root, ORIGIN_FILENAME))
    except OSError:
        pass  # read-only copy: it will be settled (harmlessly) on each open


def is_copy(root: str) -> bool:
    """True when .redun/ORIGIN names another directory inode than root's."""
    try:
        with open(os.path.join(root, ORIGIN_FILENAME)) as f:
            recorded = f.read().strip()
    except FileNotFoundError:
        write_origin(root)  # a repository from before ORIGIN: adopt it
        return False
    except OSError:
        return False
    return recorded != _inode(root)


class SettleReport:
    """What settling a copied repo changed (a plain class: archival is imported on every repo open)."""

    def __init__(self):
        self.salvaged: list = []  # pack names
        self.rolled_back: list = []  # (ref, old oid, new oid)
        self.dropped: list = []  # ref names
        self.index_dropped = False

    @property
    def changed(self) -> bool:
        return bool(self.salvaged or self.rolled_back or self.dropped)


def settle_if_copied(repo) -> "SettleReport | None":
    """Settle `repo` if it is a copy (see module docstring); None otherwise."""
    if not is_copy(repo.root) or not os.access(repo.root, os.W_OK):
        return None  # a read-only copy is used as it is
    try:
        report = settle(repo.store, repo.refs, index_path=repo.index_path)
    except (OSError, RedunError):
        # e.g. files not writable, an unreadable refs file: opening must still work so that
        # `redun fsck` can name the damage; settling is tried again on the next open
        return None
    write_origin(repo.root)
    return report


def settle(store, refs, index_path: str = None) -> SettleReport:
    """Make a copied repository consistent: salvage, roll back refs, drop the index."""
    report = SettleReport()
    report.salvaged = store.recover()
    store.refresh()
    broken = [(name, oid) for name, oid in refs.list("") if not store.has(oid)]
    if broken:
        fallback = _newest_executions(store, {n[len("execs/"):] for n, _ in broken if n.startswith("execs/")})
        for name, oid in broken:
            new = fallback.get(name[len("execs/"):]) if name.startswith("execs/") else None
            try:
                if new is not None:
                    refs.set(name, new, expected=oid)
                    report.rolled_back.append((name, oid, new))
                else:
                    refs.delete(name, expected=oid)
                    report.dropped.append(name)
            except RefConflictError:  # changed meanwhile by another process settling it: theirs wins
                continue
    if index_path is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):  # the sqlite file and its companions
            try:
                os.unlink(index_path + suffix)
            except FileNotFoundError:
                pass
        report.index_dropped = True
    return report


def _newest_executions(store, exec_ids: set) -> dict:
    """{uuid text: oid} of the newest Execution record per id the store holds
    (finished beats running, then later end/start time). Scans loose objects
    (where preliminary records live) and packs, reading only execution records."""
    from ..objects.packentries import oid_at, read_at, type_at
    from ..objects.ids import uuid_str
    from ..objects.records import Execution

    best: dict = {}

    def consider(oid, rec):
        if type(rec) is not Execution:
            return
        eid = uuid_str(rec.id)
        if eid not in exec_ids:
            return
        score = (rec.end_time is not None, rec.end_time or 0, rec.start_time)
        if eid not in best or score > best[eid][0]:
            best[eid] = (score, oid)

    for oid in store.iter_loose():
        try:
            consider(oid, store.get(oid))
        except (CorruptObjectError, NotFoundError):
            continue  # damaged or packed meanwhile: fsck reports damage
    for p in store.packs():
        view = _PackView(p)
        try:
            for pos in range(p.index.count):
                try:
                    if type_at(view, pos) == "execution":
                        consider(oid_at(p.index, pos), read_at(view, pos))
                except CorruptObjectError:
                    continue  # a damaged record never stops settling (fsck names it)
        finally:
            view.close()
    return {eid: oid for eid, (_, oid) in best.items()}


class _PackView:
    """What gcpack's readers need (fd, index, path) for an open store pack."""

    def __init__(self, p):
        self.index, self.path = p.index, p.path
        self.fd = os.open(p.path, os.O_RDONLY)

    def close(self):
        os.close(self.fd)
