"""Upstream's git execution tags (git_commit, git_origin_url) come from `git`, started only
where git could find a repository (redun/cli/run.py)."""

import shutil
import subprocess

import pytest

from redun.cli.run import default_tags


def test_no_git_tags_and_no_git_process_outside_a_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("REDUN_GIT_COMMIT", raising=False)
    monkeypatch.delenv("REDUN_GIT_ORIGIN_URL", raising=False)
    keys = [k for k, _ in default_tags("me", None, None)]
    assert "git_commit" not in keys and "git_origin_url" not in keys  # (the fast loop refuses a subprocess)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_tags_inside_a_repository(tmp_path, monkeypatch):
    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "f").write_text("x")
    git("add", "f")
    git("commit", "-q", "-m", "one")
    git("remote", "add", "origin", "https://example.com/wf.git")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    monkeypatch.delenv("REDUN_GIT_COMMIT", raising=False)
    monkeypatch.delenv("REDUN_GIT_ORIGIN_URL", raising=False)
    tags = dict(default_tags("me", None, None))
    assert tags["git_commit"] == git("rev-parse", "HEAD")
    assert tags["git_origin_url"] == "https://example.com/wf.git"
