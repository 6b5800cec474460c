"""Pure mapping record -> index rows, and the SQL that stores them.

`RowBuffer.add(oid, record)` appends rows in memory; `flush(conn)` writes them
in one short transaction, so engines ingesting as they run never hold the
sqlite write lock for long. Every statement is idempotent (re-ingesting a
pack is harmless).
"""

import json

import msgpack

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
    "call_nodes": "INSERT OR IGNORE INTO call_nodes VALUES (?,?,?,?,?,?,?,?,?)",
    "call_edges": "INSERT OR IGNORE INTO call_edges VALUES (?,?)",
    "call_args": "INSERT OR IGNORE INTO call_args VALUES (?,?,?,?,?,?)",
    "tasks": "INSERT OR IGNORE INTO tasks VALUES (?,?,?,?,?)",
    "vals": "INSERT OR IGNORE INTO vals VALUES (?,?,?,?,?,?)",
    "subvalues": "INSERT OR IGNORE INTO subvalues VALUES (?,?)",
    "tags": "INSERT OR IGNORE INTO tags VALUES (?,?,?,?,?)",
}
ORDER = tuple(SQL)


class RowBuffer:
    """Rows waiting to be written; add() is pure (no I/O)."""

    def __init__(self):
        self.rows = {t: [] for t in ORDER}
        self.count = 0

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
                rec.value, rec.timestamp,
            ))
            edges = r["call_edges"]
            for c in rec.children:
                edges.append((oid, c))
            args = r["call_args"]
            for i, a in enumerate(rec.args):
                args.append((oid, i, a.position, a.key, a.value_hash, a.value))
        elif t is Value:
            r["vals"].append((oid, rec.hash, rec.type, rec.format, rec.size, rec.path))
            sub = r["subvalues"]
            for c in rec.subvalues:
                sub.append((oid, c))
        elif t is Task:
            r["tasks"].append((oid, rec.hash, rec.namespace, rec.name, rec.fullname))
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
        (catch-up speed). Anything unexpected falls back to the strict decoder, which
        raises DecodeError naming the problem."""
        try:
            tag, schema, f = msgpack.unpackb(canonical, raw=False)
            if schema != 1:
                raise ValueError
            r = self.rows
            if tag == "job":
                r["jobs"].append((
                    _b(f["id"], 16), oid, _b(f["execution_id"], 16), _ob(f["parent_id"], 16), _b(f["task_hash"], 20),
                    _b(f["task"], 32), _ob(f["call_hash"], 20), _ob(f["call_node"], 32), _ob(f["eval_hash"], 20),
                    _ob(f["eval_value"], 32), _i(f["start_time"]), _oi(f["end_time"]), int(f["cached"] is True),
                    _s(f["status"]),
                ))
            elif tag == "callnode":
                row = (
                    oid, _b(f["hash"], 20), _b(f["task_hash"], 20), _b(f["task"], 32), _s(f["task_name"]),
                    _b(f["args_hash"], 20), _b(f["value_hash"], 20), _b(f["value"], 32), _i(f["timestamp"]),
                )
                edges = [(oid, _b(c, 32)) for c in f["children"]]
                args = [(oid, i, _oi(pos), _os(key), _b(vh, 20), _b(vo, 32))
                        for i, (pos, key, vh, vo, _ups) in enumerate(f["args"])]
                r["call_nodes"].append(row)
                r["call_edges"].extend(edges)
                r["call_args"].extend(args)
            elif tag == "value":
                row = (oid, _b(f["hash"], 20), _s(f["type"]), _s(f["format"]), _i(f["size"]), _os(f["path"]))
                sub = [(oid, _b(c, 32)) for c in f["subvalues"]]
                r["vals"].append(row)
                r["subvalues"].extend(sub)
            elif tag == "blob":
                return
            else:
                raise ValueError
            self.count += 1
        except (ValueError, TypeError, KeyError, msgpack.UnpackException):
            self.add(oid, codec.decode(canonical))

    def flush(self, conn) -> int:
        """Write buffered rows inside the caller's transaction; returns how many records."""
        n = self.count
        for table in ORDER:
            rows = self.rows[table]
            if rows:
                conn.executemany(SQL[table], rows)
                rows.clear()
        self.count = 0
        return n

    def __len__(self):
        return self.count


def _b(v, n):
    if type(v) is not bytes or len(v) != n:
        raise ValueError
    return v


def _ob(v, n):
    return None if v is None else _b(v, n)


def _i(v):
    if type(v) is not int:
        raise ValueError
    return v


def _oi(v):
    return None if v is None else _i(v)


def _s(v):
    if type(v) is not str:
        raise ValueError
    return v


def _os(v):
    return None if v is None else _s(v)
