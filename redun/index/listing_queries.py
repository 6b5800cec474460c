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

from .queries import VAL_COLS, as_dict

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
