"""`redun gc` on a PostgreSQL repository (pg/gc.py), on a real server (conftest_pg.py): garbage
older than the grace period goes with its index rows, --dry-run and --keep, and a run writing
while gc sweeps again and again loses nothing."""

import os
import subprocess
import sys

import pytest

from conftest import copy_compile_example

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def redun(*args, cwd, check=True):
    res = subprocess.run([sys.executable, "-m", "redun", *args], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, "REDUN_CONFIG": os.path.join(cwd, ".redun")}, timeout=600)
    if check:
        assert res.returncode == 0, (args, res.stdout, res.stderr)
    return res


def sql(uri, stmt, params=()):
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        cur = conn.execute(stmt, params)
        return cur.fetchall() if cur.description else None


def setup_workdir(path, uri):
    os.makedirs(os.path.join(path, ".redun"), exist_ok=True)
    with open(os.path.join(path, ".redun", "redun.ini"), "w") as f:
        f.write(f"[backend]\ndb_uri = {uri}\n")
    redun("init", cwd=str(path))
    return str(path)


def age_everything(uri):
    sql(uri, "UPDATE redun_repo.objects SET added = now() - interval '30 days'")


def test_gc_removes_an_unreferenced_execution_and_keep_restores_one(pg_server, tmp_path):
    uri = pg_server.create_database()
    work = setup_workdir(copy_compile_example(tmp_path / "w"), uri)
    redun("run", "make.py", "make", cwd=work)
    redun("run", "make.py", "make", cwd=work)
    assert "gc: " in redun("gc", cwd=work).stdout  # nothing old yet: nothing removed
    assert redun("gc", "--format", "json", cwd=work).stdout.count('"garbage": 0') == 1
    first = sorted(sql(uri, "SELECT name FROM redun_repo.refs WHERE name LIKE 'execs/%%' "
                            "ORDER BY (SELECT start_time FROM redun_repo.executions e WHERE "
                            "'execs/' || (encode(e.id, 'hex')::uuid)::text = name)"))[0][0]
    sql(uri, "DELETE FROM redun_repo.refs WHERE name = %s", (first,))
    age_everything(uri)
    # --keep puts the execution back (dry run says so, the real one does it)
    eid = first[len("execs/"):]
    assert f"would restore ref {first}" in redun("gc", "--dry-run", "-q", "--keep", eid[:8], cwd=work).stdout
    assert f"restored ref {first}" in redun("gc", "--keep", eid[:8], cwd=work).stdout
    assert redun("log", "--exec", "--count", cwd=work).stdout.strip() == "2 Execution"

    # (it removed the execution's superseded preliminary record, which nothing keeps)
    sql(uri, "DELETE FROM redun_repo.refs WHERE name = %s", (first,))
    before = sql(uri, "SELECT count(*) FROM redun_repo.objects")[0][0]

    dry = redun("gc", "--dry-run", cwd=work).stdout.splitlines()
    listed = [line for line in dry if not line.startswith("gc:")]
    assert listed and all(len(line.split()) == 3 for line in listed)
    kinds = {line.split()[1] for line in listed}
    assert "job" in kinds and "execution" in kinds, kinds
    assert sql(uri, "SELECT count(*) FROM redun_repo.objects")[0][0] == before  # a dry run changes nothing

    out = redun("gc", cwd=work).stdout
    assert f"removed {len(listed)} " in out and "objects in the database" in out, out
    assert sql(uri, "SELECT count(*) FROM redun_repo.objects")[0][0] == before - len(listed)
    # the index went with the objects: only the second (all cached) execution is left
    assert redun("log", "--exec", "--count", cwd=work).stdout.strip() == "1 Execution"
    assert redun("log", "--job", "--count", cwd=work).stdout.strip() == "9 Job"
    assert sql(uri, "SELECT count(*) FROM redun_repo.jobs j WHERE NOT EXISTS "
                    "(SELECT 1 FROM redun_repo.objects o WHERE o.oid = j.oid)")[0][0] == 0
    assert redun("fsck", cwd=work).stdout.strip().endswith("OK")
    again = redun("run", "make.py", "make", cwd=work)
    assert "[redun] Run " not in again.stderr  # what the kept execution reaches is whole
    assert "garbage\": 0" in redun("gc", "--format", "json", cwd=work).stdout


WORKFLOW = """
from redun import task

redun_namespace = "pggc"


@task()
def leaf(i: int) -> dict:
    return {"i": i, "sq": i * i}


@task()
def fan(n: int) -> list:
    return [leaf(i) for i in range(n)]
"""


