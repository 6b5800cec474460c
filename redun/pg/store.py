"""PgStore: the ObjectStore contract (objects/store.py) over one PostgreSQL table, and
PgWriter, the batched writer runs, imports and pulls use (the PackWriter interface).

Objects are stored in compress.py's stored form and verified on every read. Every write
also writes the objects' index rows (index/rows.py) in the same transaction, so the query
index never lags. `put_bytes` commits at once (a ref may point at the object next); a
PgWriter commits whole batches: `append_stored` (one finished job of a run) at once, like a
local run's one write() per job, so a killed run keeps every finished job; bulk adds every
BATCH_OBJECTS objects or BATCH_BYTES bytes. Objects of a writer that is aborted after a
batch was committed stay, unreferenced, until gc (as objects of a dead local run do until
`recover()` keeps them).
"""

from typing import Iterable, Iterator, Optional

from ..errors import InvalidIdError, NotFoundError, RedunError
from ..objects import compress
from ..objects.ids import OID_LEN, object_id
from ..objects.store import ObjectStore, verify
from .schema import write_objects, write_rows

BATCH_OBJECTS = 5000
BATCH_BYTES = 8 << 20
PAGE = 10_000  # ids per query when streaming


def _check_oid(oid) -> bytes:
    if type(oid) is not bytes or len(oid) != OID_LEN:
        raise InvalidIdError(f"Not an object id (32 bytes): {oid!r:.80}")
    return oid


def index_rows(pairs) -> dict:
    """Index rows {table: [tuple]} for (oid, canonical) pairs (undecodable records get none:
    fsck names them)."""
    from ..errors import CorruptObjectError
    from ..index.rows import RowBuffer

    buf = RowBuffer()
    for oid, canonical in pairs:
        try:
            buf.add_canonical(oid, canonical)
        except CorruptObjectError:
            pass
    return buf.rows


