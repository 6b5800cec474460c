"""Issue 12, repository level: damaged copies never lock the user out, reads fall back to
intact copies, gc/fsck after a killed gc, index corruption, and the smaller items."""

import os
import shutil

import pytest

from conftest_s3 import make_exec
from memcap import redun_capped
from redun.objects.pack import PackIndex
from redun.repo.repository import Repo


def _pack_of(root, oid):
    """(pack path, offset, size) of the entry holding oid in repository ROOT."""
    for e in os.listdir(os.path.join(root, "packs")):
        if e.endswith(".idx"):
            idx = PackIndex.open(os.path.join(root, "packs", e))
            try:
                hit = idx.find(oid)
            finally:
                idx.close()
            if hit is not None:
                return os.path.join(root, "packs", e[:-4] + ".pack"), hit[0], hit[1]
    raise AssertionError(f"{oid.hex()} is in no pack")


def garble_entry(root, oid):
    """Overwrite the stored bytes of oid's pack entry (after its header) with garbage."""
    path, off, size = _pack_of(root, oid)
    with open(path, "r+b") as f:
        f.seek(off + 36 + 2)
        f.write(b"\xa5" * (size - 36 - 2))


@pytest.mark.slow
def test_damaged_copy_never_locks_the_user_out(tmp_path):
    """Item 4: a `cp -r` copy missing one pack, plus one corrupt Execution record: settle at
    open raised, so fsck, fsck --recover, log, db reindex and export all failed."""
    repo = Repo.init(str(tmp_path / "orig" / ".redun"))
    name_a, _ = make_exec(repo, 2)
    name_b, _ = make_exec(repo, 2)
    name_c, _ = make_exec(repo, 2)
    copy = str(tmp_path / "copy" / ".redun")
    shutil.copytree(repo.root, copy)  # another directory inode: settled on its first open
    pack_a = _pack_of(copy, repo.refs.get(name_a))[0]
    os.unlink(pack_a)
    os.unlink(pack_a[:-5] + ".idx")
    garble_entry(copy, repo.refs.get(name_b))
    res = redun_capped(copy, "fsck")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res
    assert repo.refs.get(name_b).hex() in res.stdout, res
    res = redun_capped(copy, "fsck", "--recover")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res
    res = redun_capped(copy, "log")
    assert res.returncode == 0, res
    assert name_c.split("/")[1][:8] in res.stdout, res
    res = redun_capped(copy, "db", "reindex")
    assert res.returncode == 0, res
    res = redun_capped(copy, "export")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res
    res = redun_capped(copy, "export", "--keep-going")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res
    assert name_c.split("/")[1] in res.stdout and "skipped" in res.stderr, res


@pytest.mark.slow
def test_one_bad_ref_does_not_stop_export_or_push_with_keep_going(tmp_path):
    """Item 11: one bad ref made all of export/push fail; --keep-going reports it and goes on."""
    repo = Repo.init(str(tmp_path / "r"))
    good, _ = make_exec(repo, 2)
    lost, lost_oids = make_exec(repo, 2)
    garbled, _ = make_exec(repo, 2)
    with open(os.path.join(repo.root, "refs", *garbled.split("/")), "w") as f:
        f.write("not an object id\n")
    garble_entry(repo.root, repo.refs.get(lost))  # its Execution record no longer decompresses
    dst = Repo.init(str(tmp_path / "dst"))
    assert redun_capped(repo.root, "repo", "add", "dst", dst.root).returncode == 0
    for args in (["export"], ["push", "dst"]):
        res = redun_capped(repo.root, *args)
        assert res.returncode == 1 and "Traceback" not in res.stderr, res
        assert "--keep-going" in res.stderr or args[0] == "export", res
    assert list(Repo.open(dst.root).refs.list()) == []  # nothing moved
    res = redun_capped(repo.root, "export", "--keep-going")
    assert res.returncode == 1, res
    assert good.split("/")[1] in res.stdout, res
    assert res.stderr.count("skipped") == 2, res
    res = redun_capped(repo.root, "push", "--keep-going", "dst")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res
    assert f"skipped Exec {garbled.split('/')[1][:8]}" in res.stderr, res
    assert f"skipped Exec {lost.split('/')[1][:8]}" in res.stderr, res
    assert [n for n, _ in Repo.open(dst.root).refs.list()] == [good]
    assert redun_capped(dst.root, "fsck").returncode == 0


