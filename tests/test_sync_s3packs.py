"""Whole packs to and from a real S3 server (SeaweedFS; sync/s3packs.py, sync/packcheck.py):
a full push to an S3 remote that lacks the packs uploads them as they are, a pull into a
repo that lacks them installs them as a group, everything verified while it streams; a
damaged pack on either side is refused naming it; a push killed at exact points of the
upload leaves a HEAD that names only complete packs, and a pull killed during the group
install shows nothing new or the whole group; each retry completes."""

import os
import subprocess
import sys

import pytest

from conftest_s3 import BUCKET, closure_ok, make_exec, seaweed_client, unique_url  # noqa: F401
from redun.errors import CorruptObjectError
from redun.objects import codec, compress
from redun.objects.fsck import fsck
from redun.objects.origins import read_origin
from redun.objects.records import Value
from redun.objects.valuecodec import encode_native
from redun.repo.remotes import repo_remote
from redun.repo.repository import Repo
from redun.sync.s3remote import S3Remote, decode_head
from redun.sync.transfer import sync

from group_killer import GROUP_INSTALL_KILLER, kill_script

pytestmark = pytest.mark.slow

# `redun push s3` killed at one step of the upload (tests/group_killer.py). Parts of 5 MiB.
KILLER = kill_script(r"""
from redun.objects import s3
s3.STREAM_PART = 5 << 20

if point == "part":
    upload_part = s3.S3Location._upload_part
    def part(self, *a):
        upload_part(self, *a)
        boom()
    s3.S3Location._upload_part = part
elif point == "index":
    put = s3.S3Location.put
    def put_then(self, rel, *a, **kw):
        done = put(self, rel, *a, **kw)
        if rel.endswith(".idx"):
            boom()
        return done
    s3.S3Location.put = put_then
""")


def _env(seaweed, root):
    return dict(os.environ, REDUN_CONFIG=root, AWS_ENDPOINT_URL_S3=seaweed, AWS_ACCESS_KEY_ID="redun",
                AWS_SECRET_ACCESS_KEY="redun", AWS_DEFAULT_REGION="us-east-1")


def _redun(env, *args):
    return subprocess.run([sys.executable, "-m", "redun", *args], env=env, capture_output=True, text=True)


def _setup(tmp_path, seaweed, execs=3, big=0):
    src = Repo.init(str(tmp_path / "a" / ".redun"))
    names = {make_exec(src, 40, seed=i, big=big if i == 0 else 0)[0] for i in range(execs)}  # a pack each
    url = unique_url()
    env = _env(seaweed, src.root)
    assert _redun(env, "repo", "add", "s3", url).returncode == 0
    return src, url, names, env


def _head(seaweed, url):
    """(refs, packs) of the remote's HEAD, or None when there is none."""
    client = seaweed_client(seaweed)
    key = url[len(f"s3://{BUCKET}/"):]
    try:
        body = client.get_object(Bucket=BUCKET, Key=f"{key}/HEAD")["Body"].read()
    except client.exceptions.NoSuchKey:
        return None
    refs, packs, _ = decode_head(body, url)
    return refs, packs


def _remote_bytes(seaweed, url, rel):
    key = url[len(f"s3://{BUCKET}/"):]
    return seaweed_client(seaweed).get_object(Bucket=BUCKET, Key=f"{key}/{rel}")["Body"].read()


def _pull_into(tmp_path, seaweed, url, label):
    """A fresh repo, then `redun pull s3` into it (a subprocess); returns (repo root, result)."""
    dst = Repo.init(str(tmp_path / label / ".redun"))
    env = _env(seaweed, dst.root)
    assert _redun(env, "repo", "add", "s3", url).returncode == 0
    return dst.root, _redun(env, "pull", "s3")


def _state(root):
    """(pack names, exec ref names, every object id held); fsck clean, closures whole."""
    repo = Repo.open(root)
    try:
        report = fsck(repo.store, repo.refs)
        assert report.ok, [str(p) for p in report.problems]
        refs = dict(repo.refs.list("execs/"))
        for oid in refs.values():
            assert closure_ok(repo.store, oid)
        return {p.name for p in repo.store.packs()}, set(refs), set(repo.store.iter_ids())
    finally:
        repo.close()


