"""gc of a 1M-object repository: wall time and peak RSS (target < 200 MB).

    python3 benchmarks/bench_gc.py [--objects 1000000] [--rebuild]

Builds once into benchmarks/scratch/gc-<n>/.redun (git-ignored): ~19k executions
of 52 records each in 10 packs, 70 % of them with a ref, everything aged 30
days. Then runs, each in a fresh process through the CLI:
  1. `redun gc --dry-run -q`   (the whole mark phase + listing)
  2. `redun gc -q` on a copy   (mark, then rewrite every pack without garbage)
and prints wall time and the child's peak RSS (ru_maxrss). Shared noisy
machine: treat times as rough.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from redun.objects import codec  # noqa: E402
from redun.objects.records import CallNode, Execution, Job, Task, Value  # noqa: E402
from redun.repo.repository import Repo  # noqa: E402

LEAVES = 16
PER_EXEC = 3 * LEAVES + 4


def build(root: str, n_objects: int) -> None:
    repo = Repo.init(root)
    n_exec = max(1, (n_objects - 1) // PER_EXEC)
    per_pack = max(1, n_exec // 10)
    rnd = os.urandom
    task = Task(b"\x01" * 20, "bench", "leaf", "def leaf(x): return x")
    t0 = time.time()
    i = 0
    while i < n_exec:
        with repo.store.pack_writer() as w:
            toid = w.add(codec.encode(task))
            batch = []
            for _ in range(min(per_pack, n_exec - i)):
                eid = uuid.uuid4().bytes
                jobs = []
                records = []
                for k in range(LEAVES):
                    v = Value(rnd(20), "builtins.int", "native", k.to_bytes(2, "big"))
                    vd = codec.encode(v)
                    from redun.objects.ids import object_id

                    vo = object_id(vd)
                    cn = CallNode(rnd(20), task.hash, toid, "leaf", rnd(20), (), v.hash, vo, (), 1)
                    cd = codec.encode(cn)
                    co = object_id(cd)
                    j = Job(uuid.uuid4().bytes, eid, None, task.hash, toid, cn.hash, co, rnd(20), vo, 1, 2,
                            False, "DONE", (), {})
                    jd = codec.encode(j)
                    jobs.append(object_id(jd))
                    records += [vd, cd, jd]
                rv = codec.encode(Value(rnd(20), "builtins.str", "native", b"root"))
                rvo = object_id(rv)
                rc = codec.encode(CallNode(rnd(20), task.hash, toid, "main", rnd(20), (), rnd(20), rvo, (), 1))
                rj = codec.encode(Job(uuid.uuid4().bytes, eid, None, task.hash, toid, None, object_id(rc), None,
                                      rvo, 1, 2, False, "DONE", tuple(jobs), {}))
                ex = codec.encode(Execution(eid, "[]", object_id(rj), 1, 2, {}))
                records += [rv, rc, rj, ex]
                batch.append((eid, object_id(ex)))
                w.add_many(records)
                i += 1
        for k, (eid, exo) in enumerate(batch):
            if k % 10 < 7:
                repo.refs.set(f"execs/{uuid.UUID(bytes=eid)}", exo)
        print(f"  built {i}/{n_exec} executions ({time.time() - t0:.0f} s)", file=sys.stderr)
    old = time.time() - 30 * 86400
    for d, _, files in os.walk(root):
        for f in files:
            os.utime(os.path.join(d, f), (old, old))
    repo.close()


_CHILD = (
    "import resource, sys\n"
    "from redun.cli.group import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "finally:\n"
    "    print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def run_child(args: list) -> tuple:
    """(wall s, peak RSS MB, last stdout line) of `redun ARGS` in a fresh process."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"failed: {args}\n{p.stdout}\n{p.stderr}")
    rss = [int(line.split()[1]) for line in p.stderr.splitlines() if line.startswith("maxrss ")][-1]
    return wall, rss / 1024, p.stdout.strip().splitlines()[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--scratch", default=os.path.join(os.path.dirname(__file__), "scratch"))
    a = ap.parse_args()
    root = os.path.join(a.scratch, f"gc-{a.objects}", ".redun")
    if a.rebuild and os.path.exists(root):
        shutil.rmtree(os.path.dirname(root))
    if not os.path.exists(os.path.join(root, "FORMAT")):
        print(f"building {a.objects} objects into {root} (once)", file=sys.stderr)
        build(root, a.objects)
    print(f"gc on {a.objects} objects (shared noisy machine; RSS = child's peak ru_maxrss)")
    wall, rss, line = run_child(["-c", root, "gc", "--dry-run", "-q"])
    print(f"  dry run : {wall:6.1f} s  peak RSS {rss:6.0f} MB   {line}")
    work = os.path.join(a.scratch, f"gc-{a.objects}-work", ".redun")
    shutil.rmtree(os.path.dirname(work), ignore_errors=True)
    shutil.copytree(root, work)
    try:
        with open(os.path.join(work, "ORIGIN"), "w") as f:  # a benchmark copy, not an archive to settle
            f.write(str(os.stat(work).st_ino) + "\n")
        wall, rss, line = run_child(["-c", work, "gc", "-q"])
        print(f"  real gc : {wall:6.1f} s  peak RSS {rss:6.0f} MB   {line}")
    finally:
        shutil.rmtree(os.path.dirname(work), ignore_errors=True)
    print("  target: peak RSS < 200 MB")


if __name__ == "__main__":
    main()
