#!/usr/bin/env python3
"""Issue 18: the costs of a big repository, every row of the issue's table in one run.

    python3 benchmarks/bench_scale.py [--baseline COMMIT] [--only ROW,ROW] [--no-s3]
                                      [--out results/scale.md]
                                      [--ours-python VENV/bin/python] [--baseline-python VENV/bin/python]

The repository: 11 runs of the `wide` workflow (20,000 leaf jobs in 10 groups each), written
by benchmarks/_synth.py's record builders, seeded (the salt of run k is `run<k>`), so every
build gives the same 880,429 records and the same pack bytes. Per leaf they make what the
engine makes for wide.py's leaf (a Job, a CallNode, the argument Value and the result Value);
the argument values differ across runs here (leaf j of run k takes k*20000+j), which is why the
count is above the issue's 786k (the engine's 11 runs shared their int arguments). Built once
into benchmarks/scratch/scale-wide/ (packs and refs, no index).

Each row is measured for the code of this checkout ("ours") and, with --baseline COMMIT, for
that commit's `redun/` (extracted with git archive, run through PYTHONPATH), side by side in
the same run, so ratios hold under the machine's load. Every figure is a child process's
os.wait4 rusage (CPU = user+sys, including its children: the index follower, reindex helper)
or a wall time; the load average is printed beside each row.

Rows (the issue's table):
  push_dir / push_s3   push to an empty directory / S3 (SeaweedFS) remote, vs copying packs/
  pull_s3, first_log   pull from S3 into an empty repo, then the first `redun log`; pull_*_trusted:
                       the same pull from a source marked `trust = true` (no per-record decode)
  reindex              `redun db reindex`: CPU per record, index size / packs size
  run_big              first run of 5,000 jobs into (a copy of) this repo vs into an empty one
  per_job              CPU per recorded job (run + index follower), N=20,000, empty repo
  log_value            `redun log --value`: first line, total, max RSS
  exchange             import / export of an upstream export (25k records) vs upstream 0.44.1
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from _paths import UPSTREAM_REDUN, WIDE  # noqa: E402

SCRATCH = os.path.join(HERE, "scratch")
FIXTURE = os.path.join(SCRATCH, "scale-wide")
RUNS, LEAVES, GROUPS = 11, 20_000, 10
FIXTURE_VERSION = 1
ROWS = ("reindex", "log_value", "push_dir", "pull_dir", "push_s3", "pull_s3", "run_big", "per_job", "exchange")
ISSUE = {  # the issue's measured baseline and its target, per row
    "push": ("18-22 s, 688 MB RSS (copy 0.55 s)", "<= 3x copy, <= 150 MB"),
    "pull_s3": ("18.5 s", "<= 3x copy"),
    "first_log": ("14.6 s", "<= 2 s"),
    "reindex": ("25-30 us CPU/record; index 362 MB > packs 305 MB", "<= 7 us/record; index <= 50 % of packs"),
    "run_big": ("1.5-1.7x slower", "<= 1.15x"),
    "per_job": ("290-320 us", "<= 120 us"),
    "log_value": ("11.3 s, 601 MB", "first line <= 0.2 s, <= 100 MB"),
    "import": ("5.2-5.8x faster than upstream", ">= 15x"),
    "export": ("5.7-10x faster than upstream", ">= 15x"),
}


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def child(argv, cwd=None, env=None, first_line=False, stdin=None):
    """Run one process: {wall, cpu, rss (MB), out, first (s to the first stdout line)}."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=stdin)
    first = None
    out = []
    err_chunks = []  # stderr is drained beside stdout: a chatty child (a run's log) must not block on it
    drain = threading.Thread(target=lambda: err_chunks.append(p.stderr.read()), daemon=True)
    drain.start()
    if first_line:
        line = p.stdout.readline()
        first = time.perf_counter() - t
        out.append(line)
        while p.stdout.read(1 << 20):  # drain, counting nothing: the output may be huge
            pass
    else:
        out.append(p.stdout.read())
    drain.join()
    err = b"".join(err_chunks)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.stdout.close(), p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{b''.join(out)[-2000:].decode()}\n{err[-3000:].decode()}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": ru.ru_maxrss / 1024,
            "out": b"".join(out).decode(errors="replace"), "first": first, "load": load()}


