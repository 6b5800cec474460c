"""A repository in PostgreSQL (`[backend] db_uri = postgresql://...`), on a real server started
by the test suite (conftest_pg.py): the compile example, every form of `redun log`, db info,
fsck (clean and damaged), export/import both ways, repl, and credentials from the environment."""

import json
import os
import subprocess
import sys

import pytest

from conftest import copy_compile_example

pytestmark = pytest.mark.postgres


def redun(*args, cwd, input=None, env=None, check=True):
    res = subprocess.run([sys.executable, "-m", "redun", *args], cwd=cwd, capture_output=True, text=True,
                         input=input, env={**os.environ, "REDUN_CONFIG": "", **(env or {})})
    if check:
        assert res.returncode == 0, (args, res.stdout, res.stderr)
    return res


def pg_workdir(path, uri: str) -> str:
    os.makedirs(os.path.join(path, ".redun"), exist_ok=True)
    with open(os.path.join(path, ".redun", "redun.ini"), "w") as f:
        f.write(f"[backend]\ndb_uri = {uri}\n")
    return str(path)


@pytest.fixture
def pg_compile(pg_server, tmp_path):
    """The compile example run twice into a fresh database."""
    work = pg_workdir(copy_compile_example(tmp_path / "w"), pg_server.create_database())
    assert "PostgreSQL database" in redun("init", cwd=work).stdout
    first = redun("run", "make.py", "make", cwd=work)
    second = redun("run", "make.py", "make", cwd=work)
    return work, first, second


def test_compile_example_log_and_db_info(pg_compile):
    work, first, second = pg_compile
    assert first.stderr.count("[redun] Run ") >= 8
    assert second.stderr.count("[redun] Cached ") == 9 and "[redun] Run " not in second.stderr
    # nothing but the config file lives in the config dir: the records are in the database
    assert sorted(os.listdir(os.path.join(work, ".redun"))) == ["redun.ini"]
    listing = redun("log", cwd=work).stdout
    assert listing.count("\nExec ") == 2
    detail = redun("log", "-", cwd=work).stdout
    assert "Jobs: 9 (DONE: 0, CACHED: 9, FAILED: 0)" in detail
    jobs = redun("log", "--job", cwd=work).stdout.splitlines()
    assert len(jobs) == 18
    assert redun("log", "--job", "--count", cwd=work).stdout.strip() == "18 Job"
    assert redun("log", "--task", "--count", cwd=work).stdout.strip() == "4 Task"
    assert "prog.c" in redun("log", "--file", cwd=work).stdout
    values = redun("log", "--value", cwd=work).stdout.splitlines()
    count = int(redun("log", "--value", "--count", cwd=work).stdout.split()[0])
    assert len(values) == count and all(v.startswith("Value ") for v in values)
    assert redun("log", "--value", cwd=work).stdout.splitlines() == values  # now from the preview cache
    job_id = jobs[0].split()[1]
    assert f"Job {job_id}" in redun("log", job_id, cwd=work).stdout
    task = redun("log", "make_prog", cwd=work).stdout
    assert task.startswith("Task ") and "def make_prog" in task
    assert "File " in redun("log", "prog", cwd=work).stdout
    for line in redun("log", "--exec", "--format", "json", cwd=work).stdout.splitlines():
        json.loads(line)
    info = redun("db", "info", cwd=work).stdout
    assert "db version: 1.0 '" in info and "CLI compatible with db: True" in info
    assert "storage: PostgreSQL database postgresql://" in info
    assert "records: 2 Execution, 18 Job, 8 CallNode, 4 Task" in info
    out = redun("repl", cwd=work, input="print(len(execs), last_exec is not None)\n").stdout
    assert "2 True" in out


def test_fsck_clean_then_damaged(pg_compile):
    import psycopg

    work, _, _ = pg_compile
    res = redun("fsck", cwd=work)
    assert res.stdout.strip().endswith("OK") and "query index in the database" in res.stdout
    uri = open(os.path.join(work, ".redun", "redun.ini")).read().split("= ", 1)[1].strip()
    with psycopg.connect(uri, autocommit=True) as conn:
        oid = conn.execute("SELECT oid FROM redun_repo.objects ORDER BY oid LIMIT 1").fetchone()[0]
        conn.execute("UPDATE redun_repo.objects SET data = %s WHERE oid = %s", (b"\x00garbage", oid))
    res = redun("fsck", "--format", "json", cwd=work, check=False)
    assert res.returncode == 1
    report = json.loads(res.stdout)
    assert not report["ok"] and any(p["name"] == oid.hex() for p in report["problems"])


