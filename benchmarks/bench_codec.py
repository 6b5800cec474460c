"""Per-record CPU of everything built from the record schema (objects/schema.py): the hot
per-job encoders, codec.encode and decode, the index row builders (from a record and from
the msgpack map on catch-up) and the link walkers of gc and sync.

    python3 benchmarks/bench_codec.py [--tree DIR]    # DIR: another checkout to compare

Each figure is the best of 7 CPU-time (process_time) samples, in microseconds, for one
wide.py-like Job, Value and CallNode (the three records a run writes per job). With
--tree, the same is measured for the checkout at DIR in a subprocess and printed beside.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import timeit

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure() -> dict:
    from redun.index.rows import RowBuffer
    from redun.maint.packio import links_of_canonical
    from redun.objects import codec
    from redun.objects.hotcodec import encode_call_node, encode_job, encode_value
    from redun.objects.records import Arg, CallNode, Job, Value
    from redun.sync.transfer import fast_links

    r = os.urandom
    value = Value(r(20), "builtins.dict", "native", b"x" * 40, (), 40, (), None)
    args = tuple(Arg(i, None, r(20), r(32), ()) for i in range(3))
    node = CallNode(r(20), r(20), r(32), "leaf", r(20), args, r(20), r(32), (), 1_700_000_000_000_000)
    job = Job(r(16), r(16), r(16), r(20), r(32), r(20), r(32), r(20), r(32), 1_700_000_000_000_000,
              1_700_000_000_000_100, False, "DONE", (), {})
    records = {"job": job, "value": value, "callnode": node}
    datas = [codec.encode(x) for x in records.values()]

    def best(fn, n=20000):
        return min(timeit.repeat(fn, number=n, repeat=7, timer=time.process_time)) / n * 1e6

    out = {}
    for name, enc, rec in (("hot encode job", encode_job, job), ("hot encode value", encode_value, value),
                           ("hot encode callnode", encode_call_node, node)):
        out[name] = best(lambda: enc(rec))
    for name, rec in records.items():
        out[f"codec.encode {name}"] = best(lambda: codec.encode(rec))
    for name, rec in records.items():
        data = codec.encode(rec)
        out[f"codec.decode {name}"] = best(lambda: codec.decode(data))
    buf = RowBuffer()

    def rows():
        for rec in records.values():
            buf.add(b"o" * 32, rec)
        if buf.count > 30000:
            buf.__init__()

    def rows_canonical():
        for d in datas:
            buf.add_canonical(b"o" * 32, d)
        if buf.count > 30000:
            buf.__init__()

    out["index rows, 3 records"] = best(rows)
    out["index rows from bytes, 3"] = best(rows_canonical)
    out["gc links, 3 records"] = best(lambda: [links_of_canonical(d, "") for d in datas])
    out["sync links, 3 records"] = best(lambda: [fast_links(d) for d in datas])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", help="another checkout of redun to measure beside this one")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # the --tree subprocess
    a = ap.parse_args()
    if a.json:
        print(json.dumps(measure()))
        return
    other = None
    if a.tree:
        env = dict(os.environ, PYTHONPATH=a.tree)
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--json"], env=env, cwd="/",
                             capture_output=True, text=True, check=True).stdout
        other = json.loads(out)
    sys.path.insert(0, HERE)
    mine = measure()
    print(f"# CPU us per call, best of 7 (load {os.getloadavg()[0]:.1f}; shared, noisy machine)")
    print(f"{'':28}{'this':>8}" + (f"{'--tree':>9}" if other else ""))
    for k, v in mine.items():
        print(f"{k:28}{v:8.2f}" + (f"{other[k]:9.2f}" if other else ""))


if __name__ == "__main__":
    main()
