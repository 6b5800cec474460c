#!/usr/bin/env python3
"""Sync benchmarks: push/pull through the real CLI, and S3 request counts.

    python3 benchmarks/bench_sync.py [--n 5000] [--repeat 3] [--scratch DIR]

1. Runs the shared wide.py workflow (BENCH_N leaves, default 5000: ~20k objects,
   upstream's "25k records" scenario) with our `redun run`.
2. `push dst` into a fresh directory repo (wall, max RSS), repeated.
3. `push dst` with nothing new (wall, max RSS), repeated.
4. `pull` of everything into a fresh repo (wall, max RSS).
5. The same push to S3 (moto server on 127.0.0.1, in-process client) counting
   S3 operations per kind; then a no-op push.
6. --execs N (default 10000): a repo with N small executions, pushed once to
   a directory; then `push` with nothing new as a CLI (median of --repeat),
   first with the source's refs loose (one file per ref), then packed
   (refs/.packed, as after runs end / gc).
Prints medians and ratios against upstream 0.44.1's recorded figures
(benchmarks/results/upstream-0.44.1.tsv, value_n5000). Times are wall clock on
a shared, noisy machine: compare ratios, not absolute numbers.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from _paths import WIDE

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REDUN = [sys.executable, "-m", "redun"]


def run(args, cwd, env=None):
    """(wall seconds, max RSS MB, stdout) of one child process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        text, etext = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{text}\n{etext[-2000:]}")
    return wall, usage.ru_maxrss / 1024, text.strip(), usage.ru_utime + usage.ru_stime


def upstream_figures():
    path = os.path.join(HERE, "results", "upstream-0.44.1.tsv")
    out = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 4 and parts[0] == "value_n5000" and parts[1] in ("push_first", "push_noop"):
                    out[parts[1]] = (float(parts[2]), float(parts[3]))
    except FileNotFoundError:
        pass
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def bench_s3(src_root, scratch):
    from moto.server import ThreadedMotoServer

    import boto3
    from redun.repo.repository import Repo
    from redun.repo.remotes import repo_remote
    from redun.sync.s3remote import S3Remote
    from redun.sync.transfer import sync

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    port = free_port()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"

        def client():
            return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")

        client().create_bucket(Bucket="bench")
        repo = Repo.open(src_root)
        remote = S3Remote("s3://bench/repo", os.path.join(scratch, "s3cache"), client=client())
        t = time.perf_counter()
        res = sync(repo_remote(repo), remote, trusted=True)
        first = time.perf_counter() - t
        first_calls = dict(remote.calls)
        remote2 = S3Remote("s3://bench/repo", os.path.join(scratch, "s3cache"), client=client())
        t = time.perf_counter()
        res2 = sync(repo_remote(repo), remote2, trusted=True)
        noop = time.perf_counter() - t
        return res.objects, first, first_calls, res2.up_to_date, noop, dict(remote2.calls)
    finally:
        server.stop()


def make_many_execs(root: str, n: int) -> None:
    """n executions of one job each (5 records), one pack, refs set by CAS from nothing."""
    sys.path.insert(0, ROOT)
    from redun.objects import codec
    from redun.objects.ids import new_uuid, uuid_str
    from redun.objects.records import CallNode, Execution, Job, Task, Value
    from redun.objects.valuecodec import encode_native
    from redun.repo.repository import Repo

    repo = Repo.open(root)
    now = int(time.time() * 1e6)
    refs = []
    with repo.store.pack_writer() as w:
        t = Task(b"\x01" * 20, "bench", "one", "def one(): pass")
        toid = w.add(codec.encode(t))
        for i in range(n):
            eid = new_uuid()
            v = w.add(codec.encode(Value(os.urandom(20), "builtins.int", "native", encode_native(i))))
            cn = w.add(codec.encode(CallNode(os.urandom(20), t.hash, toid, "one", os.urandom(20), (), os.urandom(20), v, (), now)))
            j = w.add(codec.encode(Job(new_uuid(), eid, None, t.hash, toid, os.urandom(20), cn, os.urandom(20), v, now, now, False, "DONE", (), {})))
            refs.append((f"execs/{uuid_str(eid)}", w.add(codec.encode(Execution(eid, '["run"]', j, now, now, {})))))
    for name, oid in refs:
        repo.refs.set(name, oid, expected=None)
    repo.close()


