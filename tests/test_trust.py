"""Issue 12 item 1: a pickle that arrives by pull, import or bundle never runs on `redun run`.

Repository A records a cached result whose pickle runs code when loaded (its
class's __reduce__ names os.system); repository B pulls A and runs the same
workflow. Without trust B reruns the job (one line says why) and nothing runs;
with `[repos.A] trust = true` B reuses A's cache as before. Real repositories,
real `redun` processes.
"""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # every test here starts `redun` processes

from hostile import install_pack
from redun.objects import codec, compress
from redun.objects.ids import new_uuid, object_id, uuid_str
from redun.objects.records import Execution
from redun.repo.repository import Repo

WORKFLOW = '''
import os
from redun import task

redun_namespace = "trust_test"


class Payload:
    """Pickles as a call of os.system: loading it runs a shell command."""

    def __reduce__(self):
        return (os.system, ("touch " + os.environ["PWNED"],))


@task()
def compute(x: int):
    if os.environ.get("EVIL"):
        return Payload()
    return {"x": x, "kind": "plain"} if os.environ.get("PLAIN") else Answer(x)


class Answer:
    def __init__(self, x):
        self.x = x

    def __repr__(self):
        return f"Answer({self.x})"


@task()
def main(x: int = 1):
    return compute(x)
'''


def _redun(root, cwd, *args, **env):
    e = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-m", "redun", "-c", root, *args], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def two_repos(tmp_path):
    d = tmp_path / "wf"
    d.mkdir()
    (d / "wf.py").write_text(WORKFLOW)
    a, b = str(tmp_path / "a" / ".redun"), str(tmp_path / "b" / ".redun")
    Repo.init(a)
    Repo.init(b)
    pwned = str(tmp_path / "PWNED")
    return str(d), a, b, pwned


def test_pulled_pickle_never_runs_on_redun_run(two_repos):
    d, a, b, pwned = two_repos
    r = _redun(a, d, "run", "wf.py", "main", EVIL="1", PWNED=pwned)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(pwned)  # recording pickles it, nothing runs
    assert _redun(b, d, "repo", "add", "a", a).returncode == 0
    r = _redun(b, d, "pull", "a")
    assert r.returncode == 0, r.stderr
    r = _redun(b, d, "run", "wf.py", "main", PWNED=pwned)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(pwned), "a pulled pickle ran code"
    assert "Answer(1)" in r.stdout  # computed here, not the attacker's value
    lines = [ln for ln in r.stderr.splitlines() if "not unpickled" in ln]
    assert lines and all(f"copied from {a}" in ln for ln in lines), r.stderr  # one line per job that reruns
    assert len(lines) == len({ln.split("Job ")[1][:8] for ln in lines}) == 2  # main's expression, compute's value
    # rerun here: the value is now this repository's own, and cached
    r = _redun(b, d, "run", "wf.py", "main", PWNED=pwned)
    assert r.returncode == 0 and "not unpickled" not in r.stderr and "Cached" in r.stderr, r.stderr
    assert "Answer(1)" in r.stdout


def test_a_trusted_repository_is_reused(two_repos):
    d, a, b, pwned = two_repos
    assert _redun(a, d, "run", "wf.py", "main").returncode == 0
    assert _redun(b, d, "repo", "add", "a", a).returncode == 0
    with open(os.path.join(b, "redun.ini"), "a") as f:
        f.write("trust = true\n")  # appended to the [repos.a] section `repo add` wrote last
    assert _redun(b, d, "pull", "a").returncode == 0
    r = _redun(b, d, "run", "wf.py", "main")
    assert r.returncode == 0 and "not unpickled" not in r.stderr, r.stderr
    assert "Cached" in r.stderr and "Answer(1)" in r.stdout


def test_plain_values_from_elsewhere_are_reused(two_repos):
    d, a, b, pwned = two_repos
    assert _redun(a, d, "run", "wf.py", "main", PLAIN="1").returncode == 0
    assert _redun(b, d, "repo", "add", "a", a).returncode == 0
    assert _redun(b, d, "pull", "a").returncode == 0
    r = _redun(b, d, "run", "wf.py", "main", PLAIN="1")
    assert r.returncode == 0, r.stderr
    # compute's plain dict is decoded without unpickling: reused; main's result is an
    # expression (a pickle): main reruns, cheaply, since what it calls is cached
    assert "Cached Job" in r.stderr and "trust_test.compute(x=1) (eval_hash" in r.stderr, r.stderr
    assert "Run    Job" in r.stderr and "trust_test.compute(x=1) on" not in r.stderr, r.stderr


