"""A pull from a source this machine does not trust: each entry of a whole pack is hashed and
its links proved held without decoding every record (sync/packcheck.py), in process or in
worker processes (sync/checkpool.py). Payloads that look like links do not fail a pull; a
missing link or a wrong entry does, with nothing installed."""

import os
import shutil
import signal

import blake3
import pytest

from conftest_s3 import closure_ok, make_exec
from redun.errors import CorruptObjectError, SyncError
from redun.objects import codec, compress
from redun.objects.fsck import fsck
from redun.objects.ids import new_uuid, object_id, uuid_str
from redun.objects.pack import PACK_MAGIC, PackIndex, build_index, entry_bytes, pack_name
from redun.objects.records import Execution, Job, Task, Value
from redun.repo.remotes import open_remote, repo_remote
from redun.repo.repository import Repo
from redun.sync import checkpool
from redun.sync.transfer import sync


# the workers are spawned processes: slow, as conftest asks of any test that starts one
@pytest.fixture(params=["in process", pytest.param("workers", marks=pytest.mark.slow)])
def mode(request, monkeypatch):
    pools = []
    if request.param == "workers":
        made = checkpool.CheckPool

        def counted(*args):
            pools.append(made(*args))
            return pools[-1]

        monkeypatch.setattr(checkpool, "workers_for", lambda entries: 2)  # whatever the size, even on one core
        monkeypatch.setattr(checkpool, "CheckPool", counted)
    yield request.param
    assert len(pools) == (request.param == "workers")


def _pull(src_root, local_root):
    local = Repo.open(local_root)
    try:
        return sync(open_remote(src_root), repo_remote(local))
    finally:
        local.close()


def _two_repos(tmp_path, execs: int = 0, leaves: int = 0) -> tuple:
    """(source root with `execs` executions of `leaves` leaves, one pack each; empty local root)."""
    src = Repo.init(str(tmp_path / "src"))
    for i in range(execs):
        make_exec(src, leaves, seed=i)
    src.close()
    local = Repo.init(str(tmp_path / "local"))
    local.close()
    return src.root, local.root


def _clean(root) -> dict:
    repo = Repo.open(root)
    try:
        report = fsck(repo.store, repo.refs)
        assert report.ok, [str(p) for p in report.problems]
        refs = dict(repo.refs.list("execs/"))
        assert all(closure_ok(repo.store, oid) for oid in refs.values())
        return refs
    finally:
        repo.close()


def _write_pack(root, records):
    """Install a pack of these records (a consistent pack and index) in the repo at root, as a
    remote would serve it; returns {record: oid}."""
    entries, ids = [], {}
    for rec in records:
        data = codec.encode(rec)
        ids[rec] = object_id(data)
        entries.append((ids[rec], compress.compress(data)))
    body, rows = PACK_MAGIC, []
    for oid, stored in entries:
        e = entry_bytes(oid, stored)
        rows.append((oid, len(body), len(e)))
        body += e
    name = pack_name(sorted(oid for oid, _ in entries))
    with open(os.path.join(root, "packs", f"pack-{name}.pack"), "wb") as f:
        f.write(body)
    with open(os.path.join(root, "packs", f"pack-{name}.idx"), "wb") as f:
        f.write(build_index(rows, blake3.blake3(body).digest()))
    return ids


def _exec_with_payload(root, payload: bytes, dangling=None):
    """An execution whose root value's bytes are `payload`; its job's call node is `dangling`
    (an id nobody holds) when given."""
    task = Task(b"\x01" * 20, "t", "main", "def main(): pass")
    value = Value(b"\x02" * 20, "builtins.bytes", "native", payload)
    ids = _write_pack(root, [task, value])
    job = Job(new_uuid(), new_uuid(), None, task.hash, ids[task], None, dangling, b"\x03" * 20, ids[value],
              1, 2, False, "DONE", (), {})
    eid = job.execution_id
    execution = Execution(eid, '["run"]', object_id(codec.encode(job)), 1, 2, {})
    more = _write_pack(root, [job, execution])
    repo = Repo.open(root)
    try:
        repo.refs.set(f"execs/{uuid_str(eid)}", more[execution], expected=None)
    finally:
        repo.close()


