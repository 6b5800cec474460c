"""Issue 17 item 4: a configured repository whose config dir (a directory, or an S3 prefix on
SeaweedFS) holds a redun.ini naming a PostgreSQL database ([backend] db_uri) is that database,
as upstream: `redun --repo NAME log`, push and pull read and write it, nothing is written beside
the redun.ini, and an unsupported db_uri there is a clear error naming the file."""

import os
import subprocess
import sys

from conftest import copy_compile_example
from conftest_s3 import seaweed_client, unique_url  # noqa: F401


def _env(seaweed):
    return dict(os.environ, REDUN_CONFIG="", AWS_ENDPOINT_URL_S3=seaweed, AWS_ACCESS_KEY_ID="redun",
                AWS_SECRET_ACCESS_KEY="redun", AWS_DEFAULT_REGION="us-east-1")


def test_s3_and_directory_config_dirs_naming_a_database(pg_server, seaweed, tmp_path):
    env = _env(seaweed)

    def redun(*args, cwd, check=True):
        res = subprocess.run([sys.executable, "-m", "redun", *args], cwd=cwd, env=env, capture_output=True,
                             text=True, timeout=300)
        if check:
            assert res.returncode == 0, (args, res.stdout, res.stderr)
        return res

    uri = pg_server.create_database()
    url = unique_url()
    bucket, prefix = url[len("s3://"):].split("/", 1)
    client = seaweed_client(seaweed)
    client.put_object(Bucket=bucket, Key=f"{prefix}/redun.ini", Body=f"[backend]\ndb_uri = {uri}\n".encode())
    shared_dir = tmp_path / "shared" / ".redun"  # a directory config dir naming the same database
    shared_dir.mkdir(parents=True)
    (shared_dir / "redun.ini").write_text(f"[backend]\ndb_uri = {uri}\n")

    work = copy_compile_example(tmp_path / "w")
    redun("init", cwd=work)
    redun("run", "make.py", "make", cwd=work)
    redun("repo", "add", "prod", url, cwd=work)
    redun("repo", "add", "team", str(shared_dir), cwd=work)
    assert "Pushed" in redun("push", "prod", cwd=work).stdout
    assert "up to date" in redun("push", "prod", cwd=work).stdout
    # the records went to the database, not beside redun.ini on S3
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", [])]
    assert keys == [f"{prefix}/redun.ini"], keys
    mine = redun("log", cwd=work).stdout
    exec_line = [line for line in mine.splitlines() if line.startswith("Exec ")][0]
    for name in ("prod", "team"):
        theirs = redun("--repo", name, "log", cwd=work).stdout
        assert exec_line.split()[1] in theirs, (name, theirs)
        assert redun("--repo", name, "log", "--job", "--count", cwd=work).stdout.strip() == "9 Job"
    assert "up to date" in redun("push", "team", cwd=work).stdout  # same database, already there
    assert sorted(os.listdir(shared_dir)) == ["redun.ini"]

    other = tmp_path / "other"
    other.mkdir()
    redun("init", cwd=str(other))
    redun("repo", "add", "prod", url, cwd=str(other))
    assert "Pulled" in redun("pull", "prod", cwd=str(other)).stdout
    assert redun("log", "--job", "--count", cwd=str(other)).stdout.strip() == "9 Job"

    # an S3 config dir without redun.ini is a pack repository at the prefix, as before
    plain = unique_url()
    redun("repo", "add", "plain", plain, cwd=work)
    assert "Pushed" in redun("push", "plain", cwd=work).stdout
    assert exec_line.split()[1] in redun("--repo", "plain", "log", cwd=work).stdout

    # an unsupported database named on S3: a clear error naming the file, nothing written
    bad = unique_url()
    bbucket, bprefix = bad[len("s3://"):].split("/", 1)
    client.put_object(Bucket=bbucket, Key=f"{bprefix}/redun.ini", Body=b"[backend]\ndb_uri = mysql://h/db\n")
    redun("repo", "add", "bad", bad, cwd=work)
    for args in (("--repo", "bad", "log"), ("push", "bad"), ("pull", "bad")):
        res = redun(*args, cwd=work, check=False)
        assert res.returncode != 0 and "Traceback" not in res.stderr, (args, res.stderr)
        assert f"{bad}/redun.ini" in res.stderr and "postgresql://" in res.stderr, (args, res.stderr)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bbucket, Prefix=bprefix + "/").get("Contents", [])]
    assert keys == [f"{bprefix}/redun.ini"]
