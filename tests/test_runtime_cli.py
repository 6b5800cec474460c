"""Run-time configuration and `redun run` parity (issue 14): each flag and [scheduler] key
changes what happens, or is refused clearly. Expected texts were taken from upstream 0.44.1
run side by side on the same workflows."""

import json
import os
import textwrap

import pytest
from inproc import Workflow

from redun.errors import ConfigError, RedunError, UsageError, WorkflowError

WF = textwrap.dedent('''
    import enum
    import time
    from typing import List
    from redun import task, get_context

    redun_namespace = "rt"

    class Color(enum.Enum):
        red = 1
        green = 2

    @task()
    def add(a: int, b: int = 2) -> int:
        """Add two numbers."""
        return a + b

    @task()
    def paint(color: Color) -> str:
        return color.name

    @task()
    def nap(seconds: float = 0.0) -> float:
        time.sleep(seconds)
        return seconds

    @task()
    def ctx(key: str = "x", value=get_context("tool.value", "unset")):
        return value

    @task()
    def main(x: int = 1) -> int:
        return add(x, 3)
''')

NO_NAMESPACE = "from redun import task\n\n@task()\ndef bare(x: int = 1) -> int:\n    return x\n"


@pytest.fixture
def wf(tmp_path):
    return Workflow(tmp_path, WF)


def test_log_level_error_silences_the_run_lines(wf):
    r = wf.redun("--log-level", "ERROR", "run", wf.script, "main")
    assert r.value == 4 and r.out == "4\n"
    assert "[redun]" not in r.err
    r = wf.redun("run", wf.script, "main")
    assert r.lines[0] == "[redun] redun :: version 0.44.1" and "[redun] Cached Job" in r.err


def test_ignore_warnings_namespace(tmp_path):
    w = Workflow(tmp_path, NO_NAMESPACE)
    r = w.redun("run", w.script, "bare")
    assert "[redun] Tasks will require namespace soon." in r.err
    line = [x for x in r.lines if x.startswith("tasks needing namespace: ")]  # second line unprefixed, as upstream
    assert line and f"{w.script}:bare" in line[0]
    with open(os.path.join(w.config, "redun.ini"), "a") as f:
        f.write("\n[scheduler]\nignore_warnings = namespace\n")
    assert "namespace soon" not in w.redun("run", w.script, "bare").err


@pytest.mark.slow  # over a second: the full suite runs it, the quick loop does not
def test_job_status_interval(tmp_path):
    import re

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    w = Workflow(tmp_path / "a", WF, ini="[scheduler]\njob_status_interval = 1\n")
    r = w.redun("run", w.script, "nap", "--seconds", "1.6")
    assert r.err.count("| JOB STATUS") >= 2  # one while the job sleeps, then the final one
    assert re.search(r"\| ALL +0 +1 +0 +0 +0 +1\n", r.err)  # upstream counts a started job as RUNNING
    w2 = Workflow(tmp_path / "b", WF, ini="[scheduler]\njob_status_interval = 0\n")
    assert w2.redun("run", w2.script, "nap", "--seconds", "1.2").err.count("| JOB STATUS") == 1


def test_bad_scheduler_keys_are_refused(tmp_path):
    w = Workflow(tmp_path, WF, ini="[scheduler]\njob_status_interval = soon\n")
    with pytest.raises(ConfigError, match="job_status_interval must be an integer"):
        w.redun("run", w.script, "main")
    w = Workflow(tmp_path, WF, ini="[scheduler]\nfederated_configs = /x\n")
    with pytest.raises(ConfigError, match="federated tasks are not supported"):
        w.redun("run", w.script, "main")
    w = Workflow(tmp_path, WF, ini="[scheduler]\ncontext = {\"a\": 1}\ncontext_file = c.json\n")
    with pytest.raises(ConfigError, match="both context and context_file"):
        w.redun("run", w.script, "main")
    w = Workflow(tmp_path, WF, ini="[scheduler]\ncontext = {nope\n")
    with pytest.raises(ConfigError, match="not valid JSON"):
        w.redun("run", w.script, "main")
    w = Workflow(tmp_path, WF, ini="[scheduler]\nbogus = 1\n")
    r = w.redun("run", w.script, "main")
    assert "unknown key [scheduler] bogus" in r.err and r.value == 4


def test_boto_config_reaches_the_s3_client(tmp_path):
    from redun.objects import s3

    w = Workflow(tmp_path, WF, ini='[scheduler]\nboto_config = {"max_pool_connections": 3}\n')
    try:
        w.redun("run", w.script, "main")
        assert s3._boto_config == {"max_pool_connections": 3}
        assert s3.make_client().meta.config.max_pool_connections == 3
    finally:
        s3.set_boto_config({})
    w = Workflow(tmp_path, WF, ini="[scheduler]\nboto_config = [1]\n")
    with pytest.raises(ConfigError, match="boto_config must be a JSON object"):
        w.redun("run", w.script, "main")


SETUP = textwrap.dedent('''
    from redun import Scheduler
    from redun.executors.local import LocalExecutor

    def setup_scheduler(config, profile: str = "root", workers: int = 1):
        """Custom scheduler setup."""
        if profile not in ("root", "fast"):
            raise ValueError("Unknown profile: {}".format(profile))
        scheduler = Scheduler(config=config)
        scheduler.add_executor(LocalExecutor(profile, config={"max_workers": workers}))
        return scheduler
''')


