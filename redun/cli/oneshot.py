"""`redun oneshot SCRIPT TASK [--arg value ...]`: call one task's function, nothing recorded.

Upstream's command (executors use it to run a job elsewhere): the task function is
called directly, so a task returning expressions gives them back unevaluated; there
is no scheduler, no cache and no repository. Options as upstream:
  -i/--input PICKLE   (args, kwargs) instead of --arg value options
  -o/--output PICKLE  write the result there (and reuse it, unless --no-cache, while it
                      is still valid) instead of printing it
  -e/--error PICKLE   on failure, write (error, traceback text) there
  -c/--code TAR.GZ    extract a code package into the current directory first
  -p/--import-path P  add P to the Python import path (repeatable)
  --array-job [--array-rank-env VAR]: input/output/error hold one entry per array index;
                      the index comes from VAR or the usual AWS/k8s/GCP variables.
"""

import argparse
import json
import os
import pickle
import sys
import traceback

import click

from ..errors import UsageError, WorkflowError

ARRAY_VARS = ("AWS_BATCH_JOB_ARRAY_INDEX", "JOB_COMPLETION_INDEX", "BATCH_TASK_INDEX")


def oneshot_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="redun oneshot", allow_abbrev=False, description="Execute one task.")
    p.add_argument("--no-cache", action="store_true", help="Do not use cache.")
    p.add_argument("-c", "--code", help="Code package containing script.")
    p.add_argument("-i", "--input", help="Input file for task arguments.")
    p.add_argument("-o", "--output", help="Output file for task result.")
    p.add_argument("-e", "--error", help="Output file for task error.")
    p.add_argument("--array-job", action="store_true", help="Indicates task is part of an array job")
    p.add_argument("--array-rank-env", help="Environment variable with array job rank.")
    p.add_argument("-p", "--import-path", action="append", default=[], help="Additional python import path.")
    p.add_argument("script", help="Python script to import.")
    p.add_argument("task", help="task within script to run.")
    return p


@click.command("oneshot", add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def oneshot_command(argv):
    """Execute one task (see `redun oneshot --help`)."""
    args, extra = oneshot_parser().parse_known_args(list(argv))
    return oneshot(args, extra)


def array_index(env_var=None) -> int:
    names = (env_var,) if env_var else ARRAY_VARS
    for name in names:
        if name in os.environ:
            try:
                return int(os.environ[name])
            except ValueError:
                raise UsageError(f"{name}={os.environ[name]!r} is not an array index.") from None
    raise UsageError("Array job environment variable not set")


def _read(path: str, mode: str = "rb"):
    with open(path, mode) as f:
        return pickle.load(f) if "b" in mode else json.load(f)


def oneshot(args, extra: list):
    from .. import __version__
    from ..logging import logger
    from ..task import get_task_registry
    from .scheduler_setup import import_script

    index = array_index(args.array_rank_env) if args.array_job else -1
    if args.error and args.array_job:
        args.error = _read(args.error, "r")[index]
    if args.error and os.path.exists(args.error):
        os.remove(args.error)  # never report a stale error
    try:
        if args.code:
            import tarfile

            with tarfile.open(args.code, mode="r:gz") as tar:
                tar.extractall(".", filter="data")
        for path in args.import_path:
            sys.path.insert(0, path if path != "." else "")
        import_script(args.script)
        if args.task == "help":
            click.echo("Tasks available:")
            for t in sorted(get_task_registry(), key=lambda t: t.fullname):
                click.echo("   " + t.fullname)
            return None
        task = get_task_registry().get(args.task)
        if task is None:
            raise WorkflowError(f'Unknown task "{args.task}"')
        output = args.output
        if args.array_job and output:
            output = _read(output, "r")[index]
        if args.input:
            pos, kwargs = _read(args.input)
            if args.array_job:
                pos, kwargs = pos[index], kwargs[index]
        else:
            from .task_args import parse_task_args

            kwargs, special = parse_task_args(task, list(extra))
            if special == "help":
                click.echo(kwargs)
                return None
            pos = ()
        from shlex import quote

        logger.info(f"redun :: version {__version__}")
        logger.info("oneshot:  redun " + " ".join(quote(a) for a in ["oneshot", *_argv(args, extra)]))
        if output and not args.no_cache and os.path.exists(output):
            from ..expression import is_valid_value

            result = _read(output)
            if is_valid_value(result):
                logger.info(f"Existing output found in {output}")
                return result
        if output and os.path.exists(output):
            os.remove(output)
        result = task.func(*pos, **kwargs)
        if output:
            with open(output, "wb") as f:
                pickle.dump(result, f, protocol=3)
        else:
            click.echo(result)
        return result
    except Exception as error:
        if args.error:
            text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            try:
                data = pickle.dumps((error, text), protocol=3)
            except Exception:  # an error that cannot be pickled is kept as its repr
                data = pickle.dumps((Exception(repr(error)), text), protocol=3)
            with open(args.error, "wb") as f:
                f.write(data)
        raise


def _argv(args, extra: list) -> list:
    """The command line as given (sys.argv when called from a shell)."""
    argv = list(sys.argv)
    if "oneshot" in argv:
        return argv[argv.index("oneshot") + 1:]
    return [args.script, args.task, *extra]
