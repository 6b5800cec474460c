"""Scripts that run a `redun` command in their own process after arranging a SIGKILL of
themselves at one step of the code under test: a real kill -9 at an exact point, with no
hook in that code.

    python -c SCRIPT POINT K REDUN_ARGS...

POINT names the step, K: the K-th time it is reached. kill_script(patches) builds one:
`patches` wraps the step named by `point` so that it calls boom() once it is done.
GROUP_INSTALL_KILLER kills a pack group install (objects/packgroup.py) at POINT "stage"
(after staging a pack's index), "journal" (after the journal is written) or "install"
(after a staged pack is renamed into place).
"""

_PRELUDE = r"""
import os, runpy, signal, sys
point, k = sys.argv[1], int(sys.argv[2])
seen = [0]

def boom():
    seen[0] += 1
    if seen[0] == k:
        os.kill(os.getpid(), signal.SIGKILL)
"""

_RUN_REDUN = r"""
sys.argv = ["redun", *sys.argv[3:]]
runpy.run_module("redun", run_name="__main__")
"""


def kill_script(patches: str) -> str:
    return _PRELUDE + patches + _RUN_REDUN


GROUP_INSTALL_KILLER = kill_script(r"""
from redun.objects import packgroup

if point == "stage":
    stage = packgroup.PackGroup._stage_index
    def staged(self, *a):
        stage(self, *a)
        boom()
    packgroup.PackGroup._stage_index = staged
elif point == "journal":
    rename = os.rename
    def renamed(a, b):
        rename(a, b)
        if str(b).endswith(".journal"):
            boom()
    os.rename = renamed
elif point == "install":
    replace = os.replace
    def replaced(a, b):
        replace(a, b)
        if "tmp-discard-" in str(a) and "/pack-" in str(b):
            boom()
    os.replace = replaced
""")


# `redun pull` from an untrusted source, its staged packs checked in worker processes
# (sync/checkpool.py, forced whatever the size), killed after the K-th pack is handed to a
# worker; the workers' pids go to the file named by $REDUN_TEST_WORKER_PIDS.
CHECK_POOL_KILLER = kill_script(r"""
from redun.sync import checkpool

checkpool.workers_for = lambda entries: 2
submit = checkpool.CheckPool.submit
def submitted(self, *a):
    submit(self, *a)
    with open(os.environ["REDUN_TEST_WORKER_PIDS"], "w") as f:
        f.write(" ".join(str(pid) for pid in self._pool._processes))
    if point == "submit":
        boom()
checkpool.CheckPool.submit = submitted
""")
