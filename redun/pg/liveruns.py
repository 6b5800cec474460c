"""Live runs of a PostgreSQL repository, for gc: a run holds a session advisory lock keyed by
its execution id while it runs, and gc keeps every object that arrived since a live run began.

Why: a run commits its objects as it goes, and some of them are linked only later (a task's
immediate return value is linked by its job, written when the job ends; scheduler-task cache
entries by the final Execution record). A directory repository keeps them in the run's tmp pack,
which gc treats as a root; in a database they are plain rows, so a run longer than gc's grace
period lost them to a gc meanwhile (the job written at the end then linked a missing object).

The lock lives as long as the run's connection: a run killed with -9 holds nothing, and gc then
keeps only its jobs (as for a dead local run). pg_locks is readable by every role, so gc sees
the runs of other roles too. A key is the first 4 bytes of the execution id: two runs sharing
one only make gc keep more.
"""

from typing import Iterable, Optional

from .connection import connect

LOCK_CLASS = 0x72647572  # the first key of every run's lock (pg_advisory_lock(int4, int4))


def lock_key(exec_id: bytes) -> int:
    """The second key of exec_id's lock: its first 4 bytes as a signed int4."""
    return int.from_bytes(exec_id[:4], "big", signed=True)


class LiveRun:
    """The lock of one running execution, on a connection of its own; release() ends it."""

    def __init__(self, conninfo: str, display: str, exec_id: bytes):
        self._conn = connect(conninfo, display)
        self._conn.execute("SELECT pg_advisory_lock_shared(%s, %s)", (LOCK_CLASS, lock_key(exec_id)))

    def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()  # the lock goes with the session
            except Exception:
                pass


def live_since(conn, exec_ids: Iterable[bytes]):
    """The arrival time (database clock) of the oldest first record of the executions among
    exec_ids whose run holds its lock now; None if none does. conn: gc's connection, with
    search_path set to the repository's schema."""
    held = {row[0] for row in conn.execute(
        "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::bigint::oid "
        "AND objsubid = 2 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = "
        "current_database())", (LOCK_CLASS,)).fetchall()}
    if not held:
        return None
    # objid shows the key as an unsigned oid
    live = [e for e in exec_ids if lock_key(e) % (1 << 32) in held]
    if not live:
        return None
    row: Optional[tuple] = conn.execute(
        "SELECT min(o.added) FROM executions e JOIN objects o ON o.oid = e.oid WHERE e.id = ANY(%s)",
        (live,)).fetchone()
    return row[0] if row else None
