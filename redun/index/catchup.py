"""Catch-up: ingest what a repository holds that its index has not seen (the contract is
in index.py): installed packs not yet ingested (each verified whole against its .idx digest;
`redun db reindex` shares them with a helper process, bulk.py), the new bytes of live tmp
packs from the offset reached last time, loose objects, and the Execution records named by
refs/execs/*. When objects the index has rows for were deleted (gc, repack) it starts over.
An mtime stamp makes "nothing new" O(1).

Functions of an Index (its connection, row buffer and commit); they keep no state of their own.
"""

import os
import time
from contextlib import contextmanager
from typing import Optional

from ..errors import RedunError
from ..objects.fileio import NotRegularFileError, open_regular_file
from ..objects.ids import parse_uuid
from ..objects.pack import PACK_MAGIC
from ..objects.packfile import DISCARD_PREFIX
from ..objects.progress import NO_PROGRESS, progress_or_none
from . import bulk
from .catchup_lock import CatchupLock, held_elsewhere
from .files import Progress, remove_index_files
from .packread import pack_digest_ok, pack_entries
from .rows import RowBuffer
from .schema import statements


def catch_up(index, progress: Progress = None, defer_over: Optional[int] = None) -> int:
    """Ingest whatever the repo holds that the index has not seen. Returns records ingested.

    defer_over: a caller that only lists executions (`redun log`) passes a byte count; when
    more than that of installed packs awaits ingesting, or another process is ingesting
    packs now (catchup_lock.py), the packs are left alone: only the executions named by refs
    and their root jobs (read from the store by id) are ingested, and `index.deferred` is
    set to the bytes left, for the caller to hand to a background indexer. Everyone else
    waits for a running catch-up and then ingests what is left."""
    store = index.repo.store
    stamp = _objects_stamp(store)
    index.deferred = 0
    news = stamp is None or index._read("SELECT value FROM meta WHERE key='objects_stamp'") != [(stamp,)]
    pending = news and defer_over is not None and pending_pack_bytes(index, store.packs_dir)
    if pending and (pending > defer_over or held_elsewhere(index.path)):
        index.deferred = pending
        n = _refs(index) + _root_jobs(index)
        index.commit()
        return n
    if not news:  # nothing new in packs/ or objects/: only refs may have moved
        n = _refs(index)
        index.commit()
        if index._read("SELECT value FROM meta WHERE key='indexes_pending'"):
            with _catchup_lock(index, progress):
                _build_if_pending(index)
        return n
    with _catchup_lock(index, progress):
        if _lost_objects(index, store):
            # gc or repack deleted objects the index has rows for: start over
            reset(index)
        n = _packs(index, store.packs_dir, progress)
        n += _loose(index, store)
        n += _refs(index)
        index.commit()
        _build_if_pending(index)
    if stamp is not None and stamp == _objects_stamp(store) and _quiet(store):
        index.commit(lambda c: c.execute("INSERT OR REPLACE INTO meta VALUES ('objects_stamp', ?)", (stamp,)))
    return n


@contextmanager
def _catchup_lock(index, progress: Progress):
    """Hold the catch-up lock (waiting, with a progress line, while another process works)."""
    if index.bulk:  # a private file being built: nobody else catches it up
        yield
        return
    lock = CatchupLock(index.path)
    if not lock.acquire(blocking=False):
        _wait_for(lock, index, progress_or_none(progress))
    try:
        yield
    finally:
        lock.release()


def _wait_for(lock: CatchupLock, index, progress: Progress) -> None:
    """Take the lock once the process holding it lets go; meanwhile the progress line shows
    how many bytes of packs are still to ingest (the holder's commits are visible here)."""
    if progress is NO_PROGRESS:
        lock.acquire()
        return
    packs_dir = index.repo.store.packs_dir
    left = pending_pack_bytes(index, packs_dir)
    progress.phase("waiting for another process indexing this repository", total=left or None, unit="bytes")
    while not lock.acquire(blocking=False):
        time.sleep(0.25)
        if left:
            progress.update(max(0, left - pending_pack_bytes(index, packs_dir)))


