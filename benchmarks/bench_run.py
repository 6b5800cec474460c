"""`redun run` side by side: this redun vs upstream 0.44.1 on the shared wide workflow.

    python3 benchmarks/bench_run.py [--n 5000] [--reps 3] [--no-upstream] [--upstream-results FILE]
    python3 benchmarks/bench_run.py --phases    # CPU per job by phase (cProfile shares), in-process

For each implementation and repetition: a fresh directory, `redun init`, a
first run of harness/wide.py (N leaf tasks + M mids + summarize)
and a cached rerun, timed as wall clock of the whole command. Prints medians
and ratios (upstream / ours). Also prints the engine overhead per recorded
job: (first-run wall - wall of a run with the same workflow at N=0) / N.

Upstream takes ~90 s per first run at N=5000; --no-upstream skips it and
--upstream-results takes medians from benchmarks/results/upstream-0.44.1.tsv
(the shared harness' output) instead. The machine is shared: expect noise.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _paths import UPSTREAM_REDUN, WIDE

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM = UPSTREAM_REDUN
OURS = [sys.executable, "-m", "redun"]


def timed(cmd, cwd, env) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    return dt


def one_rep(redun: list, n: int, m: int) -> dict:
    d = tempfile.mkdtemp(prefix="bench_run_")
    try:
        shutil.copy(WIDE, d)
        env = dict(os.environ, BENCH_N=str(n), BENCH_M=str(m), BENCH_MODE="value", REDUN_CONFIG=os.path.join(d, ".redun"))
        subprocess.run(redun + ["init"], cwd=d, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        first = timed(redun + ["run", "wide.py", "main"], d, env)
        cached = timed(redun + ["run", "wide.py", "main"], d, env)
        return {"first": first, "cached": cached}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def measure(redun: list, n: int, m: int, reps: int) -> dict:
    rows = [one_rep(redun, n, m) for _ in range(reps)]
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]} | {"all": rows}


def in_process(n: int, m: int, reps: int) -> dict:
    """CPU per job inside one process (no start-up): scheduling alone (record=False) and
    with recording (records + index + cache lookups), first run and cached rerun."""
    sys.path.insert(0, os.path.dirname(WIDE))
    os.environ.update(BENCH_N=str(n), BENCH_M=str(m), BENCH_MODE="value")
    import importlib

    wide = importlib.import_module("wide")
    from redun import Scheduler
    from redun.repo.repository import Repo

    import resource

    def children_cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    out: dict = {"norecord": [], "first": [], "cached": [], "follower_first": [], "follower_cached": []}
    for _ in range(reps):
        d = tempfile.mkdtemp(prefix="bench_inproc_")
        try:
            repo = Repo.init(os.path.join(d, ".redun"))
            s = Scheduler(repo=repo, quiet=True)
            for key, record in (("norecord", False), ("first", True), ("cached", True)):
                c0, f0 = time.process_time(), children_cpu()
                s.run(wide.main(), record=record)
                out[key].append(time.process_time() - c0)
                if key != "norecord":  # the index follower's CPU (another process)
                    out[f"follower_{key}"].append(children_cpu() - f0)
            repo.close()
        finally:
            shutil.rmtree(d, ignore_errors=True)
    jobs = n + m + 2
    return {k: statistics.median(v) / jobs * 1e6 for k, v in out.items()}


PHASES = (  # profile entries (file or function name fragments) -> phase of a recorded job
    ("index rows (sqlite)", ("redun/index/", "sqlite3")),
    ("pack writes (compress, write)", ("packwriter", "compress", "posix.write", "zstandard", "posix.fsync")),
    ("records (build, encode, ids)", ("recorder.py", "codec.py", "objects/values.py", "records.py", "objects/ids.py",
                                      "blake3", "msgpack", "spans.py", "blobs.py", "<string>:2(__init__)")),
    ("cache reads (index hits, packs)", ("directory.py", "objects/pack.py", "decompress", "caching.py")),
)


def breakdown(n: int, m: int) -> dict:
    """CPU per job by phase, first run and cached rerun: cProfile's own-time shares
    (grouped by PHASES, the rest is scheduling and hashing) applied to the unprofiled
    process_time of the same run."""
    import cProfile
    import pstats

    sys.path.insert(0, os.path.dirname(WIDE))
    os.environ.update(BENCH_N=str(n), BENCH_M=str(m), BENCH_MODE="value")
    import importlib

    wide = importlib.import_module("wide")
    from redun import Scheduler
    from redun.repo.repository import Repo

    out = {}
    jobs = n + m + 2
    for profiled in (False, True):
        d = tempfile.mkdtemp(prefix="bench_phases_")
        try:
            repo = Repo.init(os.path.join(d, ".redun"))
            s = Scheduler(repo=repo, quiet=True)
            for key in ("first", "cached"):
                prof = cProfile.Profile() if profiled else None
                c0 = time.process_time()
                if prof:
                    prof.enable()
                s.run(wide.main())
                if prof:
                    prof.disable()
                    shares = {name: 0.0 for name, _ in PHASES}
                    shares["scheduling, hashing, other"] = 0.0
                    total = 0.0
                    for (fn, ln, fname), (_, _, tt, _, _) in pstats.Stats(prof).stats.items():
                        where = f"{fn}:{ln}({fname})"
                        total += tt
                        phase = next((name for name, pats in PHASES if any(p in where for p in pats)),
                                     "scheduling, hashing, other")
                        shares[phase] += tt
                    out[key] = {k: out[key] * v / total for k, v in shares.items()}
                else:
                    out[key] = (time.process_time() - c0) / jobs * 1e6
            repo.close()
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return out


def upstream_from_tsv(path: str, n: int) -> dict:
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[0] == f"value_n{n}" and parts[1] in ("run_first", "run_cached"):
                out[{"run_first": "first", "run_cached": "cached"}[parts[1]]] = float(parts[2])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--m", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-upstream", action="store_true", help="do not run upstream")
    ap.add_argument("--upstream-results", default=None,
                    help="take upstream medians from this harness TSV instead of running it")
    ap.add_argument("--phases", action="store_true", help="only print the CPU per job by phase (in-process)")
    args = ap.parse_args()
    if args.phases:
        ph = breakdown(args.n, args.m)
        print(f"# CPU per job by phase, wide.py N={args.n} in-process (shared, noisy machine)")
        print(f"{'phase':<34}{'first us':>10}{'cached us':>11}")
        for k in ph["first"]:
            print(f"{k:<34}{ph['first'][k]:>10.0f}{ph['cached'][k]:>11.0f}")
        print(f"{'total':<34}{sum(ph['first'].values()):>10.0f}{sum(ph['cached'].values()):>11.0f}")
        return

    print(f"# redun run benchmark: wide.py N={args.n} M={args.m}, medians of {args.reps} (shared, noisy machine)")
    ours = measure(OURS, args.n, args.m, args.reps)
    empty = measure(OURS, 0, 1, args.reps)
    per_job_us = (ours["first"] - empty["first"]) / max(1, args.n + args.m + 2) * 1e6
    up = None
    if args.upstream_results:
        up = upstream_from_tsv(args.upstream_results, args.n)
    elif not args.no_upstream and os.path.exists(UPSTREAM):
        up = measure([UPSTREAM], args.n, args.m, args.reps)

    print(f"{'metric':<22}{'ours s':>10}{'upstream s':>12}{'ratio':>8}")
    for key, label in (("first", "first run"), ("cached", "cached rerun")):
        u = up.get(key) if up else None
        ratio = f"{u / ours[key]:.1f}x" if u else "-"
        print(f"{label:<22}{ours[key]:>10.2f}{(f'{u:.2f}' if u else '-'):>12}{ratio:>8}")
    print(f"{'empty run (N=0)':<22}{empty['first']:>10.2f}")
    print(f"per recorded job: {per_job_us:.0f} us (first run minus empty run, over {args.n + args.m + 2} jobs)")
    print(f"ours, every rep: {[{k: round(v, 2) for k, v in r.items()} for r in ours['all']]}")
    ip = in_process(args.n, args.m, args.reps)
    print(f"in-process CPU per job: scheduling only {ip['norecord']:.0f} us; with recording: first run "
          f"{ip['first']:.0f} us (recording adds {ip['first'] - ip['norecord']:.0f} us), cached rerun {ip['cached']:.0f} us; "
          f"index follower process, other core: {ip['follower_first']:.0f} / {ip['follower_cached']:.0f} us")
    if up and "all" in up:
        print(f"upstream, every rep: {[{k: round(v, 2) for k, v in r.items()} for r in up['all']]}")


if __name__ == "__main__":
    main()
