"""CPU of writing one run's index rows into an empty, built sqlite index, per table.

    python benchmarks/index_inserts.py SRC [SRC ...]

SRC: a source tree of redun (e.g. a `git archive` of main, or this checkout). Each tree is
timed in its own process, three rounds, trees alternated. The rows are those of a run of
5,000 jobs (benchmarks/harness/wide.py shape): 5,000 jobs and call nodes, 15,000 arg_uses (one
argument shared by every call), 10,000 values, random ids, one transaction. A tree with
index/keyed.py writes them as RowBuffer.flush does into a built index (batched key checks);
an older one through its rows.INCREMENTAL statements (schema 8: INSERT OR IGNORE on unique
keys; the first schema 9: a key check per row). benchmarks/results/index-prefix.md has figures.
"""

import os
import subprocess
import sys
import tempfile

_CHILD = r'''
import os, sqlite3, sys, time
sys.path.insert(0, sys.argv[1])
from redun.index import rows, schema
path = sys.argv[2]
c = sqlite3.connect(path, isolation_level=None)
for s in schema.statements()[0]:
    c.execute(s)
for t, cols in schema.UNIQUE:
    c.execute(schema.unique_index(t, cols))
for t, cols in schema.KEYED:
    c.execute(schema.key_index(t, cols))
for s in schema.statements()[1]:
    c.execute(s)
r = os.urandom
shared = r(20)
cn = [(r(32), r(20), b"t" * 20, b"o" * 32, "x", r(20), r(20), r(32), 1, None, None) for _ in range(5000)]
data = {
    "jobs": [(r(16), r(32), b"e" * 16, None, b"t" * 20, b"o" * 32, r(20), x[0], r(20), r(32), 1, 2, 0, "DONE")
             for x in cn],
    "call_nodes": cn,
    "arg_uses": [(v, x[0]) for x in cn for v in (shared, r(20), r(20))],
    "vals": [(r(32), r(20), "int", "json", 3, None, None) for _ in range(10000)],
}
try:
    from redun.index import keyed
except ImportError:
    keyed = None
out, t0, new_calls = [], time.process_time(), set()
c.execute("BEGIN IMMEDIATE")
for table, d in data.items():
    t1 = time.process_time()
    if keyed is None:
        c.executemany(rows.INCREMENTAL.get(table, rows.SQL[table]) if hasattr(rows, "INCREMENTAL")
                      else rows.SQL[table], d)
    else:
        if table in keyed._KEY_AT:
            d = keyed.new_rows(c, table, d)
            if table == "call_nodes":
                new_calls = {x[0] for x in d}
        elif table == "arg_uses":
            d = keyed.new_arg_uses(d, new_calls)
        c.executemany(rows.SQL[table], d)
    out.append(f"{table} {time.process_time() - t1:.3f}")
c.execute("COMMIT")
print("  ".join(out), f" total {time.process_time() - t0:.3f}")
'''


def main(trees: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(3):
            for i, src in enumerate(trees):
                path = os.path.join(tmp, f"{rnd}-{i}.db")
                res = subprocess.run([sys.executable, "-c", _CHILD, src, path], capture_output=True, text=True,
                                     check=True)
                print(f"{src}: {res.stdout.strip()}")


if __name__ == "__main__":
    main(sys.argv[1:])
