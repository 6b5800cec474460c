"""The progress line (redun/cli/progress.py): drawn on a terminal, absent from a pipe.

The display is checked on a real pseudo-terminal (the `pty` module) both in
process and through every command that uses it, with stderr on the terminal;
the same commands with stderr on a pipe write nothing there.
"""

import os
import pty
import subprocess
import sys
import threading

import pytest

from conftest_s3 import make_exec
from redun.cli.progress import TerminalProgress, progress_on_stderr
from redun.objects.progress import NO_PROGRESS, Progress
from redun.repo.repository import Repo

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "upstream-export-compile.jsonl")


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _read_all(fd, out: list) -> None:
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: every writer of the terminal has closed it
            return
        if not data:
            return
        out.append(data)


def test_draws_on_a_terminal_and_erases_at_the_end():
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w")
    got: list = []
    with progress_on_stderr("fsck", stream=stream) as progress:
        assert isinstance(progress, TerminalProgress)
        progress.phase("checking objects", total=200)
        progress.advance(50)
        progress.clock = lambda: progress.last_draw + 1  # a redraw is due
        progress.advance(50)
        progress.phase("checking refs")
    stream.close()
    _read_all(master, got)
    os.close(master)
    text = b"".join(got).decode()
    assert "\rfsck: checking objects 0/200 objects (0%)" in text
    assert "\rfsck: checking objects 100/200 objects (50%)" in text
    assert "\rfsck: checking refs" in text
    assert text.endswith("\r" + " " * len("fsck: checking refs") + "\r")  # erased: the terminal is clean


def test_redraws_at_most_ten_times_a_second():
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w")
    clock = _Clock()
    display = TerminalProgress("push", stream, clock=clock)
    display.phase("copying objects")
    for _ in range(1000):
        display.advance(1)  # same instant: no redraw
    clock.now = 0.2
    display.update(5000)
    display.clear()
    stream.close()
    got: list = []
    _read_all(master, got)
    os.close(master)
    text = b"".join(got).decode()
    assert text.count("\r") == 3 + 1  # phase, update, clear (2 carriage returns)
    assert "push: copying objects 5,000 objects" in text


def test_a_long_line_is_cut_to_the_terminal_width():
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 30, 0, 0))
    stream = os.fdopen(slave, "w")
    display = TerminalProgress("reindex", stream)
    display.phase("indexing packs", total=12_000_000, unit="bytes")
    display.update(3_000_000)
    assert len(display.line()) > 29 and display.shown == 29
    assert display.line() == "reindex: indexing packs 3.0/12.0 MB (25%)"
    stream.close()
    os.close(master)


def test_nothing_at_all_on_a_pipe_or_when_quiet():
    r, w = os.pipe()
    stream = os.fdopen(w, "w")
    with progress_on_stderr("gc", stream=stream) as progress:
        assert progress is NO_PROGRESS
        progress.phase("marking from refs")
        progress.advance(10)
    master, slave = pty.openpty()
    tty = os.fdopen(slave, "w")
    with progress_on_stderr("gc", quiet=True, stream=tty) as progress:
        assert progress is NO_PROGRESS
    stream.close()
    tty.close()
    os.close(master)
    assert os.read(r, 100) == b""
    os.close(r)


def test_the_protocol_ignores_everything_by_default():
    p = Progress()
    p.phase("x", total=3, unit="lines")
    p.advance()
    p.update(2)


# -- through the commands -----------------------------------------------------------
def _repos(tmp_path):
    a = Repo.init(str(tmp_path / "a" / ".redun"))
    b = Repo.init(str(tmp_path / "b"))
    make_exec(a, 3)
    env = dict(os.environ, REDUN_CONFIG=a.root)
    subprocess.run([sys.executable, "-m", "redun", "repo", "add", "b", b.root], env=env, check=True)
    return a, b, env


COMMANDS = [  # (args, what the line says on a terminal)
    (["fsck"], "fsck: checking objects"),
    (["gc", "-n"], "gc: marking from refs"),
    (["db", "reindex"], "reindex: indexing packs"),
    (["push", "b"], "push: copying objects"),
    (["pull", "b"], "pull: copying objects"),
    (["import", "-q", "-f", FIXTURE], "import: reading lines"),
    (["export", "-f", "OUT"], "export: writing lines"),
]


def _cli(args, env, tmp_path, stderr):
    args = [str(tmp_path / "out.jsonl") if a == "OUT" else a for a in args]
    return subprocess.Popen([sys.executable, "-m", "redun", *args], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=stderr)


@pytest.mark.slow
def test_every_long_command_draws_on_a_terminal_stderr_and_nothing_on_a_pipe(tmp_path):
    a, b, env = _repos(tmp_path)
    make_exec(b, 2)  # something for pull to bring
    for args, expected in COMMANDS:
        master, slave = pty.openpty()
        proc = _cli(args, env, tmp_path, slave)
        os.close(slave)
        got: list = []
        reader = threading.Thread(target=_read_all, args=(master, got))
        reader.start()
        out, _ = proc.communicate(timeout=60)
        reader.join(timeout=60)
        os.close(master)
        shown = b"".join(got).decode()
        assert proc.returncode == 0, (args, shown)
        assert "\r" + expected in shown, (args, shown)
        assert shown.endswith("\r"), (args, shown)  # erased at the end
        assert b"\r" not in out  # stdout never gets the display

        piped = _cli(args, env, tmp_path, subprocess.PIPE)
        out, err = piped.communicate(timeout=60)
        assert piped.returncode == 0 and err == b"", (args, err)
