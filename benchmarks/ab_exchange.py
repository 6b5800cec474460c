#!/usr/bin/env python3
"""A/B of `redun import` / `redun export` between installed builds, as users run them:

    python3 benchmarks/ab_exchange.py [--runs 5] [--python PY] NAME=BUILD [NAME=BUILD ...]

BUILD is a `redun` executable (e.g. ~/upstream-redun/bin/redun, or a venv's with a
non-editable install) or a directory made by `pip install --no-deps --target DIR CHECKOUT`,
run as `PY -c 'redun.cli.entry.main()'` with PYTHONPATH=DIR (PY: a Python with redun's
dependencies, default this one). Input: bench_scale's upstream export
(scratch/scale-upstream/export.jsonl, 20,048 lines written by upstream 0.44.1; bench_scale.py
makes it). Per run and build, in turn: `redun init`, `import -q -f` into the fresh repository,
`export -f` of it; each a fresh process. Prints medians of wall and CPU (user+sys of the child,
os.wait4) with every run's CPU, max RSS, the load average around the runs, and whether every
build's export is byte-identical to the first build's. Results: benchmarks/results/exchange.md.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXPORT = os.path.join(HERE, "scratch", "scale-upstream", "export.jsonl")
LAUNCH = "import sys\nfrom redun.cli.entry import main\nsys.exit(main())\n"


def child(argv: list, env: dict, cwd: str) -> tuple:
    """(wall s, CPU s, max RSS MB) of one process; exits with its stderr if it fails. cwd: not
    a checkout (`python -c` puts the working directory first on sys.path)."""
    start = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    _pid, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    err = p.stderr.read()
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{err.decode()[-3000:]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def command(build: str, python: str) -> tuple:
    """(argv prefix, env) that runs this build's `redun`."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if os.path.isdir(build):
        env["PYTHONPATH"] = build
        return [python, "-c", LAUNCH], env
    return [build], env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builds", nargs="+", metavar="NAME=BUILD")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--input", default=EXPORT)
    args = ap.parse_args()
    if not os.path.exists(args.input):
        sys.exit(f"no input {args.input}: run `python3 benchmarks/bench_scale.py --only exchange` once")
    source = os.path.abspath(args.input)
    builds = {name: os.path.abspath(b) if os.path.isdir(b) else b
              for name, b in (b.split("=", 1) for b in args.builds)}
    steps = {name: {"import": [], "export": []} for name in builds}
    loads, first_out = [], {}
    tmp = tempfile.mkdtemp(prefix="ab_exchange_")
    try:
        for i in range(args.runs):
            for name, build in builds.items():
                cmd, env = command(build, args.python)
                repo = os.path.join(tmp, f"{name}-{i}", ".redun")
                child(cmd + ["--config", repo, "init"], env, tmp)
                loads.append(os.getloadavg()[0])
                steps[name]["import"].append(child(cmd + ["--config", repo, "import", "-q", "-f", source], env, tmp))
                out = os.path.join(tmp, f"{name}-{i}.jsonl")
                steps[name]["export"].append(child(cmd + ["--config", repo, "export", "-f", out], env, tmp))
                loads.append(os.getloadavg()[0])
                shutil.rmtree(os.path.dirname(repo))
                if name in first_out:
                    os.unlink(out)
                else:
                    first_out[name] = out
        print(f"{args.runs} runs, load average {min(loads):.1f}-{max(loads):.1f}")
        for name in builds:
            for step in ("import", "export"):
                r = steps[name][step]
                print(f"{name:>10} {step}: wall {statistics.median(x[0] for x in r):.2f} s, "
                      f"CPU {statistics.median(x[1] for x in r):.2f} s "
                      f"[{' '.join(f'{x[1]:.2f}' for x in r)}], max RSS {max(x[2] for x in r):.0f} MB")
        names = list(first_out)
        with open(first_out[names[0]], "rb") as f:
            ref = f.read()
        for name in names[1:]:
            with open(first_out[name], "rb") as f:
                print(f"export of {name} byte-identical to {names[0]}'s: {f.read() == ref}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
