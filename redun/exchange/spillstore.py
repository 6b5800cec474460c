"""Where an import keeps its parsed lines between phase 1 and phase 3.

Two stores answer the same questions (spill.py fills one, builder.py asks):

- `MemoryStore` holds the parsed objects in dicts: no serialisation, no
  queries. Used while the input read so far is small (spill.MEMORY_LIMIT bytes).
- `SqliteStore` keeps them in a temporary sqlite file under `<repo>/tmp/` (one
  row per line: upstream key, line number, kind, the columns the queries need,
  the object as marshal bytes), so memory stays flat whatever the input. An
  import whose input outgrows the memory store moves what it holds there and
  goes on there.

Rows handed to `add`: (key, line, kind, aux, t, ref, obj) where aux is a Job's
parent_id, a Value's type, a CallNode's value_hash or a Tag's entity_id; t a
Job's start time; ref a Job's execution_id. The first row of a key wins
(later duplicates are ignored). `scan` yields (key, kind, line, body) and
`load(body)` gives the object, so rows skipped by the caller cost nothing.
"""

import marshal
import queue
import threading
from typing import Iterator, Optional

DDL = (
    "CREATE TABLE recs (key TEXT PRIMARY KEY, line INTEGER NOT NULL, kind TEXT NOT NULL, "
    "aux TEXT, t INTEGER, ref TEXT, body BLOB NOT NULL)",
    "CREATE TABLE tagparents (parent TEXT)",
)
PRAGMAS = ("PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF", "PRAGMA cache_size=-16384")


class MemoryStore:
    def __init__(self):
        self.recs: dict = {}  # key -> (line, kind, aux, t, ref, obj), in input order
        self.tag_parents: set = set()
        self._children: Optional[dict] = None
        self.load = _same

    def add(self, rows: list, parents: list) -> None:
        recs = self.recs
        for key, line, kind, aux, t, ref, o in rows:
            if key not in recs:
                recs[key] = (line, kind, aux, t, ref, o)
        self.tag_parents.update(parents)

    def finish(self) -> int:
        """End of input: how many distinct keys are stored."""
        children: dict = {}
        for key, (_line, kind, aux, t, _ref, _o) in self.recs.items():
            if kind == "Job" and aux is not None:
                children.setdefault(aux, []).append((t, key))
        for kids in children.values():
            kids.sort()
        self._children = children
        return len(self.recs)

    def rows(self) -> Iterator[tuple]:
        for key, (line, kind, aux, t, ref, o) in self.recs.items():
            yield key, line, kind, aux, t, ref, o

    def first_kind(self) -> Optional[str]:
        return next((r[1] for r in self.recs.values()), None)

    def scan(self, backwards: bool) -> Iterator[tuple]:
        items = reversed(self.recs.items()) if backwards else iter(self.recs.items())
        for key, (line, kind, _aux, _t, _ref, o) in items:
            yield key, kind, line, o

    def get(self, key: str) -> Optional[tuple]:
        """(kind, line, obj) of `key`, or None if the input has no such line."""
        r = self.recs.get(key)
        return None if r is None else (r[1], r[0], r[5])

    def child_jobs(self, job_id: str) -> list:
        """Keys of the Job lines whose parent_id is job_id, by start time then key."""
        return [key for _t, key in self._children.get(job_id, ())]

    def dangling_jobs(self, field: str, prefix: str) -> list:
        """(key, line, id) of Jobs whose parent_id (field "aux") or execution_id ("ref")
        names a key (prefix + id) the input lacks."""
        recs, out = self.recs, []
        col = 2 if field == "aux" else 4
        for key, r in recs.items():
            ident = r[col]
            if r[1] == "Job" and ident is not None and prefix + ident not in recs:
                out.append((key, r[0], ident))
        return out

    def execution_tags(self) -> Iterator[tuple]:
        """(key, obj) of the Tag lines on an Execution of the input, in input order."""
        recs = self.recs
        for key, (_line, kind, aux, _t, _ref, o) in recs.items():
            if kind == "Tag" and "e:" + aux in recs:
                yield key, o

    def superseded_tags(self) -> set:
        """Keys of the tags some Tag line names as a parent."""
        return self.tag_parents

    def close(self) -> None:
        self.recs = {}


