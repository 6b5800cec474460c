"""Cold `redun log <prefix>` as users run it: the `redun` console script of a
non-editable install in a clean venv (issue 4's figure: < 60 ms on 1M records).

    python3 benchmarks/bench_coldstart.py [--records 1000000] [--runs 21] [--reinstall]

Creates benchmarks/scratch/cleanvenv once (`python -m venv` + `pip install .`),
reuses bench_log.py's synthetic 1M-record repository, and prints the median wall
time of each cold process next to the floor (`python -c pass`, `import click`).
A venv matters: an editable install adds an import finder, and a base
interpreter may run site .pth files (this VM's sandbox adds ~25 ms that way).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(HERE, "scratch", "cleanvenv")


def ensure_venv(reinstall: bool) -> str:
    bindir = os.path.join(VENV, "bin")
    if not os.path.exists(os.path.join(bindir, "python")):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        reinstall = True
    if reinstall:
        subprocess.run([os.path.join(bindir, "pip"), "install", "-q", "--force-reinstall", ROOT], check=True)
    return bindir


def median_ms(cmd: list, cwd: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--reinstall", action="store_true", help="reinstall the working tree into the venv")
    a = ap.parse_args()
    bindir = ensure_venv(a.reinstall)
    sys.path.insert(0, HERE)
    import bench_log  # the synthetic repository builder

    repo = os.path.join(HERE, "scratch", f"log-{a.records}")
    os.makedirs(repo, exist_ok=True)
    ids = bench_log.build(repo, a.records)
    py, redun = os.path.join(bindir, "python"), os.path.join(bindir, "redun")
    subprocess.run([redun, "log"], cwd=repo, stdout=subprocess.DEVNULL, check=True)  # index caught up
    rows = [("python -c pass (floor)", [py, "-c", "pass"]), ("python -c 'import click'", [py, "-c", "import click"]),
            ("redun --version (click path)", [redun, "--version"])]
    rows += [(f"redun log <{kind} prefix>", [redun, "log", ids[kind]]) for kind in ("job", "call_node", "task", "value", "exec")]
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"cold processes, clean venv, non-editable install; {a.records} records; median of {a.runs}; load {load:.2f}")
    for name, cmd in rows:
        print(f"{median_ms(cmd, repo, a.runs):8.1f} ms  {name}")


if __name__ == "__main__":
    main()
