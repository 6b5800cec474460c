"""gc of a PostgreSQL repository: mark from the roots into a temporary table, then delete every
unmarked object older than the grace period, with its index rows, in one transaction.

Roots (never deleted, nor anything they link to):
- every ref (executions, tags, remote-tracking refs, a running execution's preliminary record);
- every object that arrived within the grace period (objects.added, by the database's clock,
  so hosts with skewed clocks agree);
- every object that arrived since a running execution began (its lock, pg/liveruns.py): a run
  links some of its records only later;
- the jobs of executions that still have a ref: a killed or running execution's jobs are not
  linked from its preliminary record; the index's jobs table finds them;
- executions named with `keep` (from the index's executions table; their ref is restored).

Marking streams: ids go into gc_mark (a temporary table on gc's own connection); the ids that
were new there are read a page at a time and their links are marked next. Blobs are marked
without being read. Memory holds the ids still to expand, never the repository.

The sweep is one transaction. It first locks objects, then refs, in SHARE ROW EXCLUSIVE mode
(readers go on; every writer inserts objects first, so writers wait), marks again from the
roots as they are now (only what is new since the first pass is read), then deletes the old
unmarked objects and their index rows. So whatever was committed or named by a ref before the
lock is kept, a writer waiting on the lock inserts its objects afresh after the commit (its
INSERT runs then; an object gc removed is simply inserted again), and gc killed at any point
rolls back whole. What no lock can cover (the same window as a directory's gc): a writer that
links an old object it did not write itself, found before gc began (a cache hit
on a job of an execution whose ref is gone, a pull that skipped an object already present),
could link an unreachable object older than the grace period that gc removes; `redun fsck`
names such a link.
"""

import uuid
from typing import Callable, Iterable, Optional

from ..errors import CorruptObjectError, GcError
from ..objects import codec, compress
from ..objects.blobs import is_raw_blob
from ..objects.ids import object_id, uuid_str
from .connection import SCHEMA, connect
from .liveruns import live_since

PAGE = 1000
BIG = 1 << 16  # larger objects: a blob is recognised by its first bytes, not read
PEEK = 64

_UNMARKED = "NOT EXISTS (SELECT 1 FROM gc_mark m WHERE m.oid = o.oid)"
_HEAD = "CASE WHEN octet_length(data) > %s THEN substring(data from 1 for %s) ELSE data END"


class _Marker:
    def __init__(self, conn, report):
        self.conn = conn
        self.report = report
        self.cursors = 0

    def mark(self, ids: Iterable[bytes]) -> None:
        """Mark ids and everything they link to."""
        stack = list(ids)
        while stack:
            batch = stack[-PAGE:]
            del stack[-PAGE:]
            new = [r[0] for r in self.conn.execute(
                "INSERT INTO gc_mark SELECT unnest(%s::bytea[]) ON CONFLICT DO NOTHING RETURNING oid",
                (batch,)).fetchall()]
            if not new:
                continue
            rows = self.conn.execute(f"SELECT oid, {_HEAD}, octet_length(data) FROM objects WHERE oid = ANY(%s)",
                                     (BIG, PEEK, new)).fetchall()
            self.report.missing_links += len(new) - len(rows)
            for oid, head, size in rows:
                children, blobs = self._links(oid, bytes(head), size)
                if blobs:
                    self.conn.execute("INSERT INTO gc_mark SELECT unnest(%s::bytea[]) ON CONFLICT DO NOTHING",
                                      (list(blobs),))
                stack.extend(children)

    def _links(self, oid: bytes, head: bytes, size: int) -> tuple:
        if size > BIG:
            if is_raw_blob(head):
                return (), ()
            head = bytes(self.conn.execute("SELECT data FROM objects WHERE oid = %s", (oid,)).fetchone()[0])
        where = f"{oid.hex()} in the database"
        canonical = compress.decompress(head, where)
        if object_id(canonical) != oid:
            raise CorruptObjectError(f"object {where} does not match its id (corrupt)")
        try:
            return codec.links_of_encoded(canonical)
        except CorruptObjectError as e:
            raise CorruptObjectError(f"object {where}: {e}") from None

    def mark_query(self, sql: str, params=()) -> None:
        """Mark the ids a query returns (its first column), a page at a time."""
        self.cursors += 1
        # server side: the rows (every young object's id, say) are not all held here
        with self.conn.cursor(name=f"gc_roots_{self.cursors}", withhold=True) as cur:
            cur.execute(sql, params)
            while True:
                rows = cur.fetchmany(PAGE)
                if not rows:
                    return
                self.mark([r[0] for r in rows])


