"""A script that runs a `redun` command in its own process after arranging a SIGKILL of
itself at one step of a pack group install (objects/packgroup.py): a real kill -9 at an exact
point, with no hook in the code under test.

    python -c SCRIPT POINT K REDUN_ARGS...

POINT: "stage" (after staging a pack's index), "journal" (after the journal is written) or
"install" (after a staged pack is renamed into place); K: at the K-th time it is reached.
"""

GROUP_INSTALL_KILLER = r"""
import os, runpy, signal, sys
from redun.objects import packgroup
point, k = sys.argv[1], int(sys.argv[2])
seen = [0]

def boom():
    seen[0] += 1
    if seen[0] == k:
        os.kill(os.getpid(), signal.SIGKILL)

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
sys.argv = ["redun", *sys.argv[3:]]
runpy.run_module("redun", run_name="__main__")
"""
