"""Paged listings for `redun log --value/--file/...` (mixed into Index).

A listing of any length is read one page at a time by keyset pagination: each page
is its own short query that starts after the last key of the page before (never
OFFSET, which rescans everything skipped; never one cursor held open for the whole
listing, which would pin a read transaction and sqlite's sort of every row). Rows
are dicts of the table's columns plus what a line shows beside them that the
index already holds (a value's cached preview, the pack it came from), so the
caller reads objects only for what the index cannot answer.
"""

from contextlib import contextmanager
from typing import Iterator, Optional

from .queries import CALL_COLS, JOB_COLS, VAL_COLS, as_dict
from .rows import unpack_args
from .schema import statements

PAGE = 500  # rows per page: one query, and the most a listing holds at once
SCAN_CACHE_KIB = 8192  # sqlite page cache while a listing runs: a scan reads each page once


class ListingQueries:
    @contextmanager
    def _scan_cache(self):
        """A small page cache while a listing runs (the connection's usual one is sized for
        lookups; a scan would only fill it), restored when the listing ends or is dropped."""
        with self.lock:
            before = self.conn.execute("PRAGMA cache_size").fetchone()[0]
            self.conn.execute(f"PRAGMA cache_size=-{SCAN_CACHE_KIB}")
        try:
            yield
        finally:
            with self.lock:
                if self.conn is not None:
                    self.conn.execute(f"PRAGMA cache_size={before}")

    def _order_index(self, name: str) -> None:
        """Build the index a sorted listing pages through if this file predates it (once;
        a fresh index has it from schema.INDEXES). Unwritable: pages are sorted scans."""
        if self._read("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)):
            return
        sql = next(s for s in statements()[1] if f" {name} " in s)
        try:
            self.commit(lambda c: c.execute(sql))
        except Exception:  # noqa: BLE001 - a read-only index still answers, only slower
            pass

    def _keyset_pages(self, select: str, where: str, params, order: str, key_sql: str, key_of,
                      page: int) -> Iterator[list]:
        """Rows of `select WHERE where ORDER BY order`, `page` at a time: each page starts
        after the key of the last row of the one before (key_sql: the condition, with its
        placeholders; key_of(row): their values)."""
        cond = f" AND ({where})" if where else ""
        after = None
        with self._scan_cache():
            while True:
                key = key_sql if after is not None else "1"
                rows = self._read(f"{select} WHERE {key}{cond} ORDER BY {order} LIMIT {int(page)}",
                                  (key_of(after) if after is not None else ()) + tuple(params))
                if not rows:
                    return
                after = rows[-1]
                yield rows
                if len(rows) < page:
                    return

    def job_pages(self, where: str = "", params=(), page: Optional[int] = None) -> Iterator[list]:
        """Jobs newest first (start_time DESC, id), by keyset through jobs_start. Each row adds
        `task_name` (None if its task is not indexed) and `args`, its call node's
        ((position, key, value oid), ...) (None if the call node is not indexed)."""
        self._order_index("jobs_start")
        n = len(JOB_COLS.split(","))
        select = (f"SELECT {JOB_COLS}, (SELECT t.fullname FROM tasks t WHERE t.oid = jobs.task_oid), "
                  f"(SELECT coalesce(c.args, x'') FROM call_nodes c WHERE {self._on('c.oid', 'jobs.call_node')}) "
                  "FROM jobs")
        start, ident = JOB_COLS.split(", ").index("start_time"), 0
        for rows in self._keyset_pages(select, where, params, "start_time DESC, id",
                                       "start_time <= ? AND (start_time < ? OR id > ?)",
                                       lambda r: (r[start], r[start], r[ident]), page or PAGE):
            out = []
            for r in rows:
                d = as_dict("job", r[:n])
                d["task_name"] = r[n]
                d["args"] = None if r[n + 1] is None else unpack_args(r[n + 1])
                out.append(d)
            yield out

    def call_node_pages(self, where: str = "", params=(), page: Optional[int] = None) -> Iterator[list]:
        """Call nodes oldest first (timestamp, hash, oid), by keyset through call_nodes_time."""
        self._order_index("call_nodes_time")
        names = CALL_COLS.split(", ")
        ts, h, oid = names.index("timestamp"), names.index("hash"), names.index("oid")
        for rows in self._keyset_pages(
                f"SELECT {CALL_COLS} FROM call_nodes", where, params, "timestamp, hash, oid",
                "timestamp >= ? AND (timestamp > ? OR hash > ? OR (hash = ? AND oid > ?))",
                lambda r: (r[ts], r[ts], r[h], r[h], r[oid]), page or PAGE):
            yield [as_dict("call_node", r) for r in rows]

    def value_cache(self, oids: list) -> dict:
        """value oid -> (cached preview or None, name of its pack or None), for the oids indexed."""
        packs = self.pack_names()
        out = {}
        oids = sorted(set(oids))
        for i in range(0, len(oids), 500):
            key, p = self._in("oid", oids[i:i + 500])
            for oid, text, pack in self._read(f"SELECT oid, preview, pack FROM vals WHERE {key}", p):
                out[oid] = (text, packs.get(pack))
        return out

    def pack_names(self) -> dict:
        """pack id (the `pack` column of vals, call_nodes, tasks) -> pack name."""
        return dict(self._read("SELECT id, name FROM pack_ids"))

    def value_pages(self, where: str = "", params=(), page: Optional[int] = None) -> Iterator[list]:
        """Values in the order they were indexed (rowid: as `SELECT` without ORDER BY scans
        them), `page` at a time. Each row adds `preview` (the display cache, or None) and
        `pack` (name of the pack it was ingested from, or None). where: an SQL fragment
        over vals written by our own callers; user values go in params."""
        page = page or PAGE
        packs = self.pack_names()
        cond = f" AND ({where})" if where else ""
        with self._scan_cache():
            yield from self._value_pages(cond, params, page, packs)

    def _value_pages(self, cond: str, params, page: int, packs: dict) -> Iterator[list]:
        after = None
        while True:
            key = "rowid > ?" if after is not None else "1"
            rows = self._read(f"SELECT rowid, {VAL_COLS}, pack, preview FROM vals WHERE {key}{cond} "
                              f"ORDER BY rowid LIMIT {int(page)}",
                              ((after,) if after is not None else ()) + tuple(params))
            if not rows:
                return
            after = rows[-1][0]
            out = []
            for r in rows:
                d = as_dict("value", r[1:7])
                d["pack"] = packs.get(r[7])
                d["preview"] = r[8]
                out.append(d)
            yield out
            if len(rows) < page:
                return

    def file_pages(self, where: str = "", params=(), page: Optional[int] = None) -> Iterator[list]:
        """One value row per recorded path, by path, `page` paths at a time (keyset on path)."""
        page = page or PAGE
        cond = f" AND ({where})" if where else ""
        after = None
        while True:
            key = "path > ?" if after is not None else "path IS NOT NULL"
            rows = self._read(f"SELECT {VAL_COLS} FROM vals WHERE {key}{cond} GROUP BY path "
                              f"ORDER BY path, hash LIMIT {int(page)}",
                              ((after,) if after is not None else ()) + tuple(params))
            if not rows:
                return
            after = rows[-1][5]
            yield [as_dict("value", r) for r in rows]
            if len(rows) < page:
                return
