"""`redun log` through the real CLI (CliRunner) over synthetic and engine-written history."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import copy_compile_example
from click.testing import CliRunner

from redun.cli.group import cli
from redun.objects.ids import uuid_str
from redun.repo.repository import Repo

from test_index_synth import T0, write_execution

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(repo_dir, *args, code=0):
    res = CliRunner().invoke(cli, ["-c", repo_dir, "log", *args], catch_exceptions=False)
    assert res.exit_code == code, res.output
    return res.output


@pytest.fixture
def history(tmp_repo_dir):
    repo = Repo.open(tmp_repo_dir)
    a = write_execution(repo.store, repo.refs, n_jobs=4, seed=1, start=T0, file_paths=("out.txt",))
    b = write_execution(repo.store, repo.refs, n_jobs=3, seed=2, start=T0 + 10**7)
    repo.close()
    return tmp_repo_dir, a, b


def test_recent_executions_newest_first(history):
    d, a, b = history
    out = run(d).splitlines()
    assert out[:2] == ["Recent executions:", ""]
    assert out[2].startswith(f"Exec {b['exec_id'].hex()[:8]} [ DONE ] ")
    assert out[3].startswith(f"Exec {a['exec_id'].hex()[:8]} [ DONE ] ")
    assert out[2].endswith(":  run workflow.py main --n 2 ")


def test_exec_detail_job_tree(history):
    d, a, _ = history
    out = run(d, a["exec_id"].hex()[:8])
    lines = out.splitlines()
    assert lines[0].startswith(f"Exec {uuid_str(a['exec_id'])} [ DONE ]")
    assert lines[1].startswith("Duration: 0:00:00.")
    assert "| TASK    PENDING RUNNING  FAILED  CACHED    DONE   TOTAL" in lines
    assert "| ALL           0       0       0       0       4       4" in lines
    assert "Jobs: 4 (DONE: 4, CACHED: 0, FAILED: 0)" in lines
    tree = lines[lines.index("-" * 80) + 1:]
    assert tree[0].startswith(f"Job {a['root'][0].hex()[:8]} [ DONE ] ")
    assert "main(n=1) " in tree[0]
    assert all(t.startswith("  Job ") and "step((1, " in t for t in tree[1:])
    assert len(tree) == 4


def test_job_call_node_task_value_blocks(history):
    d, a, _ = history
    jid = a["jobs"][1][0]
    out = run(d, jid.hex()[:8])
    assert out.splitlines()[0].startswith(f"Job {uuid_str(jid)} [ DONE ]")
    assert f"Traceback: Exec {a['exec_id'].hex()[:8]} > Job {a['root'][0].hex()[:8]} main > Job {jid.hex()[:8]} step" in out
    assert "  CallNode " in out and "    Result: 1000010" in out
    assert "  Task " in out and "def step(x):" in out

    call_hash = a["calls"][0][0].hex()
    out = run(d, call_hash[:10])
    assert out.startswith(f"CallNode {call_hash} step \n  Args:   (1, 0)\n")
    assert "  Parent CallNodes:\n    CallNode " in out

    out = run(d, "step")
    assert out.startswith("Task ") and "  First Job " in out and "def step(x):" in out

    out = run(d, a["root_value"][0].hex()[:12])
    assert out.startswith(f"Value {a['root_value'][0].hex()[:8]} builtins.list \n['done', 1]\n")


def test_file_path_query(history, tmp_path, monkeypatch):
    d, a, _ = history
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.txt").write_text("x")
    out = run(d, "out.txt")
    assert out.startswith(f"File {a['values'][0][0].hex()[:8]} out.txt \nProduced by Job {a['jobs'][0][0].hex()[:8]}\n")
    assert "  Job " in out and "    CallNode " in out


@pytest.mark.slow
def test_unknown_and_ambiguous_prefixes(history):
    d, a, b = history
    # through the real entry point: message on stderr, exit 1
    res = subprocess.run([sys.executable, "-m", "redun", "-c", d, "log", "zzzz"], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.startswith("redun: error: No execution, job, call node, task, value or file matches 'zzzz'")
    res = CliRunner().invoke(cli, ["-c", d, "log", "ABCDEF"])  # exact case: upper-case hex is not an id
    assert res.exit_code == 1 and "matches 'ABCDEF'" in str(res.exception)
    # a one-digit prefix shared by several records: candidates are listed
    first = a["calls"][0][0].hex()[0]
    res = CliRunner().invoke(cli, ["-c", d, "log", first])
    hits = str(res.exception)
    if res.exit_code == 1 and "ambiguous" in hits:
        assert "--all-matches" in hits and a["calls"][0][0].hex() in hits
        out = run(d, first, "--all-matches")
        assert a["calls"][0][0].hex() in out


def test_listings_filters_and_counts(history):
    d, a, b = history
    out = run(d, "--job").splitlines()
    assert len(out) == 7 and all(line.startswith("Job ") for line in out)
    assert len(run(d, "--job", "--exec-id", a["exec_id"].hex()[:8]).splitlines()) == 4
    assert len(run(d, "--job", "--task-name", "main").splitlines()) == 2
    assert run(d, "--job", "--job-status", "CACHED") == ""
    assert run(d, "--task").splitlines() == [
        f"Task {a['tasks']['main'][1].hash.hex()[:8]} main ", f"Task {a['tasks']['step'][1].hash.hex()[:8]} step "]
    assert run(d, "--file").splitlines() == [f"File {a['values'][0][0].hex()[:8]} out.txt "]
    assert run(d, "--all", "--count").splitlines() == [
        "       2 Execution", "       7 Job", "       7 CallNode", "       2 Task",
        f"{len(run(d, '--value').splitlines()):>8} Value"]
    assert run(d, "--count").splitlines() == ["Recent executions:", "", "       2 Execution"]
    assert run(d, "--exec", "--exec-status", "DONE", "--count").strip() == "2 Execution"
    assert run(d, "--exec", "--exec-status", "FAILED") == ""


def test_json_format(history):
    d, a, _ = history
    lines = run(d, "--exec", "--format", "json").splitlines()
    objs = [json.loads(x) for x in lines]
    assert [o["_type"] for o in objs] == ["Execution", "Execution"]
    assert objs[1]["id"] == uuid_str(a["exec_id"]) and objs[1]["job_id"] == uuid_str(a["root"][0])
    job = json.loads(run(d, a["jobs"][0][0].hex(), "--format", "json"))
    assert job["_type"] == "Job" and job["status"] == "DONE" and job["parent_id"] == uuid_str(a["root"][0])
    cn = json.loads(run(d, a["calls"][0][0].hex()[:12], "--format", "json"))
    assert cn["_type"] == "CallNode" and cn["call_hash"] == a["calls"][0][0].hex()
    for line in run(d, "--all", "--format", "json").splitlines():
        json.loads(line)


def test_dot(history):
    d, a, _ = history
    out = run(d, "--dot", a["exec_id"].hex()[:8])
    assert out.startswith("digraph ") and out.rstrip().endswith("}")
    assert out.count(" -> ") == 3


def test_running_execution_shows_RUN(tmp_repo_dir):
    repo = Repo.open(tmp_repo_dir)
    w = repo.store.pack_writer()
    out = write_execution(repo.store, repo.refs, n_jobs=3, writer=w, running=True)
    text = run(tmp_repo_dir)
    assert f"Exec {out['exec_id'].hex()[:8]} [ RUN  ]" in text
    w.commit()
    repo.close()


def test_log_needs_a_repo(tmp_path):
    res = CliRunner().invoke(cli, ["-c", str(tmp_path / "nope"), "log"])
    assert res.exit_code == 1


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Two real runs of examples/compile through the engine (subprocess, real entry point)."""
    work = tmp_path_factory.mktemp("compile")
    copy_compile_example(work)
    env = dict(os.environ, PYTHONPATH=ROOT)

    def redun(*args):
        return subprocess.run([sys.executable, "-m", "redun", *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=120)

    assert redun("init").returncode == 0
    assert redun("run", "make.py", "make").returncode == 0
    with open(os.path.join(work, "lib.c"), "a") as f:
        f.write("\n/* edited */\n")
    assert redun("run", "make.py", "make").returncode == 0
    return work, redun


@pytest.mark.slow
def test_end_to_end_compile(compiled):
    work, redun = compiled
    res = redun("log")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "Recent executions:" and len(lines) == 4
    assert all("[ DONE ]" in line and ":  run make.py make" in line for line in lines[2:])
    newest = lines[2].split()[1]
    res = redun("log", newest)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "| ALL             0       0       0 " in out and "Jobs: 9 (" in out
    assert "  Job " in out and "make_prog('prog', [File(path=prog.c, hash=" in out
    res = redun("log", "prog")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("File ") and "\nProduced by Job " in res.stdout
    assert "    CallNode " in res.stdout and "def link(" in res.stdout
    res = redun("log", "prog.c")
    assert "\nConsumed by Job " in res.stdout and "compile(File(path=prog.c" in res.stdout
    res = redun("log", "link")
    assert res.stdout.startswith("Task 087460305fc60e05c5958edb8623ffbe29bdbe25 link \n  First Job ")
    # the upstream dataflow of a link job, in upstream's layout
    link_job = [line for line in redun("log", "--job", "--task-name", "link").stdout.splitlines()
                if "link('prog2'" in line][0].split()[1]
    out = redun("log", link_job).stdout
    flow = out[out.index("  Upstream dataflow:"):].splitlines()
    assert flow[2].startswith("    result = File(path=prog2, hash=")
    assert flow[4].startswith("    result <-- <") and flow[4].endswith("> link(prog_path, o_files)")
    assert flow[5].startswith("      prog_path = <15636c87> 'prog2'")
    assert flow[6].startswith("      o_files   = <")
    assert flow[8].startswith("    prog_path <-- argument of <") and flow[8].endswith("> make_prog(prog_path, c_files)")
    assert flow[9] == "              <-- origin"
    assert flow[11] == "    o_files <-- derives from"
    assert flow[12].startswith("      compile_result   = <") and flow[13].startswith("      compile_result_2 = <")
    assert any(line.startswith("    c_file <-- argument of <") for line in flow)
    assert "           <-- origin" in flow
    res = redun("log", "--all", "--count")
    assert res.stdout.splitlines()[:3] == ["       2 Execution", "      18 Job", "      14 CallNode"]


@pytest.mark.slow
def test_log_while_four_runs_write(tmp_path):
    """Four engine runs write to one repo while `redun log` reads it; afterwards all four are listed."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    repo_dir = str(tmp_path / "shared" / ".redun")
    assert subprocess.run([sys.executable, "-m", "redun", "-c", repo_dir, "init"], env=env,
                          capture_output=True).returncode == 0
    runs = []
    for i in range(4):
        work = copy_compile_example(tmp_path / f"w{i}")
        with open(os.path.join(work, "lib.c"), "a") as f:
            f.write(f"\n/* run {i} */\n")
        runs.append(subprocess.Popen([sys.executable, "-m", "redun", "-c", repo_dir, "run", "make.py", "make"],
                                     cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    while any(p.poll() is None for p in runs):
        res = subprocess.run([sys.executable, "-m", "redun", "-c", repo_dir, "log"], env=env, capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("Recent executions:")
    assert all(p.wait() == 0 for p in runs), [p.stderr.read() for p in runs]
    res = subprocess.run([sys.executable, "-m", "redun", "-c", repo_dir, "log"], env=env, capture_output=True,
                         text=True)
    lines = res.stdout.splitlines()[2:]
    assert len(lines) == 4 and all("[ DONE ]" in line for line in lines)
    for line in lines:
        res = subprocess.run([sys.executable, "-m", "redun", "-c", repo_dir, "log", line.split()[1]], env=env,
                             capture_output=True, text=True)
        assert res.returncode == 0 and "Jobs: 9 (" in res.stdout, res.stdout + res.stderr


def test_value_listing_keeps_no_growing_cache(history, monkeypatch):
    """`log --value` streams: rows come from the index a page at a time, and the records
    and previews a page read are dropped before the next (Provenance.end_page), so memory
    does not grow with the number of values."""
    from redun.index import listing_queries
    from redun.view import query

    d = history[0]
    whole = run(d, "--value").splitlines()
    assert len(whole) > 6
    held = []
    end_page = query.Provenance.end_page

    def counting_end_page(self):
        held.append((len(self._records), len(self._new_previews)))
        end_page(self)

    monkeypatch.setattr(listing_queries, "PAGE", 3)
    monkeypatch.setattr(query.Provenance, "end_page", counting_end_page)
    assert run(d, "--value").splitlines() == whole  # same lines, same order
    assert len(held) == -(-len(whole) // 3)
    assert max(r for r, _ in held) <= 3 and max(p for _, p in held) <= 3
