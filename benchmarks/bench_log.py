"""Benchmarks for the index and `redun log` (issue 4).

    python3 benchmarks/bench_log.py [--records 1000000] [--runs 5]

Builds (once) a synthetic repository in benchmarks/scratch/log-<N>/ by writing
realistic records (Task, Value, CallNode, Job, Execution, refs) with
PackWriter directly: one execution of 5000 jobs plus executions of 1000 jobs
until N records exist (one pack per execution). Then measures, as cold CLI
processes (`python -m redun`): `redun log <prefix>` for each kind of record,
`redun log <exec>` on the 5000-job execution, `redun log` (list), and
`redun db reindex` (delete + rebuild); and the .redun size of the shared wide
workflow (N=5000) run by our engine. Prints medians; upstream figures are
the ones measured on the same VM for the same operations (issue 4 text).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

from _paths import WIDE

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

UPSTREAM = {"log <prefix>": 1.0, "log <exec 5000 jobs>": 8.2}


def count_records(root: str) -> int:
    """Objects in the repo's packs (from each .idx header)."""
    import struct

    packs = os.path.join(root, "packs")
    total = 0
    for name in os.listdir(packs):
        if name.endswith(".idx"):
            with open(os.path.join(packs, name), "rb") as f:
                total += struct.unpack("<I", f.read(12)[8:12])[0]
    return total


def build(path: str, records: int) -> dict:
    from redun.repo.repository import Repo
    from test_index_synth import T0, write_execution

    marker = os.path.join(path, "BUILT")
    repo = Repo.init(os.path.join(path, ".redun"))
    if os.path.exists(marker):
        with open(marker) as f:
            ids = dict(line.split() for line in f)
        repo.close()
        return ids
    t0 = time.perf_counter()
    big = write_execution(repo.store, repo.refs, n_jobs=5000, seed=0, start=T0)
    total = 5000 * 4 + 7  # per job: 2 values, a CallNode, a Job; plus tasks, root values, Execution
    seed = 1
    last = big
    while total < records:
        n = max(1, min(1000, (records - total) // 4))
        last = write_execution(repo.store, repo.refs, n_jobs=n, seed=seed, start=T0 + seed * 10**8)
        total += n * 4 + 7
        seed += 1
        if seed % 25 == 0:
            print(f"  built ~{total} records ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    ids = {
        "big_exec": big["exec_id"].hex()[:8],
        "exec": last["exec_id"].hex()[:8],
        "job": last["jobs"][10][0].hex()[:8],
        "call_node": last["calls"][10][0].hex()[:8],
        "task": last["tasks"]["step"][1].hash.hex()[:8],
        "value": last["values"][10][0].hex()[:8],
    }
    with open(marker, "w") as f:
        for k, v in ids.items():
            f.write(f"{k} {v}\n")
    print(f"built {count_records(os.path.join(path, '.redun'))} records in {time.perf_counter() - t0:.0f}s",
          file=sys.stderr)
    repo.close()
    return ids


# Installed packages have byte-compiled modules; this sandbox sets PYTHONDONTWRITEBYTECODE,
# which would make every cold process recompile ~30 modules from source. Measure like an install.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list, cwd: str) -> tuple:
    """(wall seconds, CPU seconds user+sys) of one cold process."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {res.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return dt, cpu


def median(cmd: list, cwd: str, runs: int) -> tuple:
    samples = [timed(cmd, cwd) for _ in range(runs)]
    return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)


def wide_repo_size(n: int = 5000, m: int = 10) -> tuple:
    """(bytes of .redun, bytes of its index) after `redun run wide.py main` (BENCH_N jobs), plus
    the same after `redun log <exec>` has cached its previews."""
    import shutil
    import tempfile

    src = WIDE
    if not os.path.exists(src):
        return None
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(src, d)
        env = dict(ENV, BENCH_N=str(n), BENCH_M=str(m))
        subprocess.run([sys.executable, "-m", "redun", "run", "wide.py", "main"], cwd=d, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

        def size():
            root = os.path.join(d, ".redun")
            return sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(root) for f in fs)

        after_run = size()
        index = os.path.getsize(os.path.join(d, ".redun", "index.sqlite3"))
        timed([sys.executable, "-m", "redun", "log", "-"], d)  # caches previews
        wall, cpu = median([sys.executable, "-m", "redun", "log", "-"], d, 5)
        return after_run, index, size(), wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-reindex", action="store_true")
    a = ap.parse_args()
    path = os.path.join(HERE, "scratch", f"log-{a.records}")
    os.makedirs(path, exist_ok=True)
    ids = build(path, a.records)
    redun = [sys.executable, "-m", "redun"]
    rows = []
    wide = wide_repo_size()
    if not a.skip_reindex:
        rows.append(("db reindex (delete + rebuild)", *median(redun + ["db", "reindex"], path, max(1, min(a.runs, 2))),
                     None))
    timed(redun + ["log"], path)  # index caught up
    rows.append(("python -c pass (interpreter floor)", *median([sys.executable, "-c", "pass"], path, a.runs), None))
    for kind in ("exec", "job", "call_node", "task", "value"):
        rows.append((f"log <{kind} prefix>", *median(redun + ["log", ids[kind]], path, a.runs),
                     UPSTREAM["log <prefix>"]))
    rows.append(("log <exec 5000 jobs>", *median(redun + ["log", ids["big_exec"]], path, a.runs),
                 UPSTREAM["log <exec 5000 jobs>"]))
    rows.append(("log (list executions)", *median(redun + ["log"], path, a.runs), None))
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"records: {count_records(os.path.join(path, '.redun'))}; runs per figure: {a.runs} (median); "
          f"machine shared and noisy (load average {load:.1f})")
    if wide:
        up = 27.0 * 2**20
        print(f"wide N=5000 .redun: {wide[0] / 1e6:.2f} MB = {wide[0] / up:.1%} of upstream's 27.0 MiB "
              f"(index {wide[1] / 1e6:.2f} MB); after `redun log <exec>` cached previews: {wide[2] / 1e6:.2f} MB "
              f"({wide[2] / up:.1%}); `redun log <exec>` (5000 jobs): {wide[3]:.3f} s wall, {wide[4]:.3f} s cpu")
    print(f"{'operation':40} {'wall (s)':>9} {'cpu (s)':>8} {'upstream (s)':>13} {'speedup':>8}")
    for name, t, cpu, up in rows:
        ratio = f"{up / t:7.1f}x" if up else ""
        print(f"{name:40} {t:9.3f} {cpu:8.3f} {up if up else '':>13} {ratio:>8}")


if __name__ == "__main__":
    main()
