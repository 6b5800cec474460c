"""Text rendering of provenance, in upstream redun's `redun log` formats.

Every function writes lines through `out` (a callable taking one line) so
long listings stream. Values are shown through Provenance.preview (never by
unpickling). Formats: see docs/query-index.md and upstream-semantics §6.3.
"""

import json
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone

from ..objects.ids import uuid_str
from .query import Provenance, exec_status

STATUS_WIDTH = 6
JOB_STATUSES = ("PENDING", "RUNNING", "FAILED", "CACHED", "DONE", "TOTAL")


# -- small formats ------------------------------------------------------------------


def local_time(us: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1e6))


def utc_time(us: int) -> str:
    """Upstream's str(datetime) of a UTC timestamp: 2026-11-24 19:08:42.821273+00:00."""
    return str(datetime.fromtimestamp(us / 1e6, tz=timezone.utc))


def duration(us: int) -> str:
    us = max(us, 0)
    secs, micro = divmod(us, 1_000_000)
    hours, rem = divmod(secs % 86400, 3600)
    minutes, seconds = divmod(rem, 60)
    return f"{hours}:{minutes:02}:{seconds:02}.{micro // 10000:02}"


def status_cell(status: str) -> str:
    return status.center(STATUS_WIDTH)


def format_tags(tags, max_length: int = 50) -> str:
    """'(k=v, …)' sorted, as upstream shows tags; tags: (key, JSON text) pairs or a dict."""
    if not tags:
        return ""
    from ..tags import format_tag_key_value

    parts = []
    for k, raw in (tags.items() if isinstance(tags, dict) else tags):
        try:
            v = json.loads(raw)
        except (TypeError, ValueError):
            v = raw
        parts.append(format_tag_key_value(k, v, max_length=max_length))
    return "(" + ", ".join(sorted(parts)) + ")"


def short(raw: bytes, full: bool = False) -> str:
    text = uuid_str(raw) if len(raw) == 16 else raw.hex()
    return text if full else text[:8]


def status_table(counts: dict, when_us: int) -> list:
    """Upstream's JOB STATUS table: counts = {task name: Counter(status)}."""
    names = sorted(counts)
    table = [["TASK", *JOB_STATUSES]]
    table.append(["ALL"] + [str(sum(counts[n][s] for n in names)) for s in JOB_STATUSES])
    table += [[n] + [str(counts[n][s]) for s in JOB_STATUSES] for n in names]
    widths = [max(7, max(len(row[j]) for row in table)) for j in range(len(table[0]))]
    lines = [f"| JOB STATUS {time.strftime('%Y/%m/%d %H:%M:%S', time.localtime(when_us / 1e6))}"]
    for i, row in enumerate(table):
        if i == 1:
            lines.append("| ")
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("| " + " ".join(cells))
    return lines


# -- records ------------------------------------------------------------------------


