"""Issue 17's "done means": four concurrent `redun run` processes of a 2,000-job workflow and a
`redun log` loop against one PostgreSQL repository (a real server, conftest_pg.py). Every run is
recorded whole, nothing is lost, no process reports a lock, deadlock or serialization error,
and `redun fsck` finds the repository clean.

The four runs share half their leaf calls (same task, same arguments), so they insert the same
call nodes, values and index rows at the same time: the overlap the lock order in
pg/schema.py exists for. The other half is salted per run."""

import os
import re
import subprocess
import sys
import time

import pytest


pytestmark = [pytest.mark.postgres, pytest.mark.slow]

RUNS = 4
LEAVES = 1999  # + the fan job: 2,000 jobs per run

WORKFLOW = """
from redun import task

redun_namespace = "pgconc"


@task()
def leaf(i: int, salt: str) -> dict:
    return {"i": i, "salt": salt, "sq": i * i}


@task()
def fan(n: int, salt: str) -> list:
    # even leaves are the same call in every run, odd ones are this run's own
    return [leaf(i, "shared" if i % 2 == 0 else salt) for i in range(n)]
"""

BAD = re.compile(r"deadlock|serializ|could not obtain lock|lock timeout|Traceback|RefConflict|conflict",
                 re.IGNORECASE)


def _env(work: str) -> dict:
    return {**os.environ, "REDUN_CONFIG": os.path.join(work, ".redun")}


def _redun(*args, cwd, check=True):
    res = subprocess.run([sys.executable, "-m", "redun", *args], cwd=cwd, env=_env(cwd), capture_output=True,
                         text=True, timeout=600)
    if check:
        assert res.returncode == 0, (args, res.stdout, res.stderr)
    return res


LOG_LOOP = """
import subprocess, sys, os
stop = sys.argv[1]
n = 0
while not os.path.exists(stop) or n < 3:
    res = subprocess.run([sys.executable, "-m", "redun", "log"], capture_output=True, text=True)
    n += 1
    if res.returncode != 0:
        sys.stderr.write(f"redun log exited {res.returncode}:\\n{res.stderr}")
        sys.exit(1)
    sys.stderr.write(res.stderr)
print(n)
"""


def test_four_concurrent_runs_and_a_log_loop(pg_server, tmp_path):
    work, uri = str(tmp_path), pg_server.create_database()
    os.makedirs(os.path.join(work, ".redun"))
    with open(os.path.join(work, ".redun", "redun.ini"), "w") as f:
        f.write(f"[backend]\ndb_uri = {uri}\n")
    (tmp_path / "wf.py").write_text(WORKFLOW)
    _redun("init", cwd=work)

    stop = str(tmp_path / "stop")
    logger = subprocess.Popen([sys.executable, "-c", LOG_LOOP, stop], cwd=work, env=_env(work),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = [subprocess.Popen([sys.executable, "-m", "redun", "run", "wf.py", "fan", "--n", str(LEAVES),
                              "--salt", f"run{k}"], cwd=work, env=_env(work),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for k in range(RUNS)]
    try:
        results = [p.communicate(timeout=900) for p in runs]
    finally:
        open(stop, "w").close()
        for p in runs:
            if p.poll() is None:
                p.kill()
                p.wait()
    log_out, log_err = logger.communicate(timeout=300)

    for p, (out, err) in zip(runs, results):
        assert p.returncode == 0, err[-3000:]
        assert not BAD.search(err), err[-3000:]
        # every job of the run either ran or was found cached (a shared leaf another run finished)
        assert err.count("[redun] Run ") + err.count("[redun] Cached ") >= LEAVES + 1, err[-2000:]
    assert logger.returncode == 0, log_err[-3000:]
    assert not BAD.search(log_err), log_err[-3000:]
    assert int(log_out.strip()) >= 3

    # all four recorded whole: 4 executions of 2,000 jobs, every job finished
    assert _redun("log", "--exec", "--count", cwd=work).stdout.strip() == f"{RUNS} Execution"
    assert _redun("log", "--job", "--count", cwd=work).stdout.strip() == f"{RUNS * (LEAVES + 1)} Job"
    exec_ids = [line.split()[1] for line in _redun("log", cwd=work).stdout.splitlines()
                if line.startswith("Exec ")]
    assert len(exec_ids) == RUNS
    for exec_id in exec_ids:
        detail = _redun("log", exec_id, cwd=work).stdout
        m = re.search(r"Jobs: (\d+) \(DONE: (\d+), CACHED: (\d+), FAILED: (\d+)\)", detail)
        assert m, detail[:2000]
        total, done, cached, failed = map(int, m.groups())
        assert total == LEAVES + 1 and done + cached == total and failed == 0, detail[:2000]
    # a CallNode record carries its timestamp, so runs that computed the same call concurrently
    # each recorded one; the distinct call hashes are 1000 shared + 4 x 999 salted leaves + 4 fans
    import psycopg

    with psycopg.connect(uri) as conn:
        calls = conn.execute("SELECT count(DISTINCT hash) FROM redun_repo.call_nodes").fetchone()[0]
    assert calls == 1000 + RUNS * 999 + RUNS
    fsck = _redun("fsck", cwd=work)
    assert fsck.stdout.strip().endswith("OK"), fsck.stdout
    # a rerun of any of the four is entirely cached
    again = _redun("run", "wf.py", "fan", "--n", str(LEAVES), "--salt", "run2", cwd=work)
    assert "[redun] Run " not in again.stderr
