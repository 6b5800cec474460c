"""The Remote contract (redun/sync/remote.py), run over every implementation:
a directory, S3 on moto in-process, S3 on a real SeaweedFS server."""

import pytest

from conftest_s3 import moto_s3, seaweed_client, unique_url  # noqa: F401
from redun.errors import NotFoundError, RefConflictError
from redun.objects import codec, compress
from redun.objects.ids import object_id
from redun.objects.records import Task
from redun.repo.repository import Repo
from redun.repo.remotes import open_remote
from redun.sync.s3remote import S3Remote


@pytest.fixture(params=["directory", "moto", "seaweed"])
def opener(request, tmp_path):
    """A function returning a new handle on one fresh, empty remote."""
    if request.param == "directory":
        root = str(tmp_path / "remote")
        Repo.init(root)
        return lambda: open_remote(root)
    url = unique_url()
    caches = iter(range(1000))
    if request.param == "moto":
        request.getfixturevalue("moto_s3")
        return lambda: S3Remote(url, str(tmp_path / f"cache{next(caches)}"))
    endpoint = request.getfixturevalue("seaweed")
    return lambda: S3Remote(url, str(tmp_path / f"cache{next(caches)}"), client=seaweed_client(endpoint))


def obj(i):
    data = codec.encode(Task(bytes([i]) * 20, "ns", f"t{i}", "src"))
    return object_id(data), compress.compress(data)


def ref(i):
    return f"execs/00000000-0000-4000-8000-{i:012d}"


def push_pack(remote, items):
    sink = remote.begin_pack()
    for oid, stored in items:
        sink.add_stored(oid, stored)
    return sink.commit()


def test_empty_head(opener):
    with opener() as r:
        head = r.read_head()
        assert head.refs == {} and head.packs == ()
        assert not r.has(obj(1)[0])
        with pytest.raises(NotFoundError):
            r.get_stored(obj(1)[0])


def test_pack_then_head(opener):
    items = [obj(i) for i in range(5)]
    with opener() as r:
        head = r.read_head()
        name = push_pack(r, items)
        assert name and len(name) == 40
        r.update_head(head, {ref(1): (None, items[0][0])}, [name])
    with opener() as r2:
        head = r2.read_head()
        assert head.refs == {ref(1): items[0][0]}
        assert name in head.packs
        for oid, stored in items:
            assert r2.has(oid)
            assert r2.get_stored(oid) == stored
        assert not r2.has(obj(9)[0])


def test_empty_pack_is_none(opener):
    with opener() as r:
        r.read_head()
        assert push_pack(r, []) is None


def test_concurrent_writers_merge_other_refs(opener):
    a_items, b_items = [obj(1)], [obj(2)]
    a, b = opener(), opener()
    ha, hb = a.read_head(), b.read_head()
    pa, pb = push_pack(a, a_items), push_pack(b, b_items)
    a.update_head(ha, {ref(1): (None, a_items[0][0])}, [pa])
    b.update_head(hb, {ref(2): (None, b_items[0][0])}, [pb])  # stale head: merged, not lost
    with opener() as c:
        head = c.read_head()
        assert head.refs == {ref(1): a_items[0][0], ref(2): b_items[0][0]}
        assert c.has(a_items[0][0]) and c.has(b_items[0][0])
    a.close()
    b.close()


def test_same_ref_conflict_is_refused(opener):
    x, y = obj(1), obj(2)
    a, b = opener(), opener()
    ha, hb = a.read_head(), b.read_head()
    a.update_head(ha, {ref(1): (None, x[0])}, [push_pack(a, [x])])
    with pytest.raises(RefConflictError):
        b.update_head(hb, {ref(1): (None, y[0])}, [push_pack(b, [y])])
    with opener() as c:
        assert c.read_head().refs == {ref(1): x[0]}
    a.close()
    b.close()


def test_cas_moves_existing_ref(opener):
    x, y = obj(1), obj(2)
    with opener() as r:
        h = r.read_head()
        r.update_head(h, {ref(1): (None, x[0])}, [push_pack(r, [x])])
        h = r.read_head()
        r.update_head(h, {ref(1): (x[0], y[0])}, [push_pack(r, [y])])
        assert r.read_head().refs[ref(1)] == y[0]
