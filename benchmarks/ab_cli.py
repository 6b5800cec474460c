#!/usr/bin/env python3
"""A/B of installed `redun` CLIs (install each non-editable into its own venv):

    python3 benchmarks/ab_cli.py before=/venv/a/bin/redun after=/venv/b/bin/redun [--reps 5]

For harness/wide.py at N=5000 in a fresh directory per repetition: the first run, the
cached rerun, `redun log` (list) and `redun log <exec>`, wall clock. The CLIs alternate
within each repetition so that load drifts hit all alike; prints medians [min-max] and the
load average. Results: benchmarks/results/api-overhead.md.
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

WIDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness", "wide.py")
STEPS = ("first", "cached", "log_list", "log_exec")


def timed(cmd: list, cwd: str, env: dict) -> tuple:
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr[-1500:]}")
    return time.perf_counter() - start, p.stdout


def one(redun: str) -> dict:
    d = tempfile.mkdtemp(prefix="ab_cli_")
    try:
        shutil.copy(WIDE, d)
        env = dict(os.environ, BENCH_N="5000", BENCH_M="10", REDUN_CONFIG=os.path.join(d, ".redun"))
        env.pop("PYTHONPATH", None)
        out = {"first": timed([redun, "run", "wide.py", "main"], d, env)[0],
               "cached": timed([redun, "run", "wide.py", "main"], d, env)[0]}
        out["log_list"], listing = timed([redun, "log"], d, env)
        exec_id = re.search(r"Exec ([0-9a-f]{8})", listing).group(1)
        out["log_exec"] = timed([redun, "log", exec_id], d, env)[0]
        return out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    clis = [a.split("=", 1) for a in sys.argv[1:] if "=" in a]
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 3
    results = {name: {s: [] for s in STEPS} for name, _ in clis}
    for _ in range(reps):
        for name, redun in clis:
            for step, seconds in one(redun).items():
                results[name][step].append(seconds)
    print("load average", os.getloadavg())
    for name, steps in results.items():
        print(name, {s: f"{statistics.median(v):.3f} [{min(v):.3f}-{max(v):.3f}]" for s, v in steps.items()})


if __name__ == "__main__":
    main()