def _build_if_pending(index) -> None:
    """Build the secondary indexes a bulk load left for later (once, by the lock holder)."""
    if index._read("SELECT value FROM meta WHERE key='indexes_pending'"):
        index.build_indexes()


def reset(index) -> None:
    """Empty every derived table for a full re-ingest."""
    def wipe(conn):
        keep = {"meta"}
        for stmt in statements()[0]:
            table = stmt.split()[5]
            if table not in keep:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
        for stmt in statements()[0]:
            conn.execute(stmt)
        conn.execute("DELETE FROM meta WHERE key='refs_execs_mtime'")
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('indexes_pending', '1')")

    index.buffer = RowBuffer()
    index.commit(wipe)


def _packs(index, packs_dir: str, progress: Progress) -> int:
    try:
        listing = os.listdir(packs_dir)
    except FileNotFoundError:
        return 0
    done = {r[0] for r in index._read("SELECT name FROM ingested_packs")}
    new = [e[5:-4] for e in listing if e.startswith("pack-") and e.endswith(".idx") and e[5:-4] not in done]
    # live staging is indexed as it grows (a running execution), but not an import's: it
    # shows when it is committed, or never (objects/packfile.py DISCARD_PREFIX)
    tmps = [e for e in listing if e.startswith("tmp-") and e.endswith(".pack") and not e.startswith(DISCARD_PREFIX)]
    tmp_offsets = dict(index._read("SELECT name, offset FROM tmp_packs"))
    gone = [t for t in tmp_offsets if t not in tmps]
    if gone:
        index.commit(lambda c: c.executemany("DELETE FROM tmp_packs WHERE name=?", [(t,) for t in gone]))
    if not new and not tmps:
        return 0
    progress = progress_or_none(progress)
    if progress is not NO_PROGRESS:
        progress.phase("indexing packs", total=bulk.packs_bytes(packs_dir, new), unit="bytes")
    tick = progress.advance
    count = 0

    ids = _pack_ids(index, new) if new else {}
    helper = None
    # A helper's rows are merged as a bulk load's are (duplicates removed when the indexes are
    # built), so a background catch-up shares only while the index has no indexes yet.
    shared = index.bulk or (index.parallel and index._read("SELECT 1 FROM meta WHERE key='indexes_pending'"))
    if shared and bulk.worth_sharing(packs_dir, new, index.bulk):
        new, theirs = bulk.split(packs_dir, new)
        helper_path = f"{index.path}.helper"
        helper = bulk.start(packs_dir, [(n, ids[n]) for n in theirs], helper_path)
    for name in new:
        path = os.path.join(packs_dir, f"pack-{name}.pack")
        with index.lock:
            index.buffer.pack = ids[name]
        try:
            end, n = ingest_pack_file(index, path, len(PACK_MAGIC), tick)
        except FileNotFoundError:
            continue  # removed by gc/repack meanwhile
        finally:
            with index.lock:
                index.buffer.pack = None
        count += n
        index.commit(lambda c, name=name: c.execute("INSERT OR IGNORE INTO ingested_packs VALUES (?)", (name,)))
    if helper is not None:
        count += _merge_helper(index, helper, helper_path, packs_dir, theirs, ids, tick)
    for tmp in tmps:
        start = tmp_offsets.get(tmp, len(PACK_MAGIC))
        try:
            end, n = ingest_pack_file(index, os.path.join(packs_dir, tmp), start, None)
        except FileNotFoundError:
            continue  # committed meanwhile: its pack is picked up next time
        count += n
        if end != start:
            index.commit(lambda c, t=tmp, e=end: c.execute("INSERT OR REPLACE INTO tmp_packs VALUES (?, ?)", (t, e)))
            if not os.path.exists(os.path.join(packs_dir, tmp)):
                # Committed while we read it: its writer (or follower) drops the row after the
                # rename, which may have come before our insert. Either that delete or this
                # one comes last, so no row outlives its tmp pack.
                index.commit(lambda c, t=tmp: c.execute("DELETE FROM tmp_packs WHERE name=?", (t,)))
    return count


