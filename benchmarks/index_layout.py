"""Measure an index layout that keeps no ids the packs already hold (issue 18, docs/design.md, Index).

    python3 benchmarks/index_layout.py REDUN_DIR [--out DB]

A prototype, not the product: it builds, from the packs of REDUN_DIR, the tables the
queries of `redun log` need for jobs, call nodes, values and argument uses, in the layout
proposed for the next index schema, and prints its size and build CPU beside the current
index of the same directory (if it has one). What the layout changes:

- a record's row is keyed by its place: pos = pack number << 32 | offset in the pack, an
  INTEGER PRIMARY KEY (rows of one pack arrive in offset order: appends, no id index);
- a reference to another record (a job's call node, task, value) is that record's pos,
  resolved through the packs' `.idx` files (here a dict built from them, standing in for
  bisecting the mmapped `.idx`: the product's cost per reference is one such lookup);
- an upstream hash kept for lookups (call hash, args hash, value hash, eval hash) is its
  first 8 bytes as a signed integer; a hit is confirmed on the record itself;
- what only a display needs (arguments, task names, the call hash a job repeats from its
  call node) is read from the record, one pack read per shown row, as `redun log` does now.

Only the per-job records are built (Job, CallNode, Value: all but a few dozen records of the
bench repository); executions, tasks and tags stay as they are. Nothing here is imported by
redun.
"""

import argparse
import glob
import os
import resource
import sqlite3
import sys
import time

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from redun.objects import compress  # noqa: E402
from redun.objects.blobs import BLOB_HEAD  # noqa: E402
from redun.objects.pack import ENTRY_HEAD, PACK_MAGIC, PackIndex  # noqa: E402

TABLES = """
CREATE TABLE jobs (pos INTEGER PRIMARY KEY, id BLOB NOT NULL, exec INTEGER NOT NULL, parent8 INTEGER,
    call_pos INTEGER, task_pos INTEGER NOT NULL, eval8 INTEGER, value_pos INTEGER, start_time INTEGER NOT NULL,
    end_time INTEGER, state INTEGER NOT NULL);
CREATE TABLE call_nodes (pos INTEGER PRIMARY KEY, hash8 INTEGER NOT NULL, args8 INTEGER NOT NULL,
    value8 INTEGER NOT NULL, task_pos INTEGER NOT NULL, value_pos INTEGER NOT NULL, timestamp INTEGER NOT NULL);
CREATE TABLE arg_uses (value8 INTEGER NOT NULL, call_pos INTEGER NOT NULL, PRIMARY KEY (value8, call_pos))
    WITHOUT ROWID;
CREATE TABLE vals (pos INTEGER PRIMARY KEY, hash8 INTEGER NOT NULL, type TEXT NOT NULL, format TEXT NOT NULL,
    size INTEGER NOT NULL, path TEXT);
CREATE TABLE subvalues (parent INTEGER NOT NULL, child INTEGER NOT NULL);
CREATE TABLE execs (n INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE)
"""
INDEXES = """
CREATE INDEX jobs_id ON jobs(id);
CREATE INDEX jobs_exec ON jobs(exec, parent8);
CREATE INDEX jobs_call ON jobs(call_pos);
CREATE INDEX jobs_eval ON jobs(eval8);
CREATE INDEX jobs_task ON jobs(task_pos, start_time);
CREATE INDEX jobs_start ON jobs(start_time);
CREATE INDEX call_nodes_hash ON call_nodes(hash8);
CREATE INDEX call_nodes_args ON call_nodes(args8);
CREATE INDEX call_nodes_value ON call_nodes(value8);
CREATE INDEX call_nodes_time ON call_nodes(timestamp);
CREATE INDEX vals_hash ON vals(hash8);
CREATE INDEX vals_path ON vals(path) WHERE path IS NOT NULL;
CREATE INDEX subvalues_child ON subvalues(child)
"""
_STATE = {"DONE": 0, "CACHED": 1, "FAILED": 2}


def h8(h):
    return None if h is None else int.from_bytes(h[:8], "big", signed=True)


def positions(packs: list) -> dict:
    """oid -> pos for every entry of the packs (the stand-in for `.idx` lookups)."""
    out = {}
    for n, path in enumerate(packs):
        idx = PackIndex.open(path[: -len(".pack")] + ".idx")
        data, base = idx.data, n << 32
        offs = memoryview(data)[idx.off_at: idx.size_at].cast("Q")
        for i in range(idx.count):
            p = idx.ids_at + 32 * i
            out[bytes(data[p: p + 32])] = base | offs[i]
    return out


