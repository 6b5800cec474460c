"""Import phase 1 helpers: the temporary sqlite spill file and one line's rows.

Each validated line becomes one `recs` row (upstream key, line number, kind,
an auxiliary column for the queries the importer needs, the parsed object as
marshal bytes) plus one `deps` row per reference it makes, so dangling
references are found by one join instead of holding the input in memory.
"""

import marshal
import os
import uuid
from dataclasses import dataclass, field

from . import convert

DDL = (
    "CREATE TABLE recs (key TEXT PRIMARY KEY, line INTEGER NOT NULL, kind TEXT NOT NULL, "
    "aux TEXT, t INTEGER, body BLOB NOT NULL)",
    "CREATE TABLE deps (src TEXT, dst TEXT, need TEXT, what TEXT, line INTEGER)",
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
    """(recs row, deps rows, tag parents) for one validated Line."""
    o, key = ln.obj, ln.key
    kind, aux, t = ln.kind, None, None
    deps = []
    if kind == "Execution":
        deps.append((key, "j:" + o["job_id"], "Job", "root job (job_id)", lineno))
    elif kind == "Job":
        aux = o["parent_id"]
        t = o["_start_time"]
        deps.append((key, "v:" + o["task_hash"], "Task", "task (task_hash)", lineno))
        if o["call_hash"] is not None:
            deps.append((key, "c:" + o["call_hash"], None, "call node (call_hash)", lineno))
        if o["parent_id"] is not None:
            deps.append((key, "j:" + o["parent_id"], "Job", "parent job (parent_id)", lineno))
        deps.append((key, "e:" + o["execution_id"], "Execution", "execution (execution_id)", lineno))
    elif kind == "Value":
        if convert.is_task_value(o):
            kind = "Task"
        else:
            aux = o["type"]
        for h in o["subvalues"]:
            deps.append((key, "v:" + h, None, "subvalue", lineno))
    elif kind == "CallNode":
        aux = o["value_hash"]
        deps.append((key, "v:" + o["task_hash"], "Task", "task (task_hash)", lineno))
        deps.append((key, "v:" + o["value_hash"], None, "result value (value_hash)", lineno))
        pk = []
        for name, a in o["args"].items():
            pk.append(convert.split_arg_key(o["call_hash"], name, a))
            deps.append((key, "v:" + a["value_hash"], None, f"value of argument {name!r}", lineno))
        o["_pk"] = pk
        for h in o["children"]:
            deps.append((key, "c:" + h, None, "child call node (children)", lineno))
    elif kind == "Tag":
        aux = o["entity_id"]
    return (key, lineno, kind, aux, t, marshal.dumps(o)), deps, o.get("parents", ()) if kind == "Tag" else ()
