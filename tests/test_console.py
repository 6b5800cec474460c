"""`redun console` driven headless through Textual's pilot, on history written by the
real engine: executions list, an execution's job tree, a failed job's traceback,
file lineage, filters, jumps by prefix, paging, and that it writes nothing."""

import asyncio
import hashlib
import io
import os

import pytest

pytest.importorskip("textual")

from rich.console import Console  # noqa: E402

from redun import File, Scheduler, task  # noqa: E402
from redun.repo.repository import Repo  # noqa: E402
from redun.view.browse import Browser  # noqa: E402
from redun.view.console.app import ConsoleApp  # noqa: E402
from redun.view.query import Provenance  # noqa: E402



@task(namespace="console_t")
def cook(src: File) -> File:
    out = File(src.path[:-2] + ".o")
    out.write("obj of " + src.read())
    return out


@task(namespace="console_t")
def link(name: str, objs: list) -> File:
    out = File(name)
    out.write("|".join(o.read() for o in objs))
    return out


@task(namespace="console_t")
def build(name: str, srcs: list) -> File:
    return link(name, [cook(s) for s in srcs])


@task(namespace="console_t")
def check(x: int) -> int:
    if x > 2:
        raise ValueError(f"too big: {x}")
    return x


@task(namespace="console_t")
def checks(n: int) -> list:
    return [check(i) for i in range(n)]


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Three executions: a build of files (dev), a failing one (prod), a cached rebuild."""
    work = tmp_path_factory.mktemp("console")
    old = os.getcwd()
    os.chdir(work)
    try:
        for name in ("main.c", "util.c"):
            (work / name).write_text(f"source of {name}")
        repo = Repo.init(str(work / ".redun"))
        Scheduler(repo=repo, quiet=True).run(build("prog", [File("main.c"), File("util.c")]),
                                             tags=[("env", "dev")])
        with pytest.raises(ValueError):
            Scheduler(repo=repo, quiet=True).run(checks(4), tags=[("env", "prod"), ("owner", "ana")])
        Scheduler(repo=repo, quiet=True).run(build("prog", [File("main.c"), File("util.c")]))
        repo.close()
    finally:
        os.chdir(old)
    return work


def screen_text(app) -> str:
    """What the terminal shows now, as plain text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, force_terminal=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def drive(workdir, steps, size=(130, 40), start=None, page_size=100, open_repo=None):
    """Run the app headless over the repo in workdir (or the one open_repo() returns);
    `steps(app, pilot)` is an async function doing the test's key presses. Returns what it returns."""

    async def main():
        repo = open_repo() if open_repo else Repo.open(str(workdir / ".redun"))
        app = ConsoleApp(Browser(Provenance(repo)), str(workdir), start, page_size)
        try:
            async with app.run_test(size=size) as pilot:
                await pilot.pause()
                return await steps(app, pilot)
        finally:
            repo.close()

    old = os.getcwd()
    os.chdir(workdir)
    try:
        return asyncio.run(main())
    finally:
        os.chdir(old)


async def type_text(pilot, text):
    for ch in text:
        await pilot.press({" ": "space", "/": "slash", ":": "colon", "=": "equals_sign",
                           "-": "minus", "~": "tilde", ".": "full_stop"}.get(ch, ch))


async def jump(app, pilot, text):
    """The go-to prompt with `text` in it, submitted (typing is tested once, by the first jump)."""
    await pilot.press("g")
    await pilot.pause()
    app.screen.query_one("#jump-input").value = text
    await pilot.press("enter")


async def settle(pilot):
    await pilot.pause()
    await pilot.pause()


def test_opens_on_executions_newest_first(history):
    async def steps(app, pilot):
        return screen_text(app), type(app.screen).__name__

    text, screen = drive(history, steps)
    assert screen == "ExecutionsScreen"
    lines = [ln for ln in text.splitlines() if " DONE " in ln or "FAILED" in ln]
    assert len(lines) == 3
    assert "console_t.build" in lines[0] and "FAILED" in lines[1] and "console_t.checks" in lines[1]
    assert "env=prod" in lines[1] and "owner=ana" in lines[1] and "env=dev" in lines[2]


