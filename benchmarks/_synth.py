"""Synthetic provenance records shaped like the bench harness's `wide` workflow.

One leaf call makes: an int argument Value, a result Value (small dict,
native format), a CallNode and a Job. Mid and main calls link their children.
Deterministic for a given salt so sizes are reproducible. Used by
bench_objects.py and to train/measure the zstd dictionary.
"""

import hashlib
import os
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import msgpack  # noqa: E402

from redun.objects.codec import encode_with_id  # noqa: E402
from redun.objects.records import Arg, CallNode, Execution, Job, Task, Value  # noqa: E402

T0 = 1_795_000_000_000_000


def h20(*parts) -> bytes:
    return hashlib.sha1(repr(parts).encode()).digest()


def _uuid(*parts) -> bytes:
    return uuid.UUID(bytes=hashlib.md5(repr(parts).encode()).digest(), version=4).bytes


SOURCES = {
    "leaf": 'def leaf(j: int, salt: str, mode: str) -> object:\n    """One unit of work."""\n'
    '    if mode == "file":\n        ...\n    return {"j": j, "square": j * j, "tag": f"leaf-{j}-{salt}"}\n',
    "mid": "def mid(i: int, start: int, stop: int, salt: str, mode: str) -> list:\n"
    "    return [leaf(j, salt, mode) for j in range(start, stop)]\n",
    "main": "def main(n: int = N, m: int = M, salt: str = SALT, mode: str = MODE) -> dict:\n"
    "    groups = [mid(k, bounds[k], bounds[k + 1], salt, mode) for k in range(m)]\n"
    "    return summarize(groups)\n",
}


def value(v) -> Value:
    data = msgpack.packb(v, use_bin_type=True)
    return Value(h20("value", repr(v)), type(v).__name__, "native", data, (), len(data), (), None)


def wide_records(n: int = 1000, m: int = 10, salt: str = "s0", first: int = 0, t0: int = T0):
    """Yield (oid, canonical bytes) in closure order (children first).
    Leaves are numbered from `first` (distinct runs: distinct argument values);
    the run starts at t0 (microseconds)."""
    ex = _uuid("exec", salt, n)
    tasks = {}
    for name, src in SOURCES.items():
        t = Task(h20("task", name), "bench", name, src)
        tasks[name] = encode_with_id(t) + (t,)
        yield tasks[name][:2]
    shared = {}
    for v in (salt, "value"):
        vid, vb = encode_with_id(value(v))
        shared[v] = (vid, value(v).hash)
        yield vid, vb
    mids_cn, mids_job = [], []
    bounds = [first + (k * n) // m for k in range(m + 1)]
    t = t0
    for k in range(m):
        leaf_cn, leaf_jobs = [], []
        mid_id = _uuid("mid", salt, k)
        for j in range(bounds[k], bounds[k + 1]):
            t += 1500
            jv = value(j)
            jid, jb = encode_with_id(jv)
            yield jid, jb
            rv = value({"j": j, "square": j * j, "tag": f"leaf-{j}-{salt}"})
            rid, rb = encode_with_id(rv)
            yield rid, rb
            args = (
                Arg(0, None, jv.hash, jid, ()),
                Arg(1, None, shared[salt][1], shared[salt][0], ()),
                Arg(2, None, shared["value"][1], shared["value"][0], ()),
            )
            th = tasks["leaf"][2].hash
            cn = CallNode(h20("call", j, salt), th, tasks["leaf"][0], "bench.leaf", h20("args", j, salt),
                          args, rv.hash, rid, (), t)
            cid, cb = encode_with_id(cn)
            yield cid, cb
            job = Job(_uuid("job", j, salt), ex, mid_id, th, tasks["leaf"][0], cn.hash, cid,
                      h20("eval", j, salt), rid, t - 1200, t, False, "DONE", (), {})
            jobid, jobb = encode_with_id(job)
            yield jobid, jobb
            leaf_cn.append(cid)
            leaf_jobs.append(jobid)
        rv = value([[j] for j in range(bounds[k], bounds[k + 1])][:1])
        rid, rb = encode_with_id(rv)
        yield rid, rb
        th = tasks["mid"][2].hash
        cn = CallNode(h20("midcall", k, salt), th, tasks["mid"][0], "bench.mid", h20("midargs", k), (), rv.hash,
                      rid, tuple(leaf_cn), t)
        cid, cb = encode_with_id(cn)
        yield cid, cb
        job = Job(mid_id, ex, _uuid("main", salt), th, tasks["mid"][0], cn.hash, cid, h20("mideval", k), rid,
                  t0, t, False, "DONE", tuple(leaf_jobs), {})
        jobid, jobb = encode_with_id(job)
        yield jobid, jobb
        mids_cn.append(cid)
        mids_job.append(jobid)
    rv = value({"leaves": n, "files": 0, "large_bytes": 0})
    rid, rb = encode_with_id(rv)
    yield rid, rb
    th = tasks["main"][2].hash
    cn = CallNode(h20("maincall", salt), th, tasks["main"][0], "bench.main", h20("mainargs"), (), rv.hash, rid,
                  tuple(mids_cn), t)
    cid, cb = encode_with_id(cn)
    yield cid, cb
    job = Job(_uuid("main", salt), ex, None, th, tasks["main"][0], cn.hash, cid, h20("maineval"), rid, t0, t,
              False, "DONE", tuple(mids_job), {"user": '"root"'})
    jobid, jobb = encode_with_id(job)
    yield jobid, jobb
    e = Execution(ex, '["redun", "run", "wide.py", "main"]', jobid, t0, t, {"redun.version": '"0.44.1"'})
    yield encode_with_id(e)
