"""The parts of `redun console` that need no terminal: filters, a failed job's error read
from its pickle without unpickling, the install hint without Textual, the import
boundary (nothing of Textual outside the console), and one run in a real terminal."""

import ast
import os
import shutil
import subprocess
import sys
import time

import pytest

import redun
from redun.errors import UsageError
from redun.objects.pickleread import Malformed, NotPlain, read_sketch
from redun.view.browse import parse_filter
from redun.view.browse_models import ExecFilter, JobFilter
from redun.view.failure import describe_failure

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# redun 0.44.1's ErrorValue for `raise ValueError(f"too big: {x}")` with x=4: the error and a
# redun.scheduler.Traceback of traceback.FrameSummary objects (saved from upstream's redun.db).
UPSTREAM_ERROR_VALUE = bytes.fromhex(
    "800363726564756e2e7363686564756c65720a4572726f7256616c75650a7100298171017d71022858050000006572726f72"
    "7103636275696c74696e730a56616c75654572726f720a7104580a000000746f6f206269673a203471058571065271077d71"
    "08580f000000726564756e5f74726163656261636b71094e7362580900000074726163656261636b710a63726564756e2e73"
    "63686564756c65720a54726163656261636b0a710b2981710c7d710d286803680758060000006672616d6573710e5d710f63"
    "74726163656261636b0a4672616d6553756d6d6172790a7110298171114e7d711228580800000066696c656e616d65711358"
    "160000002f746d702f636f6e732f75702f75706661696c2e7079711458060000006c696e656e6f71154b04580a000000656e"
    "645f6c696e656e6f71164b045805000000636f6c6e6f71174b045809000000656e645f636f6c6e6f71184b2558040000006e"
    "616d6571195804000000626f6f6d711a58050000005f6c696e65711b58260000002020202072616973652056616c75654572"
    "726f72286622746f6f206269673a207b787d22290a711c58060000006c6f63616c73711d4e7586711e626158040000006c6f"
    "6773711f5d7120756275622e"
)


def test_parse_filter():
    assert parse_filter("") == ExecFilter()
    assert parse_filter("status:failed tag:env=prod main") == ExecFilter("FAILED", "main", ("env", "prod"))
    assert parse_filter("tag:env status:running") == ExecFilter("RUN", None, ("env", None))
    assert parse_filter("status:cached task:step", job=True) == JobFilter("CACHED", "step")
    with pytest.raises(UsageError, match="status:cached: choose from run, done, failed"):
        parse_filter("status:cached")
    with pytest.raises(UsageError, match="Unknown filter 'tag:'"):
        parse_filter("tag:x", job=True)
    with pytest.raises(UsageError, match="tag: needs a key"):
        parse_filter("tag:=3")


def test_upstream_error_value_read_without_unpickling():
    failure = describe_failure(UPSTREAM_ERROR_VALUE)
    assert failure.error == "ValueError: too big: 4"
    assert failure.traceback == ['  File "/tmp/cons/up/upfail.py", line 4, in boom',
                                 '    raise ValueError(f"too big: {x}")']
    assert failure.logs == []
    assert describe_failure(b"\x80\x03K\x01.") is None  # a plain int is not an ErrorValue


def test_script_error_shows_its_stderr():
    import pickle

    from redun.scheduler import ErrorValue
    from redun.scripting import ScriptError

    # what the engine stores for a failed script task (the reader imports none of these classes)
    data = pickle.dumps(ErrorValue(ScriptError(b"make: *** [all] Error 1\nld: missing symbol\n")), protocol=3)
    failure = describe_failure(data)
    assert failure.error == "ScriptError: make: *** [all] Error 1\nld: missing symbol"


def test_sketch_runs_nothing_and_stays_bounded():
    import pickle

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo never",))

    sketch = read_sketch(pickle.dumps([Boom()], protocol=3))
    assert type(sketch[0]).__name__ == "Built" and sketch[0].symbol.name == "system"
    with pytest.raises(Malformed):
        read_sketch(b"\x80\x03cos\nsystem\n")  # cut short
    with pytest.raises(NotPlain):  # the work budget holds in sketch mode too
        read_sketch(pickle.dumps([Boom()] * 1000, protocol=3), budget=1000)


def _console(args, capsys) -> tuple:
    """`redun ARGS` through the real entry point (error translation included): (code, stderr)."""
    from redun.cli.entry import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code, capsys.readouterr().err


def test_console_without_textual_says_how_to_install(tmp_repo_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "textual", None)  # `import textual` now fails as if not installed
    code, err = _console(["-c", tmp_repo_dir, "console"], capsys)
    assert code == 1
    assert err.startswith("redun: error: redun console needs Textual, an optional dependency.")
    assert "pip install 'redun[console]'" in err and "pip install -e '.[console]'" in err


def test_console_needs_a_terminal(tmp_repo_dir, capsys):
    pytest.importorskip("textual")
    code, err = _console(["-c", tmp_repo_dir, "console"], capsys)  # pytest's stdin is no terminal
    assert code == 2 and "run it with a terminal" in err