def bench_many_execs(scratch: str, n: int, repeat: int, env) -> None:
    src = os.path.join(scratch, "many")
    dst = os.path.join(scratch, "many_dst")
    for d in (src, dst):
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(src)
    run(REDUN + ["init"], src, env)
    t = time.perf_counter()
    make_many_execs(os.path.join(src, ".redun"), n)
    print(f"\n{n} executions written in {time.perf_counter() - t:.1f}s (setup)")
    run(REDUN + ["--config", dst, "init"], src, env)
    run(REDUN + ["repo", "add", "many", dst], src, env)
    w, r, out, c = run(REDUN + ["push", "many"], src, env)
    print(f"  push of {n} executions: {w:.2f}s wall {c:.2f}s cpu  {out}  (destination refs packed: "
          f"{os.path.exists(os.path.join(dst, 'refs', '.packed'))})")
    run(REDUN + ["log"], src, env)  # index catch-up, not measured

    def noop(label):
        samples = []
        for _ in range(repeat):
            w, r, out, c = run(REDUN + ["push", "many"], src, env)
            assert "up to date" in out, out
            samples.append((w, c, r))
        print(f"  no-op push, {label}: median {statistics.median(s[0] for s in samples) * 1000:.0f} ms wall, "
              f"{statistics.median(s[1] for s in samples) * 1000:.0f} ms cpu, "
              f"{statistics.median(s[2] for s in samples):.0f} MB (CLI, {n} executions)")

    noop("source refs loose")
    sys.path.insert(0, ROOT)
    from redun.refs import DirectoryRefs

    DirectoryRefs(os.path.join(src, ".redun")).pack_refs()
    noop("source refs packed")
    t = time.perf_counter()
    run(REDUN + ["--version"], src, env)
    print(f"  (CLI start-up alone: {(time.perf_counter() - t) * 1000:.0f} ms)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000, help="wide.py leaves (default 5000)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scratch", default=None)
    ap.add_argument("--no-s3", action="store_true")
    ap.add_argument("--execs", type=int, default=10000, help="executions for the no-op push case (0: skip)")
    ap.add_argument("--only-execs", action="store_true", help="run only the many-executions case")
    args = ap.parse_args()
    scratch = args.scratch or tempfile.mkdtemp(prefix="bench_sync_")
    os.makedirs(scratch, exist_ok=True)
    env = dict(os.environ, BENCH_N=str(args.n), BENCH_M="10", PYTHONPATH=ROOT)
    if args.only_execs:
        bench_many_execs(scratch, args.execs, max(args.repeat, 5), env)
        if not args.scratch:
            shutil.rmtree(scratch, ignore_errors=True)
        return
    src = os.path.join(scratch, "src")
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    run(REDUN + ["init"], src, env)
    wall, rss, _, _ = run(REDUN + ["run", WIDE, "main"], src, env)
    print(f"workflow: wide.py N={args.n} run in {wall:.2f}s (setup, not a figure)")

    firsts, noops = [], []
    for i in range(args.repeat):
        dst = os.path.join(scratch, f"dst{i}")
        shutil.rmtree(dst, ignore_errors=True)
        run(REDUN + ["--config", dst, "init"], src, env)
        run(REDUN + ["repo", "add", f"dst{i}", dst], src, env)
        w, r, out, c = run(REDUN + ["push", f"dst{i}"], src, env)
        firsts.append((w, r, c))
        print(f"  push_first #{i}: {w:.3f}s {r:.0f} MB  {out}")
        for _ in range(2):
            w, r, out, c = run(REDUN + ["push", f"dst{i}"], src, env)
            noops.append((w, r, c))
        print(f"  push_noop  #{i}: {w:.3f}s {r:.0f} MB  {out}")
    pulls = []
    for i in range(args.repeat):
        dst = os.path.join(scratch, f"pull{i}")
        shutil.rmtree(dst, ignore_errors=True)
        run(REDUN + ["init", dst], scratch, env)
        cfg = os.path.join(dst, ".redun")
        run(REDUN + ["-c", cfg, "repo", "add", "src", os.path.join(src, ".redun")], scratch, env)
        w, r, out, c = run(REDUN + ["-c", cfg, "pull", "src"], scratch, env)
        pulls.append((w, r, c))
        print(f"  pull #{i}: {w:.3f}s {r:.0f} MB  {out}")

    up = upstream_figures() if args.n == 5000 else {}  # upstream was measured at N=5000

    def row(name, samples, key=None):
        w = statistics.median(s[0] for s in samples)
        r = statistics.median(s[1] for s in samples)
        cpu = statistics.median(s[2] for s in samples)
        ratio = ""
        if key in up:
            ratio = f"  (upstream {up[key][0]:.2f}s {up[key][1]:.0f} MB: {up[key][0] / w:.1f}x faster)"
        print(f"{name:<12} {w:8.3f} s wall {cpu:7.3f} s cpu {r:7.0f} MB{ratio}")

    print("\nmedians (shared 2-core machine, noisy):")
    row("push_first", firsts, "push_first")
    row("push_noop", noops, "push_noop")
    row("pull_all", pulls)
    if not args.no_s3:
        objects, first, calls, up_to_date, noop, noop_calls = bench_s3(os.path.join(src, ".redun"), scratch)
        print(f"\nS3 (moto server, 127.0.0.1): push of {objects} objects in {first:.2f}s; requests {calls}")
        print(f"S3 no-op push: up_to_date={up_to_date} in {noop * 1000:.0f} ms; requests {noop_calls}")
        lists = sum(v for k, v in calls.items() if k.startswith("List"))
        print(f"  PUTs={calls.get('PutObject', 0)} (pack, index, conditional HEAD), LISTs={lists}")
    if args.execs:
        bench_many_execs(scratch, args.execs, max(args.repeat, 5), env)
    if not args.scratch:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
