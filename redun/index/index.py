"""The Index: a rebuildable sqlite (WAL) view of a repository's objects.

Contract:
- `open_index(repo)` opens `.redun/index.sqlite3`, rebuilding it silently if it
  is missing, corrupt or of another schema version (a new file appears whole, and a
  lock held by another process is waited out, never taken for corruption), then catches up: packs
  not yet ingested, new bytes of live tmp packs, loose objects not yet seen
  and `refs/execs/*` heads. Catch-up costs O(new objects), not O(repo). One
  process at a time ingests packs (catchup_lock.py); a listing of executions may
  leave a big backlog to a background indexer (`defer_over`, catchup.py).
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
from typing import Callable, Iterable

from ..errors import CorruptObjectError
from . import catchup
from .files import (
    BUSY_TIMEOUT_MS, Progress, connect, create_index_file, is_transient, remove_index_files, schema_version,
)
from .filter_queries import FilterQueries
from .listing_queries import ListingQueries
from .pages import PageQueries
from .queries import Queries
from .tag_queries import TagQueries
from .rows import ORDER, RowBuffer
from .schema import (
    KEYED, OFTEN_DUPLICATED, SCHEMA_VERSION, UNIQUE, count_distinct_keys, dedupe, dedupe_keyed, index_names,
    key_index, statements, unique_index,
)

BATCH = 20_000  # records per write transaction during catch-up
BULK_BATCH = 200_000  # the same while building a private file (`redun db reindex`)


class Index(Queries, PageQueries, TagQueries, FilterQueries, ListingQueries):
    PREFIXED = True  # lookups through the 8-byte prefix indexes of schema.py (keysql.py)

    def __init__(self, repo, conn: sqlite3.Connection, path: str):
        self.batch = BATCH
        self.bulk = False  # a private new file being built: catch-up may share packs with a helper
        self.parallel = False  # a background catch-up: it may share a big backlog with a helper too
        self.repo = repo
        self.path = path
        self.conn = conn
        self.lock = threading.RLock()
        self.buffer = RowBuffer()
        self.deferred = 0  # bytes of packs the last catch-up left to a background indexer

    # -- opening ------------------------------------------------------------
    @classmethod
    def open(cls, repo, catch_up: bool = True, progress: Progress = None, path: str = None,
             bulk: bool = False, defer_over: int = None) -> "Index":
        """bulk: a private new file being built (no journal, no fsync, big transactions).
        defer_over: see catch_up."""
        path = path or repo.index_path
        conn = _open_file(path)
        index = cls(repo, conn, path)
        if bulk:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("PRAGMA cache_size=-131072")  # sorts for the index builds stay in memory
            index.batch = BULK_BATCH
            index.bulk = True
        if catch_up:
            index.catch_up(progress, defer_over=defer_over)
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
        """Write buffered rows (and run `extra(conn)`) in one transaction, or end the one
        write_held() left open."""
        with self.lock:
            conn = self.conn
            if not len(self.buffer) and extra is None and not conn.in_transaction:
                return
            try:
                self._write_buffer(conn)
                if extra is not None:
                    extra(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # not when BEGIN itself failed (a lock held too long)
                    conn.execute("ROLLBACK")
                raise

    def write_held(self) -> None:
        """Write buffered rows now into a transaction left open: the next commit() ends it.
        For a writer that commits rarely but should not leave all its writing until then.
        Other writers wait for that commit (up to the busy timeout); readers do not."""
        with self.lock:
            try:
                self._write_buffer(self.conn)
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    def _write_buffer(self, conn) -> None:
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
        if len(self.buffer):
            pending = conn.execute("SELECT 1 FROM meta WHERE key='indexes_pending'").fetchone()
            self.buffer.flush(conn, bulk=pending is not None)

    def note_pack(self, name: str) -> None:
        self.commit(lambda c: c.execute("INSERT OR IGNORE INTO ingested_packs VALUES (?)", (name,)))

    def _read(self, sql: str, params=()) -> list:
        with self.lock:
            if len(self.buffer):
                self.commit()
            return self.conn.execute(sql, params).fetchall()

    # -- catch-up -----------------------------------------------------------
    def catch_up(self, progress: Progress = None, defer_over: int = None) -> int:
        """Ingest whatever the repo holds that the index has not seen (catchup.py).
        Returns records ingested. defer_over (bytes): a caller that only lists executions
        lets a larger backlog of packs wait for a background indexer (`deferred`)."""
        return catchup.catch_up(self, progress, defer_over=defer_over)

    def build_indexes(self) -> None:
        """After a bulk load: unique keys (removing any duplicate rows first), then lookups."""
        self.commit(_build_indexes)

    def write_rows(self, rows: RowBuffer) -> None:
        """Write the rows another buffer holds (an import's, after its pack commit) in one
        transaction. Into an index that holds no records yet (a fresh repository's first
        import) they go as a bulk load: its keys and lookups dropped, the rows appended,
        then each index built once by a sort instead of a B-tree insert per row and index.
        Readers see the old index or the new one, never a part."""
        def write(conn):
            pending = conn.execute("SELECT 1 FROM meta WHERE key='indexes_pending'").fetchone() is not None
            if pending or not _holds_no_records(conn):
                rows.flush(conn, bulk=pending)
                return
            for name in index_names():
                conn.execute(f"DROP INDEX IF EXISTS {name}")
            rows.flush(conn, bulk=True)
            _build_indexes(conn)

        self.commit(write)

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


def _open_file(path: str) -> sqlite3.Connection:
    """A connection to the index file at path, of this schema version. A missing file is made
    whole before anyone can open it (files.create_index_file); one that is corrupt, foreign or
    of another version is derived data: removed and made again. A lock held by another process
    is waited out, never taken for corruption: removing a file in use would cut the other
    processes off from what they write."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    rebuilt = False
    while True:
        conn = None
        try:
            if not os.path.exists(path):
                create_index_file(path, _create_tables)
            conn = connect(path, create=False)
            if schema_version(conn) != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"index schema {schema_version(conn)}, want {SCHEMA_VERSION}")
            return conn
        except sqlite3.DatabaseError as e:
            if conn is not None:
                conn.close()
            vanished = isinstance(e, sqlite3.OperationalError) and "unable to open" in str(e)
            if (is_transient(e) or vanished) and time.monotonic() < deadline:
                time.sleep(0.01)  # another process holds a lock, or replaced the file just now
                continue
            if rebuilt:
                raise
            remove_index_files(path)
            rebuilt = True