def _live_executions(conn) -> list:
    out = []
    for (name,) in conn.execute("SELECT name FROM refs WHERE name >= 'execs/' AND name < 'execs0'").fetchall():
        try:
            out.append(uuid.UUID(name[len("execs/"):]).bytes)
        except ValueError:
            continue  # not an execution's ref: its object is a root anyway
    return out


def _mark_roots(m: _Marker, cutoff, keep_rows: list) -> None:
    conn = m.conn
    m.mark_query(f"SELECT oid FROM refs o WHERE {_UNMARKED}")
    executions = _live_executions(conn)
    since = live_since(conn, executions)  # a running execution keeps all it wrote (pg/liveruns.py)
    m.mark_query(f"SELECT oid FROM objects o WHERE added >= %s AND {_UNMARKED}",
                 (cutoff if since is None else min(cutoff, since),))
    live = executions + [row[0] for row in keep_rows]
    for i in range(0, len(live), PAGE):
        m.mark_query(f"SELECT oid FROM jobs o WHERE execution_id = ANY(%s) AND {_UNMARKED}", (live[i:i + PAGE],))
    m.mark([row[1] for row in keep_rows])


def _keep_rows(conn, keep: Iterable[str]) -> list:
    """[(execution id, record oid)] of the executions named by `keep` (uuid prefixes)."""
    out = []
    for k in keep:
        k = k.strip().lower()
        digits = k.replace("-", "")
        if len(digits) < 8 or any(c not in "0123456789abcdef-" for c in k):
            raise GcError(f"--keep {k!r}: give an execution id (uuid, or at least 8 of its first characters)")
        out += conn.execute("SELECT id, oid FROM executions WHERE encode(id, 'hex') LIKE %s ORDER BY id",
                            (digits + "%",)).fetchall()
    return out


def _kind(conn, oid: bytes, head: bytes, size: int) -> str:
    data = head
    if head[:1] == bytes((compress.RAW,)):
        tag = codec.peek_tag(head[1:])
        if tag is not None:
            return tag
    if size > len(head):
        data = bytes(conn.execute("SELECT data FROM objects WHERE oid = %s", (oid,)).fetchone()[0])
    try:
        return codec.peek_tag(compress.decompress(data, oid.hex())) or "?"
    except CorruptObjectError:
        return "?"


def _garbage(conn, report, cutoff, on_garbage) -> None:
    report.objects = conn.execute("SELECT count(*) FROM objects").fetchone()[0]
    report.garbage, report.garbage_bytes = conn.execute(
        f"SELECT count(*), coalesce(sum(octet_length(data)), 0)::bigint FROM objects o WHERE added < %s AND {_UNMARKED}",
        (cutoff,)).fetchone()
    report.marked = report.objects - report.garbage
    if on_garbage is not None:
        last = b""
        while True:
            rows = conn.execute(f"SELECT oid, {_HEAD}, octet_length(data) FROM objects o WHERE added < %s AND "
                                f"{_UNMARKED} AND oid > %s ORDER BY oid LIMIT %s", (BIG, PEEK, cutoff, last, PAGE)
                                ).fetchall()
            for oid, head, size in rows:
                on_garbage(bytes(oid), _kind(conn, oid, bytes(head), size), size)
            if len(rows) < PAGE:
                return
            last = rows[-1][0]


