"""File and Dir on s3:// against a real S3 server (SeaweedFS on 127.0.0.1)."""

import json
import os
import subprocess
import uuid

import pytest
from conftest import UPSTREAM_PY
from conftest_s3 import BUCKET, seaweed_client  # noqa: F401

from redun.errors import StorageError
from redun.file import Dir, File, FileSet, RedunFileNotFoundError, ShardedS3Dataset
from redun.hashing import hash_struct

pytestmark = pytest.mark.s3


def s3_env(endpoint: str) -> dict:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "redun", "AWS_SECRET_ACCESS_KEY": "redun",
            "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def s3(seaweed, monkeypatch):  # noqa: F811
    """A fresh s3:// prefix in the test bucket, with the AWS_* settings pointing at SeaweedFS."""
    for key, value in s3_env(seaweed).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return f"s3://{BUCKET}/files-{uuid.uuid4().hex[:10]}"


def etag(endpoint, url):
    bucket, key = url[5:].split("/", 1)
    return seaweed_client(endpoint).head_object(Bucket=bucket, Key=key)["ETag"]


def test_s3_file_api(s3, seaweed):  # noqa: F811
    f = File(f"{s3}/a/x.txt")
    assert f.hash == hash_struct(["File", "s3", f.path, ""]) and not f.exists()
    f.write("hello\nworld\n")
    assert f.hash == hash_struct(["File", "s3", f.path, etag(seaweed, f.path)])
    assert f.exists() and f.isfile() and not f.isdir() and f.size() == 12
    assert f.read() == "hello\nworld\n" and f.read("rb") == b"hello\nworld\n"
    assert f.readlines() == ["hello\n", "world\n"]
    assert f.basename() == "x.txt" and f.dirname() == f"{s3}/a"
    with File(f"{s3}/a/x.txt").open("a", encoding="utf8") as out:
        out.write("more")
    assert not f.is_valid()  # the object changed: its ETag did
    assert f.read() == "hello\nworld\nmore"
    folder = File(f"{s3}/a")
    assert folder.exists() and folder.isdir() and not folder.isfile()
    t = File(f"{s3}/a/empty")
    t.touch()
    assert t.exists() and t.size() == 0
    before = f.hash
    File(f.path).touch()  # touching an existing object leaves it as it is
    assert File(f.path).hash == before
    f.remove()
    assert not f.exists()
    f.remove()
    with pytest.raises(RedunFileNotFoundError, match="x.txt"):
        f.read()
    with pytest.raises(FileNotFoundError):
        f.size()


def test_s3_streams_multipart_and_seek(s3, seaweed, monkeypatch):  # noqa: F811
    from redun.fs import s3io

    monkeypatch.setattr(s3io, "PART_SIZE", 5 << 20)  # S3's smallest part
    data = os.urandom((12 << 20) + 123)
    f = File(f"{s3}/big.bin")
    with f.open("wb") as out:
        for start in range(0, len(data), 1 << 20):
            out.write(data[start : start + (1 << 20)])
    assert etag(seaweed, f.path).endswith('-3"')  # three parts went up
    assert f.size() == len(data) and f.read("rb") == data
    with f.open("rb") as stream:
        stream.seek(7 << 20)
        assert stream.read(10) == data[7 << 20 : (7 << 20) + 10]
        stream.seek(-5, os.SEEK_END)
        assert stream.read() == data[-5:]
        stream.seek(3)
        assert stream.read(4) == data[3:7]


def test_s3_failed_write_leaves_nothing(s3, monkeypatch):
    from redun.fs import s3io

    monkeypatch.setattr(s3io, "PART_SIZE", 5 << 20)
    f = File(f"{s3}/partial.bin")
    raw = s3io.S3Writer(f.filesystem.location(BUCKET), f.path.split("/", 3)[3])
    raw.write(os.urandom(6 << 20))  # one part up
    raw.abort()
    assert not f.exists()


def test_s3_copies(s3, tmp_path):
    local = File(str(tmp_path / "src.bin"))
    local.write(os.urandom(300_000))
    up = local.copy_to(File(f"{s3}/c/src.bin"))
    assert up.exists() and up.is_valid() and up.size() == 300_000
    down = up.copy_to(File(str(tmp_path / "back" / "src.bin")))
    assert down.read("rb") == local.read("rb")
    other = up.copy_to(File(f"{s3}/c2/copy.bin"))  # server-side
    assert other.read("rb") == local.read("rb")
    with pytest.raises(FileNotFoundError):
        File(f"{s3}/nope").copy_to(File(str(tmp_path / "nope")))