def test_payload_that_looks_like_links_is_pulled(tmp_path, mode):
    src = Repo.init(str(tmp_path / "src"))
    src.close()
    fake = b"\xc4 " + os.urandom(32)  # a bin-32 header and 32 bytes no store holds
    _exec_with_payload(src.root, b"x" * 7 + fake + fake[:20] + b"\xc5\x00 " + os.urandom(40))
    local = Repo.init(str(tmp_path / "local"))
    local.close()
    result = _pull(src.root, local.root)
    assert len(result.refs) == 1
    assert _clean(local.root) == _clean(src.root)


def test_a_link_nobody_holds_is_refused(tmp_path, mode):
    src = Repo.init(str(tmp_path / "src"))
    src.close()
    _exec_with_payload(src.root, b"plain", dangling=b"\x42" * 32)
    local = Repo.init(str(tmp_path / "local"))
    local.close()
    with pytest.raises(SyncError, match="42" * 32):
        _pull(src.root, local.root)
    assert not any(n.startswith("pack-") for n in os.listdir(os.path.join(local.root, "packs")))
    assert _clean(local.root) == {}


def test_an_entry_not_matching_its_id_is_refused(tmp_path, mode):
    src = Repo.init(str(tmp_path / "src"))
    make_exec(src, 30, seed=1)
    make_exec(src, 30, seed=2)
    path = src.store.packs()[0].path  # the newest: sent first, to a worker in that mode
    src.close()
    index = PackIndex(open(path[:-5] + ".idx", "rb").read(), path)
    oid, off, size = next(index.entries())
    with open(path, "rb") as f:
        body = f.read()
    stored = compress.compress(codec.encode(Task(b"\x09" * 20, "x", "y", "z")))
    other = entry_bytes(oid, stored)  # another record under this entry's id, the pack made consistent
    body = body[:off] + other + body[off + size:]
    rows = [(i, o if o <= off else o + len(other) - size, len(other) if i == oid else s)
            for i, o, s in index.entries()]
    with open(path, "wb") as f:
        f.write(body)
    with open(path[:-5] + ".idx", "wb") as f:
        f.write(build_index(rows, blake3.blake3(body).digest()))
    local = Repo.init(str(tmp_path / "local"))
    local.close()
    with pytest.raises(CorruptObjectError, match=oid.hex()):
        _pull(src.root, local.root)
    assert _clean(local.root) == {}


@pytest.mark.slow  # over a second: the full suite runs it, the quick loop does not
def test_many_packs_pull_whole_and_clean(tmp_path, mode):
    src, local = _two_repos(tmp_path, 4, 300)
    _pull(src, local)
    assert _clean(local) == _clean(src)


@pytest.mark.slow  # starts a worker process
def test_a_dead_worker_is_checked_again_here(tmp_path):
    src = Repo.init(str(tmp_path / "src"))
    make_exec(src, 50, seed=3)
    packs = list(src.store.packs())
    pool = checkpool.CheckPool([p.index for p in packs], 1)
    try:
        staged = []
        for p in packs:
            copy = str(tmp_path / f"staged-{p.name}.pack")
            shutil.copy(p.path, copy)
            staged.append((copy, open(p.idx_path, "rb").read(), p.name))
        pool.submit(*staged[0], src.root)  # starts the worker
        for proc in list(pool._pool._processes.values()):
            os.kill(proc.pid, signal.SIGKILL)
        for args in staged[1:]:
            pool.submit(*args, src.root)
        assert pool.outside(lambda oid: any(oid in p.index for p in packs)) == set()
    finally:
        pool.close()
        src.close()


