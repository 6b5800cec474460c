"""push/pull: have/want negotiation, counts, blobs, remotes of every kind, CLI."""

import os
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner

from conftest_s3 import closure_ok, make_exec, moto_s3, seaweed_client, unique_url  # noqa: F401
from redun.cli.group import cli
from redun.errors import AmbiguousPrefixError, NotFoundError, SyncError
from redun.repo.repository import Repo
from redun.repo.remotes import open_remote, repo_remote
from redun.sync.plan import ref_updates, resolve_roots, walk
from redun.sync.s3remote import S3Remote
from redun.sync.transfer import sync


def new_repo(path):
    return Repo.init(str(path))


def run_cli(*args):
    r = CliRunner().invoke(cli, list(args), catch_exceptions=True)
    return r


# -- pure planning ------------------------------------------------------------
def test_walk_children_first_and_stops_at_have():
    graph = {b"a": [b"b", b"c"], b"b": [b"d"], b"c": [b"d", b"e"], b"d": [], b"e": []}
    out = [o for o, _ in walk([b"a"], lambda o: o == b"e", lambda o: (o, graph[o]))]
    assert sorted(out) == [b"a", b"b", b"c", b"d"]
    pos = {o: i for i, o in enumerate(out)}
    for o in out:
        for child in graph[o]:
            if child in pos:
                assert pos[child] < pos[o]  # every prefix is closed under links


def test_ref_updates_and_roots():
    src = {"execs/aa": b"1", "execs/bb": b"2", "other/x": b"3"}
    assert ref_updates(src, {"execs/aa": b"1"}) == {"execs/bb": (None, b"2")}
    assert ref_updates(src, {}, ["execs/aa"]) == {"execs/aa": (None, b"1")}
    assert resolve_roots({"execs/abc-1": b"1", "execs/abd-2": b"2"}, ["abc"]) == ["execs/abc-1"]
    with pytest.raises(AmbiguousPrefixError, match="abc-1"):
        resolve_roots({"execs/abc-1": b"1", "execs/abd-2": b"2"}, ["ab"])
    with pytest.raises(NotFoundError, match="Unknown record ids"):
        resolve_roots({"execs/abc-1": b"1"}, ["ff"])


# -- directory remotes ----------------------------------------------------------
def test_push_pull_directory(tmp_path):
    a, b, c = new_repo(tmp_path / "a"), new_repo(tmp_path / "b"), new_repo(tmp_path / "c")
    name, oids = make_exec(a, 20)
    res = sync(repo_remote(a), repo_remote(b))
    assert res.objects == len(oids) and list(res.refs) == [name]
    assert sync(repo_remote(a), repo_remote(b)).up_to_date
    b2 = Repo.open(b.root)
    assert closure_ok(b2.store, b2.refs.get(name))
    # a second execution: only its new objects move (the shared Task is had)
    name2, oids2 = make_exec(a, 3)
    res = sync(repo_remote(a), repo_remote(Repo.open(b.root)))
    assert res.objects == len(oids2 - oids)
    # pull into a third repo
    res = sync(open_remote(b.root), repo_remote(c))
    assert res.objects == len(oids | oids2)
    assert {n for n, _ in Repo.open(c.root).refs.list("execs/")} == {name, name2}


def test_cp_r_is_a_valid_remote(tmp_path):
    import shutil

    a = new_repo(tmp_path / "a")
    name, oids = make_exec(a, 5)
    from redun.objects.ids import new_uuid, uuid_str
    from redun.objects.records import Execution

    eid = new_uuid()
    loose = a.store.put(Execution(eid, '["run"]', None, 1, None, {}))  # a loose object, not in a pack
    a.refs.set(f"execs/{uuid_str(eid)}", loose)
    shutil.copytree(a.root, tmp_path / "copy")
    c = new_repo(tmp_path / "c")
    res = sync(open_remote(str(tmp_path / "copy")), repo_remote(c))
    assert res.objects == len(oids) + 1


