"""Pure mapping record -> index rows, and the SQL that stores them.

TABLES is the one description of the rows: for each table, the record type that fills
it and where each column's value comes from (a record field, the record's object id,
the pack being ingested, or a value computed from fields). Both row builders are
generated from it (rowgen.py): `RowBuffer.add` from a record object (a run, an import)
and `RowBuffer.add_canonical` from the msgpack map of verified bytes (catch-up), so they
cannot drift apart. A test checks TABLES against the records' `indexed` flags
(objects/records.py) and against the tables in index/schema.py. To store a column
differently (e.g. ids interned as integers), change its source here.

`RowBuffer.add(oid, record)` appends rows in memory; `flush(conn)` writes them in one
short transaction, so engines ingesting as they run never hold the sqlite write lock for
long. Every statement is idempotent (re-ingesting a pack is harmless).
"""

import msgpack
from msgpack import unpackb as _unpackb

from ..objects import codec
from ..objects.records import RECORD_TYPES, full_name
from .keyed import write_incremental
from .rowgen import (
    ITEM, OID, PACK, Computed, Item, Projected, Table, make_adder, make_buffer_add, make_buffer_add_canonical,
)

_packb = msgpack.Packer(use_bin_type=True).pack


def pack_args(args: list):
    """A CallNode's arguments as stored in call_nodes.args: msgpack [[position, key, value oid], ...]."""
    return _packb(args) if args else None


def unpack_args(blob) -> list:
    return _unpackb(blob, raw=False, use_list=False) if blob else ()


def normal_json(text: str) -> str:
    """A tag value's JSON text in one spelling (sorted keys, no spaces), so equal values
    compare equal in SQL whatever wrote them."""
    import json

    from ..hashing import json_dumps

    try:
        return json_dumps(json.loads(text))
    except ValueError:
        return text


def execution_tag_rows(rec) -> list:
    """tags rows of an execution's own tags (Execution.tags): hashed as upstream hashes an
    execution's tag, with no oid (they live in the Execution record)."""
    import json

    from ..hashing import hash_tag, json_dumps
    from ..objects.ids import uuid_str

    eid = uuid_str(rec.id)
    out = []
    for key in sorted(rec.tags):
        try:
            value = json.loads(rec.tags[key])
        except ValueError:
            continue
        out.append((bytes.fromhex(hash_tag(eid, key, value, [])), None, "Execution", eid, key, json_dumps(value)))
    return out


# A newer Execution record (the final one of a run) replaces the running one's row.
_EXECUTION_UPSERT = (
    " ON CONFLICT(id) DO UPDATE SET oid=excluded.oid, args=excluded.args, job_oid=excluded.job_oid, "
    "start_time=excluded.start_time, end_time=excluded.end_time, tags=excluded.tags "
    "WHERE executions.end_time IS NULL OR "
    "(excluded.end_time IS NOT NULL AND excluded.end_time > executions.end_time)"
)


# Columns: "field" (a column named as the record field it holds) or (column, source).
TABLES = (
    Table("executions", "execution", (
        "id", ("oid", OID), "args", ("job_oid", "job"), "start_time", "end_time", "tags",
    ), conflict=_EXECUTION_UPSERT),
    Table("jobs", "job", (
        "id", ("oid", OID), "execution_id", "parent_id", "task_hash", ("task_oid", "task"), "call_hash",
        "call_node", "eval_hash", "eval_value", "start_time", "end_time", "cached", "status",
    )),
    Table("call_nodes", "callnode", (
        ("oid", OID), "hash", "task_hash", ("task_oid", "task"), "task_name", "args_hash", "value_hash",
        ("value_oid", "value"), "timestamp", ("args", Projected("args", ("position", "key", "value"), pack_args)),
        ("pack", PACK),
    )),
    Table("arg_uses", "callnode", (("value_hash", Item("value_hash")), ("call_oid", OID)), each="args",
          distinct=True),  # one value passed twice: one row (index._build_indexes relies on it)
    Table("tasks", "task", (
        ("oid", OID), "hash", "namespace", "name", ("fullname", Computed(full_name, "namespace", "name")),
        ("pack", PACK),
    )),
    Table("vals", "value", (("oid", OID), "hash", "type", "format", "size", "path", ("pack", PACK))),
    Table("subvalues", "value", (("parent", OID), ("child", ITEM)), each="subvalues"),
    # every tag by its upstream tag hash; an execution's own tags (Execution.tags) are added
    # to this table too, with no oid (execution_tag_rows, called by RowBuffer.add)
    Table("tags", "tag", ("hash", ("oid", OID), "entity_type", "entity_id", "key",
                          ("value", Computed(normal_json, "value")))),
    Table("tag_parents", "tag", (("parent", ITEM), ("child", "hash")), each="parents"),
    Table("evaluations", "evaluation", (("oid", OID), "eval_hash", ("value_oid", "value"), "timestamp")),
    Table("handles", "handle", (("oid", OID), "hash", "fullname", "key", ("value_oid", "value"))),
    Table("handle_edges", "handle", (("parent", ITEM), ("child", "hash")), each="parents"),
    Table("handle_invalid", "handle_rollback", (("hash", ITEM),), each="invalidated"),
)
ORDER = tuple(t.name for t in TABLES)
if not ORDER.index("call_nodes") < ORDER.index("arg_uses"):
    raise AssertionError("keyed.write_incremental decides arg_uses rows by the call_nodes rows written first")
