"""Benchmark: `redun import` / `redun export` of ~25k upstream-format records.

    python3 benchmarks/bench_exchange.py [--runs 5] [--input FILE] [--upstream] [--scale 4]

Input: the upstream 5000-leaf export left by the baseline run
(/tmp/bench_upstream/value_n5000/export.jsonl, 25,086 lines) if present,
else a synthetic upstream-format export of the same shape (one execution,
a root job, 5000 x (job + call node + 2 jobs...) — hashes well-formed,
arg hashes exact). Each run is a fresh process through the real CLI; we
report medians of wall time and CPU (user+sys) and the child's max RSS
(os.wait4 rusage). Ratios are against upstream 0.44.1 (4.5 s export,
8.7 s import, from the baseline) or measured with --upstream.
--scale N also imports an N-times larger synthetic input to show memory
stays flat (only the key -> object id map grows, ~100 bytes per record).
The machine is shared: read wall times with that in mind (CPU is steadier).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from _paths import UPSTREAM_REDUN

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

BASELINE = "/tmp/bench_upstream/value_n5000/export.jsonl"
UPSTREAM = UPSTREAM_REDUN
UPSTREAM_REF = {"export": 4.5, "import": 8.7}


def run_child(argv, stdout=subprocess.DEVNULL):
    """(wall s, cpu s, max rss MB, returncode) of one child process."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE)
    _pid, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read()
    p.stderr.close()
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({rc}): {err.decode()[-2000:]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def synth(path: str, leaves: int) -> int:
    """Write an upstream-format export: 1 execution, a root job, `leaves` leaf calls."""
    from redun.exchange.convert import arg_hash

    def h():
        return uuid.uuid4().hex + uuid.uuid4().hex[:8]

    def ts(i):
        return f"2026-11-25 11:{(i // 1000000) % 60:02d}:{(i // 10000) % 60:02d}.{i % 1000000:06d}+00:00"

    n = 0
    eid, root = str(uuid.uuid4()), str(uuid.uuid4())
    root_task, leaf_task = h(), h()
    root_call, root_val = h(), h()
    kids, kid_calls = [], []
    with open(path, "w") as f:
        def w(o):
            nonlocal n
            f.write(json.dumps(o) + "\n")
            n += 1

        w({"_version": 1, "_type": "Execution", "id": eid, "args": "[\"redun\", \"run\", \"wf.py\", \"main\"]",
           "job_id": root})
        for t, name in ((root_task, "main"), (leaf_task, "leaf")):
            w({"_version": 1, "_type": "Value", "value_hash": t, "type": "redun.Task",
               "format": "application/python-pickle", "data": "", "subvalues": [],
               "subtype": {"_type": "Task", "name": name, "namespace": "bench", "source": f"def {name}(x):\n"}})
        import base64
        import pickle

        for i in range(leaves):
            jid, call, arg_v, res_v = str(uuid.uuid4()), h(), h(), h()
            kids.append(jid)
            kid_calls.append(call)
            w({"_version": 1, "_type": "Job", "id": jid, "start_time": ts(2 * i + 10), "end_time": ts(2 * i + 11),
               "task_hash": leaf_task, "cached": False, "status": "DONE", "call_hash": call, "parent_id": root,
               "children": [], "execution_id": eid})
            w({"_version": 1, "_type": "CallNode", "call_hash": call, "task_name": "bench.leaf",
               "task_hash": leaf_task, "args_hash": h(), "value_hash": res_v, "timestamp": ts(2 * i + 11),
               "args": {"0": {"arg_hash": arg_hash(call, 0, None, arg_v), "value_hash": arg_v, "upstream": []}},
               "children": []})
            for vh, v in ((arg_v, i), (res_v, {"i": i, "sq": i * i})):
                w({"_version": 1, "_type": "Value", "value_hash": vh, "type": f"builtins.{type(v).__name__}",
                   "format": "application/python-pickle",
                   "data": base64.b64encode(pickle.dumps(v, protocol=3)).decode(), "subvalues": [], "subtype": None})
            # a second, cached job per leaf (like a rerun): same call node
            w({"_version": 1, "_type": "Job", "id": str(uuid.uuid4()), "start_time": ts(2 * i + 12),
               "end_time": ts(2 * i + 12), "task_hash": leaf_task, "cached": True, "status": "CACHED",
               "call_hash": call, "parent_id": root, "children": [], "execution_id": eid})
        w({"_version": 1, "_type": "Value", "value_hash": root_val, "type": "builtins.list",
           "format": "application/python-pickle",
           "data": base64.b64encode(pickle.dumps(list(range(leaves)), protocol=3)).decode(),
           "subvalues": [], "subtype": None})
        w({"_version": 1, "_type": "CallNode", "call_hash": root_call, "task_name": "bench.main",
           "task_hash": root_task, "args_hash": h(), "value_hash": root_val, "timestamp": ts(2 * leaves + 20),
           "args": {}, "children": kid_calls})
        w({"_version": 1, "_type": "Job", "id": root, "start_time": ts(1), "end_time": ts(2 * leaves + 20),
           "task_hash": root_task, "cached": False, "status": "DONE", "call_hash": root_call, "parent_id": None,
           "children": kids, "execution_id": eid})
    return n


def ours(*args):
    return [sys.executable, "-m", "redun", *args]


def measure(label, make_argv, runs, setup=None):
    walls, cpus, rsss = [], [], []
    for _ in range(runs):
        if setup:
            setup()
        w, c, r = run_child(make_argv())
        walls.append(w), cpus.append(c), rsss.append(r)
    return {"label": label, "wall": statistics.median(walls), "cpu": statistics.median(cpus),
            "rss": max(rsss), "walls": walls}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--input", default=None)
    ap.add_argument("--upstream", action="store_true", help="measure upstream too (slow)")
    ap.add_argument("--scale", type=int, default=0, help="also import an N x larger synthetic input")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_exchange_")
    try:
        src = a.input or (BASELINE if os.path.exists(BASELINE) else None)
        if src is None:
            src = os.path.join(tmp, "synth.jsonl")
            synth(src, 5000)
        lines = sum(1 for _ in open(src))
        repo = os.path.join(tmp, "repo")

        def fresh():
            shutil.rmtree(repo, ignore_errors=True)
            subprocess.run(ours("-c", repo, "init"), check=True, capture_output=True)

        load0 = os.getloadavg()
        rows = [measure("import (fresh repo)", lambda: ours("-c", repo, "import", "-q", "-f", src), a.runs, fresh)]
        rows.append(measure("`redun log` right after an import (index up to date)",
                            lambda: ours("-c", repo, "log"), a.runs))
        rows.append(measure("import again (all present)", lambda: ours("-c", repo, "import", "-q", "-f", src),
                            a.runs))
        out = os.path.join(tmp, "out.jsonl")
        rows.append(measure("export", lambda: ours("-c", repo, "export", "-f", out), a.runs))
        exported = sum(1 for _ in open(out))
        ref = dict(UPSTREAM_REF)
        ref_cpu = {}
        if a.upstream and os.path.exists(UPSTREAM):
            up = os.path.join(tmp, "up")

            def up_fresh():
                shutil.rmtree(up, ignore_errors=True)
                subprocess.run([UPSTREAM, "--config", up, "init"], check=True, capture_output=True)

            r = measure("upstream import", lambda: [UPSTREAM, "--config", up, "import", "-f", src], a.runs,
                        up_fresh)
            ref["import"], ref_cpu["import"] = r["wall"], r["cpu"]
            rows.append(r)
            r = measure("upstream export", lambda: [UPSTREAM, "--config", up, "export", "-f", out + ".up"], a.runs)
            ref["export"], ref_cpu["export"] = r["wall"], r["cpu"]
            rows.append(r)
        if a.scale > 1:
            big = os.path.join(tmp, "big.jsonl")
            n = synth(big, 5000 * a.scale)
            rows.append(measure(f"import {n} synthetic records", lambda: ours("-c", repo, "import", "-q", "-f", big),
                                1, fresh))
        print(f"# bench_exchange: input {src} ({lines} lines), export {exported} lines, runs={a.runs}")
        print("# shared, noisy machine (2 cores, other engineers' jobs): CPU time is the steadier figure; "
              f"load average at start {load0[0]:.2f}, at end {os.getloadavg()[0]:.2f}")
        print("| what | median wall s | median CPU s | max RSS MB | vs upstream (wall) | vs upstream (CPU) |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in rows:
            kind = "import" if r["label"].startswith("import (fresh") else "export" if r["label"] == "export" else None
            ratio = f"{ref[kind] / r['wall']:.1f}x (upstream {ref[kind]:.2f} s)" if kind else ""
            cpu = f"{ref_cpu[kind] / r['cpu']:.1f}x (upstream {ref_cpu[kind]:.2f} s)" if kind in ref_cpu else ""
            print(f"| {r['label']} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['rss']:.0f} | {ratio} | {cpu} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
