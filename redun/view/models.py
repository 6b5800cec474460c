"""The lazy views `redun repl`'s query() returns (and exec_status, shared with rendering).

Each view wraps one index row and a Provenance (redun.view.query); attributes are
looked up on first use. Reprs follow upstream's ORM reprs.
"""

import json
from typing import Optional

from ..objects.ids import uuid_str


def exec_status(index, ex: dict) -> str:
    """DONE/FAILED from the root job; RUN while the execution has no root job yet."""
    if ex["job_oid"] is None:
        return "RUN" if ex["end_time"] is None else "FAILED"
    root = index.root_job(ex["id"])
    if root is None:  # finished, but its root job is not in this repo (e.g. a partial import)
        return "RUN" if ex["end_time"] is None else "DONE"
    return "FAILED" if root["status"] == "FAILED" else "DONE"


# -- repl views -------------------------------------------------------------------


class _View:
    kind = ""

    def __init__(self, prov: "Provenance", row: dict):
        self._prov = prov
        self._row = row

    def __eq__(self, other):
        return type(other) is type(self) and other._row == self._row

    def __hash__(self):
        return hash((self.kind, self._row.get("oid")))


class ValueView(_View):
    kind = "value"

    @property
    def hash(self) -> str:
        return self._row["hash"].hex()

    @property
    def type(self) -> str:
        return self._row["type"]

    @property
    def preview(self) -> str:
        return self._prov.preview(self._row["oid"])

    @property
    def value(self):
        """The value itself (native or plain-pickle values only; never runs stored code)."""
        return self._prov.value_object(self._row["oid"])

    value_parsed = value

    @property
    def format(self) -> str:
        return self._row["format"]

    @property
    def path(self):
        return self._row.get("path")

    @property
    def size(self) -> int:
        return self._row["size"]

    def __repr__(self):
        return f"Value(hash='{self.hash[:8]}', value={self.preview})"


class FileView(ValueView):
    """A recorded file value (a Value with a path)."""

    kind = "value"

    def __repr__(self):
        return f"File(hash='{self.hash[:8]}', path='{self.path}')"


class ArgumentView:
    """One argument of a call: position or key, and its value."""

    def __init__(self, prov: "Provenance", task_name: str, arg, row: Optional[dict]):
        self._prov = prov
        self.task_name = task_name
        self.arg_position = arg.position
        self.arg_key = arg.key
        self.value_hash = arg.value_hash.hex()
        self.value = ValueView(prov, row or {"oid": arg.value, "hash": arg.value_hash, "type": "?", "format": "?",
                                             "size": 0, "path": None})

    @property
    def value_parsed(self):
        return self.value.value

    def __repr__(self):
        pos = self.arg_position if self.arg_position is not None else self.arg_key
        text = self.value.preview
        if self.value.type == "builtins.str":
            try:
                text = str(self.value.value)
            except Exception:  # noqa: BLE001 - display only
                pass
        if len(text) > 200:
            text = text[:197] + "..."
        return f"Argument(task_name='{self.task_name}', pos={pos}, value={text})"


class TaskView(_View):
    kind = "task"

    @property
    def hash(self) -> str:
        return self._row["hash"].hex()

    @property
    def name(self) -> str:
        return self._row["name"]

    @property
    def namespace(self) -> str:
        return self._row["namespace"]

    @property
    def fullname(self) -> str:
        return self._row["fullname"]

    @property
    def source(self) -> str:
        return self._prov.get(self._row["oid"]).source

    @property
    def jobs(self) -> list:
        index = self._prov.index
        return [JobView(self._prov, index.job(jid)) for jid in index.task_job_ids(self._row["hash"])]

    def __repr__(self):
        return f"Task(hash='{self.hash[:8]}', name='{self.fullname}')"