def _delete(conn, cutoff) -> None:
    """Delete the old unmarked objects and every index row they gave (inside the sweep's
    transaction, under its locks)."""
    conn.execute(f"CREATE TEMP TABLE gc_dead ON COMMIT DROP AS SELECT oid FROM objects o WHERE added < %s AND "
                 f"{_UNMARKED}", (cutoff,))
    conn.execute("ALTER TABLE gc_dead ADD PRIMARY KEY (oid)")
    dead = "(SELECT oid FROM gc_dead)"
    gone = conn.execute(f"DELETE FROM executions WHERE oid IN {dead} RETURNING id").fetchall()
    if gone:
        conn.execute("DELETE FROM tags WHERE oid IS NULL AND entity_type = 'Execution' AND entity_id = ANY(%s)",
                     ([uuid_str(bytes(r[0])) for r in gone],))
    for table, column in (("jobs", "oid"), ("call_nodes", "oid"), ("arg_uses", "call_oid"), ("tasks", "oid"),
                          ("vals", "oid"), ("subvalues", "parent"), ("tags", "oid")):
        conn.execute(f"DELETE FROM {table} WHERE {column} IN {dead}")
    conn.execute("DELETE FROM tag_parents p WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.hash = p.child)")
    conn.execute(f"DELETE FROM objects WHERE oid IN {dead}")


def collect_database(db, report, grace_days: float, keep: Iterable[str] = (), dry_run: bool = False,
                     on_garbage: Optional[Callable] = None, progress=None) -> list:
    """gc of the repository in db (a PgDatabase), filling `report` (maint/gc.py's GcReport).
    Returns [(ref name, execution oid)] of the refs `keep` restores (restored here unless
    dry_run)."""
    from psycopg import errors as pe

    if grace_days < 0:
        raise GcError("the grace period cannot be negative")
    conn = connect(db.conninfo, db.display)
    try:
        conn.execute(f"SET search_path TO {SCHEMA}")
        if not conn.execute("SELECT pg_try_advisory_lock(hashtext('redun_repo gc'))").fetchone()[0]:
            raise GcError(f"another gc is running on {db.display}; try again when it has finished.")
        conn.execute("CREATE TEMP TABLE gc_mark (oid bytea PRIMARY KEY)")
        cutoff = conn.execute("SELECT now() - make_interval(secs => %s)", (grace_days * 86400.0,)).fetchone()[0]
        m = _Marker(conn, report)
        keep_rows = _keep_rows(conn, keep)
        restore = [(f"execs/{uuid_str(bytes(eid))}", bytes(oid)) for eid, oid in keep_rows]
        try:
            progress.phase("marking from refs, recent objects and live executions' jobs")
            _mark_roots(m, cutoff, keep_rows)
            if dry_run:
                progress.phase("counting garbage")
                _garbage(conn, report, cutoff, on_garbage)
                have = {name for name, in conn.execute("SELECT name FROM refs WHERE name = ANY(%s)",
                                                       ([n for n, _ in restore],)).fetchall()}
                return [(n, o) for n, o in restore if n not in have]
            progress.phase("sweeping (writers wait)")
            missing = report.missing_links
            for attempt in range(5):
                try:
                    with conn.transaction():
                        conn.execute("LOCK TABLE objects IN SHARE ROW EXCLUSIVE MODE")
                        conn.execute("LOCK TABLE refs IN SHARE ROW EXCLUSIVE MODE")
                        _mark_roots(m, cutoff, keep_rows)  # what changed meanwhile
                        _garbage(conn, report, cutoff, None)
                        _delete(conn, cutoff)
                        restored = []
                        for name, oid in restore:
                            if conn.execute("SELECT 1 FROM refs WHERE name = %s", (name,)).fetchone() is None:
                                conn.execute("INSERT INTO refs (name, oid) VALUES (%s, %s)", (name, oid))
                                restored.append((name, oid))
                    return restored
                except pe.DeadlockDetected:
                    # a writer locked refs before objects: the transaction, with the marks it
                    # added, rolled back; the first pass's marks stay
                    report.missing_links = missing
            raise GcError(f"gc of {db.display} kept deadlocking with writers; nothing was deleted. Try again.")
        except CorruptObjectError as e:
            raise CorruptObjectError(f"{e}\ngc stopped before deleting anything; run `redun fsck`.") from None
    finally:
        conn.close()
