"""The CLI boundary: exit codes, messages without tracebacks, closed pipes."""

import os
import subprocess
import sys

import pytest

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "upstream-compile-2runs.jsonl")


def redun(*args, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "redun", *args], cwd=cwd, capture_output=True, text=True, **kw)


@pytest.fixture
def repo_with_history(tmp_path):
    assert redun("init", cwd=tmp_path).returncode == 0
    res = redun("import", "-f", FIXTURE, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    return tmp_path


@pytest.mark.parametrize("args", [["log"], ["log", "-"], ["export"], ["db", "info"], ["--help"]])
def test_closed_pipe_exits_quietly(repo_with_history, args):
    read_fd, write_fd = os.pipe()
    os.close(read_fd)  # the reader is gone before the first write: EPIPE guaranteed
    proc = subprocess.run(
        [sys.executable, "-m", "redun", *args], cwd=repo_with_history, stdout=write_fd, stderr=subprocess.PIPE
    )
    os.close(write_fd)
    assert proc.returncode == 0
    assert proc.stderr == b""


def test_user_mistakes_are_messages_not_tracebacks(tmp_path):
    res = redun("log", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stderr.startswith("redun: error: No redun repository")
    assert "Traceback" not in res.stderr
    res = redun("push", "nowhere", cwd=tmp_path)
    assert res.returncode == 1 and "Unknown repository: nowhere" in res.stderr


def test_unknown_command_and_option_are_usage_errors(tmp_path):
    res = redun("nosuch", cwd=tmp_path)
    assert res.returncode == 2 and "No such command 'nosuch'" in res.stderr
    res = redun("log", "--nosuch", cwd=tmp_path)
    assert res.returncode == 2 and "No such option" in res.stderr


def test_every_command_has_help(tmp_path):
    from redun.cli import COMMANDS

    for name in COMMANDS:
        res = redun(name, "--help", cwd=tmp_path)
        assert res.returncode == 0, (name, res.stderr)
        assert res.stdout.startswith(f"Usage: redun {name}"), name


def test_version(tmp_path):
    res = redun("--version", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == "0.44.1"
