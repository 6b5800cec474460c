"""`redun console` on a large repository: start-up and screen-switch latency.

The repository: 11 runs of the synthetic `wide` workflow (benchmarks/_synth.py's record
builders; 20,000 leaf jobs in 10 groups per run), about the size of issue 18's scale
benchmark (786k records; benchmarks/bench_scale.py did not exist when this was written).
Built once into benchmarks/scratch/console-wide/ with its index.

Measured, each a median of --repeat fresh processes:
- start-up, headless: process start to the executions list showing its first rows
  (Textual's headless driver; split into interpreter + imports, opening the repository
  and its index, the first page query, and the app's first paint);
- start-up in a real terminal: `redun console` in tmux until the pane shows the rows;
- screen switches inside one session (headless pilot, key press to the new screen
  painted): open an execution, expand a group of 2,000 jobs, open a job, open its
  result value, open its task (220k jobs of one version), go-to by id prefix, back.

    python3 benchmarks/bench_console.py [--repeat 5] [--out results/console.md]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
SCRATCH = os.path.join(HERE, "scratch", "console-wide")
RUNS, LEAVES, GROUPS = 11, 20_000, 10


def build(root: str) -> dict:
    from _synth import T0, wide_records

    from redun.objects.codec import decode
    from redun.repo.repository import Repo

    repo = Repo.init(os.path.join(root, ".redun"))
    t = time.perf_counter()
    records = 0
    for k in range(RUNS):
        last = None
        with repo.store.pack_writer() as w:
            for oid, data in wide_records(LEAVES, GROUPS, salt=f"run{k}", first=k * LEAVES,
                                          t0=T0 + k * 3_600_000_000):
                w.add_many([data])
                last = (oid, data)
                records += 1
        ex = decode(last[1])
        repo.refs.set(f"execs/{uuid.UUID(bytes=ex.id)}", last[0])
        print(f"  run {k + 1}/{RUNS} written ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    built = time.perf_counter() - t
    t = time.perf_counter()
    counts = repo.index.counts()
    indexed = time.perf_counter() - t
    repo.close()
    info = {"records": records, "write_s": round(built, 1), "index_s": round(indexed, 1), "counts": counts}
    with open(os.path.join(root, "info.json"), "w") as f:
        json.dump(info, f)
    return info


# -- the measuring child ---------------------------------------------------------

CHILD = r'''
import asyncio, json, os, sys, time
t_main = time.perf_counter()
sys.path.insert(0, ROOT)
from textual.app import App  # noqa: the console's own import cost
from redun.view.console.app import ConsoleApp
t_import = time.perf_counter()
from redun.repo.repository import Repo
from redun.view.browse import Browser
from redun.view.query import Provenance
repo = Repo.open(os.path.join(WORK, ".redun"))
browser = Browser(Provenance(repo))
browser.index.counts  # the index is open and caught up
t_open = time.perf_counter()
first = browser.executions()
t_query = time.perf_counter()
out = {"import": t_import - t_main, "open": t_open - t_import, "first_page": t_query - t_open}

async def main():
    app = ConsoleApp(browser, WORK)
    async with app.run_test(size=(150, 45)) as pilot:
        while not (type(app.screen).__name__ == "ExecutionsScreen" and app.screen.query_one("#table").row_count):
            await asyncio.sleep(0.005)
        out["first_paint"] = time.perf_counter() - t_query
        out["ready_since_main"] = time.perf_counter() - t_main
        if not SWITCHES:
            return

        async def step(name, *keys, until=None):
            t = time.perf_counter()
            await pilot.press(*keys)
            await pilot.pause()
            while until is not None and not until():
                await asyncio.sleep(0.002)
            out[name] = time.perf_counter() - t

        await step("open execution", "enter", until=lambda: type(app.screen).__name__ == "ExecutionScreen")
        await step("expand 2,000 jobs", "down", "space")
        await step("open job", "down", "enter", until=lambda: type(app.screen).__name__ == "JobScreen")
        job_id = app.screen.detail.summary.id
        result = app.screen.detail.result
        app.screen.query_one("#links").highlighted = 3  # Result: ...
        await step("open value", "enter", until=lambda: type(app.screen).__name__ == "ValueScreen")
        await step("back", "escape", until=lambda: type(app.screen).__name__ == "JobScreen")
        await step("open task (220k jobs)", "t", until=lambda: type(app.screen).__name__ == "TaskScreen")
        await step("go to job by prefix", "g", until=lambda: type(app.screen).__name__ == "JumpScreen")
        app.screen.query_one("#jump-input").value = job_id[:8]
        await step("  (prefix resolved)", "enter", until=lambda: type(app.screen).__name__ == "JobScreen")
        await step("executions (1)", "1", until=lambda: type(app.screen).__name__ == "ExecutionsScreen")
        await step("open filter box", "slash")
        app.screen.query_one("#filter").value = "tag:redun.version=0.44.1"
        await step("filter by tag", "enter")

asyncio.run(main())
print(json.dumps(out), flush=True)
'''


def measure_child(work: str, switches: bool) -> dict:
    code = f"ROOT = {ROOT!r}\nWORK = {work!r}\nSWITCHES = {switches!r}\n" + CHILD
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(res.stderr[-3000:])
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["wall_total"] = wall  # interpreter start to exit
    return out


def measure_queries(work: str, repeat: int) -> dict:
    """The browse queries behind each screen, in one process (ms, median): what the
    console's own code costs, apart from Textual's layout and painting."""
    from redun.repo.repository import Repo
    from redun.view.browse import Browser, parse_filter
    from redun.view.query import Provenance

    repo = Repo.open(os.path.join(work, ".redun"))
    b = Browser(Provenance(repo))
    ex = b.executions().rows[0]
    root = b.child_jobs(ex.key, None).rows[0]
    group = b.child_jobs(ex.key, root.key).rows[0]
    leaf = b.child_jobs(ex.key, group.key).rows[5]
    detail = b.job(leaf.key)
    steps = {
        "executions page": lambda: b.executions(),
        "executions, tag filter": lambda: b.executions(parse_filter("tag:redun.version=0.44.1")),
        "executions, status filter": lambda: b.executions(parse_filter("status:failed")),
        "execution summary": lambda: b.execution(ex.key),
        "children page (of 2,000)": lambda: b.child_jobs(ex.key, group.key),
        "jobs filter in execution": lambda: b.find_jobs(ex.key, parse_filter("status:done leaf", job=True)),
        "job detail": lambda: b.job(leaf.key),
        "value detail": lambda: b.value(detail.result.oid),
        "task detail (220k jobs)": lambda: b.task(bytes.fromhex(detail.task_hash)),
        "jump by job prefix": lambda: b.jump(leaf.id[:8]),
    }
    out = {}
    for name, fn in steps.items():
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        out[name] = statistics.median(times) * 1000
    repo.close()
    return out


def measure_tmux(work: str) -> float:
    """Seconds from starting `redun console` in tmux to its rows on the pane."""
    sock = ["tmux", "-L", f"bench-console-{uuid.uuid4().hex[:12]}"]  # a fresh server each time
    cmd = f"cd {work} && PYTHONPATH={ROOT} {sys.executable} -m redun console"
    t = time.perf_counter()
    subprocess.run(sock + ["new-session", "-d", "-s", "b", "-x", "150", "-y", "45", cmd], check=True)
    try:
        while time.perf_counter() - t < 120:
            pane = subprocess.run(sock + ["capture-pane", "-p", "-t", "b"], capture_output=True, text=True).stdout
            if "run wide.py main" in pane:
                return time.perf_counter() - t
            time.sleep(0.01)
        raise SystemExit("the console never showed its rows in tmux")
    finally:
        subprocess.run(sock + ["kill-server"], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--work", default=SCRATCH)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    if args.rebuild and os.path.exists(args.work):
        shutil.rmtree(args.work)
    if not os.path.exists(os.path.join(args.work, "info.json")):
        os.makedirs(args.work, exist_ok=True)
        build(args.work)
    info = json.load(open(os.path.join(args.work, "info.json")))
    print(f"repository: {info['records']:,} records {info['counts']}; written in {info['write_s']} s, "
          f"indexed in {info['index_s']} s")
    print(f"load before: {os.getloadavg()}")
    starts = [measure_child(args.work, False) for _ in range(args.repeat)]
    switches = [measure_child(args.work, True) for _ in range(args.repeat)]
    tmux = [measure_tmux(args.work) for _ in range(args.repeat)] if shutil.which("tmux") else []
    queries = measure_queries(args.work, args.repeat)
    print(f"load after: {os.getloadavg()}")

    def med(rows, key):
        return statistics.median(r[key] for r in rows) * 1000

    print("\nstart-up, headless (ms, median of %d fresh processes)" % args.repeat)
    for key in ("import", "open", "first_page", "first_paint", "ready_since_main", "wall_total"):
        print(f"  {key:<28} {med(starts, key):8.1f}")
    if tmux:
        print(f"  {'tmux: start to rows shown':<28} {statistics.median(tmux) * 1000:8.1f}")
    print("\nscreen switches (ms, median)")
    for key in switches[0]:
        if key not in ("import", "open", "first_page", "first_paint", "ready_since_main", "wall_total"):
            print(f"  {key:<28} {med(switches, key):8.1f}")
    print("\nbrowse queries behind the screens (ms, median, one warm process)")
    for key, ms in queries.items():
        print(f"  {key:<28} {ms:8.1f}")


if __name__ == "__main__":
    main()
