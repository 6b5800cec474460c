"""Scratch sqlite databases, for work whose state does not fit in memory (the
importer's spill file). They live here because only redun/index imports sqlite3."""

import sqlite3


def open_scratch(path: str) -> sqlite3.Connection:
    """A sqlite database at `path` for temporary use by one process: autocommit
    (the caller runs BEGIN/COMMIT itself) and usable from a helper thread."""
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)
