"""Run the shared benchmark harness on our `redun` and compare with upstream's.

    python3 benchmarks/compare_harness.py [--upstream ~/upstream-redun/bin/redun] [--ns "1000 5000"]

Runs harness/run_bench.sh on our CLI (and on upstream's too when
--upstream is given; otherwise uses the committed baseline
benchmarks/results/upstream-0.44.1.tsv), then prints one row per scenario and
step: wall seconds and max RSS side by side, and the speed-up ratio.
Writes the table to benchmarks/results/harness-compare.md.
"""

import argparse
import csv
import os
import shutil
import subprocess
import sys

from _paths import HARNESS

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BASELINE = os.path.join(HERE, "results", "upstream-0.44.1.tsv")


def run_harness(redun_cmd: str, scratch: str, ns: str, variants: str) -> str:
    env = dict(os.environ, BENCH_NS=ns, BENCH_VARIANTS=variants)
    subprocess.run(["bash", HARNESS, redun_cmd, scratch], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(scratch, "results.tsv")


def load(path: str) -> dict:
    with open(path) as f:
        return {(r["scenario"], r["metric"]): r for r in csv.DictReader(f, delimiter="\t")}


def as_float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ours", default=shutil.which("redun") or "redun")
    ap.add_argument("--upstream", default=None, help="upstream redun to run now (default: committed baseline)")
    ap.add_argument("--ns", default="1000 5000")
    ap.add_argument("--variants", default="file:1000 large:200")
    ap.add_argument("--scratch", default=os.path.join(HERE, "scratch", "harness"))
    args = ap.parse_args()

    ours = load(run_harness(args.ours, os.path.join(args.scratch, "ours"), args.ns, args.variants))
    if args.upstream:
        theirs = load(run_harness(args.upstream, os.path.join(args.scratch, "upstream"), args.ns, args.variants))
    else:
        theirs = load(BASELINE)

    lines = ["| scenario | step | ours s | upstream s | speed-up | ours RSS MB | upstream RSS MB | ours note | upstream note |",
             "|---|---|---:|---:|---:|---:|---:|---|---|"]
    for key, r in ours.items():
        u = theirs.get(key, {})
        ow, uw = as_float(r["wall_s"]), as_float(u.get("wall_s"))
        ratio = f"{uw / ow:.1f}x" if ow and uw else ""
        lines.append(f"| {key[0]} | {key[1]} | {r['wall_s']} | {u.get('wall_s', '')} | {ratio} | "
                     f"{r['maxrss_mb']} | {u.get('maxrss_mb', '')} | {r['note'][:40]} | {u.get('note', '')[:40]} |")
    table = "\n".join(lines)
    print(table)
    out = os.path.join(HERE, "results", "harness-compare.md")
    with open(out, "w") as f:
        f.write("# Shared harness: ours vs upstream 0.44.1\n\n")
        f.write(f"ours: `{args.ours}`; upstream: {'`' + args.upstream + '` (run now)' if args.upstream else 'committed baseline ' + os.path.relpath(BASELINE, ROOT)}\n\n")
        f.write(table + "\n")
    print(f"\nwritten to {os.path.relpath(out, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