@pytest.mark.slow  # over a second: the full suite runs it, the quick loop does not
def test_textual_is_imported_only_by_the_console():
    """`redun log` start-up must not pay for Textual or Rich: only redun/view/console/
    imports them, and only the console command imports that package (inside its function)."""
    pkg = os.path.dirname(redun.__file__)
    wrong = []
    for dirpath, _, files in os.walk(pkg):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, pkg)
            tree = ast.parse(open(path).read())
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
                if isinstance(node, ast.ImportFrom) and node.level and "console" in (node.module or ""):
                    names = ["redun.view.console"]
                for n in names:
                    top = n.split(".")[0]
                    if top in ("textual", "rich") and not rel.startswith(os.path.join("view", "console")) \
                            and rel != os.path.join("cli", "console.py"):
                        wrong.append((rel, node.lineno, n))
                    if n.startswith("redun.view.console") and not rel.startswith(os.path.join("view", "console")) \
                            and rel != os.path.join("cli", "console.py"):
                        wrong.append((rel, node.lineno, n))
    assert not wrong, wrong


def _wait_for(tmux, texts, timeout=90.0) -> str:
    """Poll the tmux pane until every text shows (the pane's content is returned)."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = subprocess.run(tmux + ["capture-pane", "-p", "-t", "console"], capture_output=True,
                                text=True).stdout
        if all(t in screen for t in texts):
            return screen
        time.sleep(0.3)
    raise AssertionError(f"never showed {texts}:\n{screen}")


@pytest.mark.slow
def test_console_in_a_real_terminal(tmp_path):
    """The installed command in tmux: open, enter an execution, jump to a file's lineage, quit."""
    pytest.importorskip("textual")
    if shutil.which("tmux") is None or shutil.which("gcc") is None:
        pytest.skip("needs tmux and gcc (.ci/run installs them)")
    from conftest import copy_compile_example

    work = copy_compile_example(tmp_path / "compile")
    env = dict(os.environ, PYTHONPATH=ROOT)
    subprocess.run([sys.executable, "-m", "redun", "run", "make.py", "make"], cwd=work, env=env, check=True,
                   capture_output=True, timeout=120)
    tmux = ["tmux", "-L", f"redun-console-test-{os.getpid()}"]
    command = f"cd {work} && PYTHONPATH={ROOT} {sys.executable} -m redun console; echo EXITED $?; sleep 60"
    subprocess.run(tmux + ["new-session", "-d", "-s", "console", "-x", "120", "-y", "35", command], check=True,
                   env=dict(env, TERM="xterm-256color"))
    try:
        screen = _wait_for(tmux, ["Executions (newest first)", " DONE ", "make"])
        assert "run make.py make" in screen
        subprocess.run(tmux + ["send-keys", "-t", "console", "Enter"], check=True)
        screen = _wait_for(tmux, ["Jobs: 9", "make_prog('prog'"])
        assert "CACHED: 1" in screen and "DONE: 8" in screen
        subprocess.run(tmux + ["send-keys", "-t", "console", "g"], check=True)
        _wait_for(tmux, ["Go to:"])
        subprocess.run(tmux + ["send-keys", "-t", "console", "prog", "Enter"], check=True)
        screen = _wait_for(tmux, ["Lineage of prog", "made by:", "link('prog'", "arg 0: File prog.c"])
        subprocess.run(tmux + ["send-keys", "-t", "console", "q"], check=True)
        _wait_for(tmux, ["EXITED 0"])
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)


def test_running_execution_shows_the_jobs_recorded_so_far(tmp_repo_dir):
    """Jobs are written when they end, the root last: a running execution's tree starts at
    the jobs whose parent is not recorded yet."""
    from test_index_synth import T0, h20, make_task, make_value, put

    from redun.objects.ids import new_uuid
    from redun.objects.records import Arg, CallNode, Execution, Job
    from redun.repo.repository import Repo
    from redun.view.browse import Browser
    from redun.view.query import Provenance

    repo = Repo.open(tmp_repo_dir)
    eid, root_id = new_uuid(), new_uuid()
    with repo.store.pack_writer() as w:
        t_oid, t_rec = make_task(w, "step")
        for i in range(3):
            a_oid, a = make_value(w, i)
            r_oid, r = make_value(w, i * 2)
            call = CallNode(h20("c", i), t_rec.hash, t_oid, "step", h20("a", i), (Arg(0, None, a.hash, a_oid, ()),),
                            r.hash, r_oid, (), T0 + i)
            c_oid = put(w, call)
            put(w, Job(new_uuid(), eid, root_id, t_rec.hash, t_oid, call.hash, c_oid, h20("e", i), r_oid, T0 + i,
                       T0 + i + 1, False, "DONE", (), {}))
        ex_oid = put(w, Execution(eid, '["redun", "run", "wf.py", "main"]', None, T0 - 1, None, {}))
    repo.refs.set(f"execs/{uuid_text(eid)}", ex_oid)
    browser = Browser(Provenance(repo))
    assert browser.executions().rows[0].status == "RUN"
    assert [j.args for j in browser.child_jobs(eid, None).rows] == ["0", "1", "2"]
    repo.close()


def uuid_text(raw: bytes) -> str:
    import uuid

    return str(uuid.UUID(bytes=raw))
