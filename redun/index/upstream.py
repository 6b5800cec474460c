"""Open an upstream redun database file (sqlite `redun.db`) read-only, for
`redun db import-upstream` (exchange/upstreamdb.py reads it with plain SQL). Here because
redun/index is the one part that imports sqlite3."""

import os
import sqlite3
from urllib.parse import quote

from ..errors import NotFoundError, RecordImportError


def open_upstream_sqlite(path: str):
    """A read-only sqlite3 connection to an upstream redun.db (never written, never locked
    for writing); NotFoundError if missing, RecordImportError if it is not a database."""
    if not os.path.isfile(path):
        raise NotFoundError(f"No upstream redun database at {path}.")
    conn = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as e:
        conn.close()
        raise RecordImportError(f"{path} is not a sqlite database ({e}).") from None
    return conn


def sqlite_tables(conn) -> set:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