class CallNodeView(_View):
    kind = "call_node"

    @property
    def call_hash(self) -> str:
        return self._row["hash"].hex()

    hash = call_hash

    @property
    def task_name(self) -> str:
        return self._row["task_name"]

    @property
    def task(self) -> TaskView:
        row = self._prov.index.task(self._row["task_oid"]) or self._prov.index.task_by_hash(self._row["task_hash"])
        return TaskView(self._prov, row)

    @property
    def value(self) -> ValueView:
        return ValueView(self._prov, self._prov.index.value(self._row["value_oid"]) or {
            "oid": self._row["value_oid"], "hash": self._row["value_hash"], "type": "?", "format": "?", "size": 0})

    @property
    def task_hash(self) -> str:
        return self._row["task_hash"].hex()

    @property
    def args_hash(self) -> str:
        return self._row["args_hash"].hex()

    @property
    def value_parsed(self):
        return self.value.value

    @property
    def arguments(self) -> list:
        """ArgumentViews in call order."""
        call = self._prov.get(self._row["oid"])
        return [ArgumentView(self._prov, self.task_name, a, self._prov.index.value(a.value)) for a in call.args]

    @property
    def parents(self) -> list:
        return [CallNodeView(self._prov, r) for r in self._prov.index.call_parents(self._row["oid"])]

    @property
    def children(self) -> list:
        kids = self._prov.get(self._row["oid"]).children
        return [CallNodeView(self._prov, r) for r in self._prov.index.call_nodes_by_oid(kids)]

    @property
    def jobs(self) -> list:
        return [JobView(self._prov, r) for r in self._prov.index.jobs_for_call_node(self._row["oid"])]

    def __repr__(self):
        args = "[" + self._prov.arguments_text(self._row["oid"]) + "]"
        if len(args) > 100:
            args = args[:96] + "...]"
        return f"CallNode(hash='{self.call_hash[:8]}', task_name='{self.task_name}', args={args})"


class JobView(_View):
    kind = "job"

    @property
    def id(self) -> str:
        return uuid_str(self._row["id"])

    @property
    def status(self) -> str:
        return self._row["status"]

    @property
    def task(self) -> TaskView:
        row = self._prov.index.task(self._row["task_oid"]) or self._prov.index.task_by_hash(self._row["task_hash"])
        return TaskView(self._prov, row)

    @property
    def call_node(self) -> Optional[CallNodeView]:
        if self._row["call_node"] is None:
            return None
        return CallNodeView(self._prov, self._prov.index.call_node(self._row["call_node"]))

    @property
    def value(self):
        cn = self.call_node
        return cn.value.value if cn is not None else None

    @property
    def arguments(self) -> list:
        cn = self.call_node
        return cn.arguments if cn is not None else []

    @property
    def parent_job(self) -> Optional["JobView"]:
        pid = self._row["parent_id"]
        row = self._prov.index.job(pid) if pid else None
        return JobView(self._prov, row) if row else None

    @property
    def child_jobs(self) -> list:
        return [JobView(self._prov, r) for r in self._prov.index.child_jobs(self._row["id"])]

    children = child_jobs

    @property
    def execution(self) -> Optional["ExecutionView"]:
        row = self._prov.index.execution(self._row["execution_id"])
        return ExecutionView(self._prov, row) if row else None

    @property
    def start_time(self) -> int:
        return self._row["start_time"]

    @property
    def end_time(self):
        return self._row["end_time"]

    def __repr__(self):
        import time

        start = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self._row["start_time"] / 1e6))
        return f"Job(id='{self.id[:8]}', start_time='{start}', task_name='{self.task.fullname}')"


class ExecutionView(_View):
    kind = "execution"

    @property
    def id(self) -> str:
        return uuid_str(self._row["id"])

    @property
    def args(self) -> list:
        return json.loads(self._row["args"])

    @property
    def status(self) -> str:
        return exec_status(self._prov.index, self._row)

    @property
    def job(self) -> Optional[JobView]:
        if self._row["job_oid"] is None:
            return None
        row = self._prov.index.root_job(self._row["id"])
        return JobView(self._prov, row) if row else None

    @property
    def jobs(self) -> list:
        return [JobView(self._prov, r) for r in self._prov.index.execution_jobs(self._row["id"])]

    @property
    def tags(self) -> dict:
        return {k: json.loads(v) for k, v in json.loads(self._row["tags"] or "{}").items()}

    @property
    def task(self) -> Optional[TaskView]:
        job = self.job
        return job.task if job else None

    def __repr__(self):
        task = self.task
        name = task.fullname if task else "?"
        return f"Execution(id='{self.id[:8]}', task_name='{name}', args={self._row['args']})"


VIEWS = {"execution": ExecutionView, "job": JobView, "call_node": CallNodeView, "task": TaskView,
         "value": ValueView}


def view(prov: "Provenance", kind: str, row: dict):
    return VIEWS[kind](prov, row)
