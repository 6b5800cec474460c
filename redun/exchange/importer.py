"""Import driver: upstream JSON lines -> our records, all or nothing.

1. Spill: each line is parsed and validated (lines.py) and stored, keyed by
   its upstream id, in a temporary sqlite file under `<repo>/tmp/`, with
   the references it makes (deps). Memory stays flat whatever the input.
2. Check: jobs whose parent job or execution is in neither the input nor
   the repository (two joins on the spill file).
3. Write: records are built depth-first, children first (a record links only
   to records that exist), all through one PackWriter; a reference to an id
   in neither the input nor the repository (dangling), or a task_hash naming
   a non-task, is an error naming the line and the field. The only thing
   kept in memory is a map upstream key -> object id (~100 bytes per record).
   Execution records are held back and added last, then the pack is
   committed and only then are refs `execs/<uuid>` set (CAS from nothing).
A malformed line stops the import at once; problems found later are all
collected and reported (lowest line first) and then the writer is aborted:
nothing becomes visible. With keep_going, bad lines and every record that
depends on them are skipped and reported, and the rest is committed.
"""

import marshal
import os
import queue
import sqlite3
import threading
from typing import Iterable, Optional

from ..errors import RedunError
from ..objects import codec, compress
from ..objects.blobs import payload_fields
from ..objects.ids import object_id
from ..objects.progress import Progress, progress_or_none
from . import convert
from .lines import LineError, parse_line
from .spill import DDL, PRAGMAS, ImportSummary, describe_ref, spill_row, tmp_db_path

BATCH = 2000
WRITE_BATCH_BYTES = 1 << 20  # records queued before one compress + write to the pack
ROWS_MAX = 50_000  # index rows held for after the commit; beyond, the index catches up from the pack


