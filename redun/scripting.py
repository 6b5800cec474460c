"""Shell scripts as tasks, with files staged in and out (upstream's redun.scripting).

`script(command, inputs=[...], outputs=...)` builds one shell script: commands
that stage each input (remote to local, e.g. `aws s3 cp`), the user's command
(run from a temp file, so any `#!` interpreter works), and commands that unstage
each output (local to remote). The script runs as `redun.script_task`, whose
stdout becomes the result of `File("-")` outputs; the call's value is `outputs`
with every Staging replaced by a fresh File of its remote path.

Reactivity, as upstream: `redun.script` (check_valid="shallow") is cached on
the command, the inputs (as remote Files, so a changed input re-runs it) and
the outputs; `redun.script_task` is only ever cached within one execution, since
its own argument (the script text) does not change when the files do. The task
names, versions and generated commands are upstream's, so their hashes are too.
"""

import os
import shlex
import shutil
import subprocess
import tempfile
from textwrap import dedent
from typing import Any, Optional

from .errors import RedunError
from .file import File, Staging
from .task import task
from .utils import iter_nested_value, map_nested_value  # noqa: F401 - upstream's scripting exposes them

NULL = object()
# Scripts without a #! line run in bash, stopping at the first failing command.
DEFAULT_SHELL = "#!/usr/bin/env bash\nset -exo pipefail"


class ScriptError(RedunError):
    """A script exited non-zero. `message` holds its stderr (str, or bytes if not UTF-8)."""

    def __init__(self, stderr: bytes):
        super().__init__()
        try:
            self.message = stderr.decode("utf8")
        except UnicodeDecodeError:
            self.message = stderr

    def __str__(self) -> str:
        if isinstance(self.message, str):
            return "Last line: " + self.message.rstrip("\n").rsplit("\n")[-1]
        return ""

    def __repr__(self) -> str:
        return f"ScriptError('{self}')"


def prepare_command(command: str, default_shell: str = DEFAULT_SHELL) -> str:
    """Dedent and strip a command; prepend the default shell unless it has a #! line."""
    command = dedent(command).strip()
    if not command.startswith("#!"):
        command = default_shell.rstrip("\n") + "\n" + command
    return command


def get_task_command(task, args: tuple, kwargs: dict) -> str:
    """The prepared command a script task's function returns for these arguments."""
    return prepare_command(task.func(*args, **kwargs))


def exec_script_task(task, args: tuple, kwargs: dict) -> bytes:
    """What an executor runs for a @task(script=True) job: the command, then its stdout."""
    return exec_script(get_task_command(task, args, kwargs))


def exec_script(command: str) -> bytes:
    """Run a script (with its #! line) as a subprocess; its stdout, or ScriptError
    carrying its stderr if it exits non-zero."""
    fd, command_file = tempfile.mkstemp()
    try:
        os.write(fd, command.encode("utf8"))
        os.close(fd)
        os.chmod(command_file, 0o700)
        proc = subprocess.run([command_file], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        os.remove(command_file)
    if proc.returncode != 0:
        raise ScriptError(proc.stderr)
    return proc.stdout


def get_command_eof(command: str, eof_prefix: str = "EOF") -> str:
    """A heredoc terminator that no line of command equals."""
    lines = command.split("\n")
    eof, index = eof_prefix, 0
    while eof in lines:
        index += 1
        eof = eof_prefix + str(index)
    return eof


def get_wrapped_command(command: str, eof_prefix: str = "EOF") -> str:
    """A sh snippet that writes command to a temp file, runs it and removes it, exiting
    with its status (so a script in any language can sit inside a shell script)."""
    eof = get_command_eof(command, eof_prefix=eof_prefix)
    return (
        "(\n"
        "# Save command to temp file.\n"
        'COMMAND_FILE="$(mktemp)"\n'
        f'cat > "$COMMAND_FILE" <<"{eof}"\n'
        f"{command}\n"
        f"{eof}\n"
        "\n"
        "# Execute temp file.\n"
        'chmod +x "$COMMAND_FILE"\n'
        '"$COMMAND_FILE"\n'
        "RETCODE=$?\n"
        "\n"
        "# Remove temp file.\n"
        'rm "$COMMAND_FILE"\n'
        "\n"
        "exit $RETCODE\n"
        ")\n"
    )


def _remote(value: Any) -> Any:
    """A Staging becomes a fresh value of its remote path (hashed when used)."""
    if isinstance(value, Staging):
        return type(value.remote)(value.remote.path)
    return value


# cache_scope="CSE": what upstream's scheduler does for redun.script_task by name.
@task(name="script_task", namespace="redun", version="1", script=True, cache_scope="CSE")
def script_task(command: str) -> str:
    """Execute a shell script as a redun task (its stdout is the result)."""
    return command


@task(name="script", namespace="redun", version="1", check_valid="shallow")
def _script(command: str, inputs: Any, outputs: Any, task_options: dict = {},
            temp_path: Optional[str] = None) -> Any:
    """Run the full (staging) command, then turn outputs into their remote Files.
    `inputs` is an argument only so that changed input files re-run the script."""
    return postprocess_script(script_task.options(**task_options)(command), outputs, temp_path=temp_path)


@task(name="postprocess_script", namespace="redun", version="1")
def postprocess_script(result: Any, outputs: Any, temp_path: Optional[str] = None) -> Any:
    """outputs with File("-") replaced by the script's stdout and each Staging by its remote."""

    def get_file(value: Any) -> Any:
        if isinstance(value, File) and value.path == "-":
            return result
        return _remote(value)

    if temp_path:
        shutil.rmtree(temp_path)
    return map_nested_value(get_file, outputs)


def script(command, inputs: Any = [], outputs: Any = NULL, tempdir: bool = False,
           as_mount: bool = False, **task_options: Any) -> Any:
    """A shell script as a task, with staging.

    command: script text (dedented; bash with `set -exo pipefail` unless it starts
    with #!) or an argv list. inputs: nested Staging values copied in first.
    outputs: nested values returned in the same shape, each Staging replaced by
    its remote File/Dir after being copied out, File("-") by the script's stdout
    (the default). Output Files are staged onto themselves. tempdir: run in a
    fresh temporary directory (removed afterwards). as_mount: stage through
    mounted buckets (gs://). task_options: options of the script_task call."""
    if outputs is NULL:
        outputs = File("-")
    parts = []
    temp_path = None
    if tempdir:
        temp_path = tempfile.mkdtemp(suffix=".tempdir")
        parts.append(shlex.join(["cd", temp_path]))

    def stage_output(value: Any) -> Any:
        if isinstance(value, File) and value.path != "-":
            return value.stage(value.path)
        return value

    outputs = map_nested_value(stage_output, outputs)
    for value in iter_nested_value(inputs):
        if not isinstance(value, Staging):
            raise TypeError(f"script() inputs must be staged files, e.g. File(path).stage(local), not {value!r}")
        parts.append(value.render_stage(as_mount))
    if isinstance(command, list):
        command = shlex.join(command)
    parts.append(get_wrapped_command(prepare_command(command)))
    parts.extend(value.render_unstage(as_mount) for value in iter_nested_value(outputs)
                 if isinstance(value, Staging))
    return _script("\n".join(parts), map_nested_value(_remote, inputs), outputs,
                   task_options=task_options, temp_path=temp_path)
