"""Whole-pack push/pull (sync/wholepacks.py, objects/packgroup.py): packs the destination
lacks go as they are, all or nothing; kill -9 at each step of the install leaves nothing new
visible or the whole group, fsck-clean, and a retry completes."""

import os
import subprocess
import sys

import pytest

from conftest_s3 import closure_ok, make_exec
from group_killer import GROUP_INSTALL_KILLER
from redun.objects import codec
from redun.objects.fsck import fsck
from redun.objects.records import Value
from redun.objects.valuecodec import encode_native
from redun.objects.origins import read_origin
from redun.repo.repository import Repo

# `redun push r` killed at one step of the group install (tests/group_killer.py).
KILLER_ARGS = ("push", "r")


def _setup(tmp_path, execs=3):
    src = Repo.init(str(tmp_path / "a" / ".redun"))
    remote = Repo.init(str(tmp_path / "remote"))
    names = {make_exec(src, 40, seed=i)[0] for i in range(execs)}  # one pack each, sharing a Task
    env = dict(os.environ, REDUN_CONFIG=src.root)
    subprocess.run([sys.executable, "-m", "redun", "repo", "add", "r", remote.root], env=env, check=True)
    return src, remote, names, env


def _state(root):
    """(new pack names visible, exec ref names, every object id held); fsck must be clean."""
    repo = Repo.open(root)
    try:
        report = fsck(repo.store, repo.refs)
        assert report.ok, [str(p) for p in report.problems]
        refs = dict(repo.refs.list("execs/"))
        for oid in refs.values():
            assert closure_ok(repo.store, oid)
        entries = os.listdir(os.path.join(root, "packs"))
        assert not any(e.startswith("install-") for e in entries)  # a cut group was finished
        return {p.name for p in repo.store.packs()}, set(refs), set(repo.store.iter_ids())
    finally:
        repo.close()


@pytest.mark.slow
def test_push_sends_whole_packs_with_origin(tmp_path):
    src, remote, names, env = _setup(tmp_path)
    src_packs = {p.name for p in src.store.packs()}
    out = subprocess.run([sys.executable, "-m", "redun", "push", "r"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    packs, refs, ids = _state(remote.root)
    assert src_packs <= packs and refs == names  # the source's packs, as they are
    assert ids == set(src.store.iter_ids())
    for name in packs:  # marked as the object path marks them (repo/trust.py)
        assert read_origin(os.path.join(remote.root, "packs"), name) == {"via": "sync", "from": src.root}
    out = subprocess.run([sys.executable, "-m", "redun", "push", "r"], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "Repo 'r' is up to date."


@pytest.mark.slow
def test_partly_held_packs_go_object_by_object(tmp_path):
    src, remote, names, env = _setup(tmp_path, execs=1)
    run = [sys.executable, "-m", "redun", "push", "r"]
    assert subprocess.run(run, env=env).returncode == 0
    names |= {make_exec(src, 40, seed=9)[0], make_exec(src, 400, seed=10)[0]}  # both share the Task
    # a pack the remote lacks entirely (objects no ref reaches): it goes whole, and the two
    # partly held ones go object by object in the same group, so the remote holds everything
    alone = src.store.write_pack(
        codec.encode(Value(os.urandom(20), "builtins.int", "native", encode_native(i))) for i in range(3000))
    out = subprocess.run(run, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    packs, refs, ids = _state(remote.root)
    assert alone in packs and refs == names and ids == set(src.store.iter_ids())


@pytest.mark.slow
def test_pull_of_a_damaged_pack_changes_nothing(tmp_path):
    src, remote, names, env = _setup(tmp_path)
    victim = max(src.store.packs(), key=lambda p: os.path.getsize(p.path))
    with open(victim.path, "r+b") as f:  # one byte inside the last entry: the pack digest fails
        f.seek(-3, os.SEEK_END)
        b = f.read(1)
        f.seek(-3, os.SEEK_END)
        f.write(bytes([b[0] ^ 1]))
    out = subprocess.run([sys.executable, "-m", "redun", "push", "r"], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and victim.name in out.stderr, out.stdout + out.stderr
    packs, refs, ids = _state(remote.root)
    assert not packs and not refs


@pytest.mark.slow
@pytest.mark.parametrize("point,k", [("stage", 1), ("stage", 3), ("journal", 1),
                                     ("install", 1), ("install", 3), ("install", 4)])
def test_kill9_in_group_install_then_retry(tmp_path, point, k):
    src, remote, names, env = _setup(tmp_path)
    p = subprocess.run([sys.executable, "-c", GROUP_INSTALL_KILLER, point, str(k), *KILLER_ARGS], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert p.returncode == -9  # it died at that point
    packs, refs, ids = _state(remote.root)
    assert not refs  # refs move only after the group is installed
    if point == "stage":
        assert not packs and not ids  # nothing was visible yet
    else:
        assert ids == set(src.store.iter_ids())  # the journal was rolled forward: the whole group
    out = subprocess.run([sys.executable, "-m", "redun", "push", "r"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert _state(remote.root)[1] == names