class _Importer:
    def __init__(self, repo, keep_going: bool, progress: Progress):
        self.repo = repo
        self.store = repo.store
        self.keep_going = keep_going
        self.progress = progress
        self.summary = ImportSummary()
        self.oids: dict = {}  # key -> oid
        self.failed: set = set()
        self.ext: dict = {}  # keys found in the repo, not the input
        self.folded: dict = {}  # exec key -> {tag key: json text}
        self.folded_tags: dict = {}  # tag key -> exec key
        self.min_size = repo.config.getint("backend", "value_store_min_size", 1024)
        self._index = None
        self.rows = None  # index rows of the records written, flushed after the pack commit
        self.parents: set = set()  # ids of jobs that have children (internal jobs only)
        self.task_keys: set = set()  # keys of Task lines (few)
        self.missing: set = set()  # referenced keys in neither the input nor the repository
        self.error_values: set = set()  # value keys of type redun.ErrorValue (small)
        self.error_calls: set = set()  # call node keys whose result is one of those
        self._packs = None
        self._loose = True
        self._repo_empty = None
        self.pending: dict = {}  # oid -> canonical bytes queued for the pack, in order
        self.pending_size = 0

    # -- errors -------------------------------------------------------------
    def error(self, err: LineError, key: Optional[str] = None, now: bool = False) -> None:
        """Record a problem and mark `key` failed (counted once). Without keep_going,
        `now` raises at once; other problems are raised together by `raise_errors`."""
        if now and not self.keep_going:
            raise err
        self.summary.errors.append(err)
        if key is not None and key not in self.failed:
            self.failed.add(key)
            self.summary.failed += 1

    def raise_errors(self) -> None:
        # malformed lines first, then other root causes, then records skipped because of them
        errs = sorted(self.summary.errors, key=lambda e: (getattr(e, "rank", 1), e.line))
        self.summary.errors = errs
        if errs and not self.keep_going:
            first = errs[0]
            more = f" (and {len(errs) - 1} more problems; --keep-going imports the rest)" if len(errs) > 1 else ""
            err = LineError(first.problem + more, first.line)
            err.all = errs
            raise err

    # -- phase 1 ------------------------------------------------------------
    def spill(self, stream: Iterable, db) -> None:
        """Parse every line into the spill file. A helper thread does the sqlite
        inserts (which release the GIL) while this one parses the next batch;
        at most two batches wait in between, so memory stays flat."""
        s = self.summary
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
                    self.error(err, now=True)
                    s.failed += 1
                    continue
                recs.append(row)
                kind = row[2]
                if kind == "Job":
                    if row[3] is not None:
                        self.parents.add(row[3])
                elif kind == "Task":
                    self.task_keys.add(row[0])
                elif kind == "Value" and row[3] == convert.ERROR_VALUE_TYPE:
                    self.error_values.add(row[0])
                if tp:
                    parents.extend(("t:" + p,) for p in tp)
                if len(recs) >= BATCH:
                    batches.put((recs, parents))
                    recs, parents = [], []
                    if failure:
                        break
                if lineno % 5000 == 0:
                    self.progress.update(lineno)
            batches.put((recs, parents))
        finally:
            batches.put(None)
            thread.join()
        if failure:
            raise failure[0]
        db.execute("CREATE INDEX recs_aux ON recs(aux, kind)")
        stored = db.execute("SELECT count(*) FROM recs").fetchone()[0]
        s.present += s.lines - s.failed - stored - blank  # repeated in the input

    # -- phase 2 ------------------------------------------------------------
    def open_index(self) -> None:
        """Open (and catch up) the index before writing, so it never reads our staging pack
        and our rows are handed to it only after the commit."""
        if self._index is None:
            try:
                self._index = self.repo.index
            except ImportError:
                return
        from ..index.rows import RowBuffer  # lazy: only with an index

        self.rows = RowBuffer()

    def _lookup(self, key: str) -> Optional[bytes]:
        """Object id of a record the repository already holds, by upstream key."""
        kind, ident = key[0], key[2:]
        if kind == "e":
            return self.repo.refs.get(f"execs/{ident}")
        if self._repo_empty is None:
            self._repo_empty = not (self.store.pack_names() or any(True for _ in self.store.iter_loose()))
        if self._repo_empty:
            return None
        if self._index is None:
            try:
                self._index = self.repo.index
            except (ImportError, RedunError):
                return None
        idx = self._index
        if kind == "j":
            row = idx.job(bytes.fromhex(ident.replace("-", "")))
        elif kind == "c":
            row = idx.call_node_by_hash(bytes.fromhex(ident))
        else:
            row = idx.task_by_hash(bytes.fromhex(ident))
            if row is not None:
                self.task_keys.add(key)
            else:
                row = idx.value_by_hash(bytes.fromhex(ident))
        return row["oid"] if row else None

    def check(self, db) -> None:
        """Jobs whose parent job or execution is in neither the input nor the repository.
        (References that are links are checked while writing, see resolve.)"""
        for col, prefix, what in (("aux", "j:", "parent job (parent_id)"), ("ref", "e:", "execution (execution_id)")):
            rows = db.execute(
                f"SELECT j.key, j.line, j.{col} FROM recs j LEFT JOIN recs p ON p.key = '{prefix}' || j.{col} "
                f"WHERE j.kind = 'Job' AND j.{col} IS NOT NULL AND p.key IS NULL"
            ).fetchall()
            for key, line, ident in rows:
                dst = prefix + ident
                if dst in self.ext or dst in self.missing:
                    found = dst in self.ext
                else:
                    oid = self._lookup(dst)
                    found = oid is not None
                    if found:
                        self.ext[dst] = oid
                    else:
                        self.missing.add(dst)
                if not found:
                    self.error(LineError(f"{_describe(key)} refers to {what} {ident}, "
                                         "which is in neither the input nor the repository", line), key)

    def fold_tags(self, db) -> None:
        """Decide which Execution tags live in Execution.tags (see convert.tag_folds)."""
        superseded = {r[0] for r in db.execute("SELECT parent FROM tagparents")}
        per_exec: dict = {}
        for key, body in db.execute(
            "SELECT t.key, t.body FROM recs t JOIN recs e ON e.key = 'e:' || t.aux "
            "WHERE t.kind = 'Tag' AND e.kind = 'Execution' ORDER BY t.rowid"
        ):
            o = marshal.loads(body)
            if key in superseded or not convert.tag_folds(o):
                continue
            per_exec.setdefault("e:" + o["entity_id"], {}).setdefault(o["key"], []).append((key, o["value"]))
        for ekey, tags in per_exec.items():
            for tkey, items in tags.items():
                if len(items) == 1:  # a repeated key cannot live in one dict: keep those as Tag records
                    self.folded.setdefault(ekey, {})[tkey] = convert.json_dumps(items[0][1])
                    self.folded_tags[items[0][0]] = ekey

    def _link_deps(self, db, kind: str, key: str, o: dict) -> list:
        if kind == "Value":
            return ["v:" + h for h in o["subvalues"]]
        if kind == "CallNode":
            return (["v:" + o["task_hash"], "v:" + o["value_hash"]]
                    + ["v:" + a["value_hash"] for a in o["args"].values()]
                    + ["c:" + h for h in o["children"]])
        if kind == "Job":
            out = ["v:" + o["task_hash"]]
            if o["call_hash"] is not None:
                out.append("c:" + o["call_hash"])
            if o["id"] in self.parents:
                out += [r[0] for r in db.execute(
                    "SELECT key FROM recs WHERE aux = ? AND kind = 'Job' ORDER BY t, key", (o["id"],))]
            return out
        if kind == "Execution":
            return ["j:" + o["job_id"]]
        return []

    def _result_type(self, o: dict) -> Optional[str]:
        """Type of the Job's result value, as far as status needs it (ErrorValue or not)."""
        ch = o["call_hash"]
        if ch is None:
            return None
        ckey = "c:" + ch
        if ckey in self.error_calls:
            return convert.ERROR_VALUE_TYPE
        if ckey not in self.ext:
            return None
        try:
            return self.store.get(self.store.get(self.ext[ckey]).value).type
        except (RedunError, AttributeError):
            return None

    def _job_times(self, db, jkey: str) -> tuple:
        row = db.execute("SELECT body FROM recs WHERE key = ?", (jkey,)).fetchone()
        if row is None:
            job = self.store.get(self.oids[jkey])
            return job.start_time, job.end_time
        o = marshal.loads(row[0])
        return o["_start_time"], o["_end_time"]

    def _build(self, db, writer, kind: str, key: str, o: dict, deps: list):
        oids = self.oids
        if kind == "Value":
            fmt, payload = convert.value_payload(o)
            fields = payload_fields(writer, payload, self.min_size)
            subs = sorted({oids["v:" + h] for h in o["subvalues"]})
            return convert.value_record(o, fmt, fields, subs)
        if kind == "Task":
            return convert.task_record(o)
        if kind == "CallNode":
            if "v:" + o["value_hash"] in self.error_values:
                self.error_calls.add(key)
            arg_oids = {a["value_hash"]: oids["v:" + a["value_hash"]] for a in o["args"].values()}
            return convert.call_node_record(
                o, oids["v:" + o["task_hash"]], oids["v:" + o["value_hash"]], arg_oids,
                [oids["c:" + h] for h in o["children"]], o["_pk"])
        if kind == "Job":
            children = [oids[d] for d in deps if d.startswith("j:")]
            call = None if o["call_hash"] is None else oids["c:" + o["call_hash"]]
            return convert.job_record(o, oids["v:" + o["task_hash"]], call, children, self._result_type(o))
        if kind == "Execution":
            jkey = "j:" + o["job_id"]
            start, end = self._job_times(db, jkey)
            return convert.execution_record(o, oids[jkey], start, end, self.folded.get(key, {}))
        if kind == "Tag":
            return convert.tag_record(o)
        raise AssertionError(kind)

    def _add(self, writer, oid: bytes, data: bytes) -> None:
        """Queue one record for the pack; written (in order) by _flush, one
        write() per batch instead of one per record."""
        self.pending[oid] = data
        self.pending_size += len(data)
        if self.pending_size >= WRITE_BATCH_BYTES:
            self._flush(writer)

    def _flush(self, writer) -> None:
        if self.pending:
            stored = compress.compress_many(list(self.pending.values()))
            writer.add_stored_many(zip(self.pending, stored))
            self.pending, self.pending_size = {}, 0

    def _present(self, oid: bytes, writer) -> bool:
        if oid in writer.entries or oid in self.pending:
            return True
        if self._packs is None:
            self.store.refresh()
            self._packs = [p.index for p in self.store.packs()]
            self._loose = any(True for _ in self.store.iter_loose())
        for idx in self._packs:
            if idx.find(oid) is not None:
                return True
        if not self._loose:  # no loose objects when we started, and we write none
            return False
        h = oid.hex()
        return os.path.exists(os.path.join(self.store.objects_dir, h[:2], h[2:]))

    def emit(self, db, writer, k: str, kind: str, line: int, o: dict, deps: list, held: list) -> None:
        """Build and queue one record whose dependencies were all visited."""
        oids = self.oids
        bad = next((d for d in deps if d not in oids), None)
        if bad is not None:
            if bad in self.missing:
                msg = (f"{_describe(k)} refers to {describe_ref(kind, o, bad)} {bad[2:]}, "
                       "which is in neither the input nor the repository")
                err = LineError(msg, line)
            else:
                err = LineError(f"{_describe(k)} skipped: it needs {_describe(bad)}, which could not be imported",
                                line)
                err.rank = 2
            self.error(err, k)
            return
        if kind in ("Job", "CallNode") and "v:" + o["task_hash"] not in self.task_keys:
            self.error(LineError(f"{_describe(k)}: task_hash {o['task_hash']} names a Value that is not a "
                                 "task", line), k)
            return
        try:
            rec = self._build(db, writer, kind, k, o, deps)
        except LineError as e:
            self.error(e.at(line), k)
            return
        data = codec.encode(rec)
        oid = object_id(data)
        oids[k] = oid
        if kind == "Execution":
            held.append((k, oid, data))
            return
        if self._present(oid, writer):
            self.summary.present += 1
        else:
            self.summary.imported += 1
            self._add(writer, oid, data)
            if self.rows is not None:
                self.rows.add(oid, rec)
                if self.rows.count > ROWS_MAX:  # keep memory flat: let catch-up read the pack
                    self.rows = None

    def resolve(self, db, writer, root: str, held: list, root_row=None, parsed=None) -> None:
        """Build `root` and everything it links to, children first. root_row:
        its (kind, line, body) when the caller's scan already read it."""
        oids, failed, ext = self.oids, self.failed, self.ext
        stack = [root]
        inprog: dict = {}
        while stack:
            k = stack[-1]
            if k in oids or k in failed:
                stack.pop()
                continue
            st = inprog.get(k)
            if st is None:
                if k == root and root_row is not None:
                    row = root_row
                else:
                    row = db.execute("SELECT kind, line, body FROM recs WHERE key = ?", (k,)).fetchone()
                if row is None:  # not in the input: maybe in the repository
                    oid = ext.get(k)
                    if oid is None and k not in self.missing:
                        oid = self._lookup(k)
                    if oid is None:
                        self.missing.add(k)
                        failed.add(k)
                    else:
                        ext[k] = oid
                        oids[k] = oid
                    stack.pop()
                    continue
                kind, line, body = row
                if k == root and parsed is not None:
                    o, deps = parsed
                else:
                    o = marshal.loads(body)
                    deps = self._link_deps(db, kind, k, o)
                inprog[k] = (kind, line, o, deps)
                cycle = next((d for d in deps if d in inprog), None)
                if cycle is not None:
                    self.error(LineError(f"{_describe(k)} is part of a reference cycle through {_describe(cycle)}",
                                         line), k)
                    for other in inprog:  # everything on the path depends on k
                        err = LineError(f"{_describe(other)} skipped: it depends on a reference cycle",
                                        inprog[other][1])
                        err.rank = 2
                        self.error(err, other)
                    return
                for d in deps:
                    if d not in oids and d not in failed:
                        stack.append(d)
                continue
            kind, line, o, deps = st
            del inprog[k]
            stack.pop()
            self.emit(db, writer, k, kind, line, o, deps, held)
            if len(oids) % 5000 == 0:
                self.progress.update(len(oids))


