"""RecordBuilder: an import's records built from its spilled lines, children first.

The driver (importer.py) spills the input (spill.py), then asks the builder
to check job references, fold execution tags, and build every record
depth-first: a record is built once everything it links to has an object id,
from the input or found in the repository (repolookup.py); records go to the
pack through a PackQueue (packqueue.py). Problems are collected with their
line numbers; the builder decides which records fail with them.
"""

from typing import Iterable, Optional

from ..errors import RedunError
from ..objects import codec
from ..objects.blobs import payload_fields
from ..objects.ids import object_id
from ..objects.progress import Progress
from . import convert
from .lines import LineError
from .repolookup import RepoLookup
from .spill import ImportSummary, describe_key, describe_ref, spill_lines

ROWS_MAX = 50_000  # index rows held for after the commit; beyond, the index catches up from the pack


class RecordBuilder:
    """One import's state (keys -> object ids, failures, errors) and the
    building of its records, children first."""

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
        self.lookup = RepoLookup(repo)
        self.queue = None  # PackQueue, once the pack writer is open
        self.rows = None  # index rows of the records written, flushed after the pack commit
        self.parents: set = set()  # ids of jobs that have children (internal jobs only)
        self.task_keys: set = set()  # keys of Task lines (few)
        self.missing: set = set()  # referenced keys in neither the input nor the repository
        self.error_values: set = set()  # value keys of type redun.ErrorValue (small)
        self.error_calls: set = set()  # call node keys whose result is one of those

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
    def spill(self, stream: Iterable, open_db):
        """Parse every line into a store (spill.spill_lines); returns the store."""
        store, facts = spill_lines(stream, open_db, self.summary, self.progress,
                                   lambda err: self.error(err, now=True))
        self.parents, self.task_keys, self.error_values = facts.parents, facts.task_keys, facts.error_values
        return store

    # -- phase 2 ------------------------------------------------------------
    def open_index(self) -> None:
        """Open (and catch up) the index before writing, so it never reads our staging pack
        and our rows are handed to it only after the commit."""
        if self.lookup.open_index() and not getattr(self.lookup.repo, "indexes_on_write", False):
            from ..index.rows import RowBuffer  # lazy: only with an index the store does not write

            self.rows = RowBuffer()

    def _lookup(self, key: str) -> Optional[bytes]:
        """Object id of a record the repository already holds, by upstream key."""
        oid, is_task = self.lookup.find(key)
        if is_task:
            self.task_keys.add(key)
        return oid

    def check(self, spilled) -> None:
        """Jobs whose parent job or execution is in neither the input nor the repository.
        (References that are links are checked while writing, see resolve.)"""
        for col, prefix, what in (("aux", "j:", "parent job (parent_id)"), ("ref", "e:", "execution (execution_id)")):
            for key, line, ident in spilled.dangling_jobs(col, prefix):
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
                    self.error(LineError(f"{describe_key(key)} refers to {what} {ident}, "
                                         "which is in neither the input nor the repository", line), key)

    def fold_tags(self, spilled) -> None:
        """Decide which Execution tags live in Execution.tags (see convert.tag_folds)."""
        superseded = spilled.superseded_tags()
        per_exec: dict = {}
        for key, o in spilled.execution_tags():
            if key in superseded or not convert.tag_folds(o):
                continue
            per_exec.setdefault("e:" + o["entity_id"], {}).setdefault(o["key"], []).append((key, o["value"]))
        for ekey, tags in per_exec.items():
            for tkey, items in tags.items():
                if len(items) == 1:  # a repeated key cannot live in one dict: keep those as Tag records
                    self.folded.setdefault(ekey, {})[tkey] = convert.json_dumps(items[0][1])
                    self.folded_tags[items[0][0]] = ekey

    def link_deps(self, spilled, kind: str, key: str, o: dict) -> list:
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
            if o.get("eval_value_hash") is not None:  # the cached value (import-upstream)
                out.append("v:" + o["eval_value_hash"])
            if o["id"] in self.parents:
                out += spilled.child_jobs(o["id"])
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

    def _job_times(self, spilled, jkey: str) -> tuple:
        row = spilled.get(jkey)
        if row is None:
            job = self.store.get(self.oids[jkey])
            return job.start_time, job.end_time
        o = row[2]
        return o["_start_time"], o["_end_time"]

    def _build(self, spilled, writer, kind: str, key: str, o: dict, deps: list):
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
            ev = o.get("eval_value_hash")
            return convert.job_record(o, oids["v:" + o["task_hash"]], call, children, self._result_type(o),
                                      None if ev is None else oids["v:" + ev])
        if kind == "Execution":
            jkey = "j:" + o["job_id"]
            start, end = self._job_times(spilled, jkey)
            return convert.execution_record(o, oids[jkey], start, end, self.folded.get(key, {}))
        if kind == "Tag":
            return convert.tag_record(o)
        raise AssertionError(kind)

    def emit(self, spilled, writer, k: str, kind: str, line: int, o: dict, deps: list, held: list) -> None:
        """Build and queue one record whose dependencies were all visited."""
        oids = self.oids
        bad = next((d for d in deps if d not in oids), None)
        if bad is not None:
            if bad in self.missing:
                msg = (f"{describe_key(k)} refers to {describe_ref(kind, o, bad)} {bad[2:]}, "
                       "which is in neither the input nor the repository")
                err = LineError(msg, line)
            else:
                err = LineError(f"{describe_key(k)} skipped: it needs {describe_key(bad)}, which could not be imported",
                                line)
                err.rank = 2
            self.error(err, k)
            return
        if kind in ("Job", "CallNode") and "v:" + o["task_hash"] not in self.task_keys:
            self.error(LineError(f"{describe_key(k)}: task_hash {o['task_hash']} names a Value that is not a "
                                 "task", line), k)
            return
        try:
            rec = self._build(spilled, writer, kind, k, o, deps)
        except LineError as e:
            self.error(e.at(line), k)
            return
        data = codec.encode(rec)
        oid = object_id(data)
        oids[k] = oid
        if kind == "Execution":
            held.append((k, oid, data))
            return
        if self.queue.present(oid):
            self.summary.present += 1
        else:
            self.summary.imported += 1
            self.queue.add(oid, data)
            if self.rows is not None:
                self.rows.add(oid, rec)
                if self.rows.count > ROWS_MAX:  # keep memory flat: let catch-up read the pack
                    self.rows = None

    def resolve(self, spilled, writer, root: str, held: list, root_row=None, parsed=None) -> None:
        """Build `root` and everything it links to, children first. root_row:
        its (kind, line, obj) when the caller's scan already read it."""
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
                    row = spilled.get(k)
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
                kind, line, o = row
                if k == root and parsed is not None:
                    o, deps = parsed
                else:
                    deps = self.link_deps(spilled, kind, k, o)
                inprog[k] = (kind, line, o, deps)
                cycle = next((d for d in deps if d in inprog), None)
                if cycle is not None:
                    self.error(LineError(f"{describe_key(k)} is part of a reference cycle through {describe_key(cycle)}",
                                         line), k)
                    for other in inprog:  # everything on the path depends on k
                        err = LineError(f"{describe_key(other)} skipped: it depends on a reference cycle",
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
            self.emit(spilled, writer, k, kind, line, o, deps, held)
            if len(oids) % 5000 == 0:
                self.progress.update(len(oids))