@pytest.mark.slow  # a Textual app, several screens: seconds under load
def test_execution_to_failing_job_and_traceback(history):
    async def steps(app, pilot):
        await pilot.press("down", "enter")  # the failed execution (second newest)
        await settle(pilot)
        tree = screen_text(app)
        await pilot.press("slash")
        await type_text(pilot, "status:failed task:check")
        await pilot.press("enter")
        await settle(pilot)
        found = screen_text(app)
        rows = app.screen.query_one("#found").row_count
        await pilot.press("down", "enter")  # checks(4) matches too; then check(3)
        await settle(pilot)
        return tree, found, rows, screen_text(app), type(app.screen).__name__

    tree, found, rows, job, screen = drive(history, steps)
    assert rows == 2
    assert "FAILED console_t.checks(4)" in tree
    assert " DONE  console_t.check(0)" in tree and "FAILED console_t.check(3)" in tree
    table = found.split("──")[-1]  # below the execution's summary
    assert "console_t.check(3)" in table and " DONE " not in table
    assert screen == "JobScreen"
    assert "Raised ValueError: too big: 3" in job
    assert "Traceback" in job and 'raise ValueError(f"too big: {x}")' in job and "in check" in job
    assert "Cache miss: new arguments" in job  # check(0..2) ran before with other arguments


@pytest.mark.slow  # a Textual app, several screens: seconds under load
def test_job_tree_by_keys_then_back(history):
    async def steps(app, pilot):
        await pilot.press("down", "enter")
        await settle(pilot)
        await pilot.press("down", "down", "down", "down", "enter")  # root, check(0..2), check(3)
        await settle(pilot)
        job = screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        return job, type(app.screen).__name__

    job, back = drive(history, steps)
    assert "Job " in job and "console_t.check" in job and "Raised ValueError: too big: 3" in job
    assert back == "ExecutionScreen"


def test_file_lineage_by_path(history):
    async def steps(app, pilot):
        await pilot.press("g")
        await type_text(pilot, "prog")
        await pilot.press("enter")
        await settle(pilot)
        return screen_text(app), type(app.screen).__name__

    text, screen = drive(history, steps)
    assert screen == "LineageScreen"
    assert "file: File prog" in text
    assert "made by:  DONE  console_t.link('prog'" in text  # the job that ran, not the cached one
    assert text.index("item: File main.o") < text.index("item: File util.o")  # by path
    assert "made by:  DONE  console_t.cook(File(path=main.c" in text and "arg 0: File main.c" in text


@pytest.mark.slow  # a Textual app, several screens: seconds under load
def test_files_list_leads_to_lineage_and_value(history):
    async def steps(app, pilot):
        await pilot.press("3")
        await settle(pilot)
        files = screen_text(app)
        await pilot.press("enter")  # main.c, the first path
        await settle(pilot)
        lineage = screen_text(app)
        await pilot.press("enter")  # the file value itself
        await settle(pilot)
        return files, lineage, screen_text(app)

    files, lineage, value = drive(history, steps)
    assert files.index("main.c") < files.index("main.o") < files.index("prog")
    assert "file: File main.c" in lineage
    assert "File " in value and "Path main.c" in value and "Used by Job" in value


@pytest.mark.slow  # a Textual app, several screens: seconds under load
def test_filter_executions_by_tag_status_and_task(history):
    async def steps(app, pilot):
        out = []
        for text in ("tag:env=dev", "tag:owner", "status:failed", "task:build", "tag:env=nope"):
            await pilot.press("slash")
            app.screen.query_one("#filter").value = text
            await pilot.press("enter")
            await settle(pilot)
            out.append(app.screen.query_one("#table").row_count)
        await pilot.press("slash")
        await type_text(pilot, "colour:red")
        await pilot.press("enter")
        await settle(pilot)
        return out, [n.message for n in app._notifications]

    counts, notes = drive(history, steps)
    assert counts == [1, 1, 1, 2, 0]
    assert any("Unknown filter 'colour:'" in n for n in notes)