def _describe(key: str) -> str:
    names = {"e": "Execution", "j": "Job", "v": "Value", "c": "CallNode", "t": "Tag"}
    return f"{names.get(key[0], '?')} {key[2:]}"


def import_lines(repo, stream: Iterable, keep_going: bool = False,
                 progress: Optional[Progress] = None) -> ImportSummary:
    """Import upstream JSON lines (an iterable of bytes or str lines) into repo.

    Raises LineError (a RecordImportError) on the first problem unless
    keep_going; then problems are collected in summary.errors and the valid
    records are committed. Records already present are counted, not rewritten.
    `progress` is told the lines read, then the records written."""
    progress = progress_or_none(progress)
    imp = _Importer(repo, keep_going, progress)
    path = tmp_db_path(repo)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer = None
    try:
        for stmt in PRAGMAS + DDL:
            db.execute(stmt)
        db.execute("BEGIN")
        progress.phase("reading lines", unit="lines")
        imp.spill(stream, db)
        db.execute("COMMIT")
        imp.check(db)
        imp.fold_tags(db)
        repo.store.recover()
        imp.open_index()
        writer = repo.store.pack_writer()
        progress.phase("writing records", unit="records")
        held: list = []
        # Upstream writes parents first (BFS): scanning backwards meets children
        # first, so most records are built straight from the scan.
        first = db.execute("SELECT kind FROM recs ORDER BY rowid LIMIT 1").fetchone()
        order = "DESC" if first and first[0] == "Execution" else "ASC"
        roots = db.execute(f"SELECT key, kind, line, body FROM recs ORDER BY rowid {order}")
        folded, oids, failed, loads = imp.folded_tags, imp.oids, imp.failed, marshal.loads
        while True:
            batch = roots.fetchmany(1000)
            if not batch:
                break
            for key, kind, line, body in batch:
                if key in folded or key in oids or key in failed:
                    continue
                o = loads(body)
                deps = imp._link_deps(db, kind, key, o)
                for d in deps:
                    if d not in oids:
                        imp.resolve(db, writer, key, held, (kind, line, body), (o, deps))
                        break
                else:  # the common case when scanning children first: build it now
                    imp.emit(db, writer, key, kind, line, o, deps, held)
            imp.progress.update(len(oids))
        imp.raise_errors()
        _finish(repo, imp, writer, held, db)
        writer = None
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        db.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            try:
                os.unlink(path + suffix)
            except FileNotFoundError:
                pass
    return imp.summary