def _create_tables(conn) -> None:
    conn.execute("BEGIN IMMEDIATE")
    for stmt in statements()[0]:
        conn.execute(stmt)
    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    # secondary indexes are built once the first catch-up is done (bulk-load speed)
    conn.execute("INSERT INTO meta VALUES ('indexes_pending', '1')")
    conn.execute("COMMIT")


def _build_indexes(conn) -> None:
    """Unique keys (removing any duplicate rows first), then lookups; clears indexes_pending."""
    conn.execute("PRAGMA threads=2")  # let sqlite sort with a helper thread
    for table, cols in UNIQUE:
        if table in OFTEN_DUPLICATED:
            conn.execute(dedupe(table, cols))
        try:
            conn.execute(unique_index(table, cols))
        except sqlite3.IntegrityError:  # an object was ingested twice during the bulk load
            conn.execute(dedupe(table, cols))
            conn.execute(unique_index(table, cols))
    removed = {}
    for table, cols in KEYED:
        conn.execute(key_index(table, cols))
        # arg_uses rows repeat only where their call node's row does (a record's own rows are
        # distinct: rows.TABLES); and a table whose key prefixes are all distinct has no
        # repeat. Either check is far cheaper than dedupe_keyed's scan, which sqlite before
        # 3.41 makes by reading the row behind each entry of an expression index
        # (benchmarks/results/index-prefix.md).
        if table == "arg_uses" and not removed.get("call_nodes"):
            continue
        rows = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        if conn.execute(count_distinct_keys(table, cols)).fetchone()[0] < rows:
            removed[table] = conn.execute(dedupe_keyed(table, cols)).rowcount
    for stmt in statements()[1]:
        conn.execute(stmt)
    conn.execute("DELETE FROM meta WHERE key='indexes_pending'")


def _holds_no_records(conn) -> bool:
    return not any(conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() for table in ORDER)


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