def _same(o):
    return o


class SqliteStore:
    """The same questions answered from a sqlite file; `add` hands batches to a helper
    thread (sqlite releases the GIL while it inserts) and `finish` waits for it."""

    def __init__(self, db):
        self.db = db
        self.load = marshal.loads
        for stmt in PRAGMAS + DDL:
            db.execute(stmt)
        db.execute("BEGIN")
        self._batches: queue.Queue = queue.Queue(maxsize=2)  # at most two batches wait: flat memory
        self._failure: list = []
        self._thread = threading.Thread(target=self._insert, name="import-spill", daemon=True)
        self._thread.start()

    def _insert(self) -> None:
        while True:
            item = self._batches.get()
            if item is None:
                return
            if self._failure:
                continue
            try:
                recs, parents = item
                self.db.executemany("INSERT OR IGNORE INTO recs VALUES (?,?,?,?,?,?,?)", recs)
                self.db.executemany("INSERT INTO tagparents VALUES (?)", [(p,) for p in parents])
            except BaseException as e:  # raised in the reading thread by add/finish
                self._failure.append(e)

    def add(self, rows, parents: list) -> None:
        dumps = marshal.dumps
        self._batches.put(([(k, n, kind, aux, t, ref, dumps(o)) for k, n, kind, aux, t, ref, o in rows], parents))
        if self._failure:
            self._stop()

    def _stop(self) -> None:
        if self._thread is not None:
            self._batches.put(None)
            self._thread.join()
            self._thread = None
        if self._failure:
            raise self._failure[0]

    def finish(self) -> int:
        self._stop()
        self.db.execute("COMMIT")
        self.db.execute("CREATE INDEX recs_aux ON recs(aux, kind)")
        return self.db.execute("SELECT count(*) FROM recs").fetchone()[0]

    def first_kind(self) -> Optional[str]:
        row = self.db.execute("SELECT kind FROM recs ORDER BY rowid LIMIT 1").fetchone()
        return row[0] if row else None

    def scan(self, backwards: bool) -> Iterator[tuple]:
        cur = self.db.execute(f"SELECT key, kind, line, body FROM recs ORDER BY rowid {'DESC' if backwards else 'ASC'}")
        while True:
            batch = cur.fetchmany(1000)
            if not batch:
                return
            yield from batch

    def get(self, key: str) -> Optional[tuple]:
        row = self.db.execute("SELECT kind, line, body FROM recs WHERE key = ?", (key,)).fetchone()
        return None if row is None else (row[0], row[1], marshal.loads(row[2]))

    def child_jobs(self, job_id: str) -> list:
        return [r[0] for r in self.db.execute(
            "SELECT key FROM recs WHERE aux = ? AND kind = 'Job' ORDER BY t, key", (job_id,))]

    def dangling_jobs(self, field: str, prefix: str) -> list:
        assert field in ("aux", "ref")
        return self.db.execute(
            f"SELECT j.key, j.line, j.{field} FROM recs j LEFT JOIN recs p ON p.key = '{prefix}' || j.{field} "
            f"WHERE j.kind = 'Job' AND j.{field} IS NOT NULL AND p.key IS NULL"
        ).fetchall()

    def execution_tags(self) -> Iterator[tuple]:
        for key, body in self.db.execute(
            "SELECT t.key, t.body FROM recs t JOIN recs e ON e.key = 'e:' || t.aux "
            "WHERE t.kind = 'Tag' AND e.kind = 'Execution' ORDER BY t.rowid"
        ):
            yield key, marshal.loads(body)

    def superseded_tags(self) -> set:
        return {r[0] for r in self.db.execute("SELECT parent FROM tagparents")}

    def close(self) -> None:
        try:
            self._stop()
        except BaseException:
            pass
        self.db.close()
