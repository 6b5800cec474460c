"""Repository FORMAT: created by init, checked on open, unknown major refused with advice."""

import os
import subprocess
import sys

import pytest

from redun.errors import NotFoundError, RepoFormatError
from redun.repo.repository import FORMAT_MAJOR, FORMAT_MINOR, Repo, read_format


def test_init_writes_format_and_layout(tmp_path):
    root = tmp_path / ".redun"
    repo = Repo.init(str(root))
    assert (root / "FORMAT").read_text() == f"redun-repo {FORMAT_MAJOR}.{FORMAT_MINOR}\n"
    for sub in ("objects", "packs", "refs"):
        assert (root / sub).is_dir()
    assert read_format(str(root)) == (FORMAT_MAJOR, FORMAT_MINOR)
    repo.close()


def test_init_is_idempotent(tmp_path):
    root = str(tmp_path / ".redun")
    Repo.init(root).refs.set("execs/a", b"\x01" * 32)
    again = Repo.init(root)
    assert again.refs.get("execs/a") == b"\x01" * 32


def test_unknown_major_is_refused_with_advice(tmp_path):
    root = tmp_path / ".redun"
    Repo.init(str(root))
    (root / "FORMAT").write_text(f"redun-repo {FORMAT_MAJOR + 1}.0\n")
    with pytest.raises(RepoFormatError) as e:
        Repo.open(str(root))
    msg = str(e.value)
    assert f"{FORMAT_MAJOR + 1}.0" in msg and str(root) in msg
    assert "Use a redun release" in msg


def test_newer_minor_is_accepted(tmp_path):
    root = tmp_path / ".redun"
    Repo.init(str(root))
    (root / "FORMAT").write_text(f"redun-repo {FORMAT_MAJOR}.{FORMAT_MINOR + 7}\n")
    Repo.open(str(root)).close()


@pytest.mark.parametrize("text", ["", "git 1.0", "redun-repo one.two", "redun-repo 1", "redun-repo 1.0 extra"])
def test_garbled_format_file(tmp_path, text):
    root = tmp_path / ".redun"
    Repo.init(str(root))
    (root / "FORMAT").write_text(text)
    with pytest.raises(RepoFormatError, match="FORMAT"):
        Repo.open(str(root))


def test_missing_repo_says_init(tmp_path):
    with pytest.raises(NotFoundError, match="redun init"):
        Repo.open(str(tmp_path / "nothing"))


def test_upstream_database_is_explained(tmp_path):
    root = tmp_path / ".redun"
    root.mkdir()
    (root / "redun.db").write_bytes(b"SQLite format 3\x00")
    with pytest.raises(RepoFormatError, match="redun db import-upstream"):
        Repo.open(str(root))


@pytest.mark.slow
def test_cli_refuses_unknown_major(tmp_path):
    root = tmp_path / ".redun"
    Repo.init(str(root))
    (root / "FORMAT").write_text("redun-repo 9.1\n")
    p = subprocess.run([sys.executable, "-m", "redun", "-c", str(root), "fsck"], capture_output=True, text=True,
                       env={**os.environ, "REDUN_CONFIG": str(root)})
    assert p.returncode == 1
    assert "9.1" in p.stderr and "Traceback" not in p.stderr