def _merge_helper(index, helper, helper_path: str, packs_dir: str, names: list, ids: dict, tick) -> int:
    """Wait for the bulk helper and merge its rows; if it failed, ingest its packs here."""
    try:
        n = bulk.finish(helper)
        if n is not None:
            index.commit()
            there = [x for x in names if os.path.exists(os.path.join(packs_dir, f"pack-{x}.pack"))]
            with index.lock:
                bulk.merge(index.conn, helper_path, there)
            for x in there:
                tick(os.path.getsize(os.path.join(packs_dir, f"pack-{x}.pack")))
            return n
    finally:
        remove_index_files(helper_path)
    count = 0
    for name in names:
        with index.lock:
            index.buffer.pack = ids[name]
        try:
            count += ingest_pack_file(index, os.path.join(packs_dir, f"pack-{name}.pack"), len(PACK_MAGIC), tick)[1]
        except FileNotFoundError:
            continue
        finally:
            with index.lock:
                index.buffer.pack = None
        index.commit(lambda c, name=name: c.execute("INSERT OR IGNORE INTO ingested_packs VALUES (?)", (name,)))
    return count


def pending_pack_bytes(index, packs_dir: str) -> int:
    """Bytes of installed packs the index has not ingested yet."""
    try:
        listing = os.listdir(packs_dir)
    except FileNotFoundError:
        return 0
    done = {r[0] for r in index._read("SELECT name FROM ingested_packs")}
    return bulk.packs_bytes(packs_dir, [e[5:-4] for e in listing
                                        if e.startswith("pack-") and e.endswith(".idx") and e[5:-4] not in done])


def _root_jobs(index) -> int:
    """Ingest the root Job record of every execution whose root job has no row yet, read
    from the store by the id in its Execution record (what an execution listing shows)."""
    missing = index._read(
        "SELECT e.job_oid FROM executions e WHERE e.job_oid IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM jobs j WHERE j.execution_id = e.id AND j.parent_id IS NULL)")
    count = 0
    for (oid,) in missing:
        try:
            index.ingest(oid, index.repo.store.get(oid))
            count += 1
        except RedunError:
            continue  # not in this repository (a partial import): the listing says so
    return count


def _pack_ids(index, names: list) -> dict:
    """pack_ids.id for each pack name (the `pack` column of rows ingested from it)."""
    index.commit(lambda c: c.executemany("INSERT OR IGNORE INTO pack_ids(name) VALUES (?)", [(n,) for n in names]))
    return dict(index._read("SELECT name, id FROM pack_ids"))


def ingest_pack_file(index, path: str, start: int, tick) -> tuple:
    """Ingest complete, valid entries from `start`; returns (offset after the last one, count).

    Streamed entry by entry (packread.py). An installed pack is verified once as a
    whole against the digest in its .idx; a live tmp pack (start > 0 or no idx)
    object by object. A path that is not a regular file is skipped (fsck names it)."""
    try:
        f = open_regular_file(path)
    except NotRegularFileError:
        return start, 0
    with f:
        end = os.fstat(f.fileno()).st_size
        if start > len(PACK_MAGIC):
            f.seek(start)
        elif f.read(len(PACK_MAGIC)) != PACK_MAGIC:
            return start, 0  # not a pack (or still being created); fsck reports damage
        pos = max(start, len(PACK_MAGIC))
        live = start > len(PACK_MAGIC) or os.path.basename(path).startswith("tmp-")
        trusted = not live and pack_digest_ok(path)
        count = held = 0
        last_tick = pos
        chunk = []
        for oid, canonical, pos in pack_entries(f, pos, end, path, trusted, live):
            if canonical is not None:
                chunk.append((oid, canonical))
                held += len(canonical)
            count += 1
            if len(chunk) >= 2000 or held > 1 << 24:
                index.add_canonical(chunk)
                chunk, held = [], 0
                if tick is not None and pos - last_tick > 1 << 20:
                    tick(pos - last_tick)
                    last_tick = pos
    index.add_canonical(chunk)
    if tick is not None:
        tick(pos - last_tick)
    return pos, count


