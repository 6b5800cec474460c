"""kill -9 at random points of a push leaves the remote fsck-clean, and a retry completes."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest_s3 import closure_ok, make_exec  # noqa: F401
from redun.objects.fsck import fsck
from redun.repo.repository import Repo


def check_remote(root):
    repo = Repo.open(root)
    report = fsck(repo.store, repo.refs)
    assert report.ok, [str(p) for p in report.problems]
    for name, oid in repo.refs.list("execs/"):
        assert closure_ok(repo.store, oid)
    packs = os.listdir(os.path.join(root, "packs"))
    for f in packs:
        if f.startswith("pack-") and f.endswith(".idx"):
            assert f[:-4] + ".pack" in packs  # every listed pack has its data
    names = {n for n, _ in repo.refs.list("execs/")}
    repo.close()
    return names


def push_and_kill(cmd: list, env: dict, after: float) -> None:
    """Start a push and SIGKILL it `after` seconds in (or after it finished)."""
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(after)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()


@pytest.mark.slow
def test_kill9_during_push_then_retry(tmp_path):
    src = Repo.init(str(tmp_path / "a" / ".redun"))
    remote = Repo.init(str(tmp_path / "remote"))
    env = dict(os.environ, REDUN_CONFIG=src.root)
    cmd = [sys.executable, "-m", "redun"]
    subprocess.run(cmd + ["repo", "add", "r", remote.root], env=env, check=True)
    rnd = random.Random(int(os.environ.get("REDUN_TEST_SEED", "6")))
    names = set()
    for trial in range(4):
        names.add(make_exec(src, 1500)[0])
        push_and_kill(cmd + ["push", "r"], env, rnd.uniform(0.05, 0.6))
        assert check_remote(remote.root) <= names
    out = subprocess.run(cmd + ["push", "r"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert check_remote(remote.root) == names
    out = subprocess.run(cmd + ["push", "r"], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "Repo 'r' is up to date."


def test_kill9_during_s3_push_then_retry(tmp_path, seaweed):  # noqa: F811
    """Against a real S3 server: HEAD only ever names complete packs."""
    from conftest_s3 import seaweed_client, unique_url
    from redun.repo.remotes import repo_remote
    from redun.sync.s3remote import S3Remote
    from redun.sync.transfer import sync

    src = Repo.init(str(tmp_path / "a" / ".redun"))
    url = unique_url()
    env = dict(os.environ, REDUN_CONFIG=src.root, AWS_ENDPOINT_URL_S3=seaweed, AWS_ACCESS_KEY_ID="redun",
               AWS_SECRET_ACCESS_KEY="redun", AWS_DEFAULT_REGION="us-east-1")
    cmd = [sys.executable, "-m", "redun"]
    subprocess.run(cmd + ["repo", "add", "s3", url], env=env, check=True)
    rnd = random.Random(int(os.environ.get("REDUN_TEST_SEED", "6")))
    names = set()

    def check(expect_all=False):
        c = Repo.init(str(tmp_path / f"check{rnd.random()}"))
        with S3Remote(url, str(tmp_path / "cache-check"), client=seaweed_client(seaweed)) as remote:
            head = remote.read_head()
            sync(remote, repo_remote(c))  # verifies every object and every closure
        got = {n for n, _ in Repo.open(c.root).refs.list("execs/")}
        assert got == set(head.refs) and got <= names
        if expect_all:
            assert got == names

    for trial in range(3):
        names.add(make_exec(src, 800)[0])
        push_and_kill(cmd + ["push", "s3"], env, rnd.uniform(0.1, 0.8))
        check()
    out = subprocess.run(cmd + ["push", "s3"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    check(expect_all=True)
