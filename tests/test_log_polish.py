"""`redun log` polish (issue 14): paths resolve however they are spelled, and every listing
has --format json."""

import json
import os
import textwrap

import pytest

from inproc import Workflow

WF = textwrap.dedent('''
    from redun import File, task

    redun_namespace = "polish"

    @task()
    def copy(src: File, dst: str) -> File:
        return src.copy_to(File(dst))

    @task(tags=[("kind", "main")])
    def main() -> File:
        return copy(File("in.txt"), "out.txt")
''')


def _wf(tmp_path):
    (tmp_path / "in.txt").write_text("hello\n")
    w = Workflow(tmp_path, WF)
    w.redun("run", w.script, "main")
    return w


def test_log_resolves_a_path_however_it_is_spelled(tmp_path, monkeypatch):
    w = _wf(tmp_path)
    plain = w.redun("log", "out.txt").out
    assert plain.startswith("File ") and " out.txt " in plain.splitlines()[0]
    assert w.redun("log", "./out.txt").out == plain
    assert w.redun("log", str(tmp_path / "out.txt")).out == plain
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)  # from another directory: relative to here, then to the project
    from redun.cli import RedunClient
    import io

    out = io.StringIO()
    RedunClient(stdout=out, stderr=io.StringIO()).execute(["redun", "-c", w.config, "log", "../out.txt"])
    assert out.getvalue() == plain


def test_every_listing_has_json(tmp_path):
    w = _wf(tmp_path)
    for args in (["log"], ["log", "--job"], ["log", "--task"], ["log", "--value"], ["log", "--call-node"],
                 ["log", "--file"], ["log", "--all", "--count"], ["log", "--job", "--tag", "kind"],
                 ["tag", "list"], ["tag", "list", "--values"], ["repo", "list"]):
        out = w.redun(*args, "--format", "json").out
        rows = [json.loads(line) for line in out.splitlines()]
        assert rows, args
    counts = [json.loads(x) for x in w.redun("log", "--all", "--count", "--format", "json").out.splitlines()]
    assert {"_type": "Job", "count": 2} in counts
    tags = [json.loads(x) for x in w.redun("tag", "list", "--values", "--format", "json").out.splitlines()]
    assert {"key": "kind", "value": "main", "entity_type": "Job", "count": 1} in tags
    repos = [json.loads(x) for x in w.redun("repo", "list", "--format", "json").out.splitlines()]
    assert repos == [{"name": "default", "location": os.path.realpath(w.config)}] or \
        repos == [{"name": "default", "location": w.config}]


PARAM_SOURCES = [
    "def f(a, b=1, *rest, c, **kw):\n    return a\n",
    "@task(cache=lambda: [x for x in ()])\ndef g(x, /, y, z=2):\n    pass\n",
    "    @task()\n    def method_like(self, a):\n        \n        return self\n",
    "async def h(p, q):\n    await p\n",
    "class C:\n    def m(self, v):\n        pass\n",
    "def w(a):\n    return a is 1\n",  # a SyntaxWarning when compiled: not printed
    "x = 1\n",
    "def broken(:\n",
    "",
]


@pytest.mark.parametrize("source", PARAM_SOURCES)
def test_dataflow_param_names_read_the_first_def_as_ast_would(source, capsys):
    """The dataflow names a task's arguments from its source without importing ast; the
    answer is the one ast gives."""
    import ast
    import textwrap

    from redun.view.render_dataflow import param_names

    def by_ast(text):
        try:
            tree = ast.parse(textwrap.dedent(text))
        except SyntaxError:
            return []
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return [a.arg for a in node.args.posonlyargs + node.args.args]
        return []

    assert param_names(source) == by_ast(source)
    assert capsys.readouterr().err == ""
