"""redun/objects/s3.py: URLs, the shared client, errors mapped with clear messages."""

import os

import pytest
from conftest_s3 import free_ports, moto_s3, unique_url  # noqa: F401

from redun.errors import ConfigError, StorageError, SyncError
from redun.objects import s3
from redun.objects.s3 import S3Location, S3Url, parse_s3_url


def test_parse_s3_url():
    assert parse_s3_url("s3://b/x/y/") == S3Url("b", "x/y")
    assert parse_s3_url("s3://bucket") == S3Url("bucket", "")
    assert str(S3Url("b", "k")) == "s3://b/k" and str(S3Url("b", "")) == "s3://b"
    for bad, words in [("/tmp/x", "not an S3 URL"), ("s3://", "lacks a bucket"), ("s3:///k", "lacks a bucket"),
                       ("s3://-bad/k", "not a valid S3 bucket"), ("s3://a b/k", "not a valid S3 bucket"),
                       ("s3://b/k\n", "control characters")]:
        with pytest.raises(ConfigError, match=words) as e:
            parse_s3_url(bad, "remote")
        assert "remote" in str(e.value)


def test_keys_under_the_prefix():
    loc = S3Location("s3://b/p/q", client=object())
    assert loc.key("HEAD") == "p/q/HEAD" and loc.key() == "p/q"
    assert S3Location("s3://b", client=object()).key("HEAD") == "HEAD"


def test_client_is_shared_per_environment(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    a = s3.s3_client()
    assert s3.s3_client() is a
    assert a.meta.endpoint_url == "http://127.0.0.1:9"  # AWS_ENDPOINT_URL_S3 honoured
    assert a.meta.config.connect_timeout == s3.CONNECT_TIMEOUT
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    b = s3.s3_client()
    assert b is not a and b.meta.region_name == "eu-west-1"


def test_missing_profile_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(SyncError, match="no-such-profile"):
        S3Location("s3://b/p", "remote", SyncError).get("HEAD")


def test_unreachable_endpoint_and_missing_credentials(monkeypatch, tmp_path):
    port = free_ports(1)[0]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    with pytest.raises(StorageError, match="Cannot reach the S3 endpoint .*AWS_ENDPOINT_URL"):
        S3Location("s3://b/p").get("k")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(StorageError, match="No usable AWS credentials .*AWS_ACCESS_KEY_ID"):
        S3Location("s3://b/p", "value store").put("k", b"x")


def test_error_messages_name_the_cause():
    from botocore.exceptions import ClientError

    url = S3Url("bkt", "p")

    def msg(code):
        e = ClientError({"Error": {"Code": code, "Message": "m"}}, "GetObject")
        return s3.describe_failure(e, "remote", url, "read", "p/HEAD")

    assert "bucket 'bkt' of remote s3://bkt/p does not exist" in msg("NoSuchBucket")
    assert msg("AccessDenied").startswith("Access denied: cannot read s3://bkt/p/HEAD")
    assert "credentials" in msg("InvalidAccessKeyId")
    assert "Retry later" in msg("SlowDown")
    assert msg("Weird") == "Cannot read s3://bkt/p/HEAD: Weird m"


def test_operations_on_moto(moto_s3, monkeypatch):  # noqa: F811
    loc = S3Location(unique_url())
    assert loc.get("k") is None and loc.head("k") is None
    assert loc.put("k", b"one", if_absent=True)
    assert not loc.put("k", b"two", if_absent=True)  # a compare-and-swap that lost
    etag = loc.head("k")["ETag"]
    assert loc.put("k", b"three", if_match=etag)
    assert not loc.put("k", b"four", if_match=etag)
    assert loc.get("k") == b"three"
    assert sorted(loc.list()) == [loc.key("k")]
    assert loc.calls["PutObject"] == 4 and loc.calls["GetObject"] == 2 and loc.calls["HeadObject"] == 2
    with pytest.raises(StorageError, match="bucket 'nope' of S3 location s3://nope/x does not exist"):
        S3Location("s3://nope/x").put("k", b"x")


def test_large_upload_goes_in_parts(moto_s3, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setattr(s3, "MULTIPART_AT", 1 << 20)
    monkeypatch.setattr(s3, "PART_SIZE", 5 << 20)  # S3's smallest part
    data = os.urandom(11 << 20)
    path = tmp_path / "f"
    path.write_bytes(data)
    loc = S3Location(unique_url())
    loc.upload_file("big", str(path))
    assert loc.calls["UploadPart"] == 3 and loc.calls["CompleteMultipartUpload"] == 1
    assert loc.get("big") == data
    small = tmp_path / "s"
    small.write_bytes(b"small")
    loc.upload_file("small", str(small))
    assert loc.get("small") == b"small" and loc.calls["PutObject"] == 1


@pytest.mark.s3
def test_endpoint_from_the_environment_on_seaweedfs(seaweed, monkeypatch):  # noqa: F811
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweed)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "redun")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "redun")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    loc = S3Location(unique_url())
    assert loc.put("a/b", b"hello")
    assert loc.get("a/b") == b"hello" and loc.head("a/b")["ContentLength"] == 5
    assert not loc.put("a/b", b"x", if_absent=True)
    with pytest.raises(StorageError, match="does not exist"):
        S3Location("s3://no-such-bucket-redun/x").get("k")
