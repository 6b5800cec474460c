"""First run and `redun log <prefix>` on PostgreSQL: this redun with a PostgreSQL repository,
this redun with the local repository, and upstream 0.44.1 on the same PostgreSQL server.

    python3 benchmarks/bench_pg.py [--n 5000] [--m 10] [--reps 3] [--no-upstream]

A private PostgreSQL server is started for the benchmark (tests/conftest_pg.py's
running_postgres: initdb + pg_ctl into a temp dir, fsync off, so the disk of a shared machine
does not dominate; the same server for both implementations). Each repetition: a fresh
directory and a fresh database, `redun init`, a first run of harness/wide.py (N leaves + M mids
+ summarize, BENCH_MODE=value), then `redun log <first 8 characters of the execution id>`,
each timed as wall clock of the whole command. Prints medians and the load average
(`uptime`) measured before each figure. Upstream needs psycopg2 in its venv
(`~/upstream-redun/bin/pip install psycopg2-binary`).
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _paths import UPSTREAM_REDUN, WIDE

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

OURS = [sys.executable, "-m", "redun"]
EXEC_ID = re.compile(r"Exec ([0-9a-f]{8})[0-9a-f-]*")


def load() -> float:
    return os.getloadavg()[0]


def timed(cmd, cwd, env) -> tuple:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    return dt, p.stdout


def one_rep(redun: list, db_uri, n: int, m: int) -> dict:
    d = tempfile.mkdtemp(prefix="bench_pg_")
    try:
        shutil.copy(WIDE, d)
        config = os.path.join(d, ".redun")
        os.makedirs(config)
        if db_uri:
            with open(os.path.join(config, "redun.ini"), "w") as f:
                f.write(f"[backend]\ndb_uri = {db_uri}\n")
        env = dict(os.environ, BENCH_N=str(n), BENCH_M=str(m), BENCH_MODE="value", REDUN_CONFIG=config)
        subprocess.run(redun + ["init"], cwd=d, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        load_first = load()
        first, _ = timed(redun + ["run", "wide.py", "main"], d, env)
        _, listing = timed(redun + ["log"], d, env)
        prefix = EXEC_ID.search(listing).group(1)
        load_log = load()
        logs = [timed(redun + ["log", prefix], d, env)[0] for _ in range(3)]
        return {"first": first, "load_first": load_first, "log": statistics.median(logs), "load_log": load_log}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--m", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-upstream", action="store_true")
    args = ap.parse_args()
    from conftest_pg import running_postgres

    with running_postgres() as server:
        # upstream's SQLAlchemy needs the driver named (it has psycopg2, not psycopg 3)
        impls = [("ours, PostgreSQL", OURS, "postgresql"), ("ours, local .redun", OURS, None)]
        if not args.no_upstream:
            impls.append(("upstream 0.44.1, PostgreSQL", [UPSTREAM_REDUN], "postgresql+psycopg2"))
        rows = {name: [] for name, _, _ in impls}
        for _ in range(args.reps):  # interleaved: load drifts hit every implementation alike
            for name, cmd, scheme in impls:
                uri = server.create_database().replace("postgresql", scheme, 1) if scheme else None
                rows[name].append(one_rep(cmd, uri, args.n, args.m))
    print(f"N={args.n} M={args.m} reps={args.reps}: medians (load average before each, per rep)")
    print("| implementation | first run (s) | load | `log <prefix>` (s) | load |")
    print("|---|---|---|---|---|")
    for name, reps in rows.items():
        med = {k: statistics.median(r[k] for r in reps) for k in ("first", "log")}
        loads_f = " ".join(f"{r['load_first']:.1f}" for r in reps)
        loads_l = " ".join(f"{r['load_log']:.1f}" for r in reps)
        print(f"| {name} | {med['first']:.2f} | {loads_f} | {med['log']:.3f} | {loads_l} |")


if __name__ == "__main__":
    main()
