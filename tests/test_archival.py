"""Archival: `cp -r .redun` while runs write gives a repository that fsck finds clean."""

import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from gcfixtures import exec_ref, write_execution
from redun.repo.settle import is_copy
from redun.objects import codec
from redun.objects.records import Execution
from redun.repo.repository import Repo

# Follows the engine's protocol (redun/engine/recorder.py): preliminary execution record
# loose + ref, the run's records through one PackWriter, commit, then CAS the ref.
WRITER = textwrap.dedent('''
    import os, sys, time, uuid
    sys.path.insert(0, {tests!r})
    from gcfixtures import exec_ref, write_execution
    from redun.objects import codec
    from redun.objects.records import Execution
    from redun.repo.repository import Repo

    repo = Repo.open({root!r})
    deadline = time.time() + {seconds}
    n = 0
    while time.time() < deadline:
        eid = uuid.uuid4().bytes
        prelim = repo.store.put(Execution(eid, "[]", None, 1, None, {{}}))
        repo.refs.set(exec_ref(eid), prelim, expected=None)
        with repo.store.pack_writer() as w:
            for i in range(20):
                write_execution(w, f"{{n}}-{{i}}", os.urandom(3000 if i % 5 else 70_000), exec_id=eid)
                time.sleep(0.002)
            run = write_execution(w, f"{{n}}-root", exec_id=eid)
        repo.refs.set(exec_ref(eid), run["exec"], expected=prelim)
        n += 1
    print(n)
''')


def _fsck(root):
    return subprocess.run([sys.executable, "-m", "redun", "-c", root, "fsck"], capture_output=True, text=True)


@pytest.mark.slow
def test_cp_r_while_a_run_writes_is_fsck_clean(tmp_path):
    src = str(tmp_path / "src" / ".redun")
    Repo.init(src).close()
    tests = os.path.dirname(os.path.abspath(__file__))
    code = WRITER.format(tests=tests, root=src, seconds=4)
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    copies = []
    try:
        time.sleep(0.5)
        for k in range(8):
            dst = str(tmp_path / f"copy{k}" / ".redun")
            os.makedirs(os.path.dirname(dst))
            subprocess.run(["cp", "-r", src, dst])  # may warn about files renamed mid-copy
            copies.append(dst)
            time.sleep(0.3)
    finally:
        out, _ = writer.communicate(timeout=60)
    assert writer.returncode == 0 and int(out) > 0
    for dst in copies:
        assert is_copy(dst)
        result = _fsck(dst)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "OK" in result.stdout
        assert not is_copy(dst)  # settled once
    assert _fsck(src).returncode == 0


@pytest.mark.slow
def test_refs_newer_than_the_packs_are_rolled_back(tmp_path):
    """Deterministic version of the race: packs/ copied, then the run finishes,
    then refs/ copied (GNU cp's inode order on ext4)."""
    src = str(tmp_path / "src" / ".redun")
    repo = Repo.init(src)
    eid = uuid.uuid4().bytes
    prelim = repo.store.put(Execution(eid, "[]", None, 1, None, {}))
    repo.refs.set(exec_ref(eid), prelim, expected=None)
    w = repo.store.pack_writer()
    run = write_execution(w, "half", exec_id=eid, final=False)  # jobs so far, not the final record
    dst = str(tmp_path / "copy" / ".redun")
    os.makedirs(dst)
    for name in ("FORMAT", "redun.ini", "ORIGIN"):
        shutil.copy(os.path.join(src, name), dst)
    shutil.copytree(os.path.join(src, "objects"), os.path.join(dst, "objects"))
    shutil.copytree(os.path.join(src, "packs"), os.path.join(dst, "packs"))  # tmp pack, mid-run
    final = w.add(codec.encode(Execution(eid, "[]", run["job"], 1, 2, {})))
    w.commit()
    repo.refs.set(exec_ref(eid), final, expected=prelim)
    late = uuid.uuid4().bytes  # a run that started after packs/ and objects/ were copied
    with repo.store.pack_writer() as w2:
        other = write_execution(w2, "late", exec_id=late)
    repo.refs.set(exec_ref(late), other["exec"])
    shutil.copytree(os.path.join(src, "refs"), os.path.join(dst, "refs"))
    repo.close()

    result = _fsck(dst)
    assert result.returncode == 0, result.stdout + result.stderr
    copy = Repo.open(dst)
    assert copy.refs.get(exec_ref(eid)) == prelim  # reads as a run still going
    assert copy.refs.get(exec_ref(late)) is None
    assert copy.store.has(run["job"])  # the finished job was salvaged from the tmp pack
    assert codec.decode(copy.store.get_bytes(prelim)).job is None
    copy.close()


def test_settling_a_consistent_repo_changes_nothing(tmp_path):
    src = str(tmp_path / "src" / ".redun")
    repo = Repo.init(src)
    with repo.store.pack_writer() as w:
        run = write_execution(w, "done")
    repo.refs.set(exec_ref(run["exec_id"]), run["exec"])
    repo.close()
    dst = str(tmp_path / "moved" / ".redun")
    shutil.copytree(src, dst)
    copy = Repo.open(dst)
    assert dict(copy.refs.list()) == {exec_ref(run["exec_id"]): run["exec"]}
    copy.close()


ENGINE_WORKFLOW = textwrap.dedent('''
    import time
    from redun import task

    redun_namespace = "archival"

    @task()
    def step(i: int, seed: int) -> str:
        time.sleep(0.005)
        return ("x" * 2000) + str(i * seed)

    @task()
    def main(seed: int = 0) -> list:
        return [step(i, seed) for i in range(60)]
''')


@pytest.mark.slow
def test_cp_r_while_the_engine_runs_is_fsck_clean(tmp_path):
    work = tmp_path / "wf"
    work.mkdir()
    (work / "wf.py").write_text(ENGINE_WORKFLOW)
    src = str(work / ".redun")
    Repo.init(src).close()
    loop = "; ".join(f"{sys.executable} -m redun -c {src} run wf.py main --seed {k} >/dev/null 2>&1" for k in range(1, 7))
    runs = subprocess.Popen(["bash", "-c", loop], cwd=str(work))
    copies = []
    try:
        for k in range(6):
            time.sleep(0.4)
            dst = str(tmp_path / f"copy{k}" / ".redun")
            os.makedirs(os.path.dirname(dst))
            subprocess.run(["cp", "-r", src, dst], stderr=subprocess.DEVNULL)
            copies.append(dst)
    finally:
        runs.wait(timeout=120)
    for dst in copies:
        result = _fsck(dst)
        assert result.returncode == 0, result.stdout + result.stderr
        log = subprocess.run([sys.executable, "-m", "redun", "-c", dst, "log"], capture_output=True, text=True)
        assert log.returncode == 0, log.stderr
    assert _fsck(src).returncode == 0
    assert len(list(Repo.open(src).refs.list("execs/"))) == 6
