"""The index file: a sqlite connection with the index's settings, the schema version it
holds, and removal of the file with its journal files."""

import os
import sqlite3
from typing import Optional

from ..objects.progress import Progress as _Progress

BUSY_TIMEOUT_MS = 60_000
Progress = Optional[_Progress]  # told the bytes of packs ingested


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA page_size=4096")  # only takes effect when the file is created
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # derived data: losing the tail is fine
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def schema_version(conn) -> Optional[int]:
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
