"""Bundles: create/verify/unbundle round trip, damage detection, ref rules."""

import os
import subprocess
import sys
import uuid

import pytest

from gcfixtures import exec_ref, write_execution
from redun.maint.bundle import BundleError, create, unbundle, verify
from redun.errors import NotFoundError
from redun.objects import blobs
from redun.objects.directory import DirectoryStore
from redun.objects.fsck import fsck
from redun.repo.repository import Repo


@pytest.fixture
def src(tmp_path):
    r = Repo.init(str(tmp_path / "src" / ".redun"))
    with r.store.pack_writer() as w:
        a = write_execution(w, "a", os.urandom(20_000))
        b = write_execution(w, "b")
    r.refs.set(exec_ref(a["exec_id"]), a["exec"])
    r.refs.set(exec_ref(b["exec_id"]), b["exec"])
    yield r, a, b
    r.close()


@pytest.fixture
def dst(tmp_path):
    r = Repo.init(str(tmp_path / "dst" / ".redun"))
    yield r
    r.close()


def test_round_trip_selected_execution(src, dst, tmp_path):
    repo, a, b = src
    path = str(tmp_path / "a.bundle")
    info = create(repo.store, repo.refs, path, [str(uuid.UUID(bytes=a["exec_id"]))[:8]])
    assert list(info.refs) == [exec_ref(a["exec_id"])]
    assert info.objects == len(set(a["all"]))
    assert verify(path).objects == info.objects
    result = unbundle(dst.store, dst.refs, path)
    assert result.installed == info.objects and result.updated == [exec_ref(a["exec_id"])]
    store = DirectoryStore(dst.root)
    v = store.get(a["value"])
    assert len(blobs.read_payload(store, v)) == 20_000
    assert not store.has(b["job"])
    assert fsck(store, dst.refs).ok
    again = unbundle(dst.store, dst.refs, path)
    assert again.installed == 0 and again.unchanged == [exec_ref(a["exec_id"])]


def test_all_executions_by_default(src, tmp_path):
    repo, a, b = src
    info = create(repo.store, repo.refs, str(tmp_path / "all.bundle"))
    assert len(info.refs) == 2
    with pytest.raises(NotFoundError):
        create(repo.store, repo.refs, str(tmp_path / "x.bundle"), ["ffffffff"])


@pytest.mark.parametrize("where", ["pack", "trailer", "truncate"])
def test_damage_is_detected_and_nothing_installed(src, dst, tmp_path, where):
    repo, a, _ = src
    path = str(tmp_path / "a.bundle")
    create(repo.store, repo.refs, path)
    data = bytearray(open(path, "rb").read())
    if where == "pack":
        data[40] ^= 1
    elif where == "trailer":
        data[-40] ^= 1
    else:
        data = data[:-100]
    open(path, "wb").write(bytes(data))
    with pytest.raises(BundleError):
        verify(path)
    with pytest.raises(BundleError):
        unbundle(dst.store, dst.refs, path)
    assert list(dst.refs.list()) == [] and DirectoryStore(dst.root).pack_names() == []


def test_finished_execution_is_not_replaced_by_a_running_one(src, dst, tmp_path):
    repo, a, _ = src
    with repo.store.pack_writer() as w:
        running = write_execution(w, "a2", exec_id=a["exec_id"], final=False)
    path = str(tmp_path / "a.bundle")
    create(repo.store, repo.refs, path)
    unbundle(dst.store, dst.refs, path)
    repo.refs.set(exec_ref(a["exec_id"]), running["exec"])
    path2 = str(tmp_path / "running.bundle")
    create(repo.store, repo.refs, path2, [str(uuid.UUID(bytes=a["exec_id"]))])
    result = unbundle(dst.store, dst.refs, path2)
    assert result.kept and dst.refs.get(exec_ref(a["exec_id"])) == a["exec"]
    forced = unbundle(dst.store, dst.refs, path2, force=True)
    assert forced.updated and dst.refs.get(exec_ref(a["exec_id"])) == running["exec"]


@pytest.mark.slow
def test_bundle_cli(src, dst, tmp_path):
    repo, a, b = src
    path = str(tmp_path / "cli.bundle")
    run = lambda root, *args: subprocess.run([sys.executable, "-m", "redun", "-c", root, "bundle", *args],
                                             capture_output=True, text=True)
    out = run(repo.root, "create", path)
    assert out.returncode == 0, out.stderr
    out = run(dst.root, "verify", path)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
    out = run(dst.root, "unbundle", path)
    assert out.returncode == 0 and "set execs/" in out.stdout, out.stderr
    open(path, "r+b").write(b"garbage!")
    out = run(dst.root, "verify", path)
    assert out.returncode != 0 and "not a redun bundle" in out.stderr and "Traceback" not in out.stderr


def test_object_damage_caught_even_with_a_valid_checksum(src, dst, tmp_path):
    import blake3

    repo, a, _ = src
    path = str(tmp_path / "a.bundle")
    create(repo.store, repo.refs, path)
    data = bytearray(open(path, "rb").read())
    data[12 + 8 + 36 + 3] ^= 1  # inside the first object's stored bytes
    data[-32:] = blake3.blake3(bytes(data[:-32])).digest()
    open(path, "wb").write(bytes(data))
    with pytest.raises(BundleError, match="object"):
        unbundle(dst.store, dst.refs, path)
    assert list(dst.refs.list()) == []


def test_hostile_header_is_refused(src, dst, tmp_path):
    import json
    import struct

    import blake3

    repo, a, _ = src
    path = str(tmp_path / "a.bundle")
    create(repo.store, repo.refs, path)
    data = open(path, "rb").read()
    pack_len, idx_len, head_len = struct.unpack_from("<QQI", data, len(data) - 60)
    start = 12 + pack_len + idx_len
    head = json.loads(data[start : start + head_len])
    head["refs"] = {"../../../etc/evil": next(iter(head["refs"].values()))}
    new_head = json.dumps(head).encode()
    body = data[:start] + new_head + struct.pack("<QQI8s", pack_len, idx_len, len(new_head), b"RDBEND\0\0")
    open(path, "wb").write(body + blake3.blake3(body).digest())
    with pytest.raises(BundleError, match="bad ref"):
        unbundle(dst.store, dst.refs, path)
    assert list(dst.refs.list()) == []