def test_large_values_move_with_their_blobs(tmp_path):
    a, b = new_repo(tmp_path / "a"), new_repo(tmp_path / "b")
    name, oids = make_exec(a, 1, big=3 << 20)
    sync(repo_remote(a), repo_remote(b))
    b2 = Repo.open(b.root)
    blobs = [o for o in oids if b2.store.get(o).TYPE == "blob"]
    assert len(blobs) == 3 and sum(len(b2.store.get(o).data) for o in blobs) == 3 << 20


def test_running_execution_never_replaces_existing_ref(tmp_path):
    a, b = new_repo(tmp_path / "a"), new_repo(tmp_path / "b")
    name, _ = make_exec(a, 2)
    sync(repo_remote(a), repo_remote(b))
    final = a.refs.get(name)
    # the source now says "running" for the same execution: the remote keeps its finished record
    from redun.objects.records import Execution

    rec = a.store.get(final)
    running = a.store.put(Execution(rec.id, rec.args, None, rec.start_time, None, {}))
    a.refs.set(name, running)
    res = sync(repo_remote(a), repo_remote(Repo.open(b.root)))
    assert res.skipped == [name] and Repo.open(b.root).refs.get(name) == final


# -- CLI --------------------------------------------------------------------------
def test_cli_push_pull_messages(tmp_path):
    a = new_repo(tmp_path / "a" / ".redun")
    b = new_repo(tmp_path / "b")
    make_exec(a, 4)
    cfg = ["-c", a.root]
    assert run_cli(*cfg, "repo", "add", "dst", b.root).exit_code == 0
    r = run_cli(*cfg, "push", "dst")
    assert r.exit_code == 0 and r.output.strip() == "Pushed 21 record(s) to repo 'dst'"
    assert run_cli(*cfg, "push", "dst").output.strip() == "Repo 'dst' is up to date."
    assert run_cli(*cfg, "pull", "dst").output.strip() == "Repo 'dst' is up to date."  # push's words
    name, oids = make_exec(Repo.open(b.root), 2)
    assert run_cli(*cfg, "pull", "dst").output.strip() == f"Pulled {len(oids) - 1} new record(s) from repo 'dst'"
    r = run_cli(*cfg, "push", "default")
    assert isinstance(r.exception, SyncError) and "itself" in str(r.exception)


def test_cli_selective_and_remote_to_remote(tmp_path):
    a = new_repo(tmp_path / "a" / ".redun")
    other, fresh = new_repo(tmp_path / "other"), new_repo(tmp_path / "fresh")
    n1, o1 = make_exec(a, 3)
    n2, o2 = make_exec(a, 3)
    cfg = ["-c", a.root]
    run_cli(*cfg, "repo", "add", "other", other.root)
    run_cli(*cfg, "repo", "add", "fresh", fresh.root)
    prefix = n1.split("/")[1][:8]
    r = run_cli(*cfg, "push", "other", prefix)
    assert r.output.strip() == f"Pushed {len(o1)} record(s) to repo 'other'"
    assert [n for n, _ in Repo.open(other.root).refs.list("execs/")] == [n1]
    r = run_cli(*cfg, "--repo", "other", "push", "fresh")
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"Pushed {len(o1)} record(s) to repo 'fresh'"
    r = run_cli(*cfg, "push", "other", "zzzz")
    assert r.exit_code != 0 and "Unknown record ids" in str(r.exception)


