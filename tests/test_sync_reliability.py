"""kill -9 at random points of a push leaves the remote fsck-clean, and a retry completes."""

import os
import random
import signal
import subprocess
import sys
import time

from conftest_s3 import closure_ok, make_exec
from redun.objects.fsck import fsck
from redun.repo import Repo


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
        p = subprocess.Popen(cmd + ["push", "r"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.05, 0.6))
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        assert check_remote(remote.root) <= names
    out = subprocess.run(cmd + ["push", "r"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert check_remote(remote.root) == names
    out = subprocess.run(cmd + ["push", "r"], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "Repo 'r' is up to date."
