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


@pytest.mark.slow
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


@pytest.mark.slow
def test_user_mistakes_are_messages_not_tracebacks(tmp_path):
    res = redun("log", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stderr.startswith("redun: error: No redun repository")
    assert "Traceback" not in res.stderr
    res = redun("push", "nowhere", cwd=tmp_path)
    assert res.returncode == 1 and "Unknown repository: nowhere" in res.stderr


@pytest.mark.slow
def test_unknown_command_and_option_are_usage_errors(tmp_path):
    res = redun("nosuch", cwd=tmp_path)
    assert res.returncode == 2 and "No such command 'nosuch'" in res.stderr
    res = redun("log", "--nosuch", cwd=tmp_path)
    assert res.returncode == 2 and "No such option" in res.stderr


@pytest.mark.slow
def test_every_command_has_help(tmp_path):
    from redun.cli.group import COMMANDS

    for name in COMMANDS:
        res = redun(name, "--help", cwd=tmp_path)
        assert res.returncode == 0, (name, res.stderr)
        # click's "Usage:", or argparse's "usage:" for commands parsed as upstream does (run)
        assert res.stdout.lower().startswith(f"usage: redun {name}"), name


@pytest.mark.slow
def test_version(tmp_path):
    res = redun("--version", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == "0.44.1"


def _newest_exec_prefix(cwd) -> str:
    out = redun("log", cwd=cwd).stdout
    return next(line.split()[1] for line in out.splitlines() if line.startswith("Exec "))


@pytest.mark.slow
def test_plain_log_fast_path_prints_what_the_click_path_prints(repo_with_history):
    """`redun log [ID]` is served without click (redun/entry.py); the output and
    exit code must equal the click path's for the same arguments."""
    from click.testing import CliRunner

    from redun.cli.group import cli

    prefix = _newest_exec_prefix(repo_with_history)
    listings = (["--exec"], ["--job"], ["--call-node"], ["--task"], ["--value"], ["--file"])
    for ids in ([], ["-"], [prefix], ["compile"], ["ffffffff"], *listings):
        fast = redun("log", *ids, cwd=repo_with_history)
        old = os.getcwd()
        os.chdir(repo_with_history)
        try:
            slow = CliRunner().invoke(cli, ["log", *ids])
        finally:
            os.chdir(old)
        assert fast.returncode == slow.exit_code, ids
        assert fast.stdout == slow.stdout, ids
    config = os.path.join(repo_with_history, ".redun")
    for ids in ([], ["--value"], ["--job"]):  # -c DIR from elsewhere: the same
        fast = redun("-c", config, "log", *ids, cwd=os.path.dirname(repo_with_history))
        slow = CliRunner().invoke(cli, ["-c", config, "log", *ids])
        assert fast.returncode == slow.exit_code == 0 and fast.stdout == slow.stdout, ids


@pytest.mark.slow
def test_plain_log_does_not_import_click(repo_with_history):
    code = ("import sys; from redun.cli.entry import main\n"
            "try:\n    main(['log', '-'])\n    main(['-c', '.redun', 'log', '--value'])\n"
            "finally:\n    sys.stderr.write(str('click' in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], cwd=repo_with_history, capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("Exec ")
    assert res.stderr.endswith("False")


@pytest.mark.slow
def test_log_with_options_still_goes_through_click(repo_with_history):
    from redun.cli.entry import is_plain_log

    assert is_plain_log(["log"]) and is_plain_log(["log", "-"]) and is_plain_log(["log", "abc"])
    assert is_plain_log(["log", "--exec"]) and is_plain_log(["-c", "x", "log"]) and is_plain_log(["--config=x", "log"])
    assert is_plain_log(["-c", "x", "log", "--value"]) and is_plain_log(["--config", "x", "log", "a"])
    assert not is_plain_log(["log", "a", "b"]) and not is_plain_log(["run", "x"])
    assert not is_plain_log(["log", "--value", "--count"]) and not is_plain_log(["log", "--detail"])
    assert not is_plain_log(["-c", "x", "-r", "y", "log"]) and not is_plain_log(["-c", "--value", "log"])
    assert not is_plain_log(["log", "--value", "a"]) and not is_plain_log(["-c", "x"])
    res = redun("log", "--count", "--exec", cwd=repo_with_history)
    assert res.returncode == 0 and "Execution" in res.stdout
