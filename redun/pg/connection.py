"""One connection to a repository's database per process, shared by its store, refs and index.

psycopg is imported on first connect (an optional dependency: `pip install 'redun[postgres]'`).
Writes go through `transaction(fn)`: fn(conn) runs inside one transaction, retried from the
start when PostgreSQL reports a deadlock or a serialization failure (it rolled the
transaction back, so running it again is safe). Writers take row locks in one global order
(schema.py), so deadlocks are not expected; the retry is a guard, not a mechanism.
"""

import threading
import time
from contextlib import contextmanager

from ..errors import ConfigError, NotFoundError, RepoFormatError, StorageError

SCHEMA = "redun_repo"
RETRIES = 8


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise ConfigError(
            "This config names a PostgreSQL database ([backend] db_uri = postgresql://...), which needs "
            "psycopg 3: pip install 'redun[postgres]'."
        ) from None
    return psycopg


def connect(conninfo: str, display: str = None, autocommit: bool = True):
    """A psycopg connection, or StorageError naming the database (never its password)."""
    psycopg = _psycopg()
    try:
        return psycopg.connect(conninfo, autocommit=autocommit, connect_timeout=30,
                               application_name="redun")
    except psycopg.Error as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StorageError(f"Cannot connect to PostgreSQL at {display or '(db_uri)'}: {msg}") from None


class PgDatabase:
    """A repository's database: lazily connected, one lock for the one connection."""

    def __init__(self, conninfo: str, display: str):
        self.conninfo = conninfo
        self.display = display
        self.lock = threading.RLock()
        self._conn = None

    @property
    def conn(self):
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.conninfo, self.display)
            self._conn.execute(f"SET search_path TO {SCHEMA}")
        return self._conn

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- statements ---------------------------------------------------------
    def read(self, sql: str, params=()) -> list:
        with self.lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except Exception as e:
                raise _storage_error(e, self.display) from None

    def transaction(self, fn):
        """Run fn(conn) in one transaction (retried on deadlock / serialization failure)."""
        psycopg = _psycopg()
        from psycopg import errors as pe

        with self.lock:
            for attempt in range(RETRIES):
                conn = self.conn
                try:
                    with conn.transaction():
                        return fn(conn)
                except (pe.DeadlockDetected, pe.SerializationFailure):
                    if attempt == RETRIES - 1:
                        raise StorageError(f"PostgreSQL at {self.display}: gave up after {RETRIES} "
                                           "deadlocks or serialization failures in a row") from None
                    time.sleep(0.01 * (2 ** attempt))
                except psycopg.Error as e:
                    raise _storage_error(e, self.display) from None

    @contextmanager
    def cursor(self):
        with self.lock:
            with self.conn.cursor() as cur:
                yield cur

    # -- the repository's schema -----------------------------------------------
    def repository_exists(self) -> bool:
        return self.read("SELECT to_regclass(%s)", (f"{SCHEMA}.meta",))[0][0] is not None

    def holds_upstream(self) -> bool:
        """Whether upstream redun's tables are in this database (public.redun_db_version)."""
        return self.read("SELECT to_regclass('public.redun_db_version')")[0][0] is not None

    def ensure_repository(self, create: bool) -> None:
        """Check (or with create, make) the repository's tables; RepoFormatError for a
        format this redun does not read, NotFoundError when there is none and create is off."""
        from .schema import FORMAT, INDEX_ORDER, create_statements

        def make(conn):
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('redun_repo schema'))")
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            for stmt in create_statements():
                conn.execute(stmt)
            conn.execute("INSERT INTO meta VALUES ('format', %s) ON CONFLICT DO NOTHING", (FORMAT,))

        if not self.repository_exists():
            if not create:
                if self.holds_upstream():
                    raise RepoFormatError(
                        f"The database at {self.display} holds an upstream redun database, not a redun "
                        "repository. Move its history, and its cache, here with `redun db import-upstream`, "
                        "which creates the repository beside upstream's tables (in the schema redun_repo)."
                    )
                raise NotFoundError(f"No redun repository in the database at {self.display}. "
                                    "Run `redun init` to create one.")
            self.transaction(make)
        found = self.format()
        if found is None or found.split(".")[0] != FORMAT.split(".")[0]:
            raise RepoFormatError(
                f"The database at {self.display} holds repository format {found}; this redun reads format "
                f"{FORMAT.split('.')[0]}.x. Use a redun release that supports it."
            )
        # Index tables added since the repository was made (evaluations, handles, ...) are created
        # empty: no record of their type can predate the code that writes it, so nothing to reindex.
        present = {r[0] for r in self.read(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (SCHEMA,))}
        if not present.issuperset(INDEX_ORDER):
            self.transaction(make)

    def index_bytes(self) -> int:
        """Bytes the query index's tables and their indexes take in the database."""
        from .schema import INDEX_ORDER

        return self.read("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
                         "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = ANY(%s)",
                         (SCHEMA, list(INDEX_ORDER)))[0][0]

    def format(self):
        rows = self.read("SELECT value FROM meta WHERE key='format'")
        return rows[0][0] if rows else None


def _storage_error(e, display) -> Exception:
    from ..errors import RedunError

    if isinstance(e, RedunError):
        return e
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return StorageError(f"PostgreSQL at {display}: {msg}")
