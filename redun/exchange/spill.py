"""Import phase 1: every line parsed, validated and kept (spill_lines) in a
store (spillstore.py: in memory while the input is small, else a temporary
sqlite file under `<repo>/tmp/`), one line's row, and the removal of spill
files left by killed imports.
"""

import os
from dataclasses import dataclass, field
from typing import Iterable

from ..objects.fileio import remove_if_unlocked
from ..objects.ids import tmp_token
from . import convert
from .lines import LineError, parse_line
from .spillstore import MemoryStore, SqliteStore

BATCH = 2000  # rows per batch handed to the store
# Input bytes held as parsed objects (~3.5 bytes of memory per byte of input) before the
# lines move to a sqlite file; a module global so that tests can make every import spill.
MEMORY_LIMIT = 16 << 20


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
    return os.path.join(d, f"import-{tmp_token()}.sqlite3")


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
    """(row, tag parents) for one validated Line: the row as spillstore takes it.

    kind is "Task" for Values with a Task subtype; aux a Job's parent_id, a
    Value's type, a CallNode's value_hash or a Tag's entity_id; t a Job's start
    time; ref a Job's execution_id."""
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
    return (key, lineno, kind, aux, t, ref, o), o["parents"] if kind == "Tag" else ()


class SpillFacts:
    """What the later phases need to know from the whole input, gathered while spilling."""

    def __init__(self):
        self.parents: set = set()  # ids of jobs that have children (internal jobs only)
        self.task_keys: set = set()  # keys of Task lines (few)
        self.error_values: set = set()  # value keys of type redun.ErrorValue (small)


def spill_lines(stream: Iterable, open_db, summary: ImportSummary, progress, bad_line) -> tuple:
    """Parse every line into a store (spillstore.py): (store, SpillFacts).

    Lines are held in memory until MEMORY_LIMIT bytes of input were read; then
    open_db() gives the sqlite file they move to, and the rest follows them
    there. A malformed line goes to bad_line(LineError) (which raises unless
    the import keeps going) and is counted failed; progress is told the lines read."""
    s = summary
    facts = SpillFacts()
    blank = 0
    size = 0
    store = MemoryStore()
    rows, parents = [], []
    try:
        for lineno, raw in enumerate(stream, 1):
            s.lines = lineno
            if not raw.strip():
                blank += 1
                continue
            try:
                row, tp = spill_row(parse_line(raw), lineno)
            except LineError as e:
                err = e.at(lineno)
                err.rank = 0
                bad_line(err)
                s.failed += 1
                continue
            rows.append(row)
            size += len(raw)
            kind = row[2]
            if kind == "Job":
                if row[3] is not None:
                    facts.parents.add(row[3])
            elif kind == "Task":
                facts.task_keys.add(row[0])
            elif kind == "Value" and row[3] == convert.ERROR_VALUE_TYPE:
                facts.error_values.add(row[0])
            if tp:
                parents.extend("t:" + p for p in tp)
            if len(rows) >= BATCH:
                store = _add(store, rows, parents, size, open_db)
                rows, parents = [], []
            if lineno % 5000 == 0:
                progress.update(lineno)
        store = _add(store, rows, parents, size, open_db)
        stored = store.finish()
    except BaseException:
        store.close()
        raise
    s.present += s.lines - s.failed - stored - blank  # repeated in the input
    return store, facts


def _add(store, rows: list, parents: list, size: int, open_db):
    """Hand a batch to the store; the store to go on with (sqlite once `size` bytes of
    input are beyond MEMORY_LIMIT)."""
    store.add(rows, parents)
    if size > MEMORY_LIMIT and isinstance(store, MemoryStore):
        return _to_sqlite(store, open_db())
    return store


def _to_sqlite(mem: MemoryStore, db) -> SqliteStore:
    """Move what the memory store holds into a sqlite store on db, in input order."""
    store = SqliteStore(db)
    rows = []
    for row in mem.rows():
        rows.append(row)
        if len(rows) >= BATCH:
            store.add(rows, ())
            rows = []
    store.add(rows, list(mem.tag_parents))
    mem.close()
    return store


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
