"""The floor under "overhead per recorded job": what one wide.py leaf job costs in CPython
when only its irreducible steps run, each done with the cheapest call available.

    python3 benchmarks/bench_floor.py [--jobs 20000] [--reps 5]

No scheduler: a loop does, for each job j, exactly what recording leaf(j, "s0", "value")
requires, in five parts:

- hashes: upstream's ids (value hash of j and of the result: protocol-3 pickle + SHA-512;
  args, eval and call hashes: bencode + SHA-512), with redun.hashing's fast paths;
- call: build a call object for leaf(j, ...) and call the function (the user's code);
- records: encode the 4 records of a job (Value j, Value result, CallNode, Job), with
  their blake3 ids and zstd (dictionary) compression, one write() per job to /dev/null;
- lookup: one cache lookup per job, as a batched indexed query (sqlite, `find_evals`);
- index rows: the job's rows written into a real index file with the real schema, in
  transactions of 4000 records (the follower's work; another process, other core).

Medians of --reps, CPU time per job. The sum of the first four is the least one core
must spend per recorded job in this language before any scheduling is done.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from redun.hashing import hash_args, hash_call_node, hash_eval, hash_value  # noqa: E402
from redun.objects.compress import compress_many  # noqa: E402
from redun.objects.ids import object_id  # noqa: E402
from redun.objects.records import Arg, CallNode, Job, Value  # noqa: E402
from redun.objects.valuecodec import encode_native  # noqa: E402
from redun.objects.hotcodec import encode_call_node, encode_job, encode_value  # noqa: E402

TASK_HASH = "d2b031e4" + "0" * 32
SALT_H, MODE_H = hash_value("s0"), hash_value("value")
EXEC_ID = os.urandom(16)


def leaf(j: int, salt: str, mode: str) -> dict:
    return {"j": j, "square": j * j, "tag": f"leaf-{j}-{salt}"}


class Call:
    __slots__ = ("task", "args", "kwargs")

    def __init__(self, task, args, kwargs):
        self.task, self.args, self.kwargs = task, args, kwargs


def part_call(jobs: int) -> list:
    out = []
    for j in range(jobs):
        c = Call(leaf, (j, "s0", "value"), {})
        out.append(c.task(*c.args, **c.kwargs))
    return out


def part_hashes(jobs: int, results: list) -> list:
    out = []
    for j in range(jobs):
        jh = hash_value(j)
        ah = hash_args([jh, SALT_H, MODE_H], {})
        eh = hash_eval(TASK_HASH, ah)
        rh = hash_value(results[j])
        ch = hash_call_node(TASK_HASH, ah, rh, ())
        out.append((jh, ah, eh, rh, ch))
    return out


def part_records(jobs: int, results: list, hashes: list) -> None:
    fd = os.open(os.devnull, os.O_WRONLY)
    fromhex = bytes.fromhex
    task_oid = shared = os.urandom(32)
    salt_h, mode_h = fromhex(SALT_H), fromhex(MODE_H)
    try:
        for j in range(jobs):
            jh, ah, eh, rh, ch = hashes[j]
            data_j = encode_native(j)
            data_r = encode_native(results[j])
            v1 = encode_value(Value(fromhex(jh), "builtins.int", "native", data_j, (), len(data_j), (), None))
            v2 = encode_value(Value(fromhex(rh), "builtins.dict", "native", data_r, (), len(data_r), (), None))
            o1, o2 = object_id(v1), object_id(v2)
            node = encode_call_node(CallNode(
                fromhex(ch), fromhex(TASK_HASH), task_oid, "bench.leaf", fromhex(ah),
                (Arg(0, None, fromhex(jh), o1, ()), Arg(1, None, salt_h, shared, ()), Arg(2, None, mode_h, shared, ())),
                fromhex(rh), o2, (), 0))
            on = object_id(node)
            job = encode_job(Job(os.urandom(16), EXEC_ID, None, fromhex(TASK_HASH), task_oid, fromhex(ch), on,
                                 fromhex(eh), o2, 0, 0, False, "DONE", (), {}))
            oj = object_id(job)
            stored = compress_many([v1, v2, node, job])
            os.write(fd, b"".join(o + len(s).to_bytes(4, "little") + s
                                  for o, s in zip((o1, o2, on, oj), stored)))
    finally:
        os.close(fd)


def _index(path: str):
    from redun.index.index import Index

    index = Index.open(None, catch_up=False, path=path)
    index.build_indexes()
    return index


def part_lookup(index, hashes: list, batch: int = 500) -> None:
    evals = [bytes.fromhex(h[2]) for h in hashes]
    for i in range(0, len(evals), batch):
        index.find_evals(evals[i:i + batch])


def job_records(jobs: int, hashes: list) -> list:
    """The (oid, record) pairs of each job, built outside the timed part."""
    fromhex = bytes.fromhex
    task_oid = os.urandom(32)
    out = []
    for j in range(jobs):
        jh, ah, eh, rh, ch = hashes[j]
        o1, o2, on = os.urandom(32), os.urandom(32), os.urandom(32)
        out.append((o1, Value(fromhex(jh), "builtins.int", "native", b"", (), 1, (), None)))
        out.append((o2, Value(fromhex(rh), "builtins.dict", "native", b"", (), 40, (), None)))
        out.append((on, CallNode(fromhex(ch), fromhex(TASK_HASH), task_oid, "bench.leaf", fromhex(ah),
                                 tuple(Arg(k, None, fromhex(h), o1, ()) for k, h in enumerate((jh, SALT_H, MODE_H))),
                                 fromhex(rh), o2, (), 0)))
        out.append((os.urandom(32), Job(os.urandom(16), EXEC_ID, None, fromhex(TASK_HASH), task_oid, fromhex(ch),
                                        on, fromhex(eh), o2, 0, 0, False, "DONE", (), {})))
    return out


def part_index_rows(index, pairs: list) -> None:
    """The rows of each job (as the follower writes them), committed every 4000 records."""
    for oid, rec in pairs:
        index.ingest(oid, rec)
    index.commit()


def cpu(fn, *args) -> float:
    c0 = time.process_time()
    fn(*args)
    return time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    n = args.jobs
    rows = {k: [] for k in ("call", "hashes", "records", "lookup", "index rows")}
    for _ in range(args.reps):
        with tempfile.TemporaryDirectory(prefix="bench_floor_") as d:
            results = part_call(n)
            hashes = part_hashes(n, results)
            rows["call"].append(cpu(part_call, n))
            rows["hashes"].append(cpu(part_hashes, n, results))
            rows["records"].append(cpu(part_records, n, results, hashes))
            index = _index(os.path.join(d, "index.sqlite3"))
            index.batch = 4000
            pairs = job_records(n, hashes)
            rows["index rows"].append(cpu(part_index_rows, index, pairs))
            rows["lookup"].append(cpu(part_lookup, index, hashes))
            index.close()
    per = {k: statistics.median(v) / n * 1e6 for k, v in rows.items()}
    print(f"# floor per recorded wide.py leaf job, CPU us, median of {args.reps} x {n} jobs (noisy shared machine)")
    for k, v in per.items():
        print(f"{k:<12}{v:>8.1f}")
    one_core = per["call"] + per["hashes"] + per["records"] + per["lookup"]
    print(f"{'one core':<12}{one_core:>8.1f}   (call + hashes + records + lookup: before any scheduling)")
    print(f"{'index core':<12}{per['index rows']:>8.1f}   (rows on the other core)")


if __name__ == "__main__":
    main()