@pytest.mark.slow  # a Textual app, several screens: seconds under load
def test_jump_by_prefix_and_ambiguity(history):
    repo = Repo.open(str(history / ".redun"))
    browser = Browser(Provenance(repo))
    failed = browser.executions().rows[1]
    job = browser.find_jobs(failed.key, __import__("redun.view.browse", fromlist=["x"]).parse_filter(
        "task:check status:failed", job=True)).rows[0]
    repo.close()

    async def steps(app, pilot):
        await pilot.press("g")
        await type_text(pilot, job.id[:8])
        await pilot.press("enter")
        await settle(pilot)
        first = (type(app.screen).__name__, screen_text(app))
        await jump(app, pilot, "~2")
        await settle(pilot)
        second = (type(app.screen).__name__, screen_text(app))
        await jump(app, pilot, "console_t.cook")
        await settle(pilot)
        third = (type(app.screen).__name__, screen_text(app))
        await jump(app, pilot, "0000000000")
        await settle(pilot)
        return first, second, third, [n.message for n in app._notifications]

    first, second, third, notes = drive(history, steps)
    assert first[0] == "JobScreen" and job.id in first[1] and "too big: 3" in first[1]
    assert second[0] == "ExecutionScreen" and failed.id in second[1]
    assert third[0] == "TaskScreen" and "def cook(src: File) -> File:" in third[1]
    assert any("Nothing matches '0000000000'" in n for n in notes)


@pytest.mark.slow  # a Textual app, several screens: seconds under load
def test_job_screen_links_task_and_value(history):
    async def steps(app, pilot):
        await pilot.press("enter")  # newest execution: the cached rebuild
        await settle(pilot)
        await pilot.press("enter")  # its root job
        await settle(pilot)
        job = screen_text(app)
        await pilot.press("t")
        await settle(pilot)
        task_screen = screen_text(app)
        return job, task_screen

    job, task_screen = drive(history, steps)
    assert "console_t.build" in job and "Cache hit: same task and arguments as Job" in job
    assert "Task console_t.build" in task_screen and "def build(name: str, srcs: list) -> File:" in task_screen
    assert "1 version(s) recorded" in task_screen


@pytest.mark.slow  # a Textual app, several screens: seconds under load
def test_start_target_and_paging(tmp_repo_dir, tmp_path):
    from test_index_synth import T0, write_execution

    repo = Repo.open(tmp_repo_dir)
    for i in range(45):
        write_execution(repo.store, repo.refs, n_jobs=2, seed=i, start=T0 + i * 10**6)
    repo.close()
    work = tmp_path / "w"
    work.mkdir()
    os.symlink(tmp_repo_dir, work / ".redun")

    async def steps(app, pilot):
        table = app.screen.query_one("#table")
        rows = [table.row_count, table.pages]
        await pilot.press("end")
        await settle(pilot)
        rows += [table.row_count, table.pages]
        await pilot.press("end")
        await settle(pilot)
        await pilot.press("end")
        await settle(pilot)
        rows += [table.row_count, table.pages]
        return rows

    assert drive(work, steps, page_size=20) == [20, 1, 40, 2, 45, 3]


