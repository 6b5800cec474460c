"""`redun export` / `redun import` through the real entry point."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import UPSTREAM_REDUN, copy_compile_example
from click.testing import CliRunner

from redun.cli.group import cli

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "upstream-export-compile.jsonl")
UPSTREAM = UPSTREAM_REDUN


def run(*args, input=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "redun", *args], input=input, capture_output=True, cwd=cwd)


@pytest.fixture
def cfg(tmp_path):
    d = str(tmp_path / ".redun")
    assert run("-c", d, "init").returncode == 0
    return d


def invoke(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.mark.slow
def test_import_export_round_trip(cfg, tmp_path):
    r = invoke("-c", cfg, "import", "-f", FIXTURE)
    assert r.exit_code == 0, r.output
    assert "Imported 68 records (0 already present)." in r.stderr
    r = invoke("-c", cfg, "import", input=open(FIXTURE, "rb").read())
    assert "Imported 0 records (68 already present)." in r.stderr
    out = tmp_path / "out.jsonl"
    r = invoke("-c", cfg, "export", "-f", str(out))
    assert r.exit_code == 0
    want = sorted(json.dumps(json.loads(x), sort_keys=True) for x in open(FIXTURE))
    got = sorted(json.dumps(json.loads(x), sort_keys=True) for x in open(out))
    assert got == want
    r = invoke("-c", cfg, "export")
    assert sorted(r.stdout.splitlines()) == sorted(open(out).read().splitlines())


@pytest.mark.slow
def test_import_errors_are_short_and_name_the_line(cfg):
    text = open(FIXTURE).read().splitlines()
    bad = "\n".join(text[:3] + ['{"_version": 1, "_type": "Job"'] + text[3:]) + "\n"
    p = run("-c", cfg, "import", input=bad.encode())
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "line 4: malformed JSON" in err and "Traceback" not in err
    assert run("-c", cfg, "export").stdout == b""
    p = run("-c", cfg, "import", "--keep-going", input=bad.encode())
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "line 4: malformed JSON" in err and "Imported 68 records" in err
    assert len(run("-c", cfg, "export").stdout.splitlines()) == 68


@pytest.mark.slow
def test_import_missing_file(cfg):
    p = run("-c", cfg, "import", "-f", "/nonexistent/x.jsonl")
    assert p.returncode == 1 and b"Cannot read /nonexistent/x.jsonl" in p.stderr
    assert b"Traceback" not in p.stderr


@pytest.mark.slow
def test_export_unknown_id(cfg):
    run("-c", cfg, "import", "-f", FIXTURE)
    p = run("-c", cfg, "export", "ffffffff-0000")
    assert p.returncode == 1 and b"matches" in p.stderr and b"Traceback" not in p.stderr


@pytest.mark.slow
def test_export_into_head_exits_quietly(cfg):
    run("-c", cfg, "import", "-f", FIXTURE)
    # a bigger export so the pipe really breaks: import the fixture into several repos? one is enough
    # when head closes early; we read only one line then close.
    proc = subprocess.Popen([sys.executable, "-m", "redun", "-c", cfg, "export"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait() == 0
    assert b"Traceback" not in err and b"BrokenPipe" not in err
    p = subprocess.run(f"{sys.executable} -m redun -c {cfg} export | head -n 2", shell=True,
                       capture_output=True)
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 2 and p.stderr == b""


def test_help():
    for cmd in ("export", "import"):
        r = invoke(cmd, "--help")
        assert r.exit_code == 0 and "--file" in r.output


@pytest.mark.upstream
@pytest.mark.slow
def test_our_export_imports_into_upstream(cfg, tmp_path):
    if not os.path.exists(UPSTREAM):
        pytest.skip("upstream venv not installed")
    run("-c", cfg, "import", "-f", FIXTURE)
    out = tmp_path / "ours.jsonl"
    assert run("-c", cfg, "export", "-f", str(out)).returncode == 0
    up = str(tmp_path / "up")
    env = dict(os.environ)
    subprocess.run([UPSTREAM, "--config", up, "init"], check=True, capture_output=True, env=env)
    p = subprocess.run([UPSTREAM, "--config", up, "import", "-f", str(out)], capture_output=True, env=env)
    assert p.returncode == 0, p.stderr
    log = subprocess.run([UPSTREAM, "--config", up, "log"], capture_output=True, env=env).stdout.decode()
    assert "Exec e6caf507 [ DONE ]" in log and "Exec fe3e3a39 [ DONE ]" in log
    counts = subprocess.run([UPSTREAM, "--config", up, "log", "--all", "--count"], capture_output=True,
                            env=env).stdout.decode()
    assert "18 Job" in counts and "14 CallNode" in counts and "4 Task" in counts and "30 Value" in counts
    # upstream's own export of what we gave it is the same set of records
    back = subprocess.run([UPSTREAM, "--config", up, "export"], capture_output=True, env=env).stdout.decode()
    assert sorted(back.splitlines()) == sorted(open(FIXTURE).read().splitlines())
    shutil.rmtree(up)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gcc") is None, reason="the compile example needs gcc")
def test_engine_run_export_import_same_log(tmp_path):
    """Our own run -> export -> import into a fresh repo: `redun log` shows the same."""
    d = tmp_path / "compile"
    copy_compile_example(d)
    assert run("run", "make.py", "make", cwd=d).returncode == 0
    exported = run("export", cwd=d).stdout
    other = str(tmp_path / "other")
    run("-c", other, "init")
    p = run("-c", other, "import", input=exported)
    assert p.returncode == 0, p.stderr
    assert run("-c", other, "log").stdout == run("log", cwd=d).stdout
    eid = run("log", cwd=d).stdout.decode().split("Exec ")[1].split()[0]

    def detail(*args, **kw):  # Duration: upstream's format has no execution times, we use the root job's
        return [x for x in run(*args, "log", eid, **kw).stdout.decode().splitlines() if not x.startswith("Duration")]

    assert detail("-c", other) == detail(cwd=d)
    counts = lambda text: [x for x in text.decode().splitlines() if "Value" not in x]  # noqa: E731
    assert counts(run("-c", other, "log", "--all", "--count").stdout) == counts(
        run("log", "--all", "--count", cwd=d).stdout)
    assert sorted(run("-c", other, "export").stdout.splitlines()) == sorted(exported.splitlines())


WORKFLOW = '''
from redun import task

redun_namespace = "wf"

@task()
def big(n: int):
    return "x" * n

@task()
def boom(x: int):
    raise ValueError(f"bad {x}")

@task()
def main(n: int = 300000):
    return [big(n), {"k": (1, 2.5, None, True, b"by")}, {1, 2}]

@task()
def fails():
    return [big(10), boom(3)]
'''


@pytest.mark.slow
def test_engine_failures_and_large_values_round_trip(tmp_path):
    d = tmp_path / "wf"
    d.mkdir()
    (d / "wf.py").write_text(WORKFLOW)
    assert run("run", "wf.py", "main", cwd=d).returncode == 0
    assert run("run", "wf.py", "fails", cwd=d).returncode != 0
    exported = run("export", cwd=d).stdout
    other = str(tmp_path / "other")
    run("-c", other, "init")
    p = run("-c", other, "import", input=exported)
    assert p.returncode == 0, p.stderr
    listing = run("log", cwd=d).stdout
    assert b"[FAILED]" in listing and run("-c", other, "log").stdout == listing
    for eid in [x.split()[1] for x in listing.decode().splitlines() if x.startswith("Exec ")]:
        mine = [x for x in run("log", eid, cwd=d).stdout.decode().splitlines() if not x.startswith("Duration")]
        theirs = [x for x in run("-c", other, "log", eid).stdout.decode().splitlines()
                  if not x.startswith("Duration")]
        assert mine == theirs
    assert sorted(run("-c", other, "export").stdout.splitlines()) == sorted(exported.splitlines())


@pytest.mark.upstream
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gcc") is None, reason="the compile example needs gcc")
def test_our_engine_export_imports_into_upstream(tmp_path):
    if not os.path.exists(UPSTREAM):
        pytest.skip("upstream venv not installed")
    d = tmp_path / "compile"
    copy_compile_example(d)
    assert run("run", "make.py", "make", cwd=d).returncode == 0
    out = tmp_path / "ours.jsonl"
    assert run("export", "-f", str(out), cwd=d).returncode == 0
    up = str(tmp_path / "up")
    subprocess.run([UPSTREAM, "--config", up, "init"], check=True, capture_output=True)
    p = subprocess.run([UPSTREAM, "--config", up, "import", "-f", str(out)], capture_output=True)
    assert p.returncode == 0, p.stderr
    ours = run("log", cwd=d).stdout.decode().splitlines()
    theirs = subprocess.run([UPSTREAM, "--config", up, "log"], capture_output=True).stdout.decode().splitlines()
    assert [x for x in ours if x.startswith("Exec ")] == [x for x in theirs if x.startswith("Exec ")]
    eid = ours[2].split()[1]
    detail = subprocess.run([UPSTREAM, "--config", up, "log", eid], capture_output=True).stdout.decode()
    assert "Jobs: 9 (DONE: 8, CACHED: 1, FAILED: 0)" in detail and "make_prog('prog'" in detail
