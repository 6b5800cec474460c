"""Import phase 1 helpers: the temporary sqlite spill file and one line's rows.

Each validated line becomes one `recs` row (upstream key, line number, kind,
the columns the importer's queries need, the parsed object as marshal
bytes), so the input never has to fit in memory.
"""

import marshal
import os
import uuid
from dataclasses import dataclass, field

from . import convert

DDL = (
    "CREATE TABLE recs (key TEXT PRIMARY KEY, line INTEGER NOT NULL, kind TEXT NOT NULL, "
    "aux TEXT, t INTEGER, ref TEXT, body BLOB NOT NULL)",
    "CREATE TABLE tagparents (parent TEXT)",
)
PRAGMAS = ("PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF", "PRAGMA cache_size=-16384")


@dataclass
class ImportSummary:
    lines: int = 0
    imported: int = 0  # lines whose record was written now
    present: int = 0  # lines whose record was already in the repo (or repeated in the input)
    failed: int = 0  # lines skipped because of errors (keep_going)
    executions: int = 0  # executions made visible by this import
    errors: list = field(default_factory=list)  # LineError, in line order

    def line(self) -> str:
        text = f"Imported {self.imported} records ({self.present} already present)."
        if self.failed:
            text += f" Skipped {self.failed} records with errors."
        return text


def tmp_db_path(repo) -> str:
    d = os.path.join(repo.root, "tmp")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, f"import-{uuid.uuid4().hex}.sqlite3")


def spill_row(ln, lineno: int):
    """(recs row, tag parents) for one validated Line.

    recs columns: key, line, kind ("Task" for Values with a Task subtype),
    aux (Job: parent_id, Value: type, CallNode: value_hash, Tag: entity_id),
    t (Job: start time), ref (Job: execution_id), body (marshal of the object)."""
    o, key = ln.obj, ln.key
    kind, aux, t, ref = ln.kind, None, None, None
    if kind == "Job":
        aux, t, ref = o["parent_id"], o["_start_time"], o["execution_id"]
    elif kind == "Value":
        if convert.is_task_value(o):
            kind = "Task"
        else:
            aux = o["type"]
    elif kind == "CallNode":
        aux = o["value_hash"]
        o["_pk"] = [convert.split_arg_key(o["call_hash"], name, a) for name, a in o["args"].items()]
    elif kind == "Tag":
        aux = o["entity_id"]
    return (key, lineno, kind, aux, t, ref, marshal.dumps(o)), o["parents"] if kind == "Tag" else ()


def describe_ref(kind: str, o: dict, dep: str) -> str:
    """Which field of a record names `dep` (for error messages)."""
    ident = dep[2:]
    if kind == "Execution":
        return "root job (job_id)"
    if kind == "Job":
        return "task (task_hash)" if ident == o["task_hash"] else "call node (call_hash)"
    if kind == "Value":
        return "subvalue"
    if kind == "CallNode":
        if dep.startswith("c:"):
            return "child call node (children)"
        if ident == o["task_hash"]:
            return "task (task_hash)"
        if ident == o["value_hash"]:
            return "result value (value_hash)"
        name = next((n for n, a in o["args"].items() if a["value_hash"] == ident), "?")
        return f"value of argument {name!r}"
    return "record"
