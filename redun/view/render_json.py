"""`redun log --format json`: one upstream-style JSON object per record
(json.dumps with sorted keys), through the same conversions `redun export` uses."""

import json

from ..objects.ids import uuid_str
from .query import Provenance


def _dumps(obj: dict) -> str:
    return json.dumps(obj, sort_keys=True)


class JsonRenderer:
    def __init__(self, prov: Provenance, out):
        self.prov = prov
        self.index = prov.index
        self.out = out

    def execution(self, ex: dict) -> None:
        from ..exchange.convert import execution_line

        rec = self.prov.get(ex["oid"])
        root = self.index.root_job(ex["id"]) if ex["job_oid"] else None
        self.out(_dumps(execution_line(rec, uuid_str(root["id"]) if root else None)))

    def job(self, job: dict) -> None:
        from ..exchange.convert import job_line

        rec = self.prov.get(job["oid"])
        child_ids = [uuid_str(c["id"]) for c in self.index.child_jobs(job["id"])]
        self.out(_dumps(job_line(rec, child_ids)))

    def call_node(self, cn: dict) -> None:
        from ..exchange.convert import call_node_line

        rec = self.prov.get(cn["oid"])
        children = [c["hash"].hex() for c in self.index.call_nodes_by_oid(rec.children)]
        self.out(_dumps(call_node_line(rec, children)))

    def task(self, task: dict) -> None:
        from ..exchange.convert import task_line

        self.out(_dumps(task_line(self.prov.get(task["oid"]))))

    def value(self, val: dict) -> None:
        from ..exchange.convert import value_line

        rec = self.prov.get(val["oid"])
        payload = bytes(self.prov.payload(rec))
        subs = []
        for oid in rec.subvalues:
            row = self.index.value(oid)
            subs.append(row["hash"].hex() if row else self.prov.get(oid).hash.hex())
        self.out(_dumps(value_line(rec, payload, subs)))

    def record(self, kind: str, row: dict) -> None:
        {"execution": self.execution, "job": self.job, "call_node": self.call_node, "task": self.task,
         "value": self.value}[kind](row)