def test_a_record_that_hashes_right_but_does_not_decode_is_pulled_and_fsck_names_it(tmp_path):
    """A pull checks hashes and links, not each record's fields (as git without
    transfer.fsckObjects): every read decodes field by field, the index skips such a record
    and `redun fsck` names it."""
    import msgpack

    src = Repo.init(str(tmp_path / "src"))
    src.close()
    task = Task(b"\x01" * 20, "t", "main", "def main(): pass")
    ids = _write_pack(src.root, [task])
    tag, schema, fields = msgpack.unpackb(codec.encode(task), raw=False)
    fields["name"] = 5  # a name must be text
    bad = msgpack.packb([tag, schema, dict(sorted(fields.items()))], use_bin_type=True)
    bad_id = object_id(bad)
    body = PACK_MAGIC + entry_bytes(bad_id, compress.compress(bad))
    name = pack_name([bad_id])
    with open(os.path.join(src.root, "packs", f"pack-{name}.pack"), "wb") as f:
        f.write(body)
    with open(os.path.join(src.root, "packs", f"pack-{name}.idx"), "wb") as f:
        f.write(build_index([(bad_id, len(PACK_MAGIC), len(body) - len(PACK_MAGIC))], blake3.blake3(body).digest()))
    eid = new_uuid()
    ex = Execution(eid, '["run"]', None, 1, 2, {})
    ex_ids = _write_pack(src.root, [ex])
    repo = Repo.open(src.root)
    repo.refs.set(f"execs/{uuid_str(eid)}", ex_ids[ex], expected=None)
    repo.close()
    local = Repo.init(str(tmp_path / "local"))
    local.close()
    _pull(src.root, local.root)
    repo = Repo.open(local.root)
    try:
        assert repo.store.has(bad_id) and repo.store.has(ids[task])
        report = fsck(repo.store, repo.refs)
        assert not report.ok and any(bad_id.hex() in str(p) for p in report.problems)
        with pytest.raises(CorruptObjectError, match="name"):
            codec.decode(repo.store.get(bad_id))
    finally:
        repo.close()


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 3])
def test_kill9_while_workers_check_then_retry(tmp_path, k):
    """The pulling process killed while its workers check: they end too, nothing of the pull is
    visible (staged copies are debris recover() removes), and a second pull completes."""
    import subprocess
    import sys
    import time

    from group_killer import CHECK_POOL_KILLER

    src, local = _two_repos(tmp_path, 4, 200)
    pids = tmp_path / "pids"
    env = dict(os.environ, REDUN_CONFIG=local, REDUN_TEST_WORKER_PIDS=str(pids))
    subprocess.run([sys.executable, "-m", "redun", "repo", "add", "src", src], env=env, check=True)
    p = subprocess.run([sys.executable, "-c", CHECK_POOL_KILLER, "submit", str(k), "pull", "src"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert p.returncode == -9
    workers = [int(pid) for pid in pids.read_text().split()]
    assert workers
    deadline = time.time() + 30
    while any(os.path.exists(f"/proc/{pid}") and "Z" not in open(f"/proc/{pid}/stat").read().split()[2]
              for pid in workers):
        assert time.time() < deadline, "a worker outlived the pull"
        time.sleep(0.1)
    assert _clean(local) == {}
    assert not any(n.startswith("pack-") for n in os.listdir(os.path.join(local, "packs")))
    out = subprocess.run([sys.executable, "-m", "redun", "pull", "src"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert _clean(local) == _clean(src)


def test_a_ref_to_a_record_that_does_not_decode_is_refused(tmp_path, mode):
    src, local = _two_repos(tmp_path, 1, 20)  # an older pack: the bad one below is sent first
    data = codec.record_head(Execution) + b"\x80"  # an Execution record without fields
    oid = object_id(data)
    body = PACK_MAGIC + entry_bytes(oid, compress.compress(data))
    name = pack_name([oid])
    with open(os.path.join(src, "packs", f"pack-{name}.pack"), "wb") as f:
        f.write(body)
    with open(os.path.join(src, "packs", f"pack-{name}.idx"), "wb") as f:
        f.write(build_index([(oid, len(PACK_MAGIC), len(body) - len(PACK_MAGIC))], blake3.blake3(body).digest()))
    repo = Repo.open(src)
    repo.refs.set(f"execs/{uuid_str(new_uuid())}", oid, expected=None)
    repo.close()
    with pytest.raises(CorruptObjectError, match=oid.hex()):
        _pull(src, local)
    assert _clean(local) == {}
