"""Tags and context in a PostgreSQL repository (the same queries as the sqlite index's, in
PostgreSQL's dialect): a tagged workflow, `redun tag` edits, `redun log --tag/--exec-tag`, a
shallow cache check under a context, and fsck (which rebuilds the index and compares)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest


pytestmark = pytest.mark.postgres

WF = textwrap.dedent('''
    from redun import apply_tags, get_context, task

    redun_namespace = "pgtags"

    @task(tags=[("step", "one")])
    def leaf(x: int, off: int = get_context("off", 0)) -> int:
        return apply_tags(x + off, [("kind", "sum")], execution_tags=[("env", "pg")])

    @task(check_valid="shallow")
    def main(n: int = 2) -> list:
        return [leaf(i) for i in range(n)]
''')


def redun(*args, cwd):
    res = subprocess.run([sys.executable, "-m", "redun", *args], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, "REDUN_CONFIG": ""}, timeout=300)
    assert res.returncode == 0, (args, res.stdout, res.stderr)
    return res


def test_tags_and_context_in_postgres(pg_server, tmp_path):
    os.makedirs(tmp_path / ".redun")
    (tmp_path / ".redun" / "redun.ini").write_text(f"[backend]\ndb_uri = {pg_server.create_database()}\n")
    (tmp_path / "wf.py").write_text(WF)
    redun("init", cwd=tmp_path)
    redun("run", "--tag", "who=me", "--context", "off=10", "wf.py", "main", cwd=tmp_path)
    out = redun("tag", "list", "--values", cwd=tmp_path).stdout.splitlines()
    assert "  step=one                       (2 Job, 1 Task)" in out and "  env=pg" in "\n".join(out)
    jobs = redun("log", "--job", "--tag", "step=one", cwd=tmp_path).stdout.splitlines()
    assert len(jobs) == 2 and all(j.endswith("(step=one)") for j in jobs)
    assert len(redun("log", "--job", "--exec-tag", "who=me", cwd=tmp_path).stdout.splitlines()) == 3
    tid = redun("log", "--task", "--tag", "step", cwd=tmp_path).stdout.split()[1]
    redun("tag", "update", tid, "step=two", cwd=tmp_path)
    assert redun("log", "--task", "--tag", "step=two", cwd=tmp_path).stdout.count("\n") == 1
    # the same context: main's call node is reused (shallow); another context: it is not
    again = redun("run", "--context", "off=10", "wf.py", "main", cwd=tmp_path).stderr
    assert "check_valid=shallow" in again
    other = redun("run", "--context", "off=20", "wf.py", "main", cwd=tmp_path)
    assert other.stdout.strip() == "[20, 21]" and "Run    Job" in other.stderr
    lines = [json.loads(x) for x in redun("export", cwd=tmp_path).stdout.splitlines()]
    assert any(t["_type"] == "Tag" and t["key"] == "redun.context" for t in lines)
    redun("fsck", cwd=tmp_path)