def _lost_objects(index, store) -> bool:
    """Whether an ingested pack disappeared, or an ingested loose object is gone from
    the store (a loose object that was merely packed is forgotten here instead)."""
    try:
        present = {e[5:-4] for e in os.listdir(store.packs_dir) if e.startswith("pack-") and e.endswith(".idx")}
    except FileNotFoundError:
        present = set()
    if any(r[0] not in present for r in index._read("SELECT name FROM ingested_packs")):
        return True
    loose = [r[0] for r in index._read("SELECT oid FROM ingested_loose")]
    if not loose:
        return False
    here = set(store.iter_loose())
    moved = [o for o in loose if o not in here]
    if any(not store.has(o) for o in moved):
        return True
    if moved:
        index.commit(lambda c: c.executemany("DELETE FROM ingested_loose WHERE oid=?", [(o,) for o in moved]))
    return False


def _loose(index, store) -> int:
    try:
        subdirs = [d for d in os.listdir(store.objects_dir) if len(d) == 2]
    except FileNotFoundError:
        return 0
    if not subdirs:
        return 0
    seen = set()
    for (oid,) in index._read("SELECT oid FROM ingested_loose"):
        seen.add(oid)
    new = [o for o in store.iter_loose() if o not in seen]
    count = 0
    for oid in new:
        try:
            index.ingest(oid, store.get(oid))
            count += 1
        except (RedunError, OSError):
            continue  # vanished (packed meanwhile) or damaged: fsck's job
    if new:
        index.commit(lambda c: c.executemany("INSERT OR IGNORE INTO ingested_loose VALUES (?)", [(o,) for o in new]))
    return count


def _refs(index) -> int:
    """Ingest the Execution records named by refs/execs/* that the index does not hold yet."""
    execs_dir = os.path.join(index.repo.refs.dir, "execs")
    try:
        mtime = os.stat(execs_dir).st_mtime_ns
    except FileNotFoundError:
        return 0
    stamp = str(mtime)
    row = index._read("SELECT value FROM meta WHERE key='refs_execs_mtime'")
    if row and row[0][0] == stamp:
        return 0
    known = dict(index._read("SELECT id, oid FROM executions"))
    count = 0
    complete = True
    for name in index.repo.refs.names("execs/"):  # loose files and refs/.packed
        entry = name[len("execs/"):]
        try:
            eid = parse_uuid(entry)
            oid = index.repo.refs.get(f"execs/{entry}")
        except RedunError:
            continue
        if oid is None or known.get(eid) == oid:
            continue
        try:
            index.ingest(oid, index.repo.store.get(oid))
            count += 1
        except RedunError:
            complete = False  # named object not visible yet (writer still staging)
    if not complete or mtime > time.time_ns() - 2_000_000_000:
        # a ref renamed within the directory's timestamp granularity of this scan would
        # not change the stamp: only trust stamps that are a little old
        return count
    index.commit(lambda c: c.execute("INSERT OR REPLACE INTO meta VALUES ('refs_execs_mtime', ?)", (stamp,)))
    return count


def _objects_stamp(store) -> Optional[str]:
    """mtimes of packs/ and objects/ (None if missing, or too recent to trust: a change
    within the timestamp granularity of the last scan would not move them)."""
    try:
        p, o = os.stat(store.packs_dir).st_mtime_ns, os.stat(store.objects_dir).st_mtime_ns
    except OSError:
        return None
    if max(p, o) > time.time_ns() - 2_000_000_000:
        return None
    return f"{p}:{o}"


def _quiet(store) -> bool:
    """No live tmp pack (it grows without touching packs/) and no loose subdirectory
    (files added to one do not touch objects/): then unchanged mtimes mean nothing new."""
    try:
        if any(e.startswith("tmp-") for e in os.listdir(store.packs_dir)):
            return False
        return not any(len(d) == 2 for d in os.listdir(store.objects_dir))
    except OSError:
        return False
