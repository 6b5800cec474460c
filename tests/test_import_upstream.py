"""`redun db import-upstream`: an upstream 0.44.1 redun.db (tests/data/upstream-migration.tar.gz,
made by tests/data/make_upstream_migration.sh: the compile example run twice with an edit of
lib.c in between) moves into a local or PostgreSQL repository with its evaluation cache:
`redun log` prints what upstream printed on that history, and the next run is all Cached."""

import json
import os
import sqlite3
import subprocess
import sys
import tarfile

import pytest


DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
# `redun log` forms whose output equals upstream's on this history (expected/ in the archive).
# `--value` and `--file` differ by design elsewhere (values are shown without unpickling;
# a path shows one of its versions): docs/query-index.md.
SAME_AS_UPSTREAM = {"log": [], "log-exec": ["--exec"], "log-job": ["--job"], "log-task": ["--task"],
                    "log-call-node": ["--call-node"], "log-newest": ["-"], "log-previous": ["~1"]}

pytestmark = pytest.mark.slow


def redun(*args, cwd, check=True):
    res = subprocess.run([sys.executable, "-m", "redun", *args], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, "REDUN_CONFIG": ""})
    if check:
        assert res.returncode == 0, (args, res.stdout, res.stderr)
    return res


@pytest.fixture
def upstream_dir(tmp_path) -> str:
    """The upstream working directory, files at the exact mtimes upstream hashed."""
    with tarfile.open(os.path.join(DATA, "upstream-migration.tar.gz")) as tar:
        tar.extractall(tmp_path, filter="data")
    work = str(tmp_path / "compile")
    with open(os.path.join(work, "expected", "mtimes.json")) as f:
        for name, ns in json.load(f).items():
            os.utime(os.path.join(work, name), ns=(ns, ns))
    return work


def check_log_and_rerun(work: str, *config) -> None:
    for name, args in SAME_AS_UPSTREAM.items():
        with open(os.path.join(work, "expected", f"{name}.txt")) as f:
            assert redun(*config, "log", *args, cwd=work).stdout == f.read(), name
    rerun = redun(*config, "run", "make.py", "make", cwd=work).stderr
    assert rerun.count("[redun] Cached ") == 9, rerun
    assert "[redun] Run " not in rerun and "[redun] Miss " not in rerun


def test_local_directory_with_only_an_upstream_db(upstream_dir):
    res = redun("init", cwd=upstream_dir, check=False)
    assert res.returncode == 1 and "redun db import-upstream" in res.stderr
    assert sorted(os.listdir(os.path.join(upstream_dir, ".redun"))) == ["redun.db", "redun.ini"]
    res = redun("log", cwd=upstream_dir, check=False)
    assert res.returncode == 1 and "redun db import-upstream" in res.stderr
    out = redun("db", "import-upstream", cwd=upstream_dir).stdout
    assert "Read upstream db version 3.5" in out and "2 executions, 18 jobs, 14 call nodes" in out
    assert "14 cache entries" in out and "2 new execution(s)" in out
    again = redun("db", "import-upstream", cwd=upstream_dir).stdout
    assert "Imported 0 records" in again and "0 new execution(s)" in again
    check_log_and_rerun(upstream_dir)
    assert redun("fsck", cwd=upstream_dir).returncode == 0


def test_into_a_postgresql_repository(upstream_dir, pg_server, tmp_path):
    cfg = tmp_path / "pgcfg"
    cfg.mkdir()
    (cfg / "redun.ini").write_text(f"[backend]\ndb_uri = {pg_server.create_database()}\n")
    db = os.path.join(upstream_dir, ".redun", "redun.db")
    out = redun("-c", str(cfg), "db", "import-upstream", db, cwd=upstream_dir).stdout
    assert "2 new execution(s)" in out
    check_log_and_rerun(upstream_dir, "-c", str(cfg))


def test_untrusted_import_reruns_pickled_results(upstream_dir):
    redun("db", "import-upstream", "--untrusted", cwd=upstream_dir)
    rerun = redun("run", "make.py", "make", cwd=upstream_dir).stderr
    assert "[redun] Miss " in rerun and "pickle" in rerun


def test_what_is_not_an_upstream_database_is_refused(tmp_path):
    (tmp_path / ".redun").mkdir()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    res = redun("db", "import-upstream", str(junk), cwd=str(tmp_path), check=False)
    assert res.returncode == 1 and "not a sqlite database" in res.stderr
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    res = redun("db", "import-upstream", str(other), cwd=str(tmp_path), check=False)
    assert res.returncode == 1 and "not an upstream redun database" in res.stderr
    res = redun("db", "import-upstream", str(tmp_path / "missing.db"), cwd=str(tmp_path), check=False)
    assert res.returncode == 1 and "No upstream redun database" in res.stderr
