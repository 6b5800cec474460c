"""S3 for every part of redun: `s3://` URLs, the client, and errors.

The S3 remote (sync/s3remote.py), the S3 value store (objects/s3store.py) and
File("s3://...") all go through this module, so they parse URLs alike, read
the AWS settings alike and report failures alike.

- `parse_s3_url(url)` -> S3Url(bucket, key): validated, slashes stripped.
- `s3_client()`: one boto3 client per process (per AWS_* environment), built
  by `make_client()`. boto3 is imported on first use only. The client reads
  the usual AWS settings: AWS_PROFILE and ~/.aws/config, the region,
  credentials, AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 for S3-compatible
  servers, AWS_MAX_ATTEMPTS / AWS_RETRY_MODE. What we set ourselves
  (timeouts, the retry mode when none is configured) is in `make_client`.
- `S3Location(url, what, error)`: a bucket and key prefix. Every call goes
  through `call()`, which counts operations by API name (`calls`) and turns
  botocore failures into our error tree: a missing key is NotFoundError (or
  None from `get`/`head`), everything else is `error` (the caller's class:
  SyncError for a remote, StorageError by default) with a message naming the
  location and what to check (missing bucket, access denied, no
  credentials, unreachable endpoint).
"""

import os
import re
import threading
from collections import Counter
from contextlib import contextmanager
from typing import Iterator, NamedTuple, Optional

from ..errors import ConfigError, RedunError, StorageError

CONNECT_TIMEOUT = 10  # seconds; botocore's 60 s makes a dead endpoint look like a hang
READ_TIMEOUT = 60
MULTIPART_AT = 1 << 30  # files above 1 GiB go up in parts (one PUT stops at 5 GiB)
PART_SIZE = 64 << 20  # held in memory one at a time; 10,000 parts allow 640 GiB
STREAM_PART = 8 << 20  # upload_chunks: about one part in memory at a time (S3's least is 5 MiB)

# Legacy bucket names (us-east-1) allow upper case and '_'; S3 checks the rest.
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}\Z")
_MISSING = ("NoSuchKey", "404", "NotFound")
_DENIED = ("AccessDenied", "403", "Forbidden", "AllAccessDisabled", "InvalidAccessKeyId",
           "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "AccountProblem")
_CONFLICT = ("PreconditionFailed", "ConditionalRequestConflict", "412")


class S3Url(NamedTuple):
    bucket: str
    key: str  # no leading or trailing '/'; "" for the whole bucket

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"


def is_s3_url(text) -> bool:
    return isinstance(text, str) and text.startswith("s3://")


def parse_s3_url(url: str, what: str = "S3 location") -> S3Url:
    """Bucket and key of `s3://bucket/key`; ConfigError naming `what` otherwise."""
    if not is_s3_url(url):
        raise ConfigError(f"{what} {url!r} is not an S3 URL (expected s3://bucket/prefix)")
    bucket, _, key = url[5:].partition("/")
    if not bucket:
        raise ConfigError(f"{what} {url!r} lacks a bucket name (expected s3://bucket/prefix)")
    if not _BUCKET.match(bucket):
        raise ConfigError(
            f"{what} {url!r}: {bucket!r} is not a valid S3 bucket name "
            "(letters, digits, '.', '-', '_'; starting with a letter or digit)"
        )
    key = key.strip("/")
    if any(ord(c) < 32 or ord(c) == 127 for c in key) or len(key.encode()) > 900:
        raise ConfigError(f"{what} {url!r}: the key has control characters or is too long")
    return S3Url(bucket, key)


# -- the client ---------------------------------------------------------------
_clients: dict = {}
_clients_lock = threading.Lock()
_boto_config: dict = {}  # [scheduler] boto_config: botocore Config arguments for every client


def set_boto_config(config: dict) -> None:
    """Use these botocore Config arguments (upstream's [scheduler] boto_config, a JSON object)
    for every S3 client from now on; clients built before are dropped."""
    global _boto_config
    if not isinstance(config, dict):
        raise ConfigError(f"boto_config must be a JSON object of botocore Config arguments, not {config!r}")
    with _clients_lock:
        _boto_config = dict(config)
        _clients.clear()


def make_client():
    """A new boto3 S3 client from the usual AWS settings, with our timeouts.
    A missing profile or region becomes a StorageError."""
    import boto3  # lazy: only S3 users pay for its import (docs/sync.md)
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    try:
        core = botocore.session.Session()
        retries = {}
        if not (os.environ.get("AWS_RETRY_MODE") or core.get_scoped_config().get("retry_mode")):
            retries["mode"] = "standard"  # backs off on throttling; max_attempts stays the user's
        config = Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT, retries=retries)
        if _boto_config:
            try:
                config = config.merge(Config(**_boto_config))
            except TypeError as e:
                raise ConfigError(f"[scheduler] boto_config: {e}") from None
        return boto3.session.Session(botocore_session=core).client("s3", config=config)
    except BotoCoreError as e:
        raise StorageError(f"Cannot set up S3 access: {e}. Check AWS_PROFILE and ~/.aws/config.") from None