def test_s3_dir_fileset_glob(s3, tmp_path, seaweed):  # noqa: F811
    src = Dir(str(tmp_path / "tree"))
    for rel in ("a.csv", "b.csv", "sub/c.csv", "sub/deep/d.txt"):
        File(os.path.join(src.path, rel)).write(rel)
    remote = src.copy_to(Dir(f"{s3}/tree"))
    files = remote.files()
    assert sorted(remote.rel_path(f.path) for f in files) == ["a.csv", "b.csv", "sub/c.csv", "sub/deep/d.txt"]
    expected = sorted(hash_struct(["File", "s3", f.path, etag(seaweed, f.path)]) for f in files)
    assert remote.hash == hash_struct(["Dir", remote.path] + expected)
    assert sorted(f.basename() for f in FileSet(f"{s3}/tree/*.csv")) == ["a.csv", "b.csv"]
    assert sorted(f.basename() for f in FileSet(f"{s3}/tree/**/*.csv")) == ["a.csv", "b.csv", "c.csv"]
    back = remote.copy_to(Dir(str(tmp_path / "back")))
    assert back.file("sub/deep/d.txt").read() == "sub/deep/d.txt"
    ds = ShardedS3Dataset(f"{s3}/tree", format="csv")
    assert ds.filenames == sorted(f"{s3}/tree/{r}" for r in ("a.csv", "b.csv", "sub/c.csv"))
    assert ds.hash == hash_struct(["ShardedS3Dataset", ds.path] + ds.filenames)
    assert ShardedS3Dataset.from_files([File(f"{s3}/tree/a.csv"), File(f"{s3}/tree/b.csv")],
                                       allow_additional_files=True).path == f"{s3}/tree"
    assert remote.is_valid()
    File(f"{s3}/tree/new.csv").write("n")
    assert not remote.is_valid()
    with pytest.raises(OSError, match="not empty"):
        remote.rmdir()
    remote.rmdir(recursive=True)
    assert not remote.exists() and remote.files() == []


def test_s3_errors_are_clear(s3, monkeypatch):
    with pytest.raises(StorageError, match="bucket 'no-such-bucket-x' .*does not exist"):
        File("s3://no-such-bucket-x/k").read()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(StorageError, match="Access denied"):
        File(f"{s3}/k").read()
    with pytest.raises(StorageError, match="Access denied"):
        File(f"{s3}/k").hash
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(StorageError, match="Cannot reach the S3 endpoint"):
        File(f"{s3}/k").exists()


@pytest.mark.upstream
@pytest.mark.slow
def test_s3_hashes_match_upstream(s3, seaweed, tmp_path):  # noqa: F811
    File(f"{s3}/u/one.txt").write("1")
    File(f"{s3}/u/two/three.txt").write("3" * 1000)
    code = ("import json, sys, redun\nassert 'site-packages' in redun.__file__\nfrom redun.file import File, Dir\n"
            "a = json.loads(sys.argv[1])\n"
            "print(json.dumps([File(u).hash for u in a['files']] + [Dir(u).hash for u in a['dirs']]))")
    args = {"files": [f"{s3}/u/one.txt", f"{s3}/u/two/three.txt", f"{s3}/u/missing"],
            "dirs": [f"{s3}/u", f"{s3}/u/two", f"{s3}/none"]}
    env = dict(os.environ, **s3_env(seaweed))
    p = subprocess.run([UPSTREAM_PY, "-c", code, json.dumps(args)], capture_output=True, text=True,
                       timeout=120, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    ours = [File(u).hash for u in args["files"]] + [Dir(u).hash for u in args["dirs"]]
    assert json.loads(p.stdout) == ours


def test_s3_settings_from_a_profile(s3, seaweed, tmp_path, monkeypatch):  # noqa: F811
    """Endpoint and keys from an AWS profile (config + credentials files), no AWS_* keys set."""
    (tmp_path / "config").write_text(f"[profile bench]\nregion = us-east-1\nendpoint_url = {seaweed}\n")
    (tmp_path / "credentials").write_text("[bench]\naws_access_key_id = redun\naws_secret_access_key = redun\n")
    for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_PROFILE", "bench")
    f = File(f"{s3}/profile.txt")
    f.write("via profile")
    assert File(f.path).read() == "via profile"
