"""A hostile or damaged remote: bad ids, bad names, bad hashes, missing closure.
Every case is refused before any local ref moves and nothing is written
outside the local repository."""

import json
import os

import blake3
import boto3
import pytest

from conftest_s3 import make_exec, moto_s3, unique_url  # noqa: F401
from redun.errors import CorruptObjectError, InvalidIdError, RedunError, SyncError
from redun.objects import codec, compress
from redun.objects.ids import new_uuid, object_id, uuid_str
from redun.objects.pack import PACK_MAGIC, build_index, entry_bytes, pack_name
from redun.objects.records import Execution, Task
from redun.repo.repository import Repo
from redun.repo.remotes import open_remote, repo_remote
from redun.sync.s3remote import S3Remote, encode_head
from redun.sync.transfer import sync


def snapshot(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[p] = os.path.getsize(p)
    return out


def put_raw(url, rel, body):
    bucket, _, prefix = url[5:].partition("/")
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=bucket, Key=f"{prefix}/{rel}", Body=body)


def make_pack(entries):
    """(name, pack bytes, idx bytes) for [(oid, stored)], exactly as a remote would serve them."""
    body = PACK_MAGIC
    idx_entries = []
    for oid, stored in entries:
        e = entry_bytes(oid, stored)
        idx_entries.append((oid, len(body), len(e)))
        body += e
    name = pack_name(sorted(o for o, _ in entries))
    return name, body, build_index(idx_entries, blake3.blake3(body).digest())


def serve(url, entries, refs, tamper_pack=None):
    name, body, idx = make_pack(entries)
    put_raw(url, f"packs/pack-{name}.pack", tamper_pack(body) if tamper_pack else body)
    put_raw(url, f"packs/pack-{name}.idx", idx)
    put_raw(url, "HEAD", encode_head(refs, [name]))
    return name


def pull_refused(tmp_path, url, exc=RedunError):
    local = Repo.init(str(tmp_path / "local"))
    before = snapshot(str(tmp_path))
    with pytest.raises(exc):
        with S3Remote(url, str(tmp_path / "local" / "remotes-cache" / "evil")) as src:
            sync(src, repo_remote(local))
    assert list(Repo.open(local.root).refs.list()) == []
    after = snapshot(str(tmp_path))
    new = [p for p in after if p not in before]
    outside = [p for p in new if not p.startswith(str(tmp_path / "local" / "remotes-cache"))]
    assert outside == [], outside  # only the cache may gain files (verified indexes)
    return local


def exec_objects(job=None):
    eid = new_uuid()
    rec = Execution(eid, '["run"]', job, 1, 2 if job else None, {})
    data = codec.encode(rec)
    return f"execs/{uuid_str(eid)}", object_id(data), compress.compress(data)


@pytest.mark.parametrize(
    "head",
    [
        {"version": 1, "packs": [], "refs": {"../../../etc/passwd": "00" * 32}},
        {"version": 1, "packs": [], "refs": {"execs/x": "zz" * 32}},
        {"version": 1, "packs": ["../../evil"], "refs": {}},
        {"version": 1, "packs": "nope", "refs": {}},
        {"version": 99, "packs": [], "refs": {}},
        "not a dict",
    ],
)
def test_bad_head_is_refused(tmp_path, moto_s3, head):  # noqa: F811
    url = unique_url()
    put_raw(url, "HEAD", json.dumps(head).encode())
    pull_refused(tmp_path, url, (InvalidIdError, CorruptObjectError))


def test_index_not_matching_its_name(tmp_path, moto_s3):  # noqa: F811
    url = unique_url()
    ref, oid, stored = exec_objects()
    name, body, idx = make_pack([(oid, stored)])
    fake = "ab" * 20
    put_raw(url, f"packs/pack-{fake}.pack", body)
    put_raw(url, f"packs/pack-{fake}.idx", idx)
    put_raw(url, "HEAD", encode_head({ref: oid}, [fake]))
    pull_refused(tmp_path, url, CorruptObjectError)


def test_tampered_pack_bytes(tmp_path, moto_s3):  # noqa: F811
    url = unique_url()
    ref, oid, stored = exec_objects()
    serve(url, [(oid, stored)], {ref: oid}, tamper_pack=lambda b: b[:-1] + bytes([b[-1] ^ 1]))
    pull_refused(tmp_path, url, CorruptObjectError)


def test_object_not_matching_its_id(tmp_path, moto_s3):  # noqa: F811
    url = unique_url()
    ref, oid, _ = exec_objects()
    other = compress.compress(codec.encode(Task(b"\x02" * 20, "x", "y", "z")))
    serve(url, [(oid, other)], {ref: oid})  # consistent pack + index, wrong content
    pull_refused(tmp_path, url, CorruptObjectError)


def test_missing_closure(tmp_path, moto_s3):  # noqa: F811
    url = unique_url()
    ref, oid, stored = exec_objects(job=b"\x42" * 32)  # links to a job nobody has
    serve(url, [(oid, stored)], {ref: oid})
    local = pull_refused(tmp_path, url, SyncError)
    assert not any(n.startswith("pack-") for n in os.listdir(os.path.join(local.root, "packs")))


def test_damaged_directory_remote(tmp_path):
    src = Repo.init(str(tmp_path / "src"))
    make_exec(src, 3)
    packs = [f for f in os.listdir(os.path.join(src.root, "packs")) if f.endswith(".pack")]
    path = os.path.join(src.root, "packs", packs[0])
    with open(path, "r+b") as f:  # flip a byte inside the last object
        f.seek(-3, 2)
        b = f.read(1)
        f.seek(-3, 2)
        f.write(bytes([b[0] ^ 0xFF]))
    local = Repo.init(str(tmp_path / "local"))
    with pytest.raises(CorruptObjectError):
        sync(open_remote(src.root), repo_remote(local))
    assert list(Repo.open(local.root).refs.list()) == []