def test_bad_trust_setting_is_an_error(two_repos):
    d, a, b, pwned = two_repos
    assert _redun(a, d, "run", "wf.py", "main").returncode == 0
    assert _redun(b, d, "repo", "add", "a", a).returncode == 0
    assert _redun(b, d, "pull", "a").returncode == 0
    with open(os.path.join(b, "redun.ini"), "a") as f:
        f.write("trust = maybe\n")
    r = _redun(b, d, "run", "wf.py", "main")
    assert r.returncode != 0 and "trust" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_origins_survive_gc_rewrite_and_repack(two_repos):
    """A pulled pack's origin goes with its objects when gc rewrites or repack merges packs."""
    from redun.objects.origins import foreign_names, read_origin

    d, a, b, pwned = two_repos
    assert _redun(a, d, "run", "wf.py", "main", EVIL="1", PWNED=pwned).returncode == 0
    assert _redun(b, d, "repo", "add", "a", a).returncode == 0
    assert _redun(b, d, "pull", "a").returncode == 0
    repo = Repo.open(b)
    packs = os.path.join(b, "packs")
    pulled = foreign_names(packs)  # the source's packs, sent whole (sync/wholepacks.py)
    assert pulled and all(read_origin(packs, name)["via"] == "sync" for name in pulled)
    assert _redun(b, d, "run", "wf.py", "main", "--x", "2").returncode == 0  # a local pack too
    repo.store.repack()
    assert len(foreign_names(packs)) == 1  # foreign objects kept apart, merged into one pack
    assert len([e for e in os.listdir(packs) if e.endswith(".idx")]) == 2
    r = _redun(b, d, "run", "wf.py", "main", PWNED=pwned)
    assert r.returncode == 0 and not os.path.exists(pwned) and "not unpickled" in r.stderr, r.stderr


def test_imported_pickles_are_not_unpickled(tmp_path):
    """An import marks its pack with the file it came from; `--trust` does not."""
    from redun.objects.origins import foreign_names, read_origin

    src = os.path.join(os.path.dirname(__file__), "data", "upstream-export-compile.jsonl")
    for trust, expect in ((False, 1), (True, 0)):
        root = str(tmp_path / f"r{trust}" / ".redun")
        Repo.init(root)
        args = ["import", "-f", src] + (["--trust"] if trust else [])
        r = _redun(root, str(tmp_path), *args)
        assert r.returncode == 0, r.stderr
        names = foreign_names(os.path.join(root, "packs"))
        assert len(names) == expect
        if expect:
            (name,) = names
            assert read_origin(os.path.join(root, "packs"), name) == {"via": "import", "from": src}
            repo = Repo.open(root)
            pickles = [row["oid"] for row in repo.index.select("value", "format = 'pickle'")]
            assert pickles and all(repo.trust.why_not(o) == f"imported from {src}" for o in pickles)


def test_origin_survives_a_gc_rewrite(two_repos):
    from redun.objects.origins import foreign_names

    d, a, b, pwned = two_repos
    assert _redun(a, d, "run", "wf.py", "main", EVIL="1", PWNED=pwned).returncode == 0
    assert _redun(a, d, "run", "wf.py", "main", "--x", "5").returncode == 0
    Repo.open(a).store.repack()  # both runs in one pack, which the pull sends whole
    assert _redun(b, d, "repo", "add", "a", a).returncode == 0
    assert _redun(b, d, "pull", "a").returncode == 0
    packs = os.path.join(b, "packs")
    (before,) = foreign_names(packs)
    repo = Repo.open(b)
    x5 = [n for n, oid in repo.refs.list("execs/") if "\"--x\", \"5\"" in repo.store.get(oid).args]
    repo.refs.delete(x5[0])
    r = _redun(b, d, "gc", "--grace", "0")
    assert r.returncode == 0 and "1 pack(s) rewritten" in r.stdout, r.stdout + r.stderr
    (after,) = foreign_names(packs)
    assert after != before and os.path.exists(os.path.join(packs, f"pack-{after}.idx"))
    r = _redun(b, d, "run", "wf.py", "main", PWNED=pwned)
    assert r.returncode == 0 and not os.path.exists(pwned) and "not unpickled" in r.stderr, r.stderr


def test_a_pull_decodes_what_its_refs_name_only_from_an_untrusted_repository(tmp_path):
    """trust = true vouches for a repository's records as for this one's own: a pull from it
    checks digests but decodes nothing (fsck still does). From an untrusted one, each record
    is hashed, its links proved held, and the records its new refs name decoded field by field
    (sync/packcheck.py): a ref never moves to a record that does not decode."""
    a, b = Repo.init(str(tmp_path / "a" / ".redun")), Repo.init(str(tmp_path / "b" / ".redun"))
    data = codec.record_head(Execution) + b"\x80"  # an Execution record without fields
    oid = object_id(data)
    install_pack(a.root, [(oid, compress.compress(data))])
    a.refs.set(f"execs/{uuid_str(new_uuid())}", oid)
    assert _redun(b.root, str(tmp_path), "repo", "add", "a", a.root).returncode == 0
    r = _redun(b.root, str(tmp_path), "pull", "a")
    assert r.returncode != 0 and oid.hex() in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert list(Repo.open(b.root).refs.list()) == []
    with open(os.path.join(b.root, "redun.ini"), "a") as f:
        f.write("trust = true\n")  # appended to the [repos.a] section `repo add` wrote last
    r = _redun(b.root, str(tmp_path), "pull", "a")
    assert r.returncode == 0, r.stderr
    r = _redun(b.root, str(tmp_path), "fsck")
    assert r.returncode != 0 and oid.hex() in r.stdout + r.stderr, r.stdout + r.stderr


def test_a_bad_trust_setting_stops_a_pull(two_repos):
    d, a, b, pwned = two_repos
    assert _redun(b, d, "repo", "add", "a", a).returncode == 0
    with open(os.path.join(b, "redun.ini"), "a") as f:
        f.write("trust = maybe\n")
    r = _redun(b, d, "pull", "a")
    assert r.returncode != 0 and "[repos.a] trust = 'maybe'" in r.stderr and "Traceback" not in r.stderr, r.stderr
