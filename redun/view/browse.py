"""Queries that build the typed view objects of redun/view/browse_models.py.

`Browser` is the read side of `redun console`: every method runs a bounded
number of index queries (one page at a time, see index/pages.py) and returns
plain objects. Values are shown through Provenance.preview (never unpickled);
a failed job's error and traceback are read as a pickle sketch (view/failure.py).
Nothing here writes: not the objects, not the refs, not the index's preview cache.
"""

import json
import os
from typing import Optional

from ..errors import NotFoundError, UsageError
from ..objects.ids import uuid_str
from .browse_models import (
    Argument, CacheNote, Choices, ExecDetail, ExecFilter, ExecSummary, JobDetail, JobFilter, JobSummary, LineageNode,
    Page, Target, TaskDetail, TaskVersion, ValueDetail, ValueRef,
)
from .failure import describe_failure
from .query import Provenance, collapse, describe

PAGE = 100
EXEC_STATUSES = ("RUN", "DONE", "FAILED")
JOB_STATUSES = ("DONE", "CACHED", "FAILED")


def parse_filter(text: str, job: bool = False):
    """An ExecFilter (or JobFilter) from filter text: words `status:S`, `task:NAME`,
    `tag:KEY` / `tag:KEY=VALUE` (executions only); a bare word is a task name
    substring. Raises UsageError naming what is wrong."""
    status = task = tag = None
    for word in text.split():
        key, sep, val = word.partition(":")
        if not sep:
            key, val = "task", word
        key = key.lower()
        if key == "status":
            allowed = JOB_STATUSES if job else EXEC_STATUSES
            val = "RUN" if val.upper() == "RUNNING" else val.upper()
            if val not in allowed:
                raise UsageError(f"status:{val.lower()}: choose from {', '.join(s.lower() for s in allowed)}.")
            status = val
        elif key == "task":
            task = val
        elif key == "tag" and not job:
            k, eq, v = val.partition("=")
            if not k:
                raise UsageError("tag: needs a key (tag:KEY or tag:KEY=VALUE).")
            tag = (k, v if eq else None)
        else:
            words = "status:, task:" + ("" if job else ", tag:")
            raise UsageError(f"Unknown filter '{key}:' (use {words} or a bare task name).")
    if job:
        return JobFilter(status, task)
    return ExecFilter(status, task, tag)


def _tag_texts(raw: Optional[str]) -> dict:
    out = {}
    for k, v in (json.loads(raw) if raw else {}).items():
        try:
            decoded = json.loads(v)
        except (TypeError, ValueError):
            decoded = v
        out[k] = decoded if isinstance(decoded, str) else json.dumps(decoded)
    return out