def s3_client():
    """The process's S3 client for the current AWS_* environment (clients are
    thread-safe and costly to build, docs/sync.md, so they are shared)."""
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = make_client()
    return client


def error_code(exc) -> str:
    """The S3 error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", "") or response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def describe_failure(exc, what: str, url, action: str, key: str = "") -> str:
    """A message for a botocore failure: what failed, where, and what to check."""
    from botocore import exceptions as bx

    where = f"{what} {url}"
    target = f"{action} s3://{url.bucket}/{key}" if key else f"{action} {where}"
    if isinstance(exc, bx.ClientError):
        code = error_code(exc)
        if code == "NoSuchBucket":
            return f"S3 bucket {url.bucket!r} of {where} does not exist. Create it or fix the URL."
        if code in _DENIED:
            return (f"Access denied: cannot {target} ({code}). Check the AWS credentials "
                    "(AWS_PROFILE, AWS_ACCESS_KEY_ID) and the bucket's policy.")
        if code in ("SlowDown", "503", "500", "InternalError", "ServiceUnavailable"):
            return f"S3 is failing for {where} ({code}) even after retries: cannot {target}. Retry later."
        message = exc.response.get("Error", {}).get("Message", "")
        return f"Cannot {target}: {code} {message}".rstrip()
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return (f"No usable AWS credentials to {target}. Set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE.")
    if isinstance(exc, bx.NoRegionError):
        return f"No AWS region to {target}. Set AWS_DEFAULT_REGION or a region in AWS_PROFILE."
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError,
                        bx.ConnectionClosedError)):
        return (f"Cannot reach the S3 endpoint to {target}: {exc}. Check the network and "
                "AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL for S3-compatible servers.")
    return (f"Cannot {target}: {exc}. Check the AWS credentials and endpoint "
            "(AWS_ENDPOINT_URL_S3 for S3-compatible servers).")


class S3Location:
    """A bucket and key prefix, reached through one client.

    what: how messages name it ("remote", "value store", "file");
    error: the RedunError class raised for failures (not for missing keys)."""

    def __init__(self, url: str, what: str = "S3 location", error=StorageError, client=None):
        self.url = parse_s3_url(url, what)
        self.bucket, self.prefix = self.url.bucket, self.url.key
        self.what = what
        self.error = error
        self.calls: Counter = Counter()  # operations made, by API name (tests, benchmarks)
        self._client = client

    def __str__(self) -> str:
        return str(self.url)

    @property
    def client(self):
        if self._client is None:
            try:
                self._client = s3_client()
            except StorageError as e:
                raise self.error(f"{self.what} {self.url}: {e}") from None
        return self._client

    def key(self, rel: str = "") -> str:
        """The full key of `rel` under the prefix (the prefix itself for "")."""
        if not rel:
            return self.prefix
        return f"{self.prefix}/{rel}" if self.prefix else rel

    @contextmanager
    def guard(self, action: str, rel: str = ""):
        """Turn botocore failures inside the block into self.error."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (BotoCoreError, ClientError) as e:
            raise self.error(describe_failure(e, self.what, self.url, action, self.key(rel))) from None

    def call(self, op: str, action: str, rel: str = "", **kwargs):
        """client.<op>(Bucket=..., **kwargs), counted and with errors mapped."""
        client = self.client
        self.calls[client.meta.method_to_api_mapping.get(op, op)] += 1
        with self.guard(action, rel):
            return getattr(client, op)(Bucket=self.bucket, **kwargs)

    # -- reads --------------------------------------------------------------
    def get(self, rel: str = "") -> Optional[bytes]:
        """The bytes at rel, or None if there is no such key."""
        r = self.get_response(rel)
        if r is None:
            return None
        with self.guard("read", rel):
            return r["Body"].read()

    def get_response(self, rel: str = ""):
        """GetObject's answer for rel (read its Body under guard()), or None if absent."""
        return self._unless_missing("get_object", "read", rel)

    def head(self, rel: str = "") -> Optional[dict]:
        """HeadObject's answer for rel (ContentLength, ETag, ...), or None if absent."""
        return self._unless_missing("head_object", "check", rel)

    def _unless_missing(self, op: str, action: str, rel: str):
        from botocore.exceptions import ClientError

        client = self.client
        self.calls[client.meta.method_to_api_mapping.get(op, op)] += 1
        with self.guard(action, rel):
            try:
                return getattr(client, op)(Bucket=self.bucket, Key=self.key(rel))
            except ClientError as e:
                if error_code(e) in _MISSING:
                    return None
                raise

    def list(self, rel_prefix: str = "") -> Iterator[str]:
        """Keys under prefix/rel_prefix (full keys), one ListObjectsV2 call per page."""
        token = None
        while True:
            kwargs = {"Prefix": self.key(rel_prefix)}
            if token:
                kwargs["ContinuationToken"] = token
            page = self.call("list_objects_v2", "list", rel_prefix, **kwargs)
            for item in page.get("Contents", ()):
                yield item["Key"]
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    # -- writes -------------------------------------------------------------
    def put(self, rel: str, body, if_match: Optional[str] = None, if_absent: bool = False) -> bool:
        """PutObject. With if_match (an ETag) or if_absent, a compare-and-swap:
        False when the condition failed (someone else wrote first)."""
        from botocore.exceptions import ClientError

        cond = {"IfMatch": if_match} if if_match else ({"IfNoneMatch": "*"} if if_absent else {})
        client = self.client
        self.calls["PutObject"] += 1
        with self.guard("write", rel):
            try:
                client.put_object(Bucket=self.bucket, Key=self.key(rel), Body=body, **cond)
            except ClientError as e:
                if cond and error_code(e) in _CONFLICT:
                    return False
                raise
        return True

    def upload_file(self, rel: str, path: str) -> None:
        """Upload a local file: one PUT, or a multipart upload above MULTIPART_AT
        (parts of PART_SIZE read one at a time; aborted on failure)."""
        size = os.path.getsize(path)
        if size <= MULTIPART_AT:
            with open(path, "rb") as f:
                self.put(rel, f)
            return
        key = self.key(rel)
        upload = self.call("create_multipart_upload", "write", rel, Key=key)["UploadId"]
        try:
            parts = []
            with open(path, "rb") as f:
                for number in range(1, 10001):
                    chunk = f.read(PART_SIZE)
                    if not chunk:
                        break
                    r = self.call("upload_part", "write", rel, Key=key, UploadId=upload,
                                  PartNumber=number, Body=chunk)
                    parts.append({"PartNumber": number, "ETag": r["ETag"]})
            self.call("complete_multipart_upload", "write", rel, Key=key, UploadId=upload,
                      MultipartUpload={"Parts": parts})
        except BaseException:
            try:
                self.call("abort_multipart_upload", "clean up", rel, Key=key, UploadId=upload)
            except RedunError:
                pass  # the first failure is the one to report
            raise

    def upload_chunks(self, rel: str, chunks, before_complete=None, part_size: Optional[int] = None) -> int:
        """Upload the bytes of an iterable of chunks, holding about one part in memory: one PUT
        when they fit in a part, else a multipart upload whose parts are whole chunks joined
        until they reach part_size (chunks of part_size each go up as they are, uncopied).
        before_complete() runs after the last chunk and before the object exists (the PUT
        sent, or the upload completed); if it raises, nothing is written (the upload is
        aborted). Returns the size uploaded."""
        part_size = part_size or STREAM_PART
        pending, pending_size, size, upload, parts = [], 0, 0, None, []
        key = self.key(rel)
        try:
            for chunk in chunks:
                if pending_size >= part_size:  # more follows: a part, not the last one
                    if upload is None:
                        upload = self.call("create_multipart_upload", "write", rel, Key=key)["UploadId"]
                    self._upload_part(rel, key, upload, parts, b"".join(pending))
                    pending, pending_size = [], 0
                pending.append(chunk)
                pending_size += len(chunk)
                size += len(chunk)
            if before_complete is not None:
                before_complete()
            if upload is None:
                self.put(rel, b"".join(pending))
                return size
            if pending:
                self._upload_part(rel, key, upload, parts, b"".join(pending))
            self.call("complete_multipart_upload", "write", rel, Key=key, UploadId=upload,
                      MultipartUpload={"Parts": parts})
            return size
        except BaseException:
            if upload is not None:
                try:
                    self.call("abort_multipart_upload", "clean up", rel, Key=key, UploadId=upload)
                except RedunError:
                    pass  # the first failure is the one to report
            raise

    def _upload_part(self, rel: str, key: str, upload: str, parts: list, body: bytes) -> None:
        if len(parts) >= 10000:
            raise self.error(f"Cannot write s3://{self.bucket}/{key}: more than 10,000 parts")
        number = len(parts) + 1
        r = self.call("upload_part", "write", rel, Key=key, UploadId=upload, PartNumber=number, Body=body)
        parts.append({"PartNumber": number, "ETag": r["ETag"]})
