"""Run a process under a memory cap and measure its peak RSS (issue 12's "no memory bombs").

`run_capped` starts argv with RLIMIT_AS set (a safety net: a bomb fails inside the
child instead of swapping the machine) and reads the child's own peak RSS from
os.wait4's rusage. Tests assert `peak_mb` stays below BUDGET_MB plus whatever data
the command was asked to hold.
"""

import os
import resource
import subprocess
import sys
import tempfile
import threading

AS_CAP_MB = 1536  # address space: python + imports + blake3/sqlite threads reserve ~250 MB
BUDGET_MB = 200  # issue 12: no input may push a command this far beyond the data it holds
BASE_MB = 60  # peak RSS of an idle `python -m redun log` is ~20-40 MB


class Result:
    def __init__(self, returncode, stdout, stderr, peak_mb):
        self.returncode, self.stdout, self.stderr, self.peak_mb = returncode, stdout, stderr, peak_mb

    def __repr__(self):
        return (f"Result(rc={self.returncode}, peak={self.peak_mb:.0f} MB, "
                f"stdout={self.stdout[-500:]!r}, stderr={self.stderr[-1500:]!r})")


def run_capped(argv, cap_mb: int = AS_CAP_MB, timeout: float = 120, cwd=None, env=None, stdin=None) -> Result:
    cap = cap_mb << 20

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=stdin or subprocess.DEVNULL,
                             preexec_fn=limit, cwd=cwd, env=env)
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Result(p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                      usage.ru_maxrss / 1024)


def redun_capped(root: str, *args, **kw) -> Result:
    """`python -m redun -c ROOT ARGS...` under the cap."""
    return run_capped([sys.executable, "-m", "redun", "-c", root, *args], **kw)


def python_capped(code: str, *args, **kw) -> Result:
    return run_capped([sys.executable, "-c", code, *args], **kw)


def assert_bounded(res: Result, holds_mb: float = 0) -> None:
    assert res.peak_mb < BASE_MB + BUDGET_MB + holds_mb, res
    assert res.returncode >= 0, res  # not killed by a signal (segfault, timeout)
