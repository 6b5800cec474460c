"""Workflows with S3 inputs and outputs, script tasks with staging, through `redun run`,
and the same workflows under upstream redun 0.44.1 with the same Run/Cached counts."""

import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections import Counter

import pytest
from conftest import UPSTREAM_REDUN
from conftest_http import http_server  # noqa: F401
from conftest_s3 import BUCKET, seaweed_client  # noqa: F401

S3_WF = textwrap.dedent('''
    from redun import File, script, task

    redun_namespace = "s3wf"

    @task()
    def count_words(src: File) -> int:
        return len(src.read().split())

    @task()
    def write_report(n: int, out_path: str) -> File:
        out = File(out_path)
        out.write("words: %d\\n" % n)
        return out

    @task()
    def shout(src: File, out_path: str) -> File:
        return script(
            """
            tr a-z A-Z < in.txt > out.txt
            echo staged >&2
            """,
            tempdir=True,
            inputs=[src.stage("in.txt")],
            outputs=File(out_path).stage("out.txt"),
        )

    @task()
    def main(src: File, prefix: str) -> list:
        return [write_report(count_words(src), prefix + "/report.txt"), shout(src, prefix + "/shout.txt")]

    @task()
    def fail(prefix: str) -> File:
        return script("echo about to fail >&2; exit 3", outputs=File(prefix + "/never.txt").stage("never.txt"))
''')

LINE = re.compile(r"^\[redun\] (Run|Cached) +Job \w+: +([\w.]+)\(")


def counts(stderr: str) -> Counter:
    """(action, task) -> number of jobs, from a run's log."""
    found = Counter()
    for line in stderr.splitlines():
        m = LINE.match(line)
        if m:
            found[(m.group(1), m.group(2))] += 1
    return found


def redun(cmd, cwd, endpoint, *args):
    env = dict(os.environ, REDUN_CONFIG=os.path.join(cwd, ".redun"))
    if endpoint:
        env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="redun", AWS_SECRET_ACCESS_KEY="redun",
                   AWS_DEFAULT_REGION="us-east-1")
    # The staging commands call `aws` (upstream's commands): the one installed beside us.
    env["PATH"] = os.path.dirname(cmd[0]) + os.pathsep + env.get("PATH", "")
    return subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


OURS = [sys.executable, "-m", "redun"]


def scenario(cmd, workdir, endpoint) -> list:
    """Run main four times: fresh, unchanged, input object changed, output object changed."""
    os.makedirs(workdir)
    with open(os.path.join(workdir, "wf.py"), "w") as f:
        f.write(S3_WF)
    client = seaweed_client(endpoint)
    prefix = f"s3://{BUCKET}/wf-{uuid.uuid4().hex[:10]}"
    key = prefix[len(f"s3://{BUCKET}/"):]
    client.put_object(Bucket=BUCKET, Key=key + "/in.txt", Body=b"one two three")
    args = ("run", "wf.py", "main", "--src", prefix + "/in.txt", "--prefix", prefix)
    runs = []
    for step in range(4):
        if step == 2:
            client.put_object(Bucket=BUCKET, Key=key + "/in.txt", Body=b"four five")
        if step == 3:
            client.put_object(Bucket=BUCKET, Key=key + "/report.txt", Body=b"tampered")
        p = redun(cmd, workdir, endpoint, *args)
        assert p.returncode == 0, p.stderr
        runs.append(counts(p.stderr))
    report = client.get_object(Bucket=BUCKET, Key=key + "/report.txt")["Body"].read()
    shouted = client.get_object(Bucket=BUCKET, Key=key + "/shout.txt")["Body"].read()
    return runs, report, shouted


@pytest.mark.s3
def test_s3_workflow_cache_and_staged_script(tmp_path, seaweed):  # noqa: F811
    runs, report, shouted = scenario(OURS, str(tmp_path / "ours"), seaweed)
    first, again, new_input, tampered = runs
    assert first[("Run", "s3wf.count_words")] == 1 and first[("Run", "s3wf.write_report")] == 1
    assert first[("Run", "redun.script")] == 1 and first[("Run", "redun.script_task")] == 1
    assert not [k for k in again if k[0] == "Run"]  # the S3 outputs still match: all cached
    # The input object changed: everything downstream of it runs again.
    assert new_input[("Run", "s3wf.count_words")] == 1 and new_input[("Run", "s3wf.write_report")] == 1
    assert new_input[("Run", "redun.script_task")] == 1
    # An output object changed behind redun's back: only its producer runs again.
    assert tampered[("Run", "s3wf.write_report")] == 1 and tampered[("Cached", "s3wf.count_words")] == 1
    assert ("Run", "redun.script_task") not in tampered
    assert report == b"words: 2\n" and shouted == b"FOUR FIVE"


@pytest.mark.s3
def test_failing_script_reports_stderr(tmp_path, seaweed):  # noqa: F811
    (tmp_path / "wf.py").write_text(S3_WF)
    p = redun(OURS, str(tmp_path), seaweed, "run", "wf.py", "fail", "--prefix", f"s3://{BUCKET}/x")
    assert p.returncode == 1
    assert "redun.scripting.ScriptError: Last line: + exit 3" in p.stderr  # set -x traces last


@pytest.mark.upstream
@pytest.mark.slow
@pytest.mark.s3
def test_s3_workflow_counts_match_upstream(tmp_path, seaweed):  # noqa: F811
    ours = scenario(OURS, str(tmp_path / "ours"), seaweed)
    theirs = scenario([UPSTREAM_REDUN], str(tmp_path / "upstream"), seaweed)
    assert ours == theirs


HTTP_WF = textwrap.dedent('''
    from typing import List
    from redun import File, task

    redun_namespace = "httpwf"

    @task()
    def fetch(page: File, dest: str) -> File:
        return page.copy_to(File(dest))

    @task()
    def count(files: List[File]) -> int:
        return sum(len(f.read().split()) for f in files)

    @task()
    def main(urls: List[str], out: str = "pages") -> int:
        return count([fetch(File(u), "%s/%d.html" % (out, i)) for i, u in enumerate(urls)])
''')


def http_scenario(cmd, workdir, base, root) -> list:
    """main over two pages: fresh, unchanged, one page changed on the server."""
    os.makedirs(workdir)
    with open(os.path.join(workdir, "wf.py"), "w") as f:
        f.write(HTTP_WF)
    (root / "p1.html").write_text("one two three")
    (root / "p2.html").write_text("four five")
    runs = []
    for step in range(3):
        if step == 2:
            (root / "p2.html").write_text("four five six seven")
        p = redun(cmd, workdir, None, "run", "wf.py", "main", "--urls",
                  f"{base}/p1.html", f"{base}/p2.html")
        assert p.returncode == 0, p.stderr
        runs.append((counts(p.stderr), p.stdout.strip()))
    return runs


@pytest.mark.slow
def test_http_workflow_counts_match_upstream(tmp_path, http_server):  # noqa: F811
    base, root = http_server
    ours = http_scenario(OURS, str(tmp_path / "ours"), base, root)
    assert [out for _, out in ours] == ["5", "5", "7"]
    assert ours[2][0][("Run", "httpwf.fetch")] == 1  # only the changed page is fetched again
    theirs = http_scenario([UPSTREAM_REDUN], str(tmp_path / "upstream"), base, root)
    assert ours == theirs
