"""Blob write/read throughput for one large value (default 1 GB).

    python3 benchmarks/bench_blobs.py [--size-mb 1024] [--repeat 3]

Writes the payload through a PackWriter into a fresh DirectoryStore (as a run
does), commits, then reads it back through a fresh store. Prints medians in
MB/s for incompressible (random) and compressible (text) payloads.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scratch", default=os.path.join(os.path.dirname(__file__), "scratch"))
    a = ap.parse_args()
    os.makedirs(a.scratch, exist_ok=True)
    size = a.size_mb * 1_000_000
    print(f"blob throughput, {a.size_mb} MB value, median of {a.repeat} (shared noisy machine)")
    for kind in ("random", "text"):
        w, r = run(kind, size, a.repeat, a.scratch)
        print(f"  {kind:6s}  write {w:7.0f} MB/s   read {r:7.0f} MB/s   (target >= 200)")


if __name__ == "__main__":
    main()