@pytest.mark.slow
def test_cli_subprocess_push(tmp_path):
    a = new_repo(tmp_path / "a" / ".redun")
    b = new_repo(tmp_path / "b")
    make_exec(a, 2)
    env = dict(os.environ, REDUN_CONFIG=a.root)
    subprocess.run([sys.executable, "-m", "redun", "repo", "add", "b", b.root], env=env, check=True)
    out = subprocess.run([sys.executable, "-m", "redun", "push", "b"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "Pushed 13 record(s) to repo 'b'\n" and out.stderr == ""
    out = subprocess.run([sys.executable, "-m", "redun", "push", "nope"], env=env, capture_output=True, text=True)
    assert out.returncode == 1 and "Unknown repository: nope" in out.stderr


# -- S3 ----------------------------------------------------------------------------
def test_s3_push_request_counts(tmp_path, moto_s3):  # noqa: F811
    a = new_repo(tmp_path / "a")
    make_exec(a, 200)
    url = unique_url()
    remote = S3Remote(url, str(tmp_path / "cache"))
    res = sync(repo_remote(a), remote)
    assert res.objects == 4 * 200 + 5
    assert "ListObjects" not in remote.calls and "ListObjectsV2" not in remote.calls
    assert remote.calls["PutObject"] == 3  # pack, index, HEAD (conditional)
    assert remote.calls["GetObject"] == 1  # HEAD
    remote2 = S3Remote(url, str(tmp_path / "cache-elsewhere"))  # even with nothing cached
    assert sync(repo_remote(a), remote2).up_to_date
    assert dict(remote2.calls) == {"GetObject": 1}  # nothing new = one read of the head
    # a second execution: the remote's index is cached, so again 1 GET + 3 PUTs
    make_exec(a, 10)
    remote3 = S3Remote(url, str(tmp_path / "cache"))
    sync(repo_remote(a), remote3)
    assert dict(remote3.calls) == {"GetObject": 1, "PutObject": 3}


def test_s3_pull_verifies_and_lands(tmp_path, moto_s3):  # noqa: F811
    a, c = new_repo(tmp_path / "a"), new_repo(tmp_path / "c")
    name, oids = make_exec(a, 10, big=2 << 20)
    url = unique_url()
    sync(repo_remote(a), S3Remote(url, str(tmp_path / "cache-a")))
    with S3Remote(url, str(tmp_path / "cache-c")) as src:
        res = sync(src, repo_remote(c))
    assert res.objects == len(oids)
    c2 = Repo.open(c.root)
    assert closure_ok(c2.store, c2.refs.get(name))
    assert not [f for f in os.listdir(tmp_path / "cache-c") if f.endswith(".pack")]  # downloaded packs dropped


def test_s3_cli_and_repo_option(tmp_path, moto_s3):  # noqa: F811
    a = new_repo(tmp_path / "a" / ".redun")
    name, oids = make_exec(a, 3)
    url = unique_url()
    cfg = ["-c", a.root]
    assert run_cli(*cfg, "repo", "add", "s3", url).exit_code == 0
    r = run_cli(*cfg, "push", "s3")
    assert r.output.strip() == f"Pushed {len(oids)} record(s) to repo 's3'"
    assert run_cli(*cfg, "push", "s3").output.strip() == "Repo 's3' is up to date."
    from redun.repo.remotes import open_location

    mirror = open_location(url, a.root, "s3")
    assert mirror.refs.get(name) == a.refs.get(name)
    assert os.path.isdir(os.path.join(a.root, "remotes-cache", "s3"))
    # --repo NAME with a remote URL reads through that mirror
    local_export = run_cli(*cfg, "export")
    remote_export = run_cli(*cfg, "--repo", "s3", "export")
    assert remote_export.exit_code == 0, remote_export.output
    assert sorted(remote_export.output.splitlines()) == sorted(local_export.output.splitlines())


def test_s3_seaweed_push_pull_subprocess(tmp_path, seaweed):  # noqa: F811
    a = new_repo(tmp_path / "a" / ".redun")
    c = new_repo(tmp_path / "c" / ".redun")
    name, oids = make_exec(a, 30, big=1 << 20)
    url = unique_url()
    env = dict(os.environ, AWS_ENDPOINT_URL_S3=seaweed, AWS_ACCESS_KEY_ID="redun", AWS_SECRET_ACCESS_KEY="redun",
               AWS_DEFAULT_REGION="us-east-1")

    def redun(root, *args):
        return subprocess.run([sys.executable, "-m", "redun", "-c", root, *args], env=env, capture_output=True, text=True)

    assert redun(a.root, "repo", "add", "sw", url).returncode == 0
    out = redun(a.root, "push", "sw")
    assert out.stdout.strip() == f"Pushed {len(oids)} record(s) to repo 'sw'", out.stderr
    assert redun(a.root, "push", "sw").stdout.strip() == "Repo 'sw' is up to date."
    out = redun(a.root, "--repo", "sw", "log")  # read through the local mirror of the S3 repo
    assert out.returncode == 0 and f"Exec {name.split('/')[1][:8]}" in out.stdout, out.stderr
    assert redun(c.root, "repo", "add", "sw", url).returncode == 0
    out = redun(c.root, "pull", "sw")
    assert out.stdout.strip() == f"Pulled {len(oids)} new record(s) from repo 'sw'", out.stderr
    c2 = Repo.open(c.root)
    assert closure_ok(c2.store, c2.refs.get(name))


# -- concurrency -------------------------------------------------------------------
@pytest.mark.slow
def test_concurrent_pushes_directory(tmp_path):
    remote = new_repo(tmp_path / "remote")
    repos = [new_repo(tmp_path / f"r{i}" / ".redun") for i in range(2)]
    names = [make_exec(r, 300)[0] for r in repos]
    env = dict(os.environ)
    for r in repos:
        subprocess.run([sys.executable, "-m", "redun", "-c", r.root, "repo", "add", "shared", remote.root],
                       env=env, check=True)
    procs = [subprocess.Popen([sys.executable, "-m", "redun", "-c", r.root, "push", "shared"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for r in repos]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    final = Repo.open(remote.root)
    assert {n for n, _ in final.refs.list("execs/")} == set(names)
    for n in names:
        assert closure_ok(final.store, final.refs.get(n))


@pytest.mark.parametrize("backend", ["moto", "seaweed"])
def test_concurrent_pushes_s3(tmp_path, request, backend):
    if backend == "moto":
        request.getfixturevalue("moto_s3")
        make_client = lambda: None  # noqa: E731
    else:
        endpoint = request.getfixturevalue("seaweed")
        make_client = lambda: seaweed_client(endpoint)  # noqa: E731
    repos = [new_repo(tmp_path / f"r{i}") for i in range(3)]
    names = [make_exec(r, 50)[0] for r in repos]
    url = unique_url()
    errors = []
    barrier = threading.Barrier(len(repos))

    def push(i):
        try:
            barrier.wait()
            sync(repo_remote(repos[i]), S3Remote(url, str(tmp_path / f"cache{i}"), make_client()))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(len(repos))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    c = new_repo(tmp_path / "c")
    with S3Remote(url, str(tmp_path / "cache-c"), make_client()) as src:
        head = src.read_head()
        assert set(head.refs) == set(names)
        sync(src, repo_remote(c))
    for n in names:
        assert closure_ok(Repo.open(c.root).store, Repo.open(c.root).refs.get(n))


def test_blobs_at_value_store_path_are_pushed(tmp_path):
    from redun.objects import blobs as blobmod
    from redun.objects.ids import new_uuid, uuid_str
    from redun.objects.records import CallNode, Execution, Job, Task, Value
    from redun.repo.valuestore import blob_store_for

    a = new_repo(tmp_path / "a")
    ini = os.path.join(a.root, "redun.ini")
    text = open(ini).read().replace("[backend]\n", "[backend]\nvalue_store_path = ../values\n", 1)
    open(ini, "w").write(text)
    a = Repo.open(a.root)
    payload = os.urandom(3 << 20)
    fields = blobmod.payload_fields(blob_store_for(a), payload, 1024)
    assert fields["blobs"] and not any(a.store.has(o) for o in fields["blobs"])  # kept outside the repo
    t = a.store.put(Task(b"\x01" * 20, "", "t", ""))
    v = a.store.put(Value(b"\x02" * 20, "bytes", "native", **fields))
    cn = a.store.put(CallNode(b"\x03" * 20, b"\x01" * 20, t, "t", b"\x04" * 20, (), b"\x02" * 20, v, (), 1))
    eid = new_uuid()
    j = a.store.put(Job(new_uuid(), eid, None, b"\x01" * 20, t, b"\x03" * 20, cn, None, None, 1, 2, False, "DONE", (), {}))
    ex = a.store.put(Execution(eid, "[]", j, 1, 2, {}))
    a.refs.set(f"execs/{uuid_str(eid)}", ex)
    b = new_repo(tmp_path / "b")
    res = sync(repo_remote(a), repo_remote(b))
    assert res.objects == 5 + len(fields["blobs"])
    b2 = Repo.open(b.root)
    assert bytes(blobmod.read_payload(b2.store, b2.store.get(v))) == payload


def test_fast_links_match_decoded_links(tmp_path):
    from redun.objects import codec
    from redun.sync.transfer import fast_links

    a = new_repo(tmp_path / "a")
    _, oids = make_exec(a, 5, big=1 << 20)
    for oid in oids:
        data = a.store.get_bytes(oid)
        assert sorted(fast_links(data)) == sorted(codec.decode(data).links())
    assert fast_links(b"\x93\xa5value\x01\x80") is None  # malformed: falls back to a full decode
    b = new_repo(tmp_path / "b")
    assert sync(repo_remote(a), repo_remote(b), trusted=True).objects == len(oids)


@pytest.mark.parametrize("kind", ["directory", "moto"])
def test_many_remote_packs(tmp_path, request, kind):
    """Past haves.MERGE_AT packs, `has` uses the merged prefix array: same answers."""
    from redun.sync import haves

    a = new_repo(tmp_path / "a")
    if kind == "directory":
        b = new_repo(tmp_path / "b")
        remote = lambda: open_remote(b.root)  # noqa: E731
    else:
        request.getfixturevalue("moto_s3")
        url = unique_url()
        remote = lambda: S3Remote(url, str(tmp_path / "cache"))  # noqa: E731
    seen = set()
    for _ in range(haves.MERGE_AT + 3):  # one pack per push
        _, oids = make_exec(a, 2)
        assert sync(repo_remote(a), remote()).objects == len(oids - seen)
        seen |= oids
    r = remote()
    head = r.read_head()
    assert len(head.packs) > haves.MERGE_AT
    assert all(r.has(o) for o in seen)
    assert not r.has(b"\x00" * 32) and not r.has(b"\xff" * 32)
    name, oids = make_exec(a, 3)
    assert sync(repo_remote(a), remote()).objects == len(oids - seen)


def test_s3_missing_bucket_is_a_clear_error(tmp_path, moto_s3):  # noqa: F811
    a = new_repo(tmp_path / "a" / ".redun")
    make_exec(a, 1)
    run_cli("-c", a.root, "repo", "add", "nob", "s3://no-such-bucket-here/x")
    r = run_cli("-c", a.root, "push", "nob")
    assert isinstance(r.exception, SyncError) and "no-such-bucket-here" in str(r.exception)


def test_s3_unreachable_endpoint_is_a_clear_error(tmp_path, monkeypatch):
    a = new_repo(tmp_path / "a" / ".redun")
    make_exec(a, 1)
    from conftest_s3 import free_ports

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_ports(1)[0]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    run_cli("-c", a.root, "repo", "add", "down", "s3://bucket-x/p")
    r = run_cli("-c", a.root, "push", "down")
    assert isinstance(r.exception, SyncError) and "endpoint" in str(r.exception)


def test_directory_head_reads_packed_and_loose_refs(tmp_path):
    from redun.repo.remotes import repo_remote

    a = new_repo(tmp_path / "a")
    for _ in range(5):
        make_exec(a, 1)
    a.refs.pack_refs()
    make_exec(a, 1)  # one loose ref next to the packed ones
    a.refs.set("remotes/x/execs/y", b"\x01" * 32)
    open(os.path.join(a.refs.dir, "execs", "junk.tmp-1"), "w").close()
    head = repo_remote(a).read_head()
    assert head.refs == dict(a.refs.list("execs/")) and len(head.refs) == 6