def test_push_and_pull_whole_packs_round_trip(tmp_path, seaweed):  # noqa: F811
    src, url, names, env = _setup(tmp_path, seaweed)
    packs = {p.name: p for p in src.store.packs()}
    out = _redun(env, "push", "s3")
    assert out.returncode == 0, out.stderr
    refs, remote_packs = _head(seaweed, url)
    assert set(refs) == names and set(remote_packs) == set(packs)  # the source's packs, as they are
    for name, p in packs.items():
        with open(p.path, "rb") as f:
            assert _remote_bytes(seaweed, url, f"packs/pack-{name}.pack") == f.read()
        with open(p.idx_path, "rb") as f:
            assert _remote_bytes(seaweed, url, f"packs/pack-{name}.idx") == f.read()
    assert _redun(env, "push", "s3").stdout.strip() == "Repo 's3' is up to date."

    root, out = _pull_into(tmp_path, seaweed, url, "b")
    assert out.returncode == 0, out.stderr
    got_packs, got_refs, ids = _state(root)
    assert got_packs == set(packs) and got_refs == names and ids == set(src.store.iter_ids())
    for name in got_packs:  # marked with where they came from, as the object path marks them
        assert read_origin(os.path.join(root, "packs"), name) == {"via": "sync", "from": url}

    # a second round: a new execution (its pack shares the Task, so it is partly held and
    # its objects go one by one) and a pack no ref reaches (whole, both ways)
    names.add(make_exec(src, 40, seed=7)[0])
    alone = src.store.write_pack(
        codec.encode(Value(os.urandom(20), "builtins.int", "native", encode_native(i))) for i in range(300))
    assert _redun(env, "push", "s3").returncode == 0
    assert alone in _head(seaweed, url)[1]
    out = _redun(_env(seaweed, root), "pull", "s3")
    assert out.returncode == 0, out.stderr
    got_packs, got_refs, ids = _state(root)
    assert alone in got_packs and got_refs == names and ids == set(src.store.iter_ids())


def test_multipart_push_and_streamed_pull(tmp_path, seaweed, monkeypatch):  # noqa: F811
    """Packs larger than a part go up in parts (here 5 MiB) and are checked before the upload completes."""
    from redun.objects import s3

    monkeypatch.setattr(s3, "STREAM_PART", 5 << 20)
    src, url, names, _ = _setup(tmp_path, seaweed, execs=2, big=20 << 20)
    remote = S3Remote(url, str(tmp_path / "cache"), client=seaweed_client(seaweed))
    with remote:
        result = sync(repo_remote(src), remote, trusted=True)
        assert remote.calls["UploadPart"] >= 3 and remote.calls["CompleteMultipartUpload"] == 1
        assert remote.calls.get("ListObjectsV2", 0) == 0
    assert set(result.refs) == names
    dst = Repo.init(str(tmp_path / "b" / ".redun"))
    with S3Remote(url, str(tmp_path / "cache2"), client=seaweed_client(seaweed)) as remote:
        sync(remote, repo_remote(dst))  # untrusted: every entry checked as it streams
    assert _state(dst.root)[2] == set(src.store.iter_ids())


def test_damaged_remote_pack_is_refused_naming_it(tmp_path, seaweed):  # noqa: F811
    src, url, names, env = _setup(tmp_path, seaweed)
    assert _redun(env, "push", "s3").returncode == 0
    victim = max(src.store.packs(), key=lambda p: os.path.getsize(p.path)).name
    body = bytearray(_remote_bytes(seaweed, url, f"packs/pack-{victim}.pack"))
    body[-3] ^= 1  # one byte inside the last entry: the pack digest fails
    key = url[len(f"s3://{BUCKET}/"):]
    seaweed_client(seaweed).put_object(Bucket=BUCKET, Key=f"{key}/packs/pack-{victim}.pack", Body=bytes(body))
    root, out = _pull_into(tmp_path, seaweed, url, "b")
    assert out.returncode != 0
    # the bytes are checked as they stream: the damaged entry (or else the digest) is refused
    assert f"packs/pack-{victim}.pack" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    packs, refs, ids = _state(root)
    assert not packs and not refs and not ids  # nothing was installed
    assert not [e for e in os.listdir(os.path.join(root, "packs")) if e.startswith("tmp-")]