class PgStore(ObjectStore):
    def __init__(self, db):
        self.db = db
        self.name = f"PostgreSQL at {db.display}"
        self._writers: list = []  # open PgWriters: their uncommitted objects are readable here

    def hold_live_run(self, exec_id: bytes):
        """A lock that tells gc this execution runs (pg/liveruns.py): gc keeps every object
        that arrives while it is held."""
        from .liveruns import LiveRun

        return LiveRun(self.db.conninfo, self.db.display, exec_id)

    def _pending(self, oid: bytes):
        for w in list(self._writers):
            stored = w.read(oid)
            if stored is not None:
                return stored
        return None

    # -- contract -----------------------------------------------------------
    def put_bytes(self, canonical: bytes) -> bytes:
        canonical = bytes(canonical)
        oid = object_id(canonical)
        self.write([(oid, compress.compress(canonical), canonical)])
        return oid

    def get_bytes(self, oid: bytes) -> bytes:
        stored, _ = self.get_stored(oid)
        return verify(oid, compress.decompress(stored, oid.hex()), self.name)

    def get_stored(self, oid: bytes, hint=None) -> tuple:
        """(stored bytes, where) without decompressing (as DirectoryStore); NotFoundError."""
        _check_oid(oid)
        stored = self._pending(oid) if self._writers else None
        if stored is not None:
            return stored, self.name
        rows = self.db.read("SELECT data FROM objects WHERE oid=%s", (oid,))
        if not rows:
            raise NotFoundError(f"No object {oid.hex()} in {self.name}.")
        return rows[0][0], self.name

    def get_many_stored(self, oids: list) -> dict:
        """{oid: stored} for those of `oids` present, in one query."""
        return dict(self.db.read("SELECT oid, data FROM objects WHERE oid = ANY(%s)", ([_check_oid(o) for o in oids],)))

    def has(self, oid: bytes) -> bool:
        if self._writers and self._pending(_check_oid(oid)) is not None:
            return True
        return bool(self.db.read("SELECT 1 FROM objects WHERE oid=%s", (_check_oid(oid),)))

    def missing(self, oids: Iterable[bytes]) -> list:
        oids = [_check_oid(o) for o in oids]
        present = {o for o in oids if self._pending(o) is not None} if self._writers else set()
        for i in range(0, len(oids), PAGE):
            chunk = oids[i:i + PAGE]
            present.update(r[0] for r in self.db.read("SELECT oid FROM objects WHERE oid = ANY(%s)", (chunk,)))
        return [o for o in oids if o not in present]

    def iter_ids(self) -> Iterator[bytes]:
        last = b""
        while True:
            rows = self.db.read("SELECT oid FROM objects WHERE oid > %s ORDER BY oid LIMIT %s", (last, PAGE))
            for (oid,) in rows:
                yield oid
            if len(rows) < PAGE:
                return
            last = rows[-1][0]

    def iter_stored_pages(self, page: int = 1000) -> Iterator[list]:
        """Lists of (oid, stored) covering every object once, in id order (fsck, gc)."""
        last = b""
        while True:
            rows = self.db.read("SELECT oid, data FROM objects WHERE oid > %s ORDER BY oid LIMIT %s", (last, page))
            if rows:
                yield rows
            if len(rows) < page:
                return
            last = rows[-1][0]

    def prefix_candidates(self, prefix: str, limit: int = 21) -> list:
        from ..index.queries import prefix_range

        low, high = prefix_range(prefix)
        if high is None:
            rows = self.db.read("SELECT oid FROM objects WHERE oid >= %s ORDER BY oid LIMIT %s", (low, limit))
        else:
            rows = self.db.read("SELECT oid FROM objects WHERE oid >= %s AND oid < %s ORDER BY oid LIMIT %s",
                                (low, high, limit))
        return [r[0] for r in rows]

    def count(self) -> int:
        return self.db.read("SELECT count(*) FROM objects")[0][0]

    def total_bytes(self) -> int:
        return self.db.read("SELECT coalesce(sum(octet_length(data)), 0) FROM objects")[0][0]

    # -- writing --------------------------------------------------------------
    def foreign_origins(self, oid: bytes) -> list:
        """[] if the object was written here; else [its origin] (objects/origins.py; an
        unreadable origin counts as an unknown foreign one). repo/trust.py asks this."""
        import json

        from ..objects.origins import UNKNOWN

        rows = self.db.read("SELECT origin FROM objects WHERE oid=%s", (_check_oid(oid),))
        if not rows or rows[0][0] is None:
            return []
        try:
            origin = json.loads(rows[0][0])
            return [origin if isinstance(origin, dict) else UNKNOWN]
        except ValueError:
            return [UNKNOWN]

    def write(self, triples: list, origin=None, conn=None) -> None:
        """Commit (oid, stored, canonical) triples and their index rows in one transaction
        (or, with conn, inside that connection's open transaction)."""
        if not triples:
            return
        rows = index_rows((t[0], t[2]) for t in triples)

        if conn is not None:
            write_objects(conn, [(t[0], t[1]) for t in triples], origin)
            write_rows(conn, rows)
            return

        def tx(conn):
            write_objects(conn, [(t[0], t[1]) for t in triples], origin)
            write_rows(conn, rows)

        self.db.transaction(tx)

    def put_stored(self, oid: bytes, stored: bytes) -> None:
        """Store an object given in stored form (verified here: it may come from a remote)."""
        canonical = verify(_check_oid(oid), compress.decompress(stored, oid.hex()), "incoming object")
        self.write([(oid, bytes(stored), canonical)])

    def pack_writer(self, all_or_nothing: bool = False, origin: Optional[dict] = None) -> "PgWriter":
        """all_or_nothing (import): every batch goes into one transaction on a connection of
        the writer's own, committed by commit(); a writer that dies leaves nothing.
        origin: the objects come from elsewhere (objects/origins.py); implies all_or_nothing."""
        w = PgWriter(self, all_or_nothing or origin is not None, origin)
        self._writers.append(w)
        return w

    def recover(self) -> list:
        """Nothing to salvage: a write is a transaction, committed whole or not at all."""
        return []

    def close(self) -> None:
        pass