SQL = {t.name: t.insert(f"VALUES ({','.join('?' * len(t.columns))})") for t in TABLES}
COLUMNS = {t.name: t.column_names for t in TABLES}
# The records a run writes per job (nearly all of a repository): RowBuffer.add's inline
# chain, and read by catch-up from the msgpack map unchecked; the few others (tasks,
# executions, tags) take one call more, and go through the strict decoder in catch-up.
_PER_JOB = ("job", "value", "callnode", "blob")
_CLASSES = tuple(RECORD_TYPES[t] for t in _PER_JOB)
_ERRORS = (ValueError, TypeError, KeyError, IndexError, msgpack.UnpackException)
_OTHERS: dict = {}  # any other record class -> its row builder (None: no rows)


def copy_sql(table: str, schema: str) -> str:
    """Copy table's rows from attached database `schema` (bulk.merge), as inserts would."""
    t = TABLES[ORDER.index(table)]
    return t.insert(f"SELECT {', '.join(t.column_names)} FROM {schema}.{t.name} WHERE 1")


def _add_other(buffer, oid: bytes, rec) -> None:
    cls = type(rec)
    if cls not in _OTHERS:
        _OTHERS[cls] = make_adder(TABLES, cls, False)
    add = _OTHERS[cls]
    if add is not None:
        add(buffer.rows, oid, rec, buffer.pack)
        buffer.count += 1
        if rec.TYPE == "execution" and rec.tags:
            buffer.rows["tags"].extend(execution_tag_rows(rec))


def _add_decoded(buffer, oid: bytes, canonical: bytes) -> None:
    buffer.add(oid, codec.decode(canonical))


_installed = False  # RowBuffer's generated add and add_canonical are in place


def _install() -> None:
    """Replace RowBuffer's add and add_canonical with the ones generated from TABLES (on
    first use, not at import: `redun log` start-up). Once only: a caller may hold a bound
    stub (`add = buffer.add_canonical` before the first call) for a whole batch."""
    global _installed
    if _installed:
        return
    add = make_buffer_add(TABLES, _CLASSES, _add_other)
    add_canonical = make_buffer_add_canonical(TABLES, _CLASSES, _ERRORS, _add_decoded)
    add.__doc__, add_canonical.__doc__ = RowBuffer.add.__doc__, RowBuffer.add_canonical.__doc__
    RowBuffer.add, RowBuffer.add_canonical = add, add_canonical
    _installed = True


class RowBuffer:
    """Rows waiting to be written; add() is pure (no I/O)."""

    def __init__(self):
        self.rows = {t: [] for t in ORDER}
        self.count = 0
        self.pack = None  # pack_ids.id of the pack being ingested, if any

    def add(self, oid: bytes, rec) -> None:
        """Append the record's rows (TABLES); a type without rows (Blob) is not counted."""
        _install()
        RowBuffer.add(self, oid, rec)

    def add_canonical(self, oid: bytes, canonical: bytes) -> None:
        """Rows straight from verified canonical bytes, skipping record construction
        (catch-up speed: this runs once per object on a reindex). Field types are not
        re-checked here: the bytes hash to their id, and a malformed record can only put
        a wrong value into this derived table; anything structurally unexpected falls back
        to the strict decoder, which raises DecodeError naming the problem."""
        _install()
        RowBuffer.add_canonical(self, oid, canonical)

    def flush(self, conn, bulk: bool = False) -> int:
        """Write buffered rows inside the caller's transaction; returns how many records.
        bulk: the index is being loaded (keys not built yet; duplicates removed afterwards)."""
        n = self.count
        if bulk:
            for table in ORDER:
                if self.rows[table]:
                    conn.executemany(SQL[table], self.rows[table])
        else:
            write_incremental(conn, self.rows, ORDER, SQL, COLUMNS)
        for rows in self.rows.values():
            rows.clear()
        self.count = 0
        return n

    def parts(self) -> list:
        """The buffered rows, one list per table in ORDER (what merge() takes)."""
        return [self.rows[t] for t in ORDER]

    def merge(self, parts: list, count: int) -> None:
        """Append rows another buffer built (its parts()), counting `count` records."""
        for table, part in zip(ORDER, parts):
            self.rows[table].extend(part)
        self.count += count

    def __len__(self):
        return self.count
