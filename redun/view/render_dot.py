"""`redun log --dot <exec>`: an execution's call graph in Graphviz dot.

Nodes are jobs (label: task name, short id, status), edges parent -> child.
Cached jobs are dashed, failed ones red.
"""

from ..objects.ids import uuid_str
from .query import Provenance


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_dot(prov: Provenance, ex: dict, out) -> None:
    index = prov.index
    jobs = index.execution_jobs(ex["id"])
    names = {}
    out(f"digraph {_q('exec_' + uuid_str(ex['id'])[:8])} {{")
    out("  rankdir=LR;")
    out("  node [shape=box, fontname=monospace];")
    ids = {j["id"] for j in jobs}
    for j in jobs:
        name = names.get(j["task_oid"])
        if name is None:
            name = names[j["task_oid"]] = prov.task_name(j["task_oid"])
        jid = uuid_str(j["id"])
        style = []
        if j["status"] == "CACHED":
            style.append("style=dashed")
        elif j["status"] == "FAILED":
            style.append("color=red")
        label = f"{name}\\n{jid[:8]} {j['status']}"
        attrs = ", ".join([f"label={_q(label).replace(chr(92) * 2 + 'n', chr(92) + 'n')}"] + style)
        out(f"  {_q(jid)} [{attrs}];")
    for j in jobs:
        if j["parent_id"] in ids:
            out(f"  {_q(uuid_str(j['parent_id']))} -> {_q(uuid_str(j['id']))};")
    out("}")
