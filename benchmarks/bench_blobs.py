"""Blob write/read throughput for one large value (default 1 GB).

    python3 benchmarks/bench_blobs.py [--size-mb 1024] [--repeat 3] [--no-dedup]

Writes the payload through a PackWriter into a fresh DirectoryStore (as a run
does), commits, then reads it back through a fresh store. Prints medians in
MB/s for incompressible (random) and compressible (text) payloads.
Then the dedup figure: a workflow whose tasks return three 5 MiB strings, passes
the list to another task and returns it, run by our redun and by upstream
(~/upstream-redun/bin/redun, see _paths.py); prints the size of each .redun.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _paths import UPSTREAM_REDUN

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from redun.objects import blobs  # noqa: E402
from redun.objects.directory import DirectoryStore  # noqa: E402
from redun.objects.records import Value  # noqa: E402


def _payload(kind: str, size: int) -> bytes:
    if kind == "random":
        return os.urandom(size)
    line = b"sample_0001\tchr1\t123456\tACGTACGTTGCA\tPASS\tDP=31;AF=0.5\n"
    reps = size // len(line) + 1
    return (line * reps)[:size]


def run(kind: str, size: int, repeat: int, scratch: str) -> tuple:
    payload = _payload(kind, size)
    writes, reads = [], []
    for _ in range(repeat):
        root = tempfile.mkdtemp(dir=scratch)
        try:
            store = DirectoryStore(root)
            t0 = time.perf_counter()
            with store.pack_writer() as w:
                oids = blobs.put_payload(w, payload)
            writes.append(size / (time.perf_counter() - t0) / 1e6)
            store.close()
            value = Value(b"\0" * 20, "bytes", "native", b"", oids, size)
            fresh = DirectoryStore(root)
            t0 = time.perf_counter()
            back = blobs.read_payload(fresh, value)
            reads.append(size / (time.perf_counter() - t0) / 1e6)
            assert len(back) == size and back == payload
            del back
            fresh.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return statistics.median(writes), statistics.median(reads)


DEDUP_WORKFLOW = """
import random
from redun import task

redun_namespace = "dedup"


@task()
def make(i: int) -> str:
    rnd = random.Random(i)
    return "".join(chr(rnd.randrange(32, 127)) for _ in range(5 * 1024 * 1024))


@task()
def combine(items: list) -> list:
    return items


@task()
def count(items: list) -> int:
    return len(items)


@task()
def main() -> int:
    return count(combine([make(0), make(1), make(2)]))
"""
UPSTREAM = UPSTREAM_REDUN


def _du(path: str) -> int:
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(d, f))
    return total


def dedup(scratch: str) -> None:
    print("dedup: three 5 MiB strings, each a task result, then a list passed on and returned")
    sizes = {}
    for who, cmd in (("ours", [sys.executable, "-m", "redun"]), ("upstream", [UPSTREAM])):
        if who == "upstream" and not os.path.exists(UPSTREAM):
            continue
        work = tempfile.mkdtemp(dir=scratch)
        try:
            with open(os.path.join(work, "wf.py"), "w") as f:
                f.write(DEDUP_WORKFLOW)
            p = subprocess.run(cmd + ["run", "wf.py", "main"], cwd=work, capture_output=True, text=True)
            if p.returncode != 0:
                print(f"  {who}: failed: {p.stderr[-300:]}")
                continue
            sizes[who] = _du(os.path.join(work, ".redun"))
            print(f"  {who:8s} .redun = {sizes[who] / 2**20:6.1f} MiB")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if len(sizes) == 2:
        print(f"  ratio upstream/ours = {sizes['upstream'] / sizes['ours']:.1f}x (payload: 15 MiB of text)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scratch", default=os.path.join(os.path.dirname(__file__), "scratch"))
    ap.add_argument("--no-dedup", action="store_true", help="skip the workflow size comparison")
    a = ap.parse_args()
    os.makedirs(a.scratch, exist_ok=True)
    size = a.size_mb * 1_000_000
    print(f"blob throughput, {a.size_mb} MB value, median of {a.repeat} (shared noisy machine)")
    for kind in ("random", "text"):
        w, r = run(kind, size, a.repeat, a.scratch)
        print(f"  {kind:6s}  write {w:7.0f} MB/s   read {r:7.0f} MB/s   (target >= 200)")
    if not a.no_dedup:
        dedup(a.scratch)


if __name__ == "__main__":
    main()