def settled(redun_dir: str, since: float) -> float:
    """Wait until every pack of redun_dir is ingested into its index and no process holds
    the catch-up lock; the seconds since `since`."""
    import fcntl
    import sqlite3

    packs = {e[5:-4] for e in os.listdir(os.path.join(redun_dir, "packs")) if e.startswith("pack-") and e.endswith(".idx")}
    lock = os.path.join(redun_dir, "index.sqlite3.catchup.lock")
    while True:
        conn = sqlite3.connect(os.path.join(redun_dir, "index.sqlite3"), timeout=60)
        try:
            done = {r[0] for r in conn.execute("SELECT name FROM ingested_packs")}
            pending = conn.execute("SELECT 1 FROM meta WHERE key='indexes_pending'").fetchone()
        finally:
            conn.close()
        free = True
        if os.path.exists(lock):
            with open(lock, "a") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    free = False
        if packs <= done and not pending and free:
            return time.perf_counter() - since
        time.sleep(0.2)


def du(path: str) -> int:
    total = 0
    for d, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(d, f)) for f in files)
    return total


# -- the repository -------------------------------------------------------------

def build_fixture() -> dict:
    info_path = os.path.join(FIXTURE, "info.json")
    if os.path.exists(info_path):
        with open(info_path) as f:
            info = json.load(f)
        if info.get("version") == FIXTURE_VERSION:
            return info
    shutil.rmtree(FIXTURE, ignore_errors=True)
    sys.path.insert(0, ROOT)
    from _synth import T0, wide_records

    from redun.objects.codec import decode
    from redun.objects.directory import DirectoryStore
    from redun.refs import DirectoryRefs

    redun_dir = os.path.join(FIXTURE, ".redun")
    subprocess.run([sys.executable, "-m", "redun", "-c", redun_dir, "init"], check=True, capture_output=True)
    if os.path.exists(os.path.join(redun_dir, "index.sqlite3")):
        os.unlink(os.path.join(redun_dir, "index.sqlite3"))
    store, refs = DirectoryStore(redun_dir), DirectoryRefs(redun_dir)
    t, records = time.perf_counter(), 0
    for k in range(RUNS):
        last = []

        def canon(k=k, last=last):
            for oid, data in wide_records(LEAVES, GROUPS, salt=f"run{k}", first=k * LEAVES,
                                          t0=T0 + k * 3_600_000_000):
                last[:] = [oid, data]
                yield data

        with store.pack_writer() as w:
            records += len(w.add_many(canon()))
        ex = decode(last[1])
        refs.set(f"execs/{uuid.UUID(bytes=ex.id)}", last[0])
        print(f"  run {k + 1}/{RUNS} written ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    info = {"version": FIXTURE_VERSION, "records": records, "packs_bytes": du(os.path.join(redun_dir, "packs"))}
    with open(info_path, "w") as f:
        json.dump(info, f)
    return info


def work_copy(dst: str) -> str:
    """A private copy of the fixture's .redun: packs hard-linked (immutable), the rest copied."""
    src = os.path.join(FIXTURE, ".redun")
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if name == "packs":
            subprocess.run(["cp", "-al", s, d], check=True)
        elif os.path.isdir(s):
            shutil.copytree(s, d)
        else:
            shutil.copy2(s, d)
    return dst


# -- one side: the code of a checkout --------------------------------------------

class Side:
    def __init__(self, name: str, pythonpath, tmp: str, s3, python: str = sys.executable):
        """python: the interpreter (the baseline runs the venv's base interpreter, so that an
        editable install's import finder cannot hand it this checkout's redun)."""
        self.name, self.tmp, self.s3, self.python = name, os.path.join(tmp, name), s3, python
        os.makedirs(self.tmp)
        self.env = dict(os.environ)
        if pythonpath:
            self.env["PYTHONPATH"] = pythonpath
        else:  # an installed redun: nothing of a checkout may shadow it
            self.env.pop("PYTHONPATH", None)
        if s3:
            self.env.update(AWS_ENDPOINT_URL_S3=s3, AWS_ACCESS_KEY_ID="redun", AWS_SECRET_ACCESS_KEY="redun",
                            AWS_DEFAULT_REGION="us-east-1")
        self.rows: dict = {}

    def redun(self, *args, **kw):
        kw.setdefault("cwd", self.tmp)  # never the checkout: `-m` puts the cwd first on sys.path
        return child([self.python, "-m", "redun", *args], env=self.env, **kw)

    def where(self) -> str:
        return child([self.python, "-c", "import redun, os; print(os.path.dirname(redun.__file__))"],
                     env=self.env, cwd=self.tmp)["out"].strip()

    def repo(self, name: str) -> str:
        path = os.path.join(self.tmp, name, ".redun")
        self.redun("-c", path, "init")
        return path

    def run_all(self, only, info):
        work = work_copy(os.path.join(self.tmp, "work", ".redun"))
        records = info["records"]
        if "reindex" in only or "log_value" in only:
            r = self.redun("-c", work, "db", "reindex")
            r["us_per_record"] = r["cpu"] / records * 1e6
            r["index_bytes"] = os.path.getsize(os.path.join(work, "index.sqlite3"))
            r["index_share"] = r["index_bytes"] / info["packs_bytes"]
            self.rows["reindex"] = r
        if "log_value" in only:
            self.rows["log_value"] = self.redun("-c", work, "log", "--value", first_line=True)
        if "push_dir" in only or "pull_dir" in only:
            dst = self.repo("pushed")
            self.redun("-c", work, "repo", "add", "pushed", dst)
            self.rows["push_dir"] = self.redun("-c", work, "push", "pushed")
            if "pull_dir" in only:
                into = self.repo("pulled")
                self.redun("-c", into, "repo", "add", "src", work)
                self.rows["pull_dir"] = self.redun("-c", into, "pull", "src")
                self.rows["first_log_dir"] = self.first_log(into)
                self.rows["pull_dir_trusted"] = self.trusted_pull(work)
        if self.s3 and ("push_s3" in only or "pull_s3" in only):
            url = f"s3://redun-test/{self.name}-{uuid.uuid4().hex[:8]}"
            self.redun("-c", work, "repo", "add", "s3", url)
            self.rows["push_s3"] = self.redun("-c", work, "push", "s3")
            into = self.repo("pulled_s3")
            self.redun("-c", into, "repo", "add", "s3", url)
            self.rows["pull_s3"] = self.redun("-c", into, "pull", "s3")
            self.rows["first_log"] = self.first_log(into)
            self.rows["pull_s3_trusted"] = self.trusted_pull(url)
        if "run_big" in only:
            if not os.path.exists(os.path.join(work, "index.sqlite3")):
                self.redun("-c", work, "db", "reindex")  # a big repository has its index: not measured
            self.rows["run_empty"] = self.wide(self.repo("run_empty"), 5000)
            self.rows["run_big"] = self.wide(work, 5000)
            self.rows["run_big"]["ratio"] = self.rows["run_big"]["cpu"] / self.rows["run_empty"]["cpu"]
        if "per_job" in only:
            r = self.rows["per_job"] = self.wide(self.repo("per_job"), 20_000)
            r["us_per_job"] = r["cpu"] / 20_012 * 1e6
        if "exchange" in only and os.path.exists(EXPORT):
            into = self.repo("imported")
            self.rows["import"] = self.redun("-c", into, "import", "-q", "-f", EXPORT)
            self.rows["export"] = self.redun("-c", into, "export", "-f", os.path.join(self.tmp, "out.jsonl"))

    def trusted_pull(self, location: str) -> dict:
        """A pull into an empty repo from `location` marked `trust = true` (no per-record decode)."""
        into = self.repo(f"trusted-{uuid.uuid4().hex[:6]}")
        self.redun("-c", into, "repo", "add", "src", location)
        with open(os.path.join(into, "redun.ini"), "a") as f:
            f.write("trust = true\n")  # into the [repos.src] section `repo add` wrote last
        return self.redun("-c", into, "pull", "src")

    def first_log(self, redun_dir: str) -> dict:
        """The first `redun log` after a pull, and (as "indexed") the seconds from its start
        until the whole index is caught up (a background indexer may go on after it)."""
        t = time.perf_counter()
        r = self.redun("-c", redun_dir, "log")
        r["indexed"] = settled(redun_dir, t)
        return r

    def wide(self, redun_dir: str, n: int) -> dict:
        d = os.path.dirname(redun_dir)
        shutil.copy(WIDE, d)
        env = dict(self.env, BENCH_N=str(n), BENCH_M="10", BENCH_MODE="value", BENCH_SALT=f"new{n}")
        return child([self.python, "-m", "redun", "-c", redun_dir, "run", "wide.py", "main"], cwd=d, env=env)


# -- shared references: copying packs, upstream's import/export ------------------

EXPORT = os.path.join(SCRATCH, "scale-upstream", "export.jsonl")


def upstream_export() -> None:
    """An upstream 0.44.1 export of the wide workflow (N=5000, ~25k records), made once."""
    if os.path.exists(EXPORT) or not os.path.exists(UPSTREAM_REDUN):
        return
    d = os.path.dirname(EXPORT)
    os.makedirs(d, exist_ok=True)
    shutil.copy(WIDE, d)
    env = dict(os.environ, BENCH_N="5000", BENCH_M="10", BENCH_MODE="value")
    subprocess.run([UPSTREAM_REDUN, "run", "wide.py", "main"], cwd=d, env=env, check=True, capture_output=True)
    subprocess.run([UPSTREAM_REDUN, "export", "-f", EXPORT], cwd=d, env=env, check=True, capture_output=True)


def references(tmp: str, s3) -> dict:
    packs = os.path.join(FIXTURE, ".redun", "packs")
    ref = {"copy": child(["cp", "-r", packs, os.path.join(tmp, "packs-copy")])}
    shutil.rmtree(os.path.join(tmp, "packs-copy"))
    # A push makes what it writes durable (fsync of each file and the directory) before it moves
    # a ref; a plain `cp -r` only fills the page cache. Both are reported.
    code = ("import os,shutil,sys\nos.makedirs(sys.argv[2])\n"
            "for f in sorted(os.listdir(sys.argv[1])):\n"
            "    d=os.path.join(sys.argv[2],f)\n"
            "    shutil.copyfile(os.path.join(sys.argv[1],f),d)\n"
            "    fd=os.open(d,os.O_RDONLY); os.fsync(fd); os.close(fd)\n"
            "fd=os.open(sys.argv[2],os.O_RDONLY); os.fsync(fd); os.close(fd)\n")
    ref["durable_copy"] = child([sys.executable, "-c", code, packs, os.path.join(tmp, "packs-copy")])
    shutil.rmtree(os.path.join(tmp, "packs-copy"))
    if s3:
        code = ("import boto3,os,sys\nc=boto3.client('s3')\n"
                "for f in sorted(os.listdir(sys.argv[1])):\n"
                "    c.upload_file(os.path.join(sys.argv[1],f),'redun-test','copy/'+f)\n"
                "os.makedirs(sys.argv[2])\n"
                "for f in sorted(os.listdir(sys.argv[1])):\n"
                "    c.download_file('redun-test','copy/'+f,os.path.join(sys.argv[2],f))\n")
        env = dict(os.environ, AWS_ENDPOINT_URL_S3=s3, AWS_ACCESS_KEY_ID="redun", AWS_SECRET_ACCESS_KEY="redun",
                   AWS_DEFAULT_REGION="us-east-1")
        up = child([sys.executable, "-c", code, packs, os.path.join(tmp, "dl")], env=env)
        ref["s3_roundtrip"] = up  # upload then download of packs/: the S3 copy reference
        shutil.rmtree(os.path.join(tmp, "dl"), ignore_errors=True)
    if os.path.exists(EXPORT) and os.path.exists(UPSTREAM_REDUN):
        up = os.path.join(tmp, "upstream")
        os.makedirs(up)
        child([UPSTREAM_REDUN, "--config", up, "init"])
        ref["up_import"] = child([UPSTREAM_REDUN, "--config", up, "import", "-f", EXPORT])
        ref["up_export"] = child([UPSTREAM_REDUN, "--config", up, "export", "-f", os.path.join(tmp, "up.jsonl")])
    return ref


# -- the report ------------------------------------------------------------------

def cells(side: Side, ref: dict) -> dict:
    r, out = side.rows, {}
    copy = ref["copy"]["wall"]
    s3copy = ref.get("s3_roundtrip", {}).get("wall")

    def g(key, fmt):
        return fmt(r[key]) + f" (load {r[key]['load']})" if key in r else "-"

    durable = ref["durable_copy"]["wall"]
    out["push_dir"] = g("push_dir", lambda x: f"{x['wall']:.2f} s = {x['wall'] / copy:.1f}x copy = "
                                              f"{x['wall'] / durable:.1f}x durable copy, "
                                              f"{x['cpu']:.2f} s CPU, {x['rss']:.0f} MB")
    out["pull_dir"] = g("pull_dir", lambda x: f"{x['wall']:.2f} s = {x['wall'] / copy:.1f}x copy = "
                                              f"{x['wall'] / durable:.1f}x durable copy, "
                                              f"{x['cpu']:.2f} s CPU, {x['rss']:.0f} MB")
    out["pull_dir_trusted"] = g("pull_dir_trusted", lambda x: f"{x['wall']:.2f} s = {x['wall'] / copy:.1f}x copy = "
                                                              f"{x['wall'] / durable:.1f}x durable copy, "
                                                              f"{x['cpu']:.2f} s CPU, {x['rss']:.0f} MB")
    out["first_log_dir"] = g("first_log_dir", lambda x: f"{x['wall']:.2f} s, {x['cpu']:.2f} s CPU; "
                                                        f"index complete after {x['indexed']:.1f} s")
    if s3copy:
        out["push_s3"] = g("push_s3", lambda x: f"{x['wall']:.2f} s = {x['wall'] / (s3copy / 2):.1f}x upload, "
                                                f"{x['cpu']:.2f} s CPU, {x['rss']:.0f} MB")
        out["pull_s3"] = g("pull_s3", lambda x: f"{x['wall']:.2f} s = {x['wall'] / (s3copy / 2):.1f}x download, "
                                                f"{x['cpu']:.2f} s CPU, {x['rss']:.0f} MB")
        out["pull_s3_trusted"] = g("pull_s3_trusted", lambda x: f"{x['wall']:.2f} s = {x['wall'] / (s3copy / 2):.1f}x "
                                                                f"download, {x['cpu']:.2f} s CPU, {x['rss']:.0f} MB")
        out["first_log"] = g("first_log", lambda x: f"{x['wall']:.2f} s, {x['cpu']:.2f} s CPU; "
                                                    f"index complete after {x['indexed']:.1f} s")
    out["reindex"] = g("reindex", lambda x: f"{x['us_per_record']:.1f} us CPU/record ({x['wall']:.1f} s wall); "
                                            f"index {x['index_bytes'] / 1e6:.0f} MB = {100 * x['index_share']:.0f} % "
                                            "of packs")
    out["run_big"] = g("run_big", lambda x: f"{x['ratio']:.2f}x CPU ({x['cpu']:.2f} s vs "
                                            f"{r['run_empty']['cpu']:.2f} s empty); wall {x['wall']:.2f} s vs "
                                            f"{r['run_empty']['wall']:.2f} s")
    out["per_job"] = g("per_job", lambda x: f"{x['us_per_job']:.0f} us ({x['cpu']:.1f} s CPU, {x['wall']:.1f} s wall)")
    out["log_value"] = g("log_value", lambda x: f"first line {x['first']:.2f} s, all {x['wall']:.1f} s, "
                                                f"{x['rss']:.0f} MB")
    for kind in ("import", "export"):
        u = ref.get(f"up_{kind}")
        out[kind] = g(kind, lambda x: f"{x['wall']:.2f} s" + (f" = {u['wall'] / x['wall']:.1f}x faster (CPU "
                                                              f"{u['cpu'] / x['cpu']:.1f}x)" if u else ""))
    return out


def report(sides: list, ref: dict, info: dict, started: str) -> str:
    lines = [f"# bench_scale ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"{info['records']:,} records, packs {info['packs_bytes'] / 1e6:.0f} MB; 2-core shared VM, load "
             f"{started} at start, {load()} at end. Copying packs/: {ref['copy']['wall']:.2f} s "
             f"(`cp -r`), {ref['durable_copy']['wall']:.2f} s (copy + fsync, as a push writes)"
             + (f"; S3 upload+download of packs/: {ref['s3_roundtrip']['wall']:.2f} s"
                if "s3_roundtrip" in ref else "")
             + (f"; upstream import {ref['up_import']['wall']:.2f} s, export {ref['up_export']['wall']:.2f} s"
                if "up_import" in ref else "") + ".", ""]
    names = [s.name for s in sides]
    lines.append("| row | issue's baseline | target | " + " | ".join(names) + " |")
    lines.append("|---|---|---|" + "---|" * len(names))
    tables = [cells(s, ref) for s in sides]
    for key in ("push_dir", "push_s3", "pull_dir", "pull_dir_trusted", "first_log_dir", "pull_s3", "pull_s3_trusted",
                "first_log", "reindex", "run_big",
                "per_job", "log_value", "import", "export"):
        issue = ISSUE.get("push" if key.startswith("push") else key, ("-", "-"))
        lines.append(f"| {key} | {issue[0]} | {issue[1]} | " + " | ".join(t.get(key, "-") for t in tables) + " |")
    return "\n".join(lines) + "\n"


def extract(commit: str, dest: str) -> str:
    os.makedirs(dest, exist_ok=True)
    tar = subprocess.run(["git", "-C", ROOT, "archive", commit, "redun"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=tar, check=True)
    return dest


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", help="a commit whose redun/ is measured side by side")
    ap.add_argument("--only", default=",".join(ROWS), help="rows to measure: " + ",".join(ROWS))
    ap.add_argument("--no-s3", action="store_true", help="skip the S3 rows (no SeaweedFS)")
    ap.add_argument("--out", help="also write the table to this file")
    ap.add_argument("--ours-python", help="measure the redun installed (non-editable) for this interpreter, as "
                                          "users run it, instead of this checkout's")
    ap.add_argument("--baseline-python", help="the same for the baseline (--baseline then only names it)")
    a = ap.parse_args()
    only = set(a.only.split(","))
    started = load()
    info = build_fixture()
    upstream_export()
    tmp = tempfile.mkdtemp(prefix="bench_scale_", dir=SCRATCH)
    try:
        s3ctx = None
        if not a.no_s3 and ({"push_s3", "pull_s3"} & only):
            sys.path.insert(0, os.path.join(ROOT, "tests"))
            from conftest_s3 import running_seaweed

            os.makedirs(os.path.join(tmp, "weed"))
            s3ctx = running_seaweed(os.path.join(tmp, "weed"))
        s3 = s3ctx.__enter__() if s3ctx else None
        try:
            ref = references(tmp, s3)
            sides = []
            if a.baseline_python:
                sides.append(Side(f"baseline {(a.baseline or 'installed')[:8]}", None, tmp, s3,
                                  python=a.baseline_python))
            elif a.baseline:
                import sysconfig

                base = extract(a.baseline, os.path.join(tmp, "base-src"))
                sides.append(Side(f"baseline {a.baseline[:8]}", base + os.pathsep + sysconfig.get_paths()["purelib"],
                                  tmp, s3, python=os.path.join(sys.base_prefix, "bin", "python3")))
            if a.ours_python:
                sides.append(Side("ours", None, tmp, s3, python=a.ours_python))
            else:
                sides.append(Side("ours", ROOT, tmp, s3))
            for side in sides:
                print(f"{side.name}: redun from {side.where()}", file=sys.stderr)
                side.run_all(only, info)
                print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "out"} for k, v in side.rows.items()}),
                      file=sys.stderr)
        finally:
            if s3ctx:
                s3ctx.__exit__(None, None, None)
        text = report(sides, ref, info, started)
        print(text)
        if a.out:
            with open(a.out, "w") as f:
                f.write(text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
