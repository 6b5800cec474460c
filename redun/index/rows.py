"""Pure mapping record -> index rows, and the SQL that stores them.

`RowBuffer.add(oid, record)` appends rows in memory; `flush(conn)` writes them
in one short transaction, so engines ingesting as they run never hold the
sqlite write lock for long. Every statement is idempotent (re-ingesting a
pack is harmless).
"""

import json

import msgpack
from msgpack import unpackb as _unpackb

from ..objects import codec
from ..objects.records import Blob, CallNode, Execution, Job, Tag, Task, Value

SQL = {
    "executions": (
        "INSERT INTO executions VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
        "oid=excluded.oid, args=excluded.args, job_oid=excluded.job_oid, start_time=excluded.start_time, "
        "end_time=excluded.end_time, tags=excluded.tags "
        "WHERE executions.end_time IS NULL OR "
        "(excluded.end_time IS NOT NULL AND excluded.end_time > executions.end_time)"
    ),
    "jobs": "INSERT OR IGNORE INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "call_nodes": "INSERT OR IGNORE INTO call_nodes VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    "arg_uses": "INSERT OR IGNORE INTO arg_uses VALUES (?,?)",
    "tasks": "INSERT OR IGNORE INTO tasks VALUES (?,?,?,?,?,?)",
    "vals": "INSERT OR IGNORE INTO vals VALUES (?,?,?,?,?,?,?,NULL)",
    "subvalues": "INSERT OR IGNORE INTO subvalues VALUES (?,?)",
    "tags": "INSERT OR IGNORE INTO tags VALUES (?,?,?,?,?)",
}
ORDER = tuple(SQL)
# Once the index is built, tables without a unique key check theirs (schema.KEYED).
INCREMENTAL = {
    "vals": "INSERT INTO vals SELECT ?1,?2,?3,?4,?5,?6,?7,NULL WHERE NOT EXISTS (SELECT 1 FROM vals WHERE oid=?1)",
}
_packb = msgpack.Packer(use_bin_type=True).pack


def pack_args(args: list):
    """A CallNode's arguments as stored in call_nodes.args: msgpack [[position, key, value oid], ...]."""
    return _packb(args) if args else None


def unpack_args(blob) -> list:
    return _unpackb(blob, raw=False, use_list=False) if blob else ()


class RowBuffer:
    """Rows waiting to be written; add() is pure (no I/O)."""

    def __init__(self):
        self.rows = {t: [] for t in ORDER}
        self.count = 0
        self.pack = None  # pack_ids.id of the pack being ingested, if any

    def add(self, oid: bytes, rec) -> None:
        r = self.rows
        t = type(rec)
        if t is Job:
            r["jobs"].append((
                rec.id, oid, rec.execution_id, rec.parent_id, rec.task_hash, rec.task, rec.call_hash,
                rec.call_node, rec.eval_hash, rec.eval_value, rec.start_time, rec.end_time,
                int(rec.cached), rec.status,
            ))
        elif t is CallNode:
            r["call_nodes"].append((
                oid, rec.hash, rec.task_hash, rec.task, rec.task_name, rec.args_hash, rec.value_hash,
                rec.value, rec.timestamp, pack_args([(a.position, a.key, a.value) for a in rec.args]), self.pack,
            ))
            r["arg_uses"].extend([(a.value_hash, oid) for a in rec.args])
        elif t is Value:
            r["vals"].append((oid, rec.hash, rec.type, rec.format, rec.size, rec.path, self.pack))
            sub = r["subvalues"]
            for c in rec.subvalues:
                sub.append((oid, c))
        elif t is Task:
            r["tasks"].append((oid, rec.hash, rec.namespace, rec.name, rec.fullname, self.pack))
        elif t is Execution:
            r["executions"].append((
                rec.id, oid, rec.args, rec.job, rec.start_time, rec.end_time,
                json.dumps(rec.tags, sort_keys=True) if rec.tags else None,
            ))
        elif t is Tag:
            r["tags"].append((oid, rec.entity_type, rec.entity_id, rec.key, rec.value))
        elif t is Blob:
            return
        self.count += 1

    def add_canonical(self, oid: bytes, canonical: bytes) -> None:
        """Rows straight from verified canonical bytes, skipping dataclass construction
        (catch-up speed: this runs once per object on a reindex). Field types are not
        re-checked here: the bytes hash to their id, and a malformed record can only put
        a wrong value into this derived table; anything structurally unexpected falls back
        to the strict decoder, which raises DecodeError naming the problem."""
        try:
            tag, schema, f = _unpackb(canonical, raw=False)
            if schema != 1:
                raise ValueError
            if tag == "job":
                self.rows["jobs"].append((
                    f["id"], oid, f["execution_id"], f["parent_id"], f["task_hash"], f["task"], f["call_hash"],
                    f["call_node"], f["eval_hash"], f["eval_value"], f["start_time"], f["end_time"],
                    1 if f["cached"] is True else 0, f["status"],
                ))
            elif tag == "value":
                self.rows["vals"].append((oid, f["hash"], f["type"], f["format"], f["size"], f["path"], self.pack))
                subs = f["subvalues"]
                if subs:
                    self.rows["subvalues"].extend([(oid, c) for c in subs])
            elif tag == "callnode":
                args = f["args"]
                self.rows["call_nodes"].append((
                    oid, f["hash"], f["task_hash"], f["task"], f["task_name"], f["args_hash"], f["value_hash"],
                    f["value"], f["timestamp"], pack_args([(a[0], a[1], a[3]) for a in args]), self.pack,
                ))
                self.rows["arg_uses"].extend([(a[2], oid) for a in args])
            elif tag == "blob":
                return
            else:
                raise ValueError
            self.count += 1
        except (ValueError, TypeError, KeyError, IndexError, msgpack.UnpackException):
            self.add(oid, codec.decode(canonical))

    def flush(self, conn, bulk: bool = False) -> int:
        """Write buffered rows inside the caller's transaction; returns how many records.
        bulk: the index is being loaded (keys not built yet; duplicates removed afterwards)."""
        n = self.count
        for table in ORDER:
            rows = self.rows[table]
            if rows:
                conn.executemany(SQL[table] if bulk else INCREMENTAL.get(table, SQL[table]), rows)
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