def test_setup_scheduler_and_setup_args(tmp_path):
    w = Workflow(tmp_path, WF + '\n@task(executor="fast")\ndef quick() -> str:\n    return "ok"\n',
                 ini="[scheduler]\nsetup_scheduler = mysetup::setup_scheduler\n")
    (tmp_path / "mysetup.py").write_text(SETUP)
    assert 'Unknown executor "fast"' in w.redun("run", w.script, "quick", expect=1).err
    r = w.redun("--setup", "profile=fast", "--setup", "workers=2", "run", w.script, "quick")
    assert r.value == "ok" and ":  rt.quick() on fast" in r.err
    assert os.path.exists(os.path.join(w.config, "FORMAT"))  # the user's Scheduler(config) recorded here
    assert "Cached Job" in w.redun("--setup", "profile=fast", "run", w.script, "quick").err
    with pytest.raises(UsageError, match="Unknown --setup option.*nope.*profile, workers"):
        w.redun("--setup", "nope=1", "run", w.script, "main")
    with pytest.raises(UsageError, match="format `option=value`"):
        w.redun("--setup", "profile", "run", w.script, "main")
    with pytest.raises(RedunError, match="--setup applies to `redun run`"):
        w.redun("--setup", "profile=fast", "log")
    r = w.redun("--setup-help")
    assert r.out.splitlines() == [
        "redun --setup <option>=<value> ...", "", "Custom scheduler setup.", "",
        "  --setup profile=PROFILE (default: root)", "  --setup workers=WORKERS (default: 1)"]


def test_setup_without_setup_scheduler_is_refused(wf):
    with pytest.raises(UsageError, match="default_setup takes: no options"):
        wf.redun("--setup", "profile=x", "run", wf.script, "main")


def test_missing_script_fails_before_creating_the_repository(tmp_path):
    w = Workflow(tmp_path, WF)
    with pytest.raises(WorkflowError, match="Cannot find Python script file or module: missing.py"):
        w.redun("run", "missing.py", "main")
    assert not os.path.exists(w.config)


def test_unknown_task_suggests_and_lists(wf):
    with pytest.raises(WorkflowError) as e:
        wf.redun("run", wf.script, "mian")
    assert str(e.value).startswith('Unknown task "rt.mian". Did you mean: rt.main')
    assert str(e.value).endswith(f"Tasks in {wf.script}: rt.add, rt.ctx, rt.main, rt.nap, rt.paint.")


def test_script_help_and_task_help_and_info(wf):
    r = wf.redun("run", wf.script, "help")
    mine = [line for line in r.out.splitlines() if line in ("   rt.add", "   rt.ctx", "   rt.main", "   rt.nap",
                                                             "   rt.paint")]
    assert r.out.startswith("Tasks available:\n") and mine == sorted(mine) and len(mine) == 5  # (other tests' too)
    r = wf.redun("run", wf.script, "add", "help")
    assert r.out == textwrap.dedent('''\
        usage: rt.add [-h] [--a A] [--b B] {help,info} ...

        Add two numbers.

        positional arguments:
          {help,info}
            help       Show help for calling a task.
            info       Show task information.

        options:
          -h, --help   show this help message and exit
          --a A        
          --b B        

        ''')
    r = wf.redun("run", wf.script, "add", "info")
    h = "ff609566de07175ea402cdd420f07f6e743d3f45"  # upstream's hash of rt.add, printed by its `info`
    assert r.out == (f"Task {h} rt.add \n\n  def add(a: int, b: int = 2) -> int:\n"
                     '      """Add two numbers."""\n      return a + b\n\n')
    assert "--color {Color.red,Color.green}" in wf.redun("run", wf.script, "paint", "help").out


def test_enum_arguments(wf):
    assert wf.redun("run", wf.script, "paint", "--color", "Color.green").value == "green"
    assert wf.redun("run", wf.script, "paint", "--color", "red").value == "red"
    r = wf.redun("run", wf.script, "paint", "--color", "2", expect=2)
    assert "invalid Color value: '2'" in r.err


def test_run_options_after_the_script_are_run_options(wf):
    wf.redun("run", wf.script, "main")
    r = wf.redun("run", wf.script, "main", "--no-cache", "--tag", "where=after")
    assert r.err.count("Run    Job") == 2  # --no-cache after TASK still counts, as with upstream's argparse
    lines = [json.loads(line) for line in wf.redun("export").out.splitlines()]
    assert {"where": "after"}.items() <= {t["key"]: t["value"] for t in lines if t["_type"] == "Tag"}.items()


def test_check_version_and_help(wf):
    assert wf.redun("--check-version", ">=0.44,<1", "run", wf.script, "main").value == 4
    with pytest.raises(RedunError, match="redun version 0.44.1 does not meet requirement >0.44.1"):
        wf.redun("--check-version", ">0.44.1", "log")
    top = wf.redun("help").out
    assert top.startswith("Usage: redun") and "tag" in top and "oneshot" in top
    assert wf.redun().out == top


def test_input_pickle_and_execution_tags_from_config(tmp_path):
    import pickle

    w = Workflow(tmp_path, WF, ini="[tags]\nteam = core\nlevel = 3\n")
    with open(tmp_path / "in.pkl", "wb") as f:
        pickle.dump(((5,), {}), f)
    assert w.redun("run", "-i", "in.pkl", w.script, "add", "--b", "10").value == 15
    lines = [json.loads(x) for x in w.redun("export").out.splitlines()]
    tags = {t["key"]: t["value"] for t in lines if t["_type"] == "Tag"}
    assert tags["team"] == "core" and tags["level"] == 3  # [tags] values typed as upstream types them
