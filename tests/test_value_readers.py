"""One way to read a value: with `[backend] value_store_path` set (relative,
absolute or s3://), every reader finds a large value's blobs there: the
engine's cache, `redun export`, `redun log --value --format json` and the
repl's `.value` / `value_parsed` (all through `repo.values.read`)."""

import base64
import json
import os
import pickle

import pytest
from click.testing import CliRunner
from conftest_s3 import unique_url  # noqa: F401

from redun import Scheduler, task
from redun.cli.group import cli
from redun.cli.repl import make_namespace
from redun.objects.records import Value
from redun.repo.repository import Repo
from redun.repo.valuestore import open_blob_store

N = 5000  # payload over value_store_min_size (1024): stored as Blob records


@task(namespace="value_readers")
def big(n: int) -> str:
    return "x" * n + "end"


@task(namespace="value_readers")
def main(n: int) -> str:
    return big(n)


def _repo_with_value_store(root: str, path: str) -> None:
    Repo.init(root).close()
    ini = os.path.join(root, "redun.ini")
    text = open(ini).read()
    assert "[backend]\n" in text
    with open(ini, "w") as f:
        f.write(text.replace("[backend]\n", f"[backend]\nvalue_store_path = {path}\n", 1))


def _upstream_lines(output: str, value_hash: str) -> list:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("_type") == "Value" and line.get("value_hash") == value_hash]


def _check_every_reader(root: str, external) -> None:
    expected = "x" * N + "end"
    repo = Repo.open(root)
    assert Scheduler(repo=repo, quiet=True).run(main(N)) == expected
    big_values = [r for _, r in repo.store.iter_records() if isinstance(r, Value) and r.blobs]
    assert big_values, "the result should be stored as blobs"
    for v in big_values:
        assert all(external.has(b) and not repo.store.has(b) for b in v.blobs)
    value_hash = big_values[0].hash.hex()

    # the engine: a cached rerun loads the result back from the value store
    again = Scheduler(repo=repo, quiet=True)
    assert again.run(main(N)) == expected and again.root_job.was_cached
    repo.close()

    # `redun export`
    res = CliRunner().invoke(cli, ["-c", root, "export"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    (line,) = _upstream_lines(res.output, value_hash)
    assert pickle.loads(base64.b64decode(line["data"])) == expected

    # `redun log --value --format json`
    res = CliRunner().invoke(cli, ["-c", root, "log", "--value", "--format", "json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    (line,) = _upstream_lines(res.output, value_hash)
    assert pickle.loads(base64.b64decode(line["data"])) == expected

    # the repl's views
    repo = Repo.open(root)
    ns = make_namespace(repo)
    value = ns["query"](value_hash[:12])
    assert value.value == expected and value.value_parsed == expected
    (job,) = [j for j in ns["last_exec"].jobs if j.task.name == "big"]
    assert job.call_node.value_parsed == expected
    repo.close()


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_every_reader_with_a_directory_value_store(tmp_path, where):
    root = str(tmp_path / "repo" / ".redun")
    path = "../vs" if where == "relative" else str(tmp_path / "elsewhere" / "vs")
    _repo_with_value_store(root, path)
    expected_dir = str(tmp_path / "repo" / "vs") if where == "relative" else path
    _check_every_reader(root, open_blob_store(expected_dir))


@pytest.mark.s3
def test_every_reader_with_an_s3_value_store(tmp_path, seaweed, monkeypatch):  # noqa: F811
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweed)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "redun")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "redun")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    root = str(tmp_path / "repo" / ".redun")
    url = unique_url()
    _repo_with_value_store(root, url)
    _check_every_reader(root, open_blob_store(url))