def test_damaged_local_pack_is_not_uploaded(tmp_path, seaweed):  # noqa: F811
    src, url, names, env = _setup(tmp_path, seaweed)
    victim = max(src.store.packs(), key=lambda p: os.path.getsize(p.path))
    with open(victim.path, "r+b") as f:
        f.seek(-3, os.SEEK_END)
        b = f.read(1)
        f.seek(-3, os.SEEK_END)
        f.write(bytes([b[0] ^ 1]))
    out = _redun(env, "push", "s3")
    assert out.returncode != 0 and f"pack-{victim.name}.pack does not match its index digest" in out.stderr
    assert _head(seaweed, url) is None  # no HEAD was written
    key = url[len(f"s3://{BUCKET}/"):]
    listed = seaweed_client(seaweed).list_objects_v2(Bucket=BUCKET, Prefix=f"{key}/").get("Contents", [])
    assert f"{key}/packs/pack-{victim.name}.pack" not in {o["Key"] for o in listed}


def test_pull_checks_every_entry_of_a_whole_pack(tmp_path, seaweed):  # noqa: F811
    """A pack whose bytes match its index but holds an object that is not what its id says:
    the push from its own repo (trusted) sends it as it is; a pull refuses it, naming the object."""
    src, url, names, env = _setup(tmp_path, seaweed, execs=1)
    data = codec.encode(Value(b"\x07" * 20, "builtins.int", "native", encode_native(7)))
    liar = bytes(32)  # not the blake3 of data
    with src.store.pack_writer() as w:
        w.add_stored(liar, compress.compress(data))
    assert _redun(env, "push", "s3").returncode == 0
    root, out = _pull_into(tmp_path, seaweed, url, "b")
    assert out.returncode != 0 and liar.hex() in out.stderr, out.stderr
    packs, refs, ids = _state(root)
    assert not packs and not refs and not ids
    with pytest.raises(CorruptObjectError):  # and in process, the same refusal
        with S3Remote(url, str(tmp_path / "cache"), client=seaweed_client(seaweed)) as remote:
            sync(remote, repo_remote(Repo.init(str(tmp_path / "c"))))


@pytest.mark.parametrize("point,k", [("part", 1), ("part", 3), ("index", 1), ("index", 2)])
def test_kill9_during_whole_pack_upload_then_retry(tmp_path, seaweed, point, k):  # noqa: F811
    src, url, names, env = _setup(tmp_path, seaweed, execs=3, big=20 << 20)
    p = subprocess.run([sys.executable, "-c", KILLER, point, str(k), "push", "s3"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert p.returncode == -9  # it died at that point
    assert _head(seaweed, url) is None  # the HEAD names packs only once every one is complete
    out = _redun(env, "push", "s3")
    assert out.returncode == 0, out.stderr
    refs, packs = _head(seaweed, url)
    assert set(refs) == names and set(packs) == {p.name for p in src.store.packs()}
    root, out = _pull_into(tmp_path, seaweed, url, "b")
    assert out.returncode == 0, out.stderr
    assert _state(root)[1:] == (names, set(src.store.iter_ids()))



# `redun pull s3` killed at one step of the pack group install, at the same points as
# tests/test_sync_wholepacks.py's directory push (tests/group_killer.py).
PULL_KILLER_ARGS = ("pull", "s3")


@pytest.mark.parametrize("point,k", [("stage", 2), ("install", 2)])
def test_kill9_during_whole_pack_pull_then_retry(tmp_path, seaweed, point, k):  # noqa: F811
    src, url, names, env = _setup(tmp_path, seaweed, execs=3)
    assert _redun(env, "push", "s3").returncode == 0
    dst = Repo.init(str(tmp_path / "b" / ".redun"))
    env = _env(seaweed, dst.root)
    assert _redun(env, "repo", "add", "s3", url).returncode == 0
    p = subprocess.run([sys.executable, "-c", GROUP_INSTALL_KILLER, point, str(k), *PULL_KILLER_ARGS], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert p.returncode == -9  # it died at that point
    packs, refs, ids = _state(dst.root)
    assert not refs  # refs move only after the group is installed
    if point == "stage":
        assert not packs and not ids  # nothing was visible yet
    else:
        assert ids == set(src.store.iter_ids())  # the journal was rolled forward: the whole group
    out = _redun(env, "pull", "s3")
    assert out.returncode == 0, out.stderr
    assert _state(dst.root)[1:] == (names, set(src.store.iter_ids()))
