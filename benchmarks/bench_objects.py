#!/usr/bin/env python3
"""Object-layer figures: pack write rate, read by id, prefix lookup at 1M objects, repo size.

    python3 benchmarks/bench_objects.py [--quick]

Records are synthetic but shaped like the bench harness's `wide` workflow
(benchmarks/_synth.py). The 1M-object store is built once into
benchmarks/scratch/ (git-ignored) and reused. Prints medians. The machine is
shared: treat timings as +-20 %.
"""

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _paths import WIDE

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import zstandard  # noqa: E402
from _synth import wide_records  # noqa: E402

from redun.objects import compress  # noqa: E402
from redun.objects.directory import DirectoryStore  # noqa: E402
from redun.objects.fsck import fsck  # noqa: E402

UPSTREAM_BYTES = 28_299_590  # upstream 0.44.1 .redun after value_n5000 (25,086 records), results/upstream-0.44.1.md
SCRATCH = os.path.join(HERE, "scratch")
QUICK = "--quick" in sys.argv
REPEAT = 3 if QUICK else 5


def median_of(fn, repeat=REPEAT):
    return statistics.median(fn() for _ in range(repeat))


class Clock:
    """Wall and CPU time of a block: the VM is shared, so CPU time is the steadier figure."""

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c


def du(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def bench_write(records):
    data = [b for _, b in records]
    out = {}
    for label, many in (("add() one write each", False), ("add_many() batched", True)):
        def once():
            d = tempfile.mkdtemp()
            try:
                s = DirectoryStore(d)
                with Clock() as c:
                    w = s.pack_writer()
                    if many:
                        w.add_many(data)
                    else:
                        for b in data:
                            w.add(b)
                    w.commit()
                return len(data) / c.cpu, len(data) / c.wall
            finally:
                shutil.rmtree(d)

        runs = [once() for _ in range(REPEAT)]
        out[label] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
    return out


def bench_reads(store, ids, n=20000):
    sample = random.Random(1).choices(ids, k=n)

    def raw():
        with Clock() as c:
            for o in sample:
                store.get_bytes(o)
        return c.cpu / n * 1e6

    def rec():
        with Clock() as c:
            for o in sample:
                store.get(o)
        return c.cpu / n * 1e6

    return median_of(raw), median_of(rec)


def bench_prefix(store, ids, n=2000, length=8):
    sample = random.Random(2).choices(ids, k=n)

    def once():
        with Clock() as c:
            for o in sample:
                store.resolve_prefix(o.hex()[:length]) if length >= 8 else store.prefix_candidates(o.hex()[:length])
        return c.cpu / n * 1e6

    return median_of(once)


def build_million(path, packs=10, target=1_000_000):
    """1M objects in `packs` packs (one per simulated run); ids kept in ids.bin."""
    ids_file = os.path.join(path, "ids.bin")
    if os.path.exists(ids_file):
        return
    shutil.rmtree(path, ignore_errors=True)
    s = DirectoryStore(path)
    per = target // packs
    ids = []
    for k in range(packs):
        w = s.pack_writer()
        batch = []
        for oid, data in wide_records(per // 4, 10, salt=f"run{k}", first=k * per):
            batch.append(data)
            ids.append(oid)
        w.add_many(batch)
        w.commit()
        print(f"  built pack {k + 1}/{packs}", file=sys.stderr)
    with open(ids_file, "wb") as f:
        f.write(b"".join(ids))


def load_ids(path):
    raw = open(os.path.join(path, "ids.bin"), "rb").read()
    return [raw[i : i + 32] for i in range(0, len(raw), 32)]


def size_breakdown(records):
    data = [b for _, b in records]
    plain = zstandard.ZstdCompressor(level=3)
    raw = sum(len(b) for b in data)
    z = sum(min(len(plain.compress(b)), len(b)) + 1 for b in data)
    zd = sum(len(compress.compress(b)) for b in data)
    return raw, z, zd


def real_run(n=5000):
    """The engine's own records for the bench workflow: store size and the dictionary's effect."""
    wide = WIDE
    if not os.path.exists(wide):
        return
    d = tempfile.mkdtemp()
    try:
        shutil.copy(wide, d)
        env = {**os.environ, "BENCH_N": str(n), "BENCH_M": "10"}
        run = [sys.executable, "-m", "redun"]
        subprocess.run(run + ["init"], cwd=d, env=env, check=True, capture_output=True)
        p = subprocess.run(run + ["run", "wide.py", "main"], cwd=d, env=env, capture_output=True, text=True)
        if p.returncode:
            print(f"real run failed: {p.stderr[-300:]}")
            return
        from redun.repo.repository import Repo

        root = os.path.join(d, ".redun")
        repo = Repo.open(root)
        data = [repo.store.get_bytes(o) for o in repo.store.iter_ids()]
        raw, z, zd = size_breakdown([(None, b) for b in data])
        objects = du(os.path.join(root, "packs")) + du(os.path.join(root, "objects"))
        total = du(root)
        print(f"real run (our engine, wide N={n}): {len(data)} records; object store {objects:,} bytes "
              f"({objects / UPSTREAM_BYTES:.0%} of upstream's .redun); whole .redun incl. sqlite index "
              f"{total:,} ({total / UPSTREAM_BYTES:.0%})")
        print(f"  object bytes: raw {raw:,}; zstd {z:,}; zstd+dict-1 {zd:,} ({1 - zd / z:.0%} smaller than zstd)")
        repo.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    print("# bench_objects (shared 2-vCPU VM, other jobs running: timings +-20 %)")
    records = list(wide_records(5000, 10))
    print(f"records: {len(records)} (synthetic wide N=5000 M=10; upstream stores 25,086 records for this run)")

    for label, (cpu, wall) in bench_write(records).items():
        print(f"pack write rate, {label:24s}: {cpu:10,.0f} records/s CPU time ({wall:,.0f}/s wall; "
              "incl. commit)   (goal >= 200,000)")

    d = tempfile.mkdtemp()
    s = DirectoryStore(d)
    s.write_pack(b for _, b in records)
    size = du(d)
    ids = [o for o, _ in records]
    raw_us, rec_us = bench_reads(DirectoryStore(d), ids)
    print(f"read by id, 1 pack of {len(ids)}: get_bytes {raw_us:.1f} us, get (decoded) {rec_us:.1f} us   (goal < 20; "
          "CPU time)")
    t = time.perf_counter()
    rep = fsck(DirectoryStore(d))
    print(f"fsck {rep.objects} objects: {time.perf_counter() - t:.2f} s ({rep.summary()})")
    raw, z, zd = size_breakdown(records)
    print(f"repo size: {size:,} bytes ({size / 2**20:.1f} MiB) = {size / UPSTREAM_BYTES:.0%} of upstream's "
          f"{UPSTREAM_BYTES / 2**20:.1f} MiB   (goal <= 50 %)")
    print(f"  object bytes: raw {raw:,}; zstd {z:,} ({z / raw:.0%}); zstd+dict-1 {zd:,} ({zd / raw:.0%}, "
          f"{1 - zd / z:.0%} smaller than plain zstd)")
    shutil.rmtree(d)

    real_run()
    if QUICK:
        return
    path = os.path.join(SCRATCH, "million")
    build_million(path)
    big = DirectoryStore(path)
    ids = load_ids(path)
    print(f"1M store: {len(set(ids)):,} distinct objects in {len(big.packs())} packs, {du(path) / 2**20:.0f} MiB")
    raw_us, rec_us = bench_reads(big, ids)
    print(f"read by id, 1M objects: get_bytes {raw_us:.1f} us, get (decoded) {rec_us:.1f} us   (goal < 20)")
    us = bench_prefix(big, ids)
    print(f"prefix lookup (8 hex), 1M objects in {len(big.packs())} packs: {us:.1f} us   (goal < 1000)")
    one = bench_prefix(big, ids, length=1, n=200)
    print(f"prefix lookup (1 hex, ambiguous), 1M objects: {one:.1f} us")
    packed = os.path.join(SCRATCH, "million-repacked")
    if not os.path.exists(os.path.join(packed, "ids.bin")):
        shutil.rmtree(packed, ignore_errors=True)
        subprocess.run(["cp", "-al", path, packed], check=True)  # hard links: repack leaves the original
        with Clock() as c:
            DirectoryStore(packed).repack()
        print(f"repack 10 packs -> 1: {c.wall:.1f} s wall")
    one_pack = DirectoryStore(packed)
    raw_us, rec_us = bench_reads(one_pack, ids)
    print(f"read by id, 1M objects in 1 pack: get_bytes {raw_us:.1f} us, get (decoded) {rec_us:.1f} us")
    print(f"prefix lookup (8 hex), 1M objects in 1 pack: {bench_prefix(one_pack, ids):.1f} us")
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the (big) parent across fork+exec
    code = ("import sys, time; from redun.objects.directory import DirectoryStore; "
            "from redun.objects.fsck import fsck; t = time.perf_counter(); r = fsck(DirectoryStore(sys.argv[1])); "
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
            "print(r.objects, r.ok, round(time.perf_counter() - t, 1), int(hwm) // 1024)")
    out = subprocess.run([sys.executable, "-c", code, packed], capture_output=True, text=True).stdout.split()
    if len(out) == 4:
        print(f"fsck of the 1M store (1 pack, {out[0]} objects): {out[2]} s wall, peak RSS {out[3]} MiB, ok={out[1]}")
    small = os.path.join(SCRATCH, "runs100")
    if not os.path.exists(os.path.join(small, "ids.bin")):
        build_million(small, packs=100, target=100_000)
    many = DirectoryStore(small)
    sids = load_ids(small)
    raw_us, rec_us = bench_reads(many, sids)
    print(f"read by id, 100k objects in 100 run-sized packs: get_bytes {raw_us:.1f} us, get {rec_us:.1f} us")
    try:
        out = subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()[0]
        print(f"du -sb 1M store: {int(out):,} bytes")
    except (OSError, IndexError, ValueError):
        pass


if __name__ == "__main__":
    main()