class Browser:
    """Typed views of one open repository's history (what `redun console` shows)."""

    def __init__(self, prov: Provenance):
        self.prov = prov
        self.index = prov.index

    # -- small builders -------------------------------------------------------
    def value_ref(self, row: dict, limit: int = 200) -> ValueRef:
        return ValueRef(row["oid"], row["hash"].hex(), row["type"], self.prov.preview(row["oid"], limit),
                        row.get("path"), row.get("size") or 0, row.get("format") or "")

    def _value_ref_oid(self, oid: bytes) -> ValueRef:
        row = self.index.value(oid)
        if row is None:
            return ValueRef(oid, "", "?", f"<missing value {oid.hex()[:8]}>")
        return self.value_ref(row)

    def exec_summary(self, row: dict) -> ExecSummary:
        status = row.get("status")
        if status is None:
            from .models import exec_status

            status = exec_status(self.index, row)
        name = row.get("task_name")
        if name is None and "task_name" not in row:
            root = self.index.root_job(row["id"])
            name = self.prov.task_name(root["task_oid"]) if root else None
        argv = json.loads(row["args"])
        return ExecSummary(row["id"], uuid_str(row["id"]), status, row["start_time"], row["end_time"], name or "?",
                           " ".join(argv[1:]), _tag_texts(row["tags"]))

    def job_summaries(self, rows: list) -> list:
        """JobSummaries for index rows of named jobs (index/pages.py), their arguments'
        previews fetched for the whole page at once."""
        calls = [r["call_node"] for r in rows if r["call_node"] is not None]
        args = self.index.call_args(calls) if calls else {}
        oids = list({a[2] for items in args.values() for a in items})
        for oid, text in self.index.previews(oids).items():
            self.prov.known_preview(oid, text)
        out = []
        for r in rows:
            items = args.get(r["call_node"], [])
            pos = sorted((p, v) for p, k, v in items if p is not None)
            kw = sorted((k, v) for p, k, v in items if p is None and k is not None)
            text = ", ".join([self.prov.preview(v) for _, v in pos] + [f"{k}={self.prov.preview(v)}" for k, v in kw])
            name = r.get("task_name") or self.prov.task_name(r["task_oid"])
            out.append(JobSummary(r["id"], uuid_str(r["id"]), r["execution_id"], r["parent_id"], name, r["status"],
                                  r["start_time"], r["end_time"], bool(r.get("has_children")), text))
        return out

    def _one_job(self, jid: Optional[bytes]) -> Optional[JobSummary]:
        row = self.index.named_job(jid) if jid else None
        return self.job_summaries([row])[0] if row else None

    # -- executions -----------------------------------------------------------
    def executions(self, flt: ExecFilter = ExecFilter(), after=None, limit: int = PAGE) -> Page:
        """A page of executions, newest first; pass the page's cursor as `after` for the next."""
        tag = None
        if flt.tag is not None:
            key, value = flt.tag
            # tag values are stored as JSON: tag:env=prod means "prod"; tag:n=3 may mean 3 too
            tag = (key, () if value is None else (json.dumps(value), value))
        rows = self.index.execution_page(limit + 1, after, flt.status, flt.task, tag)
        page = [self.exec_summary(r) for r in rows[:limit]]
        cursor = (rows[limit - 1]["start_time"], rows[limit - 1]["id"]) if len(rows) > limit else None
        return Page(page, cursor)

    def execution(self, eid: bytes) -> ExecDetail:
        row = self.index.execution(eid)
        if row is None:
            raise NotFoundError(f"No execution {uuid_str(eid)} in this repository.")
        return ExecDetail(self.exec_summary(row), self.index.execution_status_counts(eid))

    def child_jobs(self, eid: bytes, parent_id: Optional[bytes], offset: int = 0, limit: int = PAGE) -> Page:
        """Jobs of an execution under one parent (None: the root job, or while the execution
        runs, the jobs whose parent is not recorded yet), oldest first; the cursor is the
        offset of the next page."""
        rows = self.index.child_job_page(eid, parent_id, limit + 1, offset)
        if parent_id is None and not rows:  # a running execution: no root job yet
            rows = self.index.orphan_job_page(eid, limit + 1, offset)
        return Page(self.job_summaries(rows[:limit]), offset + limit if len(rows) > limit else None)

    def find_jobs(self, eid: bytes, flt: JobFilter, offset: int = 0, limit: int = PAGE) -> Page:
        rows = self.index.job_search_page(eid, limit + 1, offset, flt.status, flt.task)
        return Page(self.job_summaries(rows[:limit]), offset + limit if len(rows) > limit else None)

    # -- one job --------------------------------------------------------------
    def job(self, jid: bytes) -> JobDetail:
        row = self.index.named_job(jid)
        if row is None:
            raise NotFoundError(f"No job {uuid_str(jid)} in this repository.")
        summary = self.job_summaries([row])[0]
        ex = self.index.execution(row["execution_id"])
        arguments, result, failure, call_hash = [], None, None, None
        cn = self.index.call_node(row["call_node"]) if row["call_node"] is not None else None
        if cn is not None:
            call_hash = cn["hash"].hex()
            call = self.prov.get(cn["oid"])
            pos = sorted((a for a in call.args if a.position is not None), key=lambda a: a.position)
            kw = sorted((a for a in call.args if a.position is None), key=lambda a: a.key or "")
            for a in pos + kw:
                label = str(a.position) if a.position is not None else a.key
                arguments.append(Argument(label, self._value_ref_oid(a.value)))
            result = self._value_ref_oid(cn["value_oid"])
            if result.is_error:
                failure = self._failure(cn["value_oid"])
        children = self.child_jobs(row["execution_id"], jid, 0, 50) if row["has_children"] else Page([])
        return JobDetail(summary, self.exec_summary(ex) if ex else None, row["task_hash"].hex(), call_hash,
                         arguments, result, failure, self.cache_note(row, cn), self._one_job(row["parent_id"]),
                         children.rows, children.more)

    def _failure(self, value_oid: bytes):
        try:
            return describe_failure(self.prov.payload(self.prov.get(value_oid)))
        except NotFoundError:
            return None

    def cache_note(self, row: dict, cn: Optional[dict]) -> CacheNote:
        """Why this job's result came from the cache, or why it had to run."""
        start, name = row["start_time"], row["task_name"]
        if row["status"] == "CACHED" or row["cached"]:
            src = self.index.earlier_eval(row["eval_hash"], row["end_time"] or start) if row["eval_hash"] else None
            if src is None:
                return CacheNote(True, "the job that first computed this result is not in this repository.")
            other = self.job_summaries([src])[0]
            where = "earlier in this execution" if src["execution_id"] == row["execution_id"] else \
                f"in execution {uuid_str(src['execution_id'])[:8]}"
            return CacheNote(True, f"same task and arguments as Job {other.id[:8]} {where}.", other)
        src = self.index.earlier_eval(row["eval_hash"], start) if row["eval_hash"] else None
        if src is not None:
            other = self.job_summaries([src])[0]
            return CacheNote(False, f"Job {other.id[:8]} had the same task and arguments, but its result was "
                             "not reusable (a File it returned changed) or caching was off.", other)
        if cn is not None:
            src = self.index.earlier_call_of(name, cn["args_hash"], row["task_hash"], start)
            if src is not None:
                other = self.job_summaries([src])[0]
                return CacheNote(False, f"the task's code changed since Job {other.id[:8]} "
                                 "(same arguments, another task hash).", other)
        src = self.index.earlier_job_of_task(row["task_hash"], start)
        if src is not None:
            other = self.job_summaries([src])[0]
            return CacheNote(False, f"new arguments (this task version last ran as Job {other.id[:8]}).", other)
        return CacheNote(False, "first call of this task version.")

    # -- values ---------------------------------------------------------------
    def value(self, oid: bytes, limit: int = 50) -> ValueDetail:
        row = self.index.value(oid)
        if row is None:
            raise NotFoundError(f"No value with object id {oid.hex()[:16]} in this repository.")
        ref = self.value_ref(row)
        failure = self._failure(oid) if ref.is_error else None
        return ValueDetail(
            ref, self.prov.preview(oid, 10_000), failure,
            self.job_summaries(self.index.value_jobs_page(row["hash"], "result", limit)),
            self.job_summaries(self.index.value_jobs_page(row["hash"], "arg", limit)),
            [self.value_ref(r) for r in self.index.value_parents_page(oid, limit)],
            self.value_items(oid, limit))

    # -- tasks ----------------------------------------------------------------
    def task(self, task_hash: bytes, limit: int = PAGE) -> TaskDetail:
        row = self.index.task_by_hash(task_hash)
        if row is None:
            raise NotFoundError(f"No task with hash {task_hash.hex()} in this repository.")
        versions = [TaskVersion(t["hash"].hex(), first, last, n)
                    for t, first, last, n in self.index.task_versions(row["fullname"])]
        return TaskDetail(task_hash.hex(), row["fullname"], self.prov.get(row["oid"]).source, versions,
                          self.task_jobs(task_hash, None, limit))

    def task_jobs(self, task_hash: bytes, before=None, limit: int = PAGE) -> Page:
        rows = self.index.task_job_page(task_hash, limit + 1, before)
        cursor = (rows[limit - 1]["start_time"], rows[limit - 1]["id"]) if len(rows) > limit else None
        return Page(self.job_summaries(rows[:limit]), cursor)

    def task_names(self, after: str = "", text: Optional[str] = None, limit: int = PAGE) -> Page:
        names = self.index.task_name_page(limit + 1, after, text)
        return Page(names[:limit], names[limit - 1] if len(names) > limit else None)

    def newest_task_hash(self, fullname: str) -> Optional[bytes]:
        versions = self.index.task_versions(fullname, limit=1)
        return versions[0][0]["hash"] if versions else None

    # -- files and lineage ----------------------------------------------------
    def files(self, after: str = "", text: Optional[str] = None, limit: int = PAGE) -> Page:
        rows = self.index.file_page(limit + 1, after, text)
        return Page([self.value_ref(r) for r in rows[:limit]], rows[limit - 1]["path"] if len(rows) > limit else None)

    def lineage_root(self, path: str) -> LineageNode:
        found = self.prov.find_file(path)
        if found is None:
            raise NotFoundError(f"No recorded file with path '{path}'.")
        return LineageNode("value", "file", value=self.value_ref(found[0]))

    def lineage_children(self, node: LineageNode, limit: int = 50) -> list:
        """The steps one level further up a lineage: a value's producing job (the innermost
        one of the newest execution that returned it), or the items of a value that no job
        returned; a job's arguments."""
        if node.kind == "job":
            return [LineageNode("value", f"arg {a.label}", value=a.value) for a in self.job(node.job.key).arguments]
        ref = node.value
        rows = self.index.value_jobs_page(bytes.fromhex(ref.hash), "result", limit) if ref.hash else []
        if rows:
            # the job that computed it (not one that found it in the cache), newest execution
            ran = [r for r in rows if r["status"] != "CACHED"] or rows
            newest = [r for r in ran if r["execution_id"] == ran[0]["execution_id"]]
            maker = min(newest, key=lambda r: r["end_time"] or 0)  # the innermost: it ends first
            return [LineageNode("job", "made by", job=self.job_summaries([maker])[0])]
        return [LineageNode("value", "item", value=v) for v in self.value_items(ref.oid, limit)]

    def value_items(self, oid: bytes, limit: int = 50) -> list:
        """ValueRefs of the values a value holds (a list's files...), files by path first.
        The record keeps them as a set of links, not in the container's order."""
        try:
            kids = self.prov.get(oid).subvalues[:limit]
        except NotFoundError:
            return []
        refs = [self._value_ref_oid(k) for k in kids]
        return sorted(refs, key=lambda r: (r.path is None, r.path or "", r.preview))

    # -- jumps ----------------------------------------------------------------
    def jump(self, text: str):
        """A Target for an id/hash prefix, task name, '-', '~N' or recorded file path;
        Choices when several records match. Raises NotFoundError."""
        text = text.strip()
        if not text:
            raise NotFoundError("Type an id or hash prefix, a task name, '-', '~N' or a file path.")
        if text == "-" or (text.startswith("~") and text[1:].isdigit()):
            n = 1 if text == "-" else int(text[1:])
            if n < 1:
                raise NotFoundError("~N counts from 1 (~1 is the newest execution).")
            return Target("execution", self.prov.nth_execution(n)["id"])
        if os.sep in text or ":" in text or os.path.exists(text):
            if self.index.values_with_path(text):
                return Target("file", text)
        hits = collapse(self.prov.resolve(text))
        if not hits and _hexish(text) and text != text.lower():
            hits = collapse(self.prov.resolve(text.lower()))
        if not hits:
            raise NotFoundError(f"Nothing matches '{text}' (an id or hash prefix, a task name, '-', '~N' or a path).")
        targets = [(describe(kind, row), self._target(kind, row)) for kind, row in hits]
        targets = [(d, t) for d, t in targets if t is not None]
        if len(targets) == 1:
            return targets[0][1]
        if not targets:
            raise NotFoundError(f"'{text}' names a call node with no recorded job.")
        return Choices(text, targets)

    def _target(self, kind: str, row: dict) -> Optional[Target]:
        if kind in ("execution", "job"):
            return Target(kind, row["id"])
        if kind == "task":
            return Target("task", row["hash"])
        if kind == "value":
            return Target("value", row["oid"])
        jobs = self.index.jobs_for_call_node(row["oid"])  # a call node: its first job
        return Target("job", jobs[0]["id"], "call node") if jobs else None


def _hexish(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF-" for c in text)