class TextRenderer:
    def __init__(self, prov: Provenance, out):
        self.prov = prov
        self.index = prov.index
        self.out = out

    def line(self, text: str = "", indent: int = 0) -> None:
        self.out((" " * indent + text) if text else text)

    def tags(self, entity_id: str) -> str:
        """The entity's current tags as upstream shows them after a record's line."""
        return format_tags([(k, v) for _, k, v, _ in self.index.current_tags(entity_id)])

    # executions
    def exec_line(self, ex: dict, detail: bool = False, indent: int = 0) -> None:
        args = " ".join(json.loads(ex["args"])[1:])
        status = exec_status(self.index, ex)
        self.line(f"Exec {short(ex['id'], detail)} [{status_cell(status)}] {local_time(ex['start_time'])}:  "
                  f"{args} {self.tags(uuid_str(ex['id']))}", indent)

    def exec_detail(self, ex: dict, indent: int = 0) -> None:
        self.exec_line(ex, detail=True, indent=indent)
        jobs = self.index.execution_jobs(ex["id"])
        end = ex["end_time"]
        if end is None:
            end = max((j["end_time"] or j["start_time"] for j in jobs), default=ex["start_time"])
        self.line(f"Duration: {duration(end - ex['start_time'])}", indent)
        self.line()
        task_names = {}
        counts = defaultdict(Counter)
        for j in jobs:
            name = task_names.get(j["task_oid"])
            if name is None:
                name = task_names[j["task_oid"]] = self.prov.task_name(j["task_oid"])
            counts[name][j["status"]] += 1
            counts[name]["TOTAL"] += 1
        for text in status_table(counts, end):
            self.line(text, indent)
        self.line()
        st = Counter(j["status"] for j in jobs)
        self.line(f"Jobs: {len(jobs)} (DONE: {st['DONE']}, CACHED: {st['CACHED']}, FAILED: {st['FAILED']})", indent)
        self.line("-" * 80, indent)
        self.job_tree(jobs, task_names, indent)

    def job_tree(self, jobs: list, task_names: dict, indent: int = 0) -> None:
        ids = {j["id"] for j in jobs}
        # all arguments of all jobs in one query, with cached previews
        args = defaultdict(list)
        eid = jobs[0]["execution_id"] if jobs else None
        for jid, idx, pos, key, voi, text in (self.index.execution_job_args(eid) if eid else ()):
            args[jid].append((idx, pos, key, voi))
            if text is not None:
                self.prov.known_preview(voi, text)
        self._job_args = args
        children = defaultdict(list)
        tops = []
        for j in jobs:
            if j["parent_id"] in ids:
                children[j["parent_id"]].append(j)
            else:
                tops.append(j)
        stack = [(j, indent) for j in reversed(tops)]
        while stack:
            j, ind = stack.pop()
            self.job_line(j, indent=ind, task_name=task_names.get(j["task_oid"]), args=self._args_text(args[j["id"]]))
            stack.extend((c, ind + 2) for c in reversed(children.get(j["id"], ())))

    def _args_text(self, items: list) -> str:
        pos = sorted((p, v) for _, p, k, v in items if p is not None)
        kw = sorted((k, v) for _, p, k, v in items if p is None and k is not None)
        preview = self.prov.preview
        return ", ".join([preview(v) for _, v in pos] + [f"{k}={preview(v)}" for k, v in kw])

    # jobs
    def job_line(self, job: dict, detail: bool = False, indent: int = 0, task_name: str = None,
                 args: str = None) -> None:
        name = task_name or self.prov.task_name(job["task_oid"])
        if args is None:
            args = self.prov.arguments_text(job["call_node"])
        self.line(f"Job {short(job['id'], detail)} [{status_cell(job['status'])}] {local_time(job['start_time'])}:  "
                  f"{name}({args}) {self.tags(uuid_str(job['id']))}", indent)

    def traceback(self, job: dict, indent: int = 0) -> None:
        stack = [job]
        while stack[-1]["parent_id"] is not None:
            parent = self.index.job(stack[-1]["parent_id"])
            if parent is None:
                break
            stack.append(parent)
        parts = [f"Exec {short(job['execution_id'])} > "]
        if len(stack) > 2:
            n = len(stack) - 2
            parts.append(f"({n} {'Jobs' if n > 1 else 'Job'}) > ")
        if len(stack) > 1:
            parts.append(f"Job {short(stack[1]['id'])} {self._short_task(stack[1])} > ")
        parts.append(f"Job {short(stack[0]['id'])} {self._short_task(stack[0])}")
        self.line("Traceback: " + "".join(parts), indent)

    def _short_task(self, job: dict) -> str:
        row = self.index.task(job["task_oid"])
        return row["name"] if row else self.prov.get(job["task_oid"]).name

    def job_detail(self, job: dict, indent: int = 0) -> None:
        self.job_line(job, detail=True, indent=indent)
        self.traceback(job, indent)
        if job["status"] == "DONE" and job["end_time"] is not None:
            self.line(f"Duration: {duration(job['end_time'] - job['start_time'])}", indent)
        self.line()
        if job["call_node"] is None:
            self.line("CallNode UNKNOWN: Job has not finished or has been killed.", indent + 2)
            self.line()
            self.task_block(self.index.task(job["task_oid"]), indent=indent + 2, first_job=False)
            return
        self.call_node_block(self.index.call_node(job["call_node"]), indent=indent + 2,
                             parents=False, children=False, execution_id=job["execution_id"])

    # call nodes
    def call_node_line(self, cn: dict, indent: int = 0) -> None:
        self.line(f"CallNode {short(cn['hash'])} {cn['task_name']} {self.tags(cn['hash'].hex())}", indent)

    def call_node_block(self, cn: dict, indent: int = 0, parents: bool = True, children: bool = True,
                        dataflow: bool = True, execution_id: bytes = None) -> None:
        self.line(f"CallNode {cn['hash'].hex()} {cn['task_name']} {self.tags(cn['hash'].hex())}", indent)
        self.line(f"Args:   {self.prov.arguments_text(cn['oid'])}", indent + 2)
        value = self.index.value(cn["value_oid"])
        verb = "Raised" if value is not None and value["type"] == "redun.ErrorValue" else "Result"
        self.line(f"{verb}: {self.prov.preview(cn['value_oid'])}", indent + 2)
        if parents:
            rows = self.index.call_parents(cn["oid"])
            if rows:
                self.line("Parent CallNodes:", indent + 2)
                for p in rows:
                    self.call_node_line(p, indent + 4)
        if children:
            rows = self.index.call_nodes_by_oid(self.prov.get(cn["oid"]).children)
            if rows:
                self.line("Child CallNodes:", indent + 2)
                for c in rows:
                    self.call_node_line(c, indent + 4)
        self.line()
        task = self.index.task(cn["task_oid"]) or self.index.task_by_hash(cn["task_hash"])
        self.task_block(task, indent=indent, first_job=False)
        if dataflow:
            self.line()
            self.dataflow(cn["value_oid"], "result", producer=cn, indent=indent, execution_id=execution_id)

    def dataflow(self, value_oid: bytes, name: str, producer: dict = None, indent: int = 0,
                 execution_id: bytes = None) -> None:
        from .render_dataflow import Dataflow

        flow = Dataflow(self.prov, self.line)
        flow.execution_id = execution_id
        flow.render(value_oid, name, producer=producer, indent=indent)

    # tasks
    def task_line(self, task: dict, indent: int = 0) -> None:
        self.line(f"Task {short(task['hash'])} {task['fullname']} {self.tags(task['hash'].hex())}", indent)

    def task_block(self, task: dict, indent: int = 0, first_job: bool = True) -> None:
        if task is None:
            self.line("Task UNKNOWN", indent)
            return
        self.line(f"Task {task['hash'].hex()} {task['fullname']} {self.tags(task['hash'].hex())}", indent)
        if first_job:
            job = self.index.first_job_of_task(task["hash"])
            if job is not None:
                self.line(f"First Job {short(job['id'])} {utc_time(job['start_time'])}", indent + 2)
        self.line()
        for text in self.prov.get(task["oid"]).source.split("\n"):
            self.line(text, indent + 2)

    # values and files
    def value_row(self, v) -> None:
        """A listing's line for a value (a redun.view.listing.ValueLine)."""
        self.line(f"Value {short(v.hash)} {v.type} {v.preview} {format_tags(v.tags)}")

    def job_row(self, j) -> None:
        """A listing's line for a job (a redun.view.listing.JobLine)."""
        self.line(f"Job {short(j.id)} [{status_cell(j.status)}] {local_time(j.start_time)}:  "
                  f"{j.task_name}({j.args}) {format_tags(j.tags)}")

    def call_node_row(self, c) -> None:
        """A listing's line for a call node (a redun.view.listing.CallNodeLine)."""
        self.line(f"CallNode {short(c.hash)} {c.task_name} {format_tags(c.tags)}")

    def file_row(self, f) -> None:
        """A listing's line for a recorded file (a redun.view.listing.FileLine)."""
        self.line(f"File {short(f.hash)} {f.path} ")

    def file_line(self, val: dict, indent: int = 0) -> None:
        self.line(f"File {short(val['hash'])} {val['path']} ", indent)

    def value_block(self, val: dict, indent: int = 0) -> None:
        if val.get("path") is not None:
            self.file_line(val, indent)
        else:
            self.line(f"Value {short(val['hash'])} {val['type']} {self.tags(val['hash'].hex())}", indent)
            self.line(self.prov.preview(val["oid"], limit=10_000), indent)
        self.line()
        self.dataflow(val["oid"], "value", indent=indent)

    def file_block(self, val: dict, job: dict, kind: str, indent: int = 0) -> None:
        self.file_line(val, indent)
        if job is None:
            return
        self.line(f"{'Produced' if kind == 'result' else 'Consumed'} by Job {short(job['id'])}", indent)
        self.line()
        self.job_detail(job, indent + 2)