def test_export_import_between_postgres_and_local(pg_compile, pg_server, tmp_path):
    work, _, _ = pg_compile
    exported = redun("export", cwd=work).stdout
    assert len(exported.splitlines()) > 40
    local = tmp_path / "local"
    local.mkdir()
    redun("init", cwd=str(local))
    redun("import", cwd=str(local), input=exported)
    assert sorted(redun("export", cwd=str(local)).stdout.splitlines()) == sorted(exported.splitlines())
    other = pg_workdir(tmp_path / "other", pg_server.create_database())
    redun("init", cwd=other)
    res = redun("import", cwd=other, input=redun("export", cwd=str(local)).stdout)
    assert "Imported 52 records" in res.stderr
    assert sorted(redun("export", cwd=other).stdout.splitlines()) == sorted(exported.splitlines())
    again = redun("import", cwd=other, input=exported)
    assert "Imported 0 records (52 already present)" in again.stderr


def test_credentials_from_environment(pg_server, tmp_path):
    uri = pg_server.create_database()
    bare = uri.replace("redun@", "")  # no user in the config: REDUN_DB_USERNAME supplies it
    work = pg_workdir(tmp_path, bare.replace("postgresql://", "postgresql+psycopg2://"))
    res = redun("init", cwd=work, env={"REDUN_DB_USERNAME": "nosuchuser"}, check=False)
    assert res.returncode == 1 and "nosuchuser" in res.stderr and "Traceback" not in res.stderr
    redun("init", cwd=work, env={"REDUN_DB_USERNAME": "redun"})
    assert "Recent executions" in redun("log", cwd=work, env={"REDUN_DB_USERNAME": "redun"}).stdout


def test_missing_repository_and_unreachable_server(pg_server, tmp_path):
    work = pg_workdir(tmp_path / "a", pg_server.create_database())
    res = redun("log", cwd=work, check=False)
    assert res.returncode == 1 and "redun init" in res.stderr
    dead = pg_workdir(tmp_path / "b", "postgresql://redun@127.0.0.1:1/nothing")
    res = redun("log", cwd=dead, check=False)
    assert res.returncode == 1 and "Cannot connect to PostgreSQL at postgresql://redun@127.0.0.1:1/nothing" in res.stderr


def test_push_pull_between_postgres_directory_and_postgres(pg_compile, pg_server, tmp_path):
    work, _, _ = pg_compile
    local = tmp_path / "dir"
    local.mkdir()
    redun("init", cwd=str(local))
    other = pg_workdir(tmp_path / "other", pg_server.create_database())
    redun("init", cwd=other)
    with open(os.path.join(work, ".redun", "redun.ini"), "a") as f:
        f.write(f"\n[repos.dir]\nconfig_dir = {local}/.redun\n\n[repos.other]\nconfig_dir = {other}/.redun\n")
    assert "Pushed" in redun("push", "dir", cwd=work).stdout
    assert "up to date" in redun("push", "dir", cwd=work).stdout
    assert "Pushed" in redun("push", "other", cwd=work).stdout
    mine = sorted(redun("export", cwd=work).stdout.splitlines())
    assert sorted(redun("export", cwd=str(local)).stdout.splitlines()) == mine
    assert sorted(redun("export", cwd=other).stdout.splitlines()) == mine
    # a new run in the directory repository comes back by pull, and is cached there too
    redun("-c", f"{local}/.redun", "run", "make.py", "make", cwd=work)
    assert "Pulled" in redun("pull", "dir", cwd=work).stdout
    assert redun("log", cwd=work).stdout.count("\nExec ") == 3
    assert redun("fsck", cwd=other).stdout.strip().endswith("OK")
    # reindex rebuilds the database's index tables from its objects
    before = redun("log", "--job", cwd=work).stdout
    assert "Reindexed 3 executions, 27 jobs" in redun("db", "reindex", cwd=work).stdout
    assert redun("log", "--job", cwd=work).stdout == before