def test_gc_again_and_again_while_a_run_writes(pg_server, tmp_path):
    uri = pg_server.create_database()
    work = setup_workdir(tmp_path, uri)
    (tmp_path / "wf.py").write_text(WORKFLOW)
    redun("run", "wf.py", "fan", "--n", "200", cwd=work)  # kept: the next run's cache hits link it
    redun("run", "wf.py", "fan", "--n", "150", cwd=work)  # dropped: garbage gc removes meanwhile
    newest = sql(uri, "SELECT e.id FROM redun_repo.executions e ORDER BY start_time DESC LIMIT 1")[0][0]
    import uuid

    sql(uri, "DELETE FROM redun_repo.refs WHERE name = %s", (f"execs/{uuid.UUID(bytes=newest)}",))
    age_everything(uri)
    log = open(tmp_path / "run.err", "w+")  # a file, not a pipe: nobody reads it while gc loops
    run = subprocess.Popen([sys.executable, "-m", "redun", "run", "wf.py", "fan", "--n", "1500"], cwd=work,
                           env={**os.environ, "REDUN_CONFIG": os.path.join(work, ".redun")},
                           stdout=subprocess.DEVNULL, stderr=log, text=True)
    sweeps = []
    try:
        while run.poll() is None or len(sweeps) < 2:
            # grace 9 s: older than that is the aged history; the run keeps its own records (its lock)
            res = redun("gc", "--grace", "0.0001", cwd=work, check=False)
            assert res.returncode == 0, res.stderr
            sweeps.append(res.stdout)
    finally:
        if run.poll() is None:
            run.kill()
        run.wait()
        log.seek(0)
        err = log.read()
        log.close()
    assert run.returncode == 0, err[-3000:]
    assert "Traceback" not in err and "deadlock" not in err.lower()
    assert any("removed 0 " not in s for s in sweeps), sweeps  # the garbage went during the run
    assert redun("log", "--exec", "--count", cwd=work).stdout.strip() == "2 Execution"
    assert redun("log", "--job", "--count", cwd=work).stdout.strip() == f"{201 + 1501} Job"
    assert redun("fsck", cwd=work).stdout.strip().endswith("OK")
    again = redun("run", "wf.py", "fan", "--n", "1500", cwd=work)
    assert "[redun] Run " not in again.stderr


def test_a_running_execution_keeps_what_it_wrote_however_old(pg_server, tmp_path):
    """A run links some records only later (a task's immediate value, when its job ends): gc
    keeps every object that arrived since a live run began, past the grace period, and sweeps
    them once the run's hold is released (pg/liveruns.py)."""
    import json
    import uuid

    from redun.objects.records import Execution, Value
    from redun.objects.valuecodec import encode_native
    from redun.pg.liveruns import LOCK_CLASS
    from redun.repo.repository import Repo

    uri = pg_server.create_database()
    work = setup_workdir(tmp_path, uri)
    repo = Repo.open(os.path.join(work, ".redun"))
    exec_id = uuid.uuid4().bytes
    try:
        hold = repo.store.hold_live_run(exec_id)
        prelim = repo.store.put(Execution(exec_id, json.dumps(["run"]), None, 1, None, {}))
        repo.refs.set(f"execs/{uuid.UUID(bytes=exec_id)}", prelim, expected=None)
        later = repo.store.put(Value(b"\x01" * 20, "builtins.int", "native", encode_native(7)))  # linked by nothing yet
        sql(uri, "UPDATE redun_repo.objects SET added = now() - interval '20 days' WHERE oid = %s", (prelim,))
        sql(uri, "UPDATE redun_repo.objects SET added = now() - interval '10 days' WHERE oid = %s", (later,))
        held = sql(uri, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::bigint::oid",
                   (LOCK_CLASS,))[0][0]
        assert held == 1
        assert "removed 0 " in redun("gc", "--grace", "1", cwd=work).stdout
        assert sql(uri, "SELECT count(*) FROM redun_repo.objects WHERE oid = %s", (later,))[0][0] == 1
        hold.release()
        out = redun("gc", "--grace", "1", cwd=work).stdout
        assert "removed 1 " in out, out
        assert sql(uri, "SELECT count(*) FROM redun_repo.objects WHERE oid = %s", (later,))[0][0] == 0
        assert sql(uri, "SELECT count(*) FROM redun_repo.objects WHERE oid = %s", (prelim,))[0][0] == 1  # its ref
    finally:
        repo.close()
    # a run holds its lock only while it runs
    (tmp_path / "wf.py").write_text(WORKFLOW)
    redun("run", "wf.py", "fan", "--n", "2", cwd=work)
    assert sql(uri, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::bigint::oid",
               (LOCK_CLASS,))[0][0] == 0
