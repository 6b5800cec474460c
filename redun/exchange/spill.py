"""Import phase 1: the temporary sqlite spill file, one line's rows, and the
reading of every line into it (spill_lines).

Each validated line becomes one `recs` row (upstream key, line number, kind,
the columns the importer's queries need, the parsed object as marshal
bytes), so the input never has to fit in memory.
"""

import marshal
import os
import queue
import threading
import uuid
from dataclasses import dataclass, field
from typing import Iterable

from ..objects.fileio import remove_if_unlocked
from . import convert
from .lines import LineError, parse_line

BATCH = 2000  # rows per insert batch

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


def discard_stale_spills(repo) -> int:
    """Delete the spill files (and their sqlite companions) of imports that were killed:
    a live import holds an flock on `<spill>.lock`. Returns how many spills went."""
    d = os.path.join(repo.root, "tmp")
    try:
        entries = os.listdir(d)
    except FileNotFoundError:
        return 0
    gone = 0
    for e in entries:
        if e.startswith("import-") and e.endswith(".sqlite3.lock") and remove_if_unlocked(os.path.join(d, e)):
            gone += 1
            for suffix in ("", "-journal", "-wal", "-shm"):
                try:
                    os.unlink(os.path.join(d, e[: -len(".lock")] + suffix))
                except FileNotFoundError:
                    pass
    return gone


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


class SpillFacts:
    """What the later phases need to know from the whole input, gathered while spilling."""

    def __init__(self):
        self.parents: set = set()  # ids of jobs that have children (internal jobs only)
        self.task_keys: set = set()  # keys of Task lines (few)
        self.error_values: set = set()  # value keys of type redun.ErrorValue (small)


def spill_lines(stream: Iterable, db, summary: ImportSummary, progress, bad_line) -> SpillFacts:
    """Parse every line into the spill file `db`. A helper thread does the sqlite
    inserts (which release the GIL) while this one parses the next batch; at
    most two batches wait in between, so memory stays flat. A malformed line
    goes to bad_line(LineError) (which raises unless the import keeps going)
    and is counted failed; progress is told the lines read."""
    s = summary
    facts = SpillFacts()
    blank = 0
    batches: queue.Queue = queue.Queue(maxsize=2)
    failure: list = []

    def writer():
        while True:
            item = batches.get()
            if item is None:
                return
            if failure:
                continue
            try:
                recs, parents = item
                db.executemany("INSERT OR IGNORE INTO recs VALUES (?,?,?,?,?,?,?)", recs)
                db.executemany("INSERT INTO tagparents VALUES (?)", parents)
            except BaseException as e:  # handed to the parsing thread below
                failure.append(e)

    thread = threading.Thread(target=writer, name="import-spill", daemon=True)
    thread.start()
    recs, parents = [], []
    try:
        for lineno, raw in enumerate(stream, 1):
            s.lines = lineno
            if not raw.strip():
                blank += 1
                continue
            try:
                ln = parse_line(raw)
                row, tp = spill_row(ln, lineno)
            except LineError as e:
                err = e.at(lineno)
                err.rank = 0
                bad_line(err)
                s.failed += 1
                continue
            recs.append(row)
            kind = row[2]
            if kind == "Job":
                if row[3] is not None:
                    facts.parents.add(row[3])
            elif kind == "Task":
                facts.task_keys.add(row[0])
            elif kind == "Value" and row[3] == convert.ERROR_VALUE_TYPE:
                facts.error_values.add(row[0])
            if tp:
                parents.extend(("t:" + p,) for p in tp)
            if len(recs) >= BATCH:
                batches.put((recs, parents))
                recs, parents = [], []
                if failure:
                    break
            if lineno % 5000 == 0:
                progress.update(lineno)
        batches.put((recs, parents))
    finally:
        batches.put(None)
        thread.join()
    if failure:
        raise failure[0]
    db.execute("CREATE INDEX recs_aux ON recs(aux, kind)")
    stored = db.execute("SELECT count(*) FROM recs").fetchone()[0]
    s.present += s.lines - s.failed - stored - blank  # repeated in the input
    return facts


def describe_key(key: str) -> str:
    """'Job <uuid>' and the like, for an upstream key (for error messages)."""
    names = {"e": "Execution", "j": "Job", "v": "Value", "c": "CallNode", "t": "Tag"}
    return f"{names.get(key[0], '?')} {key[2:]}"


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
