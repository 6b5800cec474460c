"""script(), @task(script=True) and ScriptError on local files, through the scheduler."""

import os

import pytest

from redun import Scheduler, task
from redun.file import File
from redun.scripting import (
    ScriptError,
    exec_script,
    get_command_eof,
    get_wrapped_command,
    prepare_command,
    script,
)

redun_namespace = "test_scripting"


@task(script=True)
def echo_task(word: str) -> str:
    return f"echo {word}"


@task()
def stdout_of(command: str):
    return script(command)


@task()
def upper(src: File, out_path: str):
    return script(
        """
        tr a-z A-Z < in.txt > out.txt
        """,
        tempdir=True,
        inputs=[src.stage("in.txt")],
        outputs={"out": File(out_path).stage("out.txt"), "stdout": File("-")},
    )


@task()
def upper_in(work: str, src: File, out_path: str):
    # No tempdir: a cached call re-made later must not point at a removed directory.
    return script(
        f"tr a-z A-Z < {work}/in.txt > {work}/out.txt",
        inputs=[src.stage(f"{work}/in.txt")],
        outputs=File(out_path).stage(f"{work}/out.txt"),
    )


@task()
def python_script() -> bytes:
    return script("""
        #!/usr/bin/env python3
        print(6 * 7)
        """)


def test_prepare_and_wrap():
    assert prepare_command("\n    ls\n    pwd\n") == "#!/usr/bin/env bash\nset -exo pipefail\nls\npwd"
    assert prepare_command("#!/bin/sh\necho") == "#!/bin/sh\necho"
    assert get_command_eof("a\nEOF\nEOF1") == "EOF2"
    wrapped = get_wrapped_command("echo hi")
    assert wrapped.startswith('(\n# Save command to temp file.\nCOMMAND_FILE="$(mktemp)"\ncat > "$COMMAND_FILE" <<"EOF"\n')
    assert wrapped.endswith('rm "$COMMAND_FILE"\n\nexit $RETCODE\n)\n')


@pytest.mark.slow
def test_exec_script_and_error():
    assert exec_script(prepare_command("echo out; echo err >&2")) == b"out\n"
    with pytest.raises(ScriptError) as info:
        exec_script(prepare_command("echo first >&2; false"))
    assert "first" in info.value.message and str(info.value) == "Last line: + false"
    assert repr(ScriptError(b"\xff\xfe")) == "ScriptError('')"  # stderr kept as bytes


@pytest.mark.slow
def test_script_task_runs_command(tmp_path):
    s = Scheduler()
    assert s.run(echo_task("hello")) == b"hello\n"
    assert s.run(stdout_of("echo 1; echo 2")) == b"1\n2\n"
    assert s.run(python_script()) == b"42\n"


@pytest.mark.slow
def test_script_with_staging(tmp_path):
    src = File(str(tmp_path / "src.txt"))
    src.write("abc")
    out_path = str(tmp_path / "result.txt")  # a local unstage is a plain cp (as upstream): no mkdir
    result = Scheduler().run(upper(src, out_path))
    assert isinstance(result["out"], File) and result["out"].path == out_path
    assert result["out"].read() == "ABC" and result["stdout"] == b""


@pytest.mark.slow
def test_script_reruns_when_output_changes(tmp_path):
    src = File(str(tmp_path / "src.txt"))
    src.write("abc")
    out_path = str(tmp_path / "result.txt")
    work = str(tmp_path)
    s = Scheduler()
    s.run(upper_in(work, src, out_path))
    os.remove(out_path)
    assert s.run(upper_in(work, src, out_path)).read() == "ABC"  # re-made, not a stale cache hit
    src.write("xyz")
    assert s.run(upper_in(work, File(src.path), out_path)).read() == "XYZ"


@pytest.mark.slow
def test_script_failure_is_script_error():
    with pytest.raises(ScriptError, match="Last line: \\+ exit 4"):
        Scheduler().run(stdout_of("exit 4"))


def test_script_inputs_must_be_staged(tmp_path):
    with pytest.raises(TypeError, match="must be staged files"):
        script("true", inputs=[File(str(tmp_path / "x"))])
