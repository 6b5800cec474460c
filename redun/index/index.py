"""The Index: a rebuildable sqlite (WAL) view of a repository's objects.

Contract:
- `open_index(repo)` opens `.redun/index.sqlite3`, rebuilding it silently if it
  is missing, corrupt or of another schema version, then catches up: packs
  not yet ingested, new bytes of live tmp packs, loose objects not yet seen
  and `refs/execs/*` heads. Catch-up costs O(new objects), not O(repo).
- `ingest(oid, record)` / `ingest_many(pairs)` buffer rows; `commit()` writes
  them in one short transaction. Queries flush the buffer first, so a writer
  sees what it ingested. Re-ingesting anything is harmless.
- `note_pack(name)`: the caller already ingested every object of that pack.
- Several processes may use one index at once (WAL + busy timeout).
Deleting the file is always safe: the next open rebuilds it from the objects.
"""

import os
import sqlite3
import threading
import time
from typing import Callable, Iterable, Optional


from ..errors import CorruptObjectError, RedunError
from ..objects.fileio import NotRegularFileError, open_regular_file
from ..objects.ids import parse_uuid
from ..objects.pack import PACK_MAGIC
from ..objects.progress import NO_PROGRESS, Progress as _Progress, progress_or_none
from . import bulk
from .packread import pack_digest_ok, pack_entries
from .queries import Queries
from .rows import RowBuffer
from .schema import (
    KEYED, OFTEN_DUPLICATED, SCHEMA_VERSION, UNIQUE, dedupe, dedupe_keyed, key_index, statements, unique_index,
)

BUSY_TIMEOUT_MS = 60_000
BATCH = 20_000  # records per write transaction during catch-up
BULK_BATCH = 200_000  # the same while building a private file (`redun db reindex`)
Progress = Optional[_Progress]  # told the bytes of packs ingested


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA page_size=4096")  # only takes effect when the file is created
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # derived data: losing the tail is fine
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def _schema_version(conn) -> Optional[int]:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return None
        raise
    return int(row[0]) if row else None