def _tree_digest(root: str) -> dict:
    """Every file of a repository but the derived index, with its content hash."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.startswith("index.sqlite3"):
                continue
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


@pytest.mark.slow  # a Textual app, several screens: seconds under load
def test_reads_only(history):
    before = _tree_digest(str(history / ".redun"))

    async def steps(app, pilot):
        for keys in (("enter",), ("escape", "down", "enter"), ("slash",), ("escape", "escape", "3", "enter")):
            await pilot.press(*keys)
            await settle(pilot)

    drive(history, steps)
    assert _tree_digest(str(history / ".redun")) == before


def _three_rows(app):
    return [ln for ln in screen_text(app).splitlines() if " DONE " in ln or "FAILED" in ln]


@pytest.mark.slow
def test_repo_option_directory_repository(history, tmp_path):
    """`redun --repo other console` on a repository configured by directory."""
    from click.testing import CliRunner

    from redun.cli.context import CliContext
    from redun.cli.group import cli

    local = str(tmp_path / ".redun")
    Repo.init(local).close()
    assert CliRunner().invoke(cli, ["-c", local, "repo", "add", "other", str(history / ".redun")]).exit_code == 0

    async def steps(app, pilot):
        return _three_rows(app)

    rows = drive(tmp_path, steps, open_repo=lambda: CliContext(local, "other").open_repo())
    assert len(rows) == 3 and "console_t.checks" in rows[1]


@pytest.mark.s3
def test_repo_option_s3_repository(history, tmp_path, seaweed, monkeypatch):  # noqa: F811
    """`redun --repo s3 console` on an S3 repository: read through its local mirror."""
    from click.testing import CliRunner

    from conftest_s3 import unique_url
    from redun.cli.context import CliContext
    from redun.cli.group import cli

    for key, value in (("AWS_ENDPOINT_URL_S3", seaweed), ("AWS_ACCESS_KEY_ID", "redun"),
                       ("AWS_SECRET_ACCESS_KEY", "redun"), ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(key, value)
    url = unique_url()
    src = str(tmp_path / "src" / ".redun")  # a copy: the shared history stays unconfigured
    __import__("shutil").copytree(history / ".redun", src)
    assert CliRunner().invoke(cli, ["-c", src, "repo", "add", "s3", url]).exit_code == 0
    assert CliRunner().invoke(cli, ["-c", src, "push", "s3"]).exit_code == 0
    local = str(tmp_path / ".redun")
    Repo.init(local).close()
    assert CliRunner().invoke(cli, ["-c", local, "repo", "add", "s3", url]).exit_code == 0

    async def steps(app, pilot):
        rows = _three_rows(app)
        await pilot.press("down", "enter")
        await settle(pilot)
        return rows, screen_text(app)

    rows, tree = drive(tmp_path, steps, open_repo=lambda: CliContext(local, "s3").open_repo())
    assert len(rows) == 3 and "FAILED console_t.check(3)" in tree


@pytest.mark.slow
def test_mouse_opens_rows_tree_nodes_and_links(history):
    async def steps(app, pilot):
        screens = []
        await pilot.click("#table", offset=(3, 2))  # highlights the second execution (the failed one)
        await pilot.click("#table", offset=(3, 2))  # a click on the highlighted row opens it
        await settle(pilot)
        screens.append(type(app.screen).__name__)
        await pilot.click("#tree", offset=(12, 4))  # the fourth job of the tree: check(2)
        await settle(pilot)
        screens.append(type(app.screen).__name__)
        job = screen_text(app)
        await pilot.click("#links", offset=(5, 3))  # the third link: the task
        await settle(pilot)
        screens.append(type(app.screen).__name__)
        return screens, job

    screens, job = drive(history, steps)
    assert screens == ["ExecutionScreen", "JobScreen", "TaskScreen"]
    assert "console_t.check" in job


@pytest.mark.postgres
@pytest.mark.slow
def test_postgresql_repository(tmp_path, pg_server):  # noqa: F811
    """The console on a PostgreSQL repository: the same screens from its index."""
    work = tmp_path / "pg"
    (work / ".redun").mkdir(parents=True)
    (work / ".redun" / "redun.ini").write_text(f"[backend]\ndb_uri = {pg_server.create_database()}\n")
    old = os.getcwd()
    os.chdir(work)
    try:
        for name in ("main.c", "util.c"):
            (work / name).write_text(f"source of {name}")
        repo = Repo.init(str(work / ".redun"))
        assert type(repo).__name__ == "PgRepo"
        Scheduler(repo=repo, quiet=True).run(build("prog", [File("main.c"), File("util.c")]), tags=[("env", "dev")])
        with pytest.raises(ValueError):
            Scheduler(repo=repo, quiet=True).run(checks(4), tags=[("env", "prod")])
        repo.close()
    finally:
        os.chdir(old)

    async def steps(app, pilot):
        rows = _three_rows(app)
        await pilot.press("slash")
        app.screen.query_one("#filter").value = "tag:env=prod status:failed"
        await pilot.press("enter")
        await settle(pilot)
        filtered = app.screen.query_one("#table").row_count
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("slash")
        app.screen.query_one("#filter").value = "status:failed task:check"
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        job = screen_text(app)
        await jump(app, pilot, "prog")
        await settle(pilot)
        lineage = screen_text(app)
        await pilot.press("3")
        await settle(pilot)
        return rows, filtered, job, lineage, screen_text(app)

    rows, filtered, job, lineage, files = drive(work, steps)
    assert len(rows) == 2 and filtered == 1
    assert "Raised ValueError: too big: 3" in job and 'raise ValueError(f"too big: {x}")' in job
    assert "made by:  DONE  console_t.link('prog'" in lineage and "arg 0: File main.c" in lineage
    assert files.index("main.c") < files.index("prog")