@pytest.mark.slow
def test_reads_fall_back_to_an_intact_copy(tmp_path):
    """Item 6: one damaged pack broke reads of other executions whose objects have intact
    copies in other packs. Every execution shares the Task record: damage it in all packs
    but one, and every read still succeeds."""
    from redun.objects.records import Task
    from redun.objects import codec
    from redun.objects.ids import object_id

    repo = Repo.init(str(tmp_path / "r"))
    names = [make_exec(repo, 2)[0] for _ in range(4)]
    task = object_id(codec.encode(Task(b"\x01" * 20, "test", "leaf", "def leaf(): pass")))
    packs = [e for e in os.listdir(os.path.join(repo.root, "packs")) if e.endswith(".idx")]
    assert len(packs) == 4
    for e in sorted(packs)[:3]:
        idx = PackIndex.open(os.path.join(repo.root, "packs", e))
        off, size = idx.find(task)
        idx.close()
        with open(os.path.join(repo.root, "packs", e[:-4] + ".pack"), "r+b") as f:
            f.seek(off + 36 + 2)
            f.write(b"\xa5" * (size - 36 - 2))
    res = redun_capped(repo.root, "export")
    assert res.returncode == 0, res
    assert all(n.split("/")[1] in res.stdout for n in names), res
    fresh = Repo.open(repo.root)
    assert fresh.store.get(task).name == "leaf"
    res = redun_capped(repo.root, "fsck")
    assert res.returncode == 1 and res.stdout.count(task.hex()) == 3, res


def _two_pack_garbage(root):
    """An execution whose records are in pack A (old) and whose Task is only in pack B
    (newer: as after an earlier gc rewrite moved it). No ref names them: all garbage."""
    import time

    from redun.objects import codec
    from redun.objects.ids import new_uuid
    from redun.objects.records import CallNode, Execution, Job, Task, Value
    from redun.objects.valuecodec import encode_native

    repo = Repo.init(root)
    keep, _ = make_exec(repo, 1)  # something live, so the store is not empty
    t = Task(b"\x07" * 20, "ns", "lonely", "def lonely(): pass")
    with repo.store.pack_writer() as w:
        toid = w.add(codec.encode(t))
    w.commit()
    now = int(time.time() * 1e6)
    eid = new_uuid()
    with repo.store.pack_writer() as w:
        v = w.add(codec.encode(Value(b"\x01" * 20, "builtins.int", "native", encode_native(1))))
        cn = w.add(codec.encode(CallNode(b"\x02" * 20, t.hash, toid, "lonely", b"\x03" * 20, (), b"\x01" * 20, v,
                                         (), now)))
        j = w.add(codec.encode(Job(new_uuid(), eid, None, t.hash, toid, b"\x02" * 20, cn, b"\x04" * 20, v, now,
                                   now, False, "DONE", (), {})))
        w.add(codec.encode(Execution(eid, '["run"]', j, now, now, {})))
    w.commit()
    day = 86400
    for e in os.listdir(os.path.join(root, "packs")):
        if not e.endswith(".idx"):
            continue
        path = os.path.join(root, "packs", e)
        idx = PackIndex.open(path)
        holds_task = idx.find(toid) is not None
        holds_job = idx.find(j) is not None
        idx.close()
        age = 20 * day if holds_task and not holds_job else 30 * day
        st = time.time() - age
        os.utime(path, (st, st))
        os.utime(path[:-4] + ".pack", (st, st))
    return repo, keep, toid


KILL_AFTER_FIRST_UNIT = r"""
import os, signal, sys
real = os.unlink
def unlink(path, *a, **k):
    real(path, *a, **k)
    if str(path).endswith(".idx") or "/objects/" in str(path):
        os.kill(os.getpid(), signal.SIGKILL)  # killed right after gc removed its first unit
os.unlink = unlink
sys.argv = ["redun", "-c", sys.argv[1], "gc", "--grace", "1"]
from redun.cli.entry import main
main()
"""


@pytest.mark.slow
def test_gc_killed_mid_sweep_leaves_the_store_closed(tmp_path):
    """Item 7: after a gc killed mid-sweep, fsck reported false 'bad link' problems: gc removed
    a child's pack before its parent's. It now goes parents first, so any prefix of the sweep
    leaves every remaining object with everything it links to."""
    import subprocess
    import sys

    repo, keep, toid = _two_pack_garbage(str(tmp_path / "r"))
    p = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST_UNIT, repo.root], capture_output=True, text=True)
    assert p.returncode == -9, p.stderr
    res = redun_capped(repo.root, "fsck")
    assert res.returncode == 0, res
    assert "bad link" not in res.stdout, res
    res = redun_capped(repo.root, "gc", "--grace", "1")
    assert res.returncode == 0, res
    assert not Repo.open(repo.root).store.has(toid)
    assert redun_capped(repo.root, "fsck").returncode == 0