class PgWriter:
    """The PackWriter interface over PgStore: objects are committed in batches; `commit()`
    writes the rest and returns None (a PostgreSQL repository has no packs to name)."""

    def __init__(self, store: PgStore, all_or_nothing: bool = False, origin: Optional[dict] = None):
        self.store = store
        self.origin = origin
        self._tx = None  # the writer's own connection, inside its one transaction
        if all_or_nothing:
            from .connection import SCHEMA, connect

            self._tx = connect(store.db.conninfo, store.db.display, autocommit=False)
            self._tx.execute(f"SET search_path TO {SCHEMA}")
        self._buf: list = []  # (oid, stored, canonical)
        self._size = 0
        self._seen: set = set()
        self._pending: dict = {}  # oid -> stored, for read() before the batch is committed
        self.closed = False

    def __len__(self):
        return len(self._seen)

    def __contains__(self, oid) -> bool:
        return oid in self._seen

    @property
    def entries(self):
        """Ids added so far (PackWriter.entries' role: `oid in writer.entries`)."""
        return self._seen

    def _check_open(self):
        if self.closed:
            raise RedunError("This PostgreSQL writer was committed or aborted; nothing more can be added "
                             "to it (open a new one with store.pack_writer())")

    def _take(self, oid: bytes, stored: bytes, canonical: Optional[bytes]) -> None:
        self._check_open()
        if oid in self._seen:
            return
        if canonical is None:
            canonical = verify(oid, compress.decompress(stored, oid.hex()), "object being written")
        self._seen.add(oid)
        self._buf.append((oid, stored, canonical))
        self._pending[oid] = stored
        self._size += len(stored)

    def _maybe_flush(self) -> None:
        if len(self._buf) >= BATCH_OBJECTS or self._size >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Commit what is buffered (whole batches, children before parents as added)."""
        if self._buf:
            buf, self._buf, self._size = self._buf, [], 0
            if self._tx is None:
                self.store.write(buf, self.origin)
            else:
                from .connection import _storage_error

                try:
                    self.store.write(buf, self.origin, conn=self._tx)
                except Exception as e:
                    self.abort()
                    raise _storage_error(e, self.store.db.display) from None
            self._pending.clear()

    def add(self, canonical: bytes) -> bytes:
        canonical = bytes(canonical)
        oid = object_id(canonical)
        self._take(oid, compress.compress(canonical), canonical)
        self._maybe_flush()
        return oid

    def add_many(self, canonicals: Iterable[bytes]) -> list:
        return [self.add(c) for c in canonicals]

    def add_stored(self, oid: bytes, stored: bytes) -> None:
        self._take(oid, bytes(stored), None)
        self._maybe_flush()

    def add_stored_parts(self, oid: bytes, parts: list) -> None:
        self.add_stored(oid, b"".join(parts))

    def add_stored_many(self, items: Iterable[tuple]) -> None:
        for oid, stored in items:
            self.add_stored(oid, stored)

    def append_stored(self, oids, stored) -> None:
        """A run's finished job (its records, children first): committed now."""
        for oid, s in zip(oids, stored):
            self._take(oid, bytes(s), None)
        self.flush()

    def read(self, oid: bytes) -> Optional[bytes]:
        """Stored bytes of an object added to this writer and not yet committed, else None."""
        return self._pending.get(oid)

    def commit(self) -> None:
        self._check_open()
        self.flush()
        if self._tx is not None:
            from .connection import _storage_error

            try:
                self._tx.commit()
            except Exception as e:
                self.abort()
                raise _storage_error(e, self.store.db.display) from None
        self._close()
        return None

    def abort(self) -> None:
        self._buf, self._size = [], 0
        self._pending.clear()
        if self._tx is not None:
            try:
                self._tx.rollback()
            except Exception:  # noqa: BLE001 - the connection is closed next either way
                pass
        self._close()

    def _close(self) -> None:
        self.closed = True
        if self._tx is not None:
            self._tx.close()
            self._tx = None
        if self in self.store._writers:
            self.store._writers.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.closed:
            return
        if exc_type is None:
            self.commit()
        else:
            self.abort()
