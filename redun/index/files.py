"""The index file: a sqlite connection with the index's settings, the file's creation (whole
or not at all), the schema version it holds, and removal of the file with its journal files."""

import os
import sqlite3
from typing import Optional

from ..objects.ids import tmp_token
from ..objects.progress import Progress as _Progress

BUSY_TIMEOUT_MS = 60_000
Progress = Optional[_Progress]  # told the bytes of packs ingested


def connect(path: str, create: bool = True) -> sqlite3.Connection:
    """A connection with the index's settings. create=False: only to a file that exists (sqlite
    would otherwise create an empty one, which a concurrent opener could read half-made)."""
    target = path if create else f"file:{_uri_path(path)}?mode=rw"
    conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False, uri=not create)
    try:
        conn.execute("PRAGMA page_size=4096")  # only takes effect when the file is created
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # sqlite may answer this with "database is locked" at once, without waiting out the busy
        # timeout: index._open_file retries the whole open then (files.is_transient)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # derived data: losing the tail is fine
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA temp_store=MEMORY")
    except BaseException:
        conn.close()
        raise
    return conn


def is_transient(e: sqlite3.Error) -> bool:
    """A lock held by another connection, not a problem of the file (never a reason to rebuild)."""
    msg = str(e).lower()
    return isinstance(e, sqlite3.OperationalError) and ("locked" in msg or "busy" in msg)


def _uri_path(path: str) -> str:
    # the characters a sqlite file: URI gives a meaning to (urllib would cost `redun log` start-up)
    return os.path.abspath(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def create_index_file(path: str, init) -> None:
    """Make the index file at path whole or not at all: `init(conn)` fills a private file,
    which is then linked into place. If another process made it first, theirs is kept."""
    tmp = f"{path}.tmp-{tmp_token()}"
    conn = connect(tmp)
    try:
        init(conn)
    finally:
        conn.close()  # the last connection: sqlite checkpoints and removes the -wal and -shm
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: a rename, unless another made it first
        if not os.path.exists(path):
            os.replace(tmp, path)
    finally:
        remove_index_files(tmp)


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
