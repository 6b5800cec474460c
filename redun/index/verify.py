"""fsck's check of the query index against the objects (issue 12: a flipped bit in the
index made `redun log` print wrong counts with exit 0).

The index is derived data, so the reference is a fresh one: it is built from the
objects into a private file (as `redun db reindex` does), then compared with the
live file table by table (every column but the `pack` read hints and the
`vals.preview` display cache), both ways and with row counts, after sqlite's own
`PRAGMA integrity_check`. On any difference the fresh file replaces the live one.
A command writing meanwhile can make the two differ in what it just added: the
index is then rebuilt needlessly, never wrongly.
"""

import os
import sqlite3

from .files import remove_index_files
from .index import Index
from .schema import statements

_SKIP_TABLES = {"meta", "ingested_packs", "ingested_loose", "tmp_packs", "pack_ids"}  # bookkeeping
_SKIP_COLUMNS = {"pack", "preview"}


class IndexCheck:
    """What verify_index found: ok, or why it rebuilt the index."""

    def __init__(self, present: bool, problem: str = "", rebuilt: bool = False):
        self.present, self.problem, self.rebuilt = present, problem, rebuilt

    @property
    def ok(self) -> bool:
        return not self.problem


def _tables(conn) -> dict:
    """{table: [compared columns]} of the fresh index (sqlite's own description of it)."""
    out = {}
    for stmt in statements()[0]:
        table = stmt.partition("(")[0].split()[-1]
        if table not in _SKIP_TABLES:
            cols = [row[1] for row in conn.execute(f"PRAGMA fresh.table_info({table})")]
            out[table] = [c for c in cols if c not in _SKIP_COLUMNS]
    return out


def _differences(live_path: str, fresh_path: str) -> str:
    """'' when the live index holds the same rows as the fresh one, else what differs."""
    conn = sqlite3.connect(f"file:{live_path}?mode=ro", uri=True)
    try:
        status = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if status != "ok":
            return f"sqlite integrity check: {status}"
        conn.execute("ATTACH DATABASE ? AS fresh", (f"file:{fresh_path}?mode=ro",))
        for table, cols in _tables(conn).items():
            c = ", ".join(cols)
            n_live = conn.execute(f"SELECT COUNT(*) FROM main.{table}").fetchone()[0]
            n_fresh = conn.execute(f"SELECT COUNT(*) FROM fresh.{table}").fetchone()[0]
            extra = conn.execute(f"SELECT COUNT(*) FROM (SELECT {c} FROM main.{table} "
                                 f"EXCEPT SELECT {c} FROM fresh.{table})").fetchone()[0]
            lost = conn.execute(f"SELECT COUNT(*) FROM (SELECT {c} FROM fresh.{table} "
                                f"EXCEPT SELECT {c} FROM main.{table})").fetchone()[0]
            if extra or lost or n_live != n_fresh:
                return (f"table {table}: {extra} row(s) not in the objects, {lost} row(s) missing "
                        f"({n_live} rows, the objects give {n_fresh})")
        return ""
    except sqlite3.DatabaseError as e:
        return f"unreadable ({e})"
    finally:
        conn.close()


def verify_index(repo, progress=None) -> IndexCheck:
    """Compare repo's index with one built from the objects; replace it if they differ."""
    final = repo.index_path
    if not os.path.exists(final):
        return IndexCheck(present=False)  # built from the objects on first use anyway
    live = Index.open(repo, catch_up=True)  # what a command would read now (catches up)
    live.close()
    fresh = f"{final}.verify-{os.getpid()}"
    remove_index_files(fresh)
    try:
        index = Index.open(repo, catch_up=True, progress=progress, path=fresh, bulk=True)
        index.conn.execute("PRAGMA journal_mode=WAL")
        index.close()
        problem = _differences(final, fresh)
        if not problem:
            return IndexCheck(present=True)
        remove_index_files(final)
        os.replace(fresh, final)
        return IndexCheck(present=True, problem=problem, rebuilt=True)
    finally:
        remove_index_files(fresh)