def entries(path: str):
    """(offset, canonical bytes) of each entry of a pack file."""
    with open(path, "rb") as f:
        data = f.read()
    pos = len(PACK_MAGIC)
    while pos + ENTRY_HEAD <= len(data):
        n = int.from_bytes(data[pos + 32: pos + ENTRY_HEAD], "little")
        yield pos, compress.decompress(data[pos + ENTRY_HEAD: pos + ENTRY_HEAD + n])
        pos += ENTRY_HEAD + n


def build(redun_dir: str, db: str) -> dict:
    packs = sorted(glob.glob(os.path.join(redun_dir, "packs", "pack-*.pack")))
    for suffix in ("", "-journal"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    t0 = resource.getrusage(resource.RUSAGE_SELF)
    where = positions(packs)
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-131072", "page_size=4096"):
        conn.execute("PRAGMA " + pragma)
    conn.execute("BEGIN")
    for stmt in TABLES.split(";"):
        conn.execute(stmt)
    execs: dict = {}
    records = 0
    for n, path in enumerate(packs):
        jobs, calls, uses, vals, subs = [], [], [], [], []
        base = n << 32
        for off, canonical in entries(path):
            records += 1
            if canonical[: len(BLOB_HEAD)] == BLOB_HEAD:
                continue
            tag, _, f = msgpack.unpackb(canonical, raw=False)
            pos = base | off
            if tag == "job":
                ex = execs.setdefault(f["execution_id"], len(execs) + 1)
                jobs.append((pos, f["id"], ex, h8(f["parent_id"]), where.get(f["call_node"]), where[f["task"]],
                             h8(f["eval_hash"]), where.get(f["eval_value"]), f["start_time"], f["end_time"],
                             _STATE.get(f["status"], 3) | (4 if f["cached"] else 0)))
            elif tag == "callnode":
                calls.append((pos, h8(f["hash"]), h8(f["args_hash"]), h8(f["value_hash"]), where[f["task"]],
                               where[f["value"]], f["timestamp"]))
                uses.extend((h8(a[2]), pos) for a in f["args"])
            elif tag == "value":
                vals.append((pos, h8(f["hash"]), f["type"], f["format"], f["size"], f["path"]))
                subs.extend((pos, where[c]) for c in f["subvalues"])
        conn.executemany("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?)", jobs)
        conn.executemany("INSERT INTO call_nodes VALUES (?,?,?,?,?,?,?)", calls)
        conn.executemany("INSERT OR IGNORE INTO arg_uses VALUES (?,?)", uses)
        conn.executemany("INSERT INTO vals VALUES (?,?,?,?,?,?)", vals)
        conn.executemany("INSERT INTO subvalues VALUES (?,?)", subs)
    conn.executemany("INSERT INTO execs VALUES (?, ?)", [(v, k) for k, v in execs.items()])
    for stmt in INDEXES.split(";"):
        conn.execute(stmt)
    conn.execute("COMMIT")
    conn.close()
    t1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (t1.ru_utime - t0.ru_utime) + (t1.ru_stime - t0.ru_stime)
    packs_bytes = sum(os.path.getsize(p) for p in packs)
    idx_bytes = sum(os.path.getsize(p[: -len(".pack")] + ".idx") for p in packs)
    return {"records": records, "cpu": cpu, "bytes": os.path.getsize(db), "packs_bytes": packs_bytes,
            "with_idx": packs_bytes + idx_bytes}


def sizes(db: str) -> list:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    except sqlite3.OperationalError:  # sqlite built without dbstat
        return []
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("redun_dir")
    ap.add_argument("--out", default=os.path.join(HERE, "scratch", "index_layout.sqlite3"))
    a = ap.parse_args()
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    started = os.getloadavg()[0]
    r = build(a.redun_dir, a.out)
    print(f"{r['records']:,} records, .pack files {r['packs_bytes'] / 1e6:.0f} MB, with their .idx "
          f"{r['with_idx'] / 1e6:.0f} MB (what bench_scale calls packs); load {started:.1f} -> "
          f"{os.getloadavg()[0]:.1f}")

    def share(b):
        return f"{b / 1e6:.0f} MB = {100 * b / r['packs_bytes']:.0f} % of .pack files, {100 * b / r['with_idx']:.0f} % of packs/"

    print(f"proposed layout: {share(r['bytes'])}; built in {r['cpu'] / r['records'] * 1e6:.1f} us CPU/record "
          f"({r['cpu']:.1f} s, one process)")
    current = os.path.join(a.redun_dir, "index.sqlite3")
    if os.path.exists(current):
        print(f"current index: {share(os.path.getsize(current))}")
    for name, size in sizes(a.out):
        if size > 1e6:
            print(f"  {name:18s} {size / 1e6:6.1f} MB")


if __name__ == "__main__":
    main()
