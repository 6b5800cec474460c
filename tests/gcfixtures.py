"""Helpers shared by the gc, bundle and archival tests: small real executions."""

import os
import time
import uuid

from redun.objects import blobs
from redun.objects.records import CallNode, Execution, Job, Task, Value

DAY = 86400.0


def h20(tag: str) -> bytes:
    return (tag.encode() * 20)[:20]


def write_execution(w, name: str, payload: bytes = b"", exec_id=None, final: bool = True, blob_target=None) -> dict:
    """Task, value (blobs if payload is big), call node, job, execution -> oids."""
    exec_id = exec_id or uuid.uuid4().bytes
    task = w.add(_enc(Task(h20("t" + name), "", f"task_{name}", "def f(): pass")))
    if len(payload) > 1024:
        b = blobs.put_payload(blob_target or w, payload, chunk_size=blobs.MIN_CHUNK)
        value = Value(h20("v" + name), "bytes", "native", b"", b, len(payload))
    else:
        value = Value(h20("v" + name), "str", "native", payload or name.encode())
    val = w.add(_enc(value))
    call = w.add(_enc(CallNode(h20("c" + name), h20("t" + name), task, f"task_{name}", h20("a" + name), (),
                               h20("v" + name), val, (), 1)))
    job_id = uuid.uuid4().bytes
    job = w.add(_enc(Job(job_id, exec_id, None, h20("t" + name), task, h20("c" + name), call, h20("e" + name),
                         val, 1, 2, False, "DONE", (), {})))
    ex = Execution(exec_id, "[]", job if final else None, 1, 2 if final else None, {})
    exe = w.add(_enc(ex))
    return {"task": task, "value": val, "call": call, "job": job, "exec": exe, "exec_id": exec_id,
            "blobs": value.blobs, "all": [task, val, call, job, exe, *value.blobs]}


def _enc(rec):
    from redun.objects import codec

    return codec.encode(rec)


def age_everything(root: str, days: float = 30) -> None:
    """Make every pack and loose object look `days` old."""
    t = time.time() - days * DAY
    for dirpath, _dirs, files in os.walk(root):
        if "refs" in dirpath:
            continue
        for f in files:
            os.utime(os.path.join(dirpath, f), (t, t))


def exec_ref(exec_id: bytes) -> str:
    return f"execs/{uuid.UUID(bytes=exec_id)}"
