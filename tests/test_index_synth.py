"""A synthetic-history builder (used by the index/log tests and benchmarks/bench_log.py)
plus tests of the builder itself.

`write_execution` writes one realistic execution through a PackWriter, children
before parents: Task, Value, CallNode, Job records, then the Execution record
and its ref, the way the engine does.
"""

import json
import os
import pickle

from redun.objects import codec
from redun.objects.ids import new_uuid
from redun.objects.records import Arg, CallNode, Execution, Job, Task, Value

T0 = 1_700_000_000_000_000  # microseconds


def h20(*parts) -> bytes:
    import hashlib

    return hashlib.sha1(repr(parts).encode()).digest()


def put(writer, rec) -> bytes:
    return writer.add(codec.encode(rec))


def make_task(writer, name, namespace="", source=None):
    src = source if source is not None else f"@task()\ndef {name}(x):\n    return x\n"
    rec = Task(hash=h20("task", namespace, name, src), namespace=namespace, name=name, source=src)
    return put(writer, rec), rec


def make_value(writer, obj, path=None, type_name=None):
    """A Value as the engine records plain data: native encoding (pickle only if not plain)."""
    from redun.objects.valuecodec import encode_native

    data, fmt = encode_native(obj), "native"
    if data is None:
        data, fmt = pickle.dumps(obj, protocol=3), "pickle"
    rec = Value(
        hash=h20("value", data, path), type=type_name or f"builtins.{type(obj).__name__}", format=fmt,
        data=data, size=len(data), path=path,
    )
    return put(writer, rec), rec


def write_execution(store, refs, n_jobs=5, start=T0, task_names=("main", "step"), seed=0, file_paths=(),
                    writer=None, running=False):
    """Write an execution with a root job and n_jobs-1 children. Returns a dict of ids."""
    own = writer is None
    w = store.pack_writer() if own else writer
    eid = new_uuid()
    tasks = {n: make_task(w, n) for n in task_names}
    root_name, child_name = task_names[0], task_names[-1]
    child_jobs, child_calls = [], []
    out = {"exec_id": eid, "jobs": [], "calls": [], "values": [], "tasks": tasks}
    files = list(file_paths)
    t = start
    root_id = new_uuid()
    for i in range(n_jobs - 1):
        arg_oid, arg = make_value(w, (seed, i))
        if files and i < len(files):
            res_oid, res = make_value(w, f"file:{files[i]}", path=files[i], type_name="redun.File")
        else:
            res_oid, res = make_value(w, i * 10 + seed * 1_000_000)
        t_oid, t_rec = tasks[child_name]
        args_hash = h20("args", seed, i)
        call = CallNode(
            hash=h20("call", seed, i), task_hash=t_rec.hash, task=t_oid, task_name=t_rec.fullname,
            args_hash=args_hash, args=(Arg(0, None, arg.hash, arg_oid, ()),), value_hash=res.hash,
            value=res_oid, children=(), timestamp=t + 10,
        )
        c_oid = put(w, call)
        job = Job(
            id=new_uuid(), execution_id=eid, parent_id=root_id, task_hash=t_rec.hash, task=t_oid,
            call_hash=call.hash, call_node=c_oid, eval_hash=h20("eval", seed, i), eval_value=res_oid,
            start_time=t, end_time=t + 10, cached=False, status="DONE", children=(), tags={},
        )
        j_oid = put(w, job)
        child_jobs.append(j_oid)
        child_calls.append(c_oid)
        out["jobs"].append((job.id, j_oid))
        out["calls"].append((call.hash, c_oid))
        out["values"].append((res.hash, res_oid))
        t += 20
    r_oid, r_rec = tasks[root_name]
    res_oid, res = make_value(w, ["done", seed])
    arg_oid, arg = make_value(w, seed)
    root_call = CallNode(
        hash=h20("rootcall", seed), task_hash=r_rec.hash, task=r_oid, task_name=r_rec.fullname,
        args_hash=h20("rootargs", seed), args=(Arg(None, "n", arg.hash, arg_oid, ()),), value_hash=res.hash,
        value=res_oid, children=tuple(child_calls), timestamp=t + 1,
    )
    rc_oid = put(w, root_call)
    root = Job(
        id=root_id, execution_id=eid, parent_id=None, task_hash=r_rec.hash, task=r_oid, call_hash=root_call.hash,
        call_node=rc_oid, eval_hash=h20("rooteval", seed), eval_value=res_oid, start_time=start - 1, end_time=t + 1,
        cached=False, status="DONE", children=tuple(child_jobs), tags={},
    )
    root_oid = put(w, root)
    out["root"] = (root_id, root_oid)
    out["root_call"] = (root_call.hash, rc_oid)
    out["root_value"] = (res.hash, res_oid)
    ex = Execution(
        id=eid, args=json.dumps(["redun", "run", "workflow.py", root_name, "--n", str(seed)]),
        job=None if running else root_oid, start_time=start - 2, end_time=None if running else t + 2, tags={},
    )
    ex_oid = put(w, ex)
    out["exec_oid"] = ex_oid
    if own:
        out["pack"] = w.commit()
    if refs is not None:
        if own or running:
            refs.set(f"execs/{ex.id.hex()[:8]}-{ex.id.hex()[8:12]}-{ex.id.hex()[12:16]}-{ex.id.hex()[16:20]}-"
                     f"{ex.id.hex()[20:]}", ex_oid)
    return out


def test_builder_writes_a_readable_execution(tmp_repo_dir):
    from redun.repo.repository import Repo

    repo = Repo.open(tmp_repo_dir)
    out = write_execution(repo.store, repo.refs, n_jobs=4)
    ex = repo.store.get(out["exec_oid"])
    assert ex.job == out["root"][1]
    root = repo.store.get(ex.job)
    assert len(root.children) == 3
    assert len(list(repo.refs.list("execs/"))) == 1
    assert os.path.exists(os.path.join(tmp_repo_dir, "packs", f"pack-{out['pack']}.idx"))