@pytest.mark.slow
def test_fsck_reports_unreachable_dangling_links_as_garbage(tmp_path):
    """Item 7, fsck's side: links that do not resolve from objects no ref reaches are garbage
    (a note, exit 0); the same from a reachable object is damage (exit 1)."""
    repo, keep, toid = _two_pack_garbage(str(tmp_path / "r"))
    path = _pack_of(repo.root, toid)[0]
    os.unlink(path[:-5] + ".idx")
    os.unlink(path)
    res = redun_capped(repo.root, "fsck")
    assert res.returncode == 0, res
    assert "garbage" in res.stdout and "unreachable" in res.stdout, res
    os.unlink(_pack_of(repo.root, repo.refs.get(keep))[0])  # now a reachable execution is damaged
    res = redun_capped(repo.root, "fsck")
    assert res.returncode == 1, res


KILL_AT_FIRST_FSYNC = r"""
import os, signal, sys
def fsync(fd):
    os.kill(os.getpid(), signal.SIGKILL)  # killed with its tmp pack written, not installed
os.fsync = fsync
sys.argv = ["redun", "-c", sys.argv[1], "push", sys.argv[2]]
from redun.cli.entry import main
main()
"""


def _tmp_packs(d):
    return [e for e in os.listdir(d) if e.startswith("tmp-") and e.endswith(".pack")]


@pytest.mark.slow
def test_killed_push_leaves_no_tmp_pack_on_a_directory_remote(tmp_path):
    """Item 11: a leftover tmp-*.pack stayed on a remote after a killed push."""
    import subprocess
    import sys

    src = Repo.init(str(tmp_path / "src"))
    dst = Repo.init(str(tmp_path / "dst"))
    name, _ = make_exec(src, 3)
    assert redun_capped(src.root, "repo", "add", "dst", dst.root).returncode == 0
    p = subprocess.run([sys.executable, "-c", KILL_AT_FIRST_FSYNC, src.root, "dst"], capture_output=True)
    assert p.returncode == -9
    assert len(_tmp_packs(os.path.join(dst.root, "packs"))) == 1
    make_exec(src, 1)
    res = redun_capped(src.root, "push", "dst")
    assert res.returncode == 0, res
    assert _tmp_packs(os.path.join(dst.root, "packs")) == []
    assert redun_capped(dst.root, "fsck").returncode == 0
    assert name in dict(Repo.open(dst.root).refs.list())


@pytest.mark.slow
def test_index_corruption_is_found_and_repaired_by_fsck(tmp_path):
    """Item 10: one-bit flips in the index made `redun log` print wrong things with exit 0.
    fsck compares the index with the objects and rebuilds it on a mismatch."""
    repo = Repo.init(str(tmp_path / "r"))
    name, _ = make_exec(repo, 3)
    good = redun_capped(repo.root, "log", "--all")
    assert good.returncode == 0 and "DONE" in good.stdout, good
    path = os.path.join(repo.root, "index.sqlite3")
    assert not os.path.exists(path + "-wal") or os.path.getsize(path + "-wal") == 0
    with open(path, "r+b") as f:
        data = f.read()
        at = data.index(b"DONE")
        f.seek(at)
        f.write(b"E")  # 'D' 0x44 -> 'E' 0x45: one bit
    bad = redun_capped(repo.root, "log", "--all")
    assert bad.stdout != good.stdout  # the index lies, silently
    res = redun_capped(repo.root, "fsck")
    assert res.returncode == 0, res
    assert "index" in res.stdout and "rebuilt" in res.stdout, res
    assert redun_capped(repo.root, "log", "--all").stdout == good.stdout
    res = redun_capped(repo.root, "fsck")
    assert res.returncode == 0 and "rebuilt" not in res.stdout, res


