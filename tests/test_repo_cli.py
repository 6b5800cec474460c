"""`redun repo add/list/remove` and `--repo NAME`, against upstream's messages."""

import os
import subprocess
import sys

import pytest

from click.testing import CliRunner

from conftest_s3 import make_exec
from redun.cli.group import cli
from redun.cli.repos import remove_section
from redun.repo.repository import Repo


def invoke(root, *args):
    return CliRunner().invoke(cli, ["-c", root, *args])


def setup(tmp_path):
    local = Repo.init(str(tmp_path / ".redun"))
    other = Repo.init(str(tmp_path / "redun2"))
    return local.root, other.root


def test_add_list_like_upstream(tmp_path):
    root, other = setup(tmp_path)
    r = invoke(root, "repo", "list")
    assert r.output == f"Repositories:\n  default: {root}\n"
    r = invoke(root, "repo", "add", "other", other)
    assert r.exit_code == 0 and r.output == ""
    with open(os.path.join(root, "redun.ini")) as f:
        assert f.read().endswith(f"\n\n[repos.other]\nconfig_dir = {other}\n")
    r = invoke(root, "repo", "list")
    assert r.output == f"Repositories:\n  default: {root}\n  other: {other}\n"


def test_add_refusals(tmp_path):
    root, other = setup(tmp_path)
    invoke(root, "repo", "add", "fresh", other)
    r = invoke(root, "repo", "add", "fresh", other)
    assert r.exit_code != 0 and str(r.exception) == "Repository 'fresh' already configured"
    r = invoke(root, "repo", "add", "default", other)
    assert str(r.exception) == "Repositories may not be named 'default'"
    r = invoke(root, "repo", "add", "alias", other)
    assert r.exit_code == 0 and r.output == f"Existing repository 'fresh' also uses config at {other}\n"
    r = invoke(root, "repo", "add", "nowhere", str(tmp_path / "does-not-exist"))
    assert r.exit_code != 0 and "redun.ini not found" in str(r.exception)
    r = invoke(root, "repo", "add", "bad/name", other)
    assert r.exit_code != 0
    r = invoke(root, "repo", "add", "s3", "s3://bucket/prefix")
    assert r.exit_code == 0
    assert "  s3: s3://bucket/prefix\n" in invoke(root, "repo", "list").output


def test_remove_really_removes(tmp_path):
    root, other = setup(tmp_path)
    ini = os.path.join(root, "redun.ini")
    with open(ini, "a") as f:
        f.write("\n# my favourite remote\n[repos.keep]\nconfig_dir = /somewhere\n")
    invoke(root, "repo", "add", "gone", other)
    before = open(ini).read()
    r = invoke(root, "repo", "remove", "gone")
    assert r.exit_code == 0 and "Removed repository 'gone'" in r.output
    after = open(ini).read()
    assert "[repos.gone]" not in after and "# my favourite remote\n[repos.keep]" in after
    assert after == before.replace(f"\n[repos.gone]\nconfig_dir = {other}\n", "")
    r = invoke(root, "repo", "remove", "gone")
    assert str(r.exception) == "Repository 'gone' is not in the config"
    r = invoke(root, "repo", "remove", "keep")
    assert r.exit_code == 0 and "repos.keep" not in open(ini).read()


def test_remove_section_keeps_comments_of_others():
    text = "[a]\nx = 1\n\n[repos.r]\nconfig_dir = /p\n\n# about b\n[b]\ny = 2\n"
    assert remove_section(text, "repos.r") == "[a]\nx = 1\n\n# about b\n[b]\ny = 2\n"
    assert remove_section(text, "repos.none") is None


def test_repo_option_selects_repo(tmp_path):
    root, other = setup(tmp_path)
    invoke(root, "repo", "add", "other", other)
    name, _ = make_exec(Repo.open(other), 1)
    r = invoke(root, "--repo", "other", "push", "default")
    assert r.exit_code == 0 and r.output.strip() == "Pushed 9 record(s) to repo 'default'"
    assert Repo.open(root).refs.get(name) is not None
    r = invoke(root, "--repo", "nope", "push", "default")
    assert r.exit_code != 0 and "Unknown repository: nope" in str(r.exception)


@pytest.mark.slow
def test_errors_go_to_stderr_without_traceback(tmp_path):
    root, other = setup(tmp_path)
    env = dict(os.environ, REDUN_CONFIG=root)
    cmd = [sys.executable, "-m", "redun", "repo"]
    subprocess.run(cmd + ["add", "x", other], env=env, check=True)
    out = subprocess.run(cmd + ["add", "x", other], env=env, capture_output=True, text=True)
    assert out.returncode == 1 and out.stderr == "redun: error: Repository 'x' already configured\n"
    out = subprocess.run(cmd + ["--help"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "add" in out.stdout and "remove" in out.stdout


def test_push_initializes_a_config_dir_but_not_a_missing_dir(tmp_path):
    root, _ = setup(tmp_path)
    make_exec(Repo.open(root), 1)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "redun.ini").write_text("[backend]\n")
    assert invoke(root, "repo", "add", "bare", str(bare)).exit_code == 0
    r = invoke(root, "push", "bare")
    assert r.exit_code == 0 and r.output.startswith("Pushed 9 record(s)")
    assert (bare / "FORMAT").exists()
    import shutil

    shutil.rmtree(bare)
    r = invoke(root, "push", "bare")
    assert r.exit_code != 0 and "redun init" in str(r.exception) and not bare.exists()
