"""The task option allowed_cache_results (upstream 0.44.1): which kinds of cache hit a job
may take (CSE: this execution; SINGLE: the evaluation cache; ULTIMATE: a final result under
check_valid="shallow"). It used to be accepted and ignored."""

import os
import re
import subprocess
import sys

import pytest
from conftest import UPSTREAM_REDUN

from redun import Scheduler, task
from redun.engine.runlog import RunLog
from redun.repo.repository import Repo
from redun.task import CacheResult

WORKFLOW = '''
from redun import task
from redun.task import CacheResult

redun_namespace = "acr"


@task(allowed_cache_results={CacheResult.CSE})
def cse_only(x: int) -> int:
    return x + 1


@task(allowed_cache_results={CacheResult.SINGLE})
def single_only(x: int) -> int:
    return x + 2


@task(allowed_cache_results=set())
def never(x: int) -> int:
    return x + 3


@task(check_valid="shallow", allowed_cache_results={CacheResult.ULTIMATE})
def ultimate_only(x: int) -> int:
    return x + 4


@task()
def main(x: int = 1) -> list:
    return [cse_only(x), cse_only(x), single_only(x), never(x), never(x), ultimate_only(x)]
'''

# What upstream 0.44.1 prints for two runs of WORKFLOW (checked side by side below).
EXPECTED = [
    ["Run acr.main", "Run acr.cse_only", "Run acr.single_only", "Run acr.never", "Run acr.ultimate_only"],
    ["Cached acr.main", "Run acr.cse_only", "Cached acr.single_only", "Run acr.never", "Cached acr.ultimate_only"],
]


def _actions(stderr: str) -> list:
    return [f"{a} {t}" for a, t in re.findall(r"^\[redun\] (Run|Cached|Miss) +Job [0-9a-f]+: +([\w.]+)\(", stderr, re.M)]


class _Lines:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_each_kind_of_hit_is_taken_only_when_allowed(tmp_path, monkeypatch):
    (tmp_path / "acr_wf.py").write_text(WORKFLOW)  # a module: tasks hash their source
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace = __import__("acr_wf").__dict__
    root = str(tmp_path / ".redun")
    for expected in EXPECTED:
        out = _Lines()
        s = Scheduler(repo=Repo.open(root, create=True), log=RunLog(stream=out))
        assert s.run(namespace["main"](1)) == [2, 2, 3, 4, 4, 5]
        assert _actions(out.text) == expected


def _bad() -> int:
    return 1


def test_a_wrong_value_is_refused_at_definition():
    with pytest.raises(ValueError, match="allowed_cache_results must be a set of CacheResult"):
        task(namespace="acr_bad", allowed_cache_results=[CacheResult.CSE])(_bad)
    with pytest.raises(ValueError, match="allowed_cache_results must be a set"):
        task(namespace="acr_bad", allowed_cache_results={"EVERYTHING"})(_bad)


@pytest.mark.slow
@pytest.mark.upstream
@pytest.mark.skipif(not os.path.exists(UPSTREAM_REDUN), reason="upstream redun 0.44.1 not installed")
def test_same_hits_as_upstream(tmp_path):
    for who, cmd in (("up", [UPSTREAM_REDUN]), ("ours", [sys.executable, "-m", "redun"])):
        d = tmp_path / who
        d.mkdir()
        (d / "wf.py").write_text(WORKFLOW)
        for expected in EXPECTED:
            p = subprocess.run(cmd + ["run", "wf.py", "main"], cwd=d, capture_output=True, text=True, timeout=300,
                               env=dict(os.environ, REDUN_CONFIG=str(d / ".redun")))
            assert p.returncode == 0, p.stderr
            assert _actions(p.stderr) == expected, (who, p.stderr)