@pytest.mark.slow
def test_structurally_corrupt_index_is_rebuilt_by_fsck(tmp_path):
    repo = Repo.init(str(tmp_path / "r"))
    make_exec(repo, 3)
    good = redun_capped(repo.root, "log", "--all")
    path = os.path.join(repo.root, "index.sqlite3")
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        # the header of a page in the middle (its middle may be a page's unused space, which
        # no check reads: where it falls depends on the schema's layout)
        f.seek((size // 2) // 4096 * 4096)
        f.write(b"\xff" * 512)
    res = redun_capped(repo.root, "fsck")
    assert res.returncode == 0 and "rebuilt" in res.stdout, res
    assert redun_capped(repo.root, "log", "--all").stdout == good.stdout


KILL_IMPORT_AT_COMMIT = r"""
import os, signal, sys
def fsync(fd):
    os.kill(os.getpid(), signal.SIGKILL)  # every record written, the pack not yet installed
os.fsync = fsync
import redun.exchange.spill as spill
spill.MEMORY_LIMIT, spill.BATCH = -1, 2  # spill to a file, as an import larger than memory does
sys.argv = ["redun", "-c", sys.argv[1], "import", "-f", sys.argv[2]]
from redun.cli.entry import main
main()
"""


@pytest.mark.slow
def test_killed_import_leaves_nothing_visible(tmp_path):
    """Item 11: a killed import left its spill file and orphan Jobs visible in `log --all`."""
    import subprocess
    import sys

    lines = os.path.join(os.path.dirname(__file__), "data", "upstream-export-compile.jsonl")
    repo = Repo.init(str(tmp_path / "r"))
    empty = redun_capped(repo.root, "log", "--all").stdout
    p = subprocess.run([sys.executable, "-c", KILL_IMPORT_AT_COMMIT, repo.root, str(lines)], capture_output=True)
    assert p.returncode == -9, p.stderr
    assert os.listdir(os.path.join(repo.root, "tmp"))  # the spill and its lock
    assert redun_capped(repo.root, "log", "--all").stdout == empty
    res = redun_capped(repo.root, "fsck", "--recover")
    assert res.returncode == 0, res
    assert os.listdir(os.path.join(repo.root, "tmp")) == []
    assert [e for e in os.listdir(os.path.join(repo.root, "packs")) if e.startswith("tmp-")] == []
    assert redun_capped(repo.root, "log", "--all").stdout == empty
    res = redun_capped(repo.root, "import", "-f", str(lines))
    assert res.returncode == 0, res
    assert redun_capped(repo.root, "log", "--all").stdout != empty


WORKFLOW = """
from redun import task

@task()
def add(a: int, b: int) -> int:
    return a + b

@task()
def main(x: int = 1) -> int:
    return add(x, 2)
"""


def _workflow(tmp_path):
    d = tmp_path / "wf"
    d.mkdir()
    (d / "wf.py").write_text(WORKFLOW)
    return str(d)


@pytest.mark.slow
def test_format_file_with_non_utf8_bytes(tmp_path):
    """Item 11: non-UTF-8 bytes in FORMAT gave a traceback in every command."""
    d = _workflow(tmp_path)
    root = os.path.join(d, ".redun")
    Repo.init(root)
    with open(os.path.join(root, "FORMAT"), "wb") as f:
        f.write(b"redun-repo \xff\xfe1.0\n")
    for args in (["log"], ["fsck"], ["run", "wf.py", "main"], ["db", "info"]):
        res = redun_capped(root, *args, cwd=d)
        assert res.returncode != 0 and "Traceback" not in res.stderr, (args, res)
        assert "FORMAT" in res.stderr, (args, res)


@pytest.mark.slow
def test_run_never_recreates_a_deleted_format(tmp_path):
    """Item 11: `redun run` silently recreated a deleted FORMAT in a repository with packs."""
    d = _workflow(tmp_path)
    root = os.path.join(d, ".redun")
    repo = Repo.init(root)
    make_exec(repo, 1)
    os.unlink(os.path.join(root, "FORMAT"))
    res = redun_capped(root, "run", "wf.py", "main", cwd=d)
    assert res.returncode != 0 and "FORMAT" in res.stderr and "Traceback" not in res.stderr, res
    assert not os.path.exists(os.path.join(root, "FORMAT"))
    fresh = os.path.join(str(tmp_path), "fresh", ".redun")  # an empty place is still created
    res = redun_capped(fresh, "run", "wf.py", "main", cwd=d)
    assert res.returncode == 0, res


@pytest.mark.slow
def test_run_reports_repository_errors_without_traceback(tmp_path):
    """Item 11: `redun run` printed tracebacks for repository errors."""
    d = _workflow(tmp_path)
    root = os.path.join(d, ".redun")
    Repo.init(root)
    with open(os.path.join(root, "refs", ".packed"), "wb") as f:
        f.write(b"garbage\n")
    res = redun_capped(root, "run", "wf.py", "main", cwd=d)
    assert res.returncode == 1, res
    assert "Traceback" not in res.stderr and "redun: error:" in res.stderr and ".packed" in res.stderr, res


@pytest.mark.slow
def test_lock_files_and_empty_object_dirs_do_not_pile_up(tmp_path):
    """Item 11: refs/execs/*.lock and empty objects/xx/ directories were never cleaned."""
    d = _workflow(tmp_path)
    root = os.path.join(d, ".redun")
    Repo.init(root)
    for i in range(3):
        res = redun_capped(root, "run", "wf.py", "main", "--x", str(i), cwd=d)
        assert res.returncode == 0, res
    execs = os.listdir(os.path.join(root, "refs", "execs"))
    assert execs and not [e for e in execs if e.endswith(".lock")], execs
    res = redun_capped(root, "gc", "--grace", "0")
    assert res.returncode == 0, res
    assert [s for s in os.listdir(os.path.join(root, "objects")) if not os.listdir(os.path.join(root, "objects", s))] == []
