"""Issue 12 on a real S3 server (SeaweedFS, tests/conftest_s3.py): a HEAD of another
repository format is refused, as a directory's FORMAT is; a killed push leaves no
`tmp-*.pack` behind on the remote."""

import json
import os
import sys

import pytest

from conftest_s3 import BUCKET, make_exec, seaweed_client, unique_url  # noqa: F401
from memcap import run_capped
from redun.repo.repository import Repo

pytestmark = pytest.mark.s3


def _env(endpoint):
    return dict(os.environ, AWS_ENDPOINT_URL_S3=endpoint, AWS_ACCESS_KEY_ID="redun",
                AWS_SECRET_ACCESS_KEY="redun", AWS_DEFAULT_REGION="us-east-1")


def _redun(endpoint, root, *args):
    return run_capped([sys.executable, "-m", "redun", "-c", root, *args], env=_env(endpoint))


def _head(client, url):
    prefix = url[len(f"s3://{BUCKET}/"):]
    return client.get_object(Bucket=BUCKET, Key=f"{prefix}/HEAD")["Body"].read()


@pytest.mark.parametrize("fmt", ["redun-repo 2.0", "redun-repo 0.9"])
def test_s3_head_of_another_format_is_refused(tmp_path, seaweed, fmt):  # noqa: F811
    """Item 8: a remote at format 2.0 was pushed to and its HEAD rewritten as 1.0."""
    a = Repo.init(str(tmp_path / "a"))
    make_exec(a, 2)
    url = unique_url()
    assert _redun(seaweed, a.root, "repo", "add", "s3", url).returncode == 0
    assert _redun(seaweed, a.root, "push", "s3").returncode == 0
    client = seaweed_client(seaweed)
    head = json.loads(_head(client, url))
    head["format"] = fmt
    prefix = url[len(f"s3://{BUCKET}/"):]
    client.put_object(Bucket=BUCKET, Key=f"{prefix}/HEAD", Body=json.dumps(head).encode())
    before = _head(client, url)
    make_exec(a, 1)
    for args in (["push", "s3"], ["pull", "s3"], ["--repo", "s3", "fsck"]):
        res = _redun(seaweed, a.root, *args)
        assert res.returncode == 1 and f"format {fmt.split()[1]}" in res.stderr, (args, res)
        assert "Traceback" not in res.stderr
    assert _head(client, url) == before  # untouched


def test_s3_head_newer_minor_is_kept(tmp_path, seaweed):  # noqa: F811
    a = Repo.init(str(tmp_path / "a"))
    make_exec(a, 2)
    url = unique_url()
    assert _redun(seaweed, a.root, "repo", "add", "s3", url).returncode == 0
    assert _redun(seaweed, a.root, "push", "s3").returncode == 0
    client = seaweed_client(seaweed)
    head = json.loads(_head(client, url))
    head["format"] = "redun-repo 1.7"
    prefix = url[len(f"s3://{BUCKET}/"):]
    client.put_object(Bucket=BUCKET, Key=f"{prefix}/HEAD", Body=json.dumps(head).encode())
    make_exec(a, 1)
    res = _redun(seaweed, a.root, "push", "s3")
    assert res.returncode == 0, res
    assert json.loads(_head(client, url))["format"] == "redun-repo 1.7"


KILL_AT_FIRST_UPLOAD = r"""
import os, signal, sys
from redun.objects import s3
def upload_file(self, *a, **k):
    os.kill(os.getpid(), signal.SIGKILL)  # killed with the pack staged, before any upload
s3.S3Location.upload_file = upload_file
sys.argv = ["redun", "-c", sys.argv[1], "push", "s3", sys.argv[2]]
from redun.cli.entry import main
main()
"""


def test_killed_s3_push_leaves_no_staged_pack(tmp_path, seaweed):  # noqa: F811
    """Item 11: the staged tmp-*.pack of a killed push stayed in the remote's cache forever.
    (A push of one execution by prefix: the object path, which stages its pack.)"""
    a = Repo.init(str(tmp_path / "a"))
    ref = make_exec(a, 3)[0]
    url = unique_url()
    assert _redun(seaweed, a.root, "repo", "add", "s3", url).returncode == 0
    prefix = ref.split("/")[1][:8]
    res = run_capped([sys.executable, "-c", KILL_AT_FIRST_UPLOAD, a.root, prefix], env=_env(seaweed))
    assert res.returncode == -9, res
    cache = os.path.join(a.root, "remotes-cache", "s3")
    staged = [e for e in os.listdir(cache) if e.startswith("tmp-")]
    assert len(staged) == 1
    res = _redun(seaweed, a.root, "push", "s3")
    assert res.returncode == 0, res
    assert [e for e in os.listdir(cache) if e.startswith("tmp-")] == []