def remove_index_files(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass


class Index(Queries):
    def __init__(self, repo, conn: sqlite3.Connection, path: str):
        self.batch = BATCH
        self.repo = repo
        self.path = path
        self.conn = conn
        self.lock = threading.RLock()
        self.buffer = RowBuffer()

    # -- opening ------------------------------------------------------------
    @classmethod
    def open(cls, repo, catch_up: bool = True, progress: Progress = None, path: str = None,
             bulk: bool = False) -> "Index":
        """bulk: a private new file being built (no journal, no fsync, big transactions)."""
        path = path or repo.index_path
        conn = None
        for attempt in (0, 1):
            try:
                conn = _connect(path)
                version = _schema_version(conn)
                if version is None:
                    conn.execute("BEGIN IMMEDIATE")
                    tables, _ = statements()
                    for stmt in tables:
                        conn.execute(stmt)
                    conn.execute(
                        "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                    )
                    # secondary indexes are built once the first catch-up is done (bulk-load speed)
                    conn.execute("INSERT OR IGNORE INTO meta VALUES ('indexes_pending', '1')")
                    conn.execute("COMMIT")
                    version = _schema_version(conn)
                if version != SCHEMA_VERSION:
                    raise sqlite3.DatabaseError(f"index schema {version}, want {SCHEMA_VERSION}")
                break
            except sqlite3.DatabaseError:
                # corrupt, foreign or another schema version: derived data, rebuild it
                if conn is not None:
                    conn.close()
                    conn = None
                if attempt:
                    raise
                remove_index_files(path)
        index = cls(repo, conn, path)
        if bulk:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("PRAGMA cache_size=-131072")  # sorts for the index builds stay in memory
            index.batch = BULK_BATCH
        if catch_up:
            index.catch_up(progress)
        return index

    def close(self) -> None:
        with self.lock:
            if self.conn is not None:
                try:
                    self.commit()
                finally:
                    self.conn.close()
                    self.conn = None

    # -- writing ------------------------------------------------------------
    def ingest(self, oid: bytes, record) -> None:
        with self.lock:
            self.buffer.add(oid, record)
            if len(self.buffer) >= self.batch:
                self.commit()

    def ingest_many(self, pairs: Iterable) -> None:
        for oid, record in pairs:
            self.ingest(oid, record)

    def ingest_rows(self, rows: RowBuffer) -> None:
        """Buffer rows another RowBuffer already built (a run builds them as it records)."""
        with self.lock:
            self.buffer.merge(rows.parts(), rows.count)
            if self.buffer.count >= self.batch:
                self.commit()

    def commit(self, extra: Callable = None) -> None:
        """Write buffered rows (and run `extra(conn)`) in one transaction."""
        with self.lock:
            if not len(self.buffer) and extra is None:
                return
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                if len(self.buffer):
                    pending = conn.execute("SELECT 1 FROM meta WHERE key='indexes_pending'").fetchone()
                    self.buffer.flush(conn, bulk=pending is not None)
                if extra is not None:
                    extra(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def note_pack(self, name: str) -> None:
        self.commit(lambda c: c.execute("INSERT OR IGNORE INTO ingested_packs VALUES (?)", (name,)))

    def _read(self, sql: str, params=()) -> list:
        with self.lock:
            if len(self.buffer):
                self.commit()
            return self.conn.execute(sql, params).fetchall()

    # -- catch-up -----------------------------------------------------------
    def catch_up(self, progress: Progress = None) -> int:
        """Ingest whatever the repo holds that the index has not seen. Returns records ingested."""
        store = self.repo.store
        stamp = _objects_stamp(store)
        n = 0
        if stamp is None or self._read("SELECT value FROM meta WHERE key='objects_stamp'") != [(stamp,)]:
            if self._lost_objects(store):
                # gc or repack deleted objects the index has rows for: start over
                self._reset()
            n = self._catch_up_packs(store.packs_dir, progress)
            n += self._catch_up_loose(store)
        n += self._catch_up_refs()
        self.commit()
        if self._read("SELECT value FROM meta WHERE key='indexes_pending'"):
            self.build_indexes()
        if stamp is not None and stamp == _objects_stamp(store) and _quiet(store):
            self.commit(lambda c: c.execute("INSERT OR REPLACE INTO meta VALUES ('objects_stamp', ?)", (stamp,)))
        return n

    def _reset(self) -> None:
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

        self.buffer = RowBuffer()
        self.commit(wipe)

    def build_indexes(self) -> None:
        """After a bulk load: unique keys (removing any duplicate rows first), then lookups."""
        def build(conn):
            conn.execute("PRAGMA threads=2")  # let sqlite sort with a helper thread
            for table, cols in UNIQUE:
                if table in OFTEN_DUPLICATED:
                    conn.execute(dedupe(table, cols))
                try:
                    conn.execute(unique_index(table, cols))
                except sqlite3.IntegrityError:  # an object was ingested twice during the bulk load
                    conn.execute(dedupe(table, cols))
                    conn.execute(unique_index(table, cols))
            for table, col in KEYED:
                conn.execute(key_index(table, col))
                conn.execute(dedupe_keyed(table, col))
            for stmt in statements()[1]:
                conn.execute(stmt)
            conn.execute("DELETE FROM meta WHERE key='indexes_pending'")

        self.commit(build)

    def _catch_up_packs(self, packs_dir: str, progress: Progress) -> int:
        try:
            listing = os.listdir(packs_dir)
        except FileNotFoundError:
            return 0
        done = {r[0] for r in self._read("SELECT name FROM ingested_packs")}
        new = [e[5:-4] for e in listing if e.startswith("pack-") and e.endswith(".idx") and e[5:-4] not in done]
        tmps = [e for e in listing if e.startswith("tmp-") and e.endswith(".pack")]
        tmp_offsets = dict(self._read("SELECT name, offset FROM tmp_packs"))
        gone = [t for t in tmp_offsets if t not in tmps]
        if gone:
            self.commit(lambda c: c.executemany("DELETE FROM tmp_packs WHERE name=?", [(t,) for t in gone]))
        if not new and not tmps:
            return 0
        progress = progress_or_none(progress)
        if progress is not NO_PROGRESS:
            total = 0
            for name in new:
                try:
                    total += os.path.getsize(os.path.join(packs_dir, f"pack-{name}.pack"))
                except OSError:
                    pass
            progress.phase("indexing packs", total=total, unit="bytes")
        tick = progress.advance
        count = 0

        ids = self._pack_ids(new) if new else {}
        helper = None
        if self.batch == BULK_BATCH and len(new) >= bulk.MIN_PACKS:
            new, theirs = bulk.split(packs_dir, new)
            helper_path = f"{self.path}.helper"
            helper = bulk.start(packs_dir, [(n, ids[n]) for n in theirs], helper_path)
        for name in new:
            path = os.path.join(packs_dir, f"pack-{name}.pack")
            with self.lock:
                self.buffer.pack = ids[name]
            try:
                end, n = self._ingest_pack_file(path, len(PACK_MAGIC), tick)
            except FileNotFoundError:
                continue  # removed by gc/repack meanwhile
            finally:
                with self.lock:
                    self.buffer.pack = None
            count += n
            self.commit(lambda c, name=name: c.execute("INSERT OR IGNORE INTO ingested_packs VALUES (?)", (name,)))
        if helper is not None:
            count += self._merge_helper(helper, helper_path, packs_dir, theirs, ids, tick)
        for tmp in tmps:
            start = tmp_offsets.get(tmp, len(PACK_MAGIC))
            try:
                end, n = self._ingest_pack_file(os.path.join(packs_dir, tmp), start, None)
            except FileNotFoundError:
                continue  # committed meanwhile: its pack is picked up next time
            count += n
            if end != start:
                self.commit(lambda c, t=tmp, e=end: c.execute("INSERT OR REPLACE INTO tmp_packs VALUES (?, ?)", (t, e)))
        return count

    def _merge_helper(self, helper, helper_path: str, packs_dir: str, names: list, ids: dict, tick) -> int:
        """Wait for the bulk helper and merge its rows; if it failed, ingest its packs here."""
        try:
            n = bulk.finish(helper)
            if n is not None:
                self.commit()
                there = [x for x in names if os.path.exists(os.path.join(packs_dir, f"pack-{x}.pack"))]
                with self.lock:
                    bulk.merge(self.conn, helper_path, there)
                for x in there:
                    tick(os.path.getsize(os.path.join(packs_dir, f"pack-{x}.pack")))
                return n
        finally:
            remove_index_files(helper_path)
        count = 0
        for name in names:
            with self.lock:
                self.buffer.pack = ids[name]
            try:
                count += self._ingest_pack_file(os.path.join(packs_dir, f"pack-{name}.pack"), len(PACK_MAGIC), tick)[1]
            except FileNotFoundError:
                continue
            finally:
                with self.lock:
                    self.buffer.pack = None
            self.commit(lambda c, name=name: c.execute("INSERT OR IGNORE INTO ingested_packs VALUES (?)", (name,)))
        return count

    def _pack_ids(self, names: list) -> dict:
        """pack_ids.id for each pack name (the `pack` column of rows ingested from it)."""
        self.commit(lambda c: c.executemany("INSERT OR IGNORE INTO pack_ids(name) VALUES (?)", [(n,) for n in names]))
        return dict(self._read("SELECT name, id FROM pack_ids"))

    def _ingest_pack_file(self, path: str, start: int, tick) -> tuple:
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
                    self.add_canonical(chunk)
                    chunk, held = [], 0
                    if tick is not None and pos - last_tick > 1 << 20:
                        tick(pos - last_tick)
                        last_tick = pos
        self.add_canonical(chunk)
        if tick is not None:
            tick(pos - last_tick)
        return pos, count

    def add_canonical(self, pairs: list) -> None:
        """Buffer rows for (oid, verified canonical bytes) pairs; commits every `batch` records."""
        with self.lock:
            add = self.buffer.add_canonical
            for oid, canonical in pairs:
                try:
                    add(oid, canonical)
                except CorruptObjectError:
                    pass  # hashes right but does not decode: fsck reports it
            if self.buffer.count >= self.batch:
                self.commit()

    def _lost_objects(self, store) -> bool:
        """Whether an ingested pack disappeared, or an ingested loose object is gone from
        the store (a loose object that was merely packed is forgotten here instead)."""
        try:
            present = {e[5:-4] for e in os.listdir(store.packs_dir) if e.startswith("pack-") and e.endswith(".idx")}
        except FileNotFoundError:
            present = set()
        if any(r[0] not in present for r in self._read("SELECT name FROM ingested_packs")):
            return True
        loose = [r[0] for r in self._read("SELECT oid FROM ingested_loose")]
        if not loose:
            return False
        here = set(store.iter_loose())
        moved = [o for o in loose if o not in here]
        if any(not store.has(o) for o in moved):
            return True
        if moved:
            self.commit(lambda c: c.executemany("DELETE FROM ingested_loose WHERE oid=?", [(o,) for o in moved]))
        return False

    def _catch_up_loose(self, store) -> int:
        try:
            subdirs = [d for d in os.listdir(store.objects_dir) if len(d) == 2]
        except FileNotFoundError:
            return 0
        if not subdirs:
            return 0
        seen = set()
        for (oid,) in self._read("SELECT oid FROM ingested_loose"):
            seen.add(oid)
        new = [o for o in store.iter_loose() if o not in seen]
        count = 0
        for oid in new:
            try:
                self.ingest(oid, store.get(oid))
                count += 1
            except (RedunError, OSError):
                continue  # vanished (packed meanwhile) or damaged: fsck's job
        if new:
            self.commit(lambda c: c.executemany("INSERT OR IGNORE INTO ingested_loose VALUES (?)", [(o,) for o in new]))
        return count

    def _catch_up_refs(self) -> int:
        """Ingest the Execution records named by refs/execs/* that the index does not hold yet."""
        execs_dir = os.path.join(self.repo.refs.dir, "execs")
        try:
            mtime = os.stat(execs_dir).st_mtime_ns
        except FileNotFoundError:
            return 0
        stamp = str(mtime)
        row = self._read("SELECT value FROM meta WHERE key='refs_execs_mtime'")
        if row and row[0][0] == stamp:
            return 0
        known = dict(self._read("SELECT id, oid FROM executions"))
        count = 0
        complete = True
        for name in self.repo.refs.names("execs/"):  # loose files and refs/.packed
            entry = name[len("execs/"):]
            try:
                eid = parse_uuid(entry)
                oid = self.repo.refs.get(f"execs/{entry}")
            except RedunError:
                continue
            if oid is None or known.get(eid) == oid:
                continue
            try:
                self.ingest(oid, self.repo.store.get(oid))
                count += 1
            except RedunError:
                complete = False  # named object not visible yet (writer still staging)
        if not complete or mtime > time.time_ns() - 2_000_000_000:
            # a ref renamed within the directory's timestamp granularity of this scan would
            # not change the stamp: only trust stamps that are a little old
            return count
        self.commit(lambda c: c.execute("INSERT OR REPLACE INTO meta VALUES ('refs_execs_mtime', ?)", (stamp,)))
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


def open_index(repo, catch_up: bool = True, progress: Progress = None) -> Index:
    return Index.open(repo, catch_up=catch_up, progress=progress)


def rebuild_index(repo, progress: Progress = None) -> Index:
    """Build the index again from every object, into a private file (no journal, no
    fsync: a crash leaves only a temp file) that then replaces the old index."""
    final = repo.index_path
    tmp = f"{final}.rebuild-{os.getpid()}"
    remove_index_files(tmp)
    try:
        index = Index.open(repo, catch_up=True, progress=progress, path=tmp, bulk=True)
        index.conn.execute("PRAGMA journal_mode=WAL")
        index.close()
        remove_index_files(final)  # with its -wal/-shm, which must not meet the new file
        os.replace(tmp, final)
    finally:
        remove_index_files(tmp)
    return Index.open(repo, catch_up=True)