def _finish(repo, imp: _Importer, writer, held: list, db) -> None:
    """Add the held Execution records, commit the pack, then set refs."""
    s = imp.summary
    tag_counts = {}
    for tkey, ekey in imp.folded_tags.items():
        tag_counts[ekey] = tag_counts.get(ekey, 0) + 1
    imp._flush(writer)  # everything before the executions that link to it
    refs = []
    for key, oid, data in held:
        n = 1 + tag_counts.get(key, 0)
        current = repo.refs.get(f"execs/{key[2:]}")
        if current is not None:
            s.present += n  # the repository already has this execution (kept as is)
            continue
        if imp._present(oid, writer):
            s.present += n
        else:
            s.imported += n
            writer.add_stored(oid, compress.compress(data))
            if imp.rows is not None:
                imp.rows.add(oid, codec.decode(data))
        refs.append((key[2:], oid))
    for tkey, ekey in imp.folded_tags.items():
        if ekey not in imp.oids:  # its execution failed: the tag failed with it
            s.failed += 1
    name = writer.commit()
    if imp._index is not None:
        if imp.rows is not None:
            rows = imp.rows
            imp._index.commit(lambda conn: rows.flush(conn))
            if name:
                imp._index.note_pack(name)
        else:
            imp._index.catch_up()
    # CAS from nothing; a conflict means another import of the same execution set it meanwhile
    conflicts = repo.refs.set_many({f"execs/{eid}": (None, oid) for eid, oid in refs})
    s.executions += len(refs) - len(conflicts)
