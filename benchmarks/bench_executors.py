"""Executors side by side (not a timed test): CPU-bound parallelism and per-job overhead.

    python3 benchmarks/bench_executors.py [--cpu] [--overhead] [--jobs 10000] [--upstream]

--cpu       8 CPU-bound tasks of ~1 s of CPU each (a pure-Python loop calibrated here) on
            the process executor with 2 workers: wall of the run against the ideal 4 s
            (8 s of CPU on 2 cores). With --upstream, the same workflow under upstream
            0.44.1's `redun run` (its "Execution duration" line, as ours).
--overhead  --jobs trivial jobs (return their argument) on the thread executor, the process
            executor (2 workers) and the Dask executor (a cluster started here: `dask
            scheduler` and two `dask worker` processes of 1 thread on 127.0.0.1), in-process,
            records in memory: wall per job and its excess over the thread executor.

The machine is shared: the script prints `uptime` before and after; run it when quiet.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
UPSTREAM = os.path.expanduser("~/upstream-redun/bin/redun")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def calibrate(seconds: float = 1.0) -> int:
    """Loop count that takes `seconds` of CPU in this interpreter (median of 3 probes)."""
    from _executor_tasks import spin

    probes = []
    for _ in range(3):
        t0 = time.process_time()
        spin(2_000_000)
        probes.append(time.process_time() - t0)
    per_loop = sorted(probes)[1] / 2_000_000
    return int(seconds / per_loop)


INI = "[executors.process]\ntype = local\nmode = process\nmax_workers = 2\n"


def run_cli(redun: list, loops: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, ".redun"))
        with open(os.path.join(tmp, ".redun", "redun.ini"), "w") as f:
            f.write(INI)
        with open(os.path.join(tmp, "_executor_tasks.py"), "w") as f:
            f.write(open(os.path.join(HERE, "_executor_tasks.py")).read())
        env = dict(os.environ, REDUN_CONFIG=os.path.join(tmp, ".redun"))
        p = subprocess.run([*redun, "run", "--no-cache", "_executor_tasks.py", "burns", "--n", "8", "--loops",
                            str(loops), "--executor", "process"], cwd=tmp, env=env, capture_output=True, text=True)
        if p.returncode:
            raise SystemExit(p.stderr[-3000:])
        return float(re.search(r"Execution duration: ([\d.]+) seconds", p.stderr).group(1))


def bench_cpu(upstream: bool, reps: int) -> None:
    loops = calibrate()
    print(f"calibrated: {loops} loops = 1 s of CPU")
    ours = [run_cli([sys.executable, "-m", "redun"], loops) for _ in range(reps)]
    print(f"ours: 8 x 1 s CPU on process executor, 2 workers: {min(ours):.2f} s best, "
          f"{sorted(ours)[len(ours) // 2]:.2f} s median of {reps} (ideal 4.00 s; "
          f"ratio {min(ours) / 4:.3f} best)")
    if upstream and os.path.exists(UPSTREAM):
        theirs = [run_cli([UPSTREAM], loops) for _ in range(reps)]
        print(f"upstream 0.44.1: {min(theirs):.2f} s best, {sorted(theirs)[len(theirs) // 2]:.2f} s median")


def dask_cluster():
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1 (as tests/conftest_dask.py);
    returns (address, processes)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    address = f"tcp://127.0.0.1:{port}"
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              **quiet)]
    procs += [subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--host",
                                "127.0.0.1", "--no-dashboard"], **quiet) for _ in range(2)]
    import distributed

    with distributed.Client(address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=120)
    return address, procs


def bench_overhead(n: int) -> None:
    import _executor_tasks as T
    from redun import Scheduler
    from redun.config import Config

    address, procs = dask_cluster()
    config = Config(config_dict={
        "executors.process": {"type": "local", "mode": "process", "max_workers": "2"},
        "executors.dask": {"type": "dask", "scheduler_address": address},
    })
    try:
        _overhead_rows(n, T, Scheduler, config)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


def _overhead_rows(n: int, T, Scheduler, config) -> None:
    rows = []
    for executor in ("default", "process", "dask"):
        s = Scheduler(config=config, quiet=True)
        # Each run starts the executor's pool (processes, a local Dask cluster) and stops it at the
        # end: a run of 4 jobs measures that, and the per-job cost is the difference.
        t0 = time.perf_counter()
        s.run(T.noops(4, executor))
        startup = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        result = s.run(T.noops(n, executor))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert result == list(range(n))
        rows.append((executor, startup, wall, cpu))
    print(f"{n} trivial jobs, in-process, records in memory; per job = (wall - wall of a 4-job run) / {n - 4}:")
    base = None
    for executor, startup, wall, cpu in rows:
        per = (wall - startup) / (n - 4)
        base = per if base is None else base
        print(f"  {executor:8s} run {wall:7.2f} s  (4-job run {startup:5.2f} s)  {per * 1e6:7.0f} us/job  "
              f"(+{(per - base) * 1e6:6.0f} us/job over threads)  scheduler-process CPU {cpu / n * 1e6:5.0f} us/job")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu", action="store_true")
    ap.add_argument("--overhead", action="store_true")
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--upstream", action="store_true")
    args = ap.parse_args()
    if not (args.cpu or args.overhead):
        args.cpu = args.overhead = True
    print("load before:", uptime())
    if args.cpu:
        bench_cpu(args.upstream, args.reps)
    if args.overhead:
        bench_overhead(args.jobs)
    print("load after:", uptime())


if __name__ == "__main__":
    main()
