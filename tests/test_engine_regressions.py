"""Bugs that gave wrong results silently (issue 13, item 9), each pinned against upstream's
behaviour (checked side by side with upstream 0.44.1: same Run/Cached/Miss lines)."""

import os

from redun import File, Scheduler, task
from redun.engine.runlog import RunLog
from redun.repo.repository import Repo


class Lines:
    def __init__(self):
        self.lines = []

    def write(self, text):
        self.lines.extend(x for x in text.splitlines() if x)

    def flush(self):
        pass


def _scheduler(root):
    out = Lines()
    return Scheduler(repo=Repo.open(root, create=True), log=RunLog(stream=out)), out


@task(namespace="regress")
def getd() -> dict:
    return {"k": 5}


@task(namespace="regress")
def lazy_getitem():
    return getd()["k"]


@task(namespace="regress")
def make_file(path: str) -> File:
    f = File(path)
    f.write("hi")
    return f


@task(namespace="regress")
def lazy_read(path: str):
    return make_file(path).read()


@task(namespace="regress", check_valid="shallow")
def shallow(path: str):
    return make_file(path)


def test_cached_lazy_expression_results_rerun_cached(tmp_path):
    """A task returning getd()["k"] or task().read(): the cached rerun used to crash with
    "Expressions cannot be coerced to bool" while validating the cached expression."""
    root = str(tmp_path / ".redun")
    path = str(tmp_path / "out.txt")
    for expr, expected in ((lazy_getitem(), 5), (lazy_read(path), "hi")):
        s, _ = _scheduler(root)
        assert s.run(expr) == expected
        s, out = _scheduler(root)
        assert s.run(expr) == expected
        assert all("Cached" in line for line in out.lines if " Job " in line), out.lines


def test_shallow_check_reruns_when_the_cached_file_is_gone(tmp_path):
    """check_valid="shallow" reused a File result after the file was deleted; upstream
    reruns the job (Miss ... Cached result is no longer valid)."""
    root = str(tmp_path / ".redun")
    path = str(tmp_path / "out.txt")
    s, _ = _scheduler(root)
    s.run(shallow(path))
    os.remove(path)
    s, out = _scheduler(root)
    result = s.run(shallow(path))
    assert os.path.exists(path) and result.read() == "hi"
    assert any(line.startswith("[redun] Miss ") and "no longer valid" in line for line in out.lines), out.lines
    assert any(line.startswith("[redun] Run ") and "regress.shallow(" in line for line in out.lines), out.lines
