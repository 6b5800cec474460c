"""`redun run SCRIPT TASK [--arg value ...]`: run a workflow task, recording it.

Mirrors upstream 0.44.1's options and output: "[redun] " lines on stderr
(Start Execution, Run/Cached per job, the JOB STATUS table, Execution
duration), the result pretty-printed on stdout. A failing task prints the
redun traceback and the Python one, and the command exits 1.
"""

import argparse
import enum
import importlib
import inspect
import os
import sys
import traceback
import typing

import click

from ..errors import CorruptObjectError, RefConflictError, RepoFormatError, UsageError, WorkflowError


def _import_script(script: str):
    if script.endswith(".py") or os.sep in script:
        dirpath = os.path.dirname(os.path.realpath(script))
        module_name = os.path.splitext(os.path.basename(script))[0]
        if not os.path.exists(script):
            raise WorkflowError(f"Cannot find Python script file or module: {script}")
    else:
        dirpath = os.getcwd()
        module_name = script
    if dirpath not in sys.path:
        sys.path.insert(0, dirpath)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            raise WorkflowError(f"Cannot find Python script file or module: {script}") from None
        raise


def _parse_bool(text: str) -> bool:
    low = text.lower()
    if low in ("true", "t", "yes", "y", "1"):
        return True
    if low in ("false", "f", "no", "n", "0"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _parser_for(anno):
    """(type function, nargs) for a parameter annotation (upstream rules, simplified)."""
    from ..file import Dir, File

    origin = typing.get_origin(anno)
    nargs = None
    if origin in (list, typing.List):
        nargs = "+"
        args = typing.get_args(anno)
        anno = args[0] if args else str
    elif origin is typing.Union or type(anno).__name__ == "UnionType":
        args = [a for a in typing.get_args(anno) if a is not type(None)]
        anno = args[0] if len(args) == 1 else str
    if anno is None or anno is inspect.Parameter.empty or anno is str:
        return str, nargs
    if anno is bool:
        return _parse_bool, nargs
    if anno in (int, float):
        return anno, nargs
    if anno is File or anno is Dir:
        return anno, nargs
    if inspect.isclass(anno) and issubclass(anno, enum.Enum):
        return (lambda text: anno[text] if text in anno.__members__ else anno(text)), nargs
    return str, nargs


def _task_args(task, extra: list) -> dict:
    parser = argparse.ArgumentParser(prog=task.fullname, description=task.func.__doc__ if task.func else None)
    dests = {}
    for p in task.signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        func, nargs = _parser_for(p.annotation)
        kebab = "--" + p.name.lower().replace("_", "-")
        names = [kebab] if kebab == "--" + p.name else [kebab, "--" + p.name]
        act = parser.add_argument(*names, dest=p.name, type=func, nargs=nargs, default=None)
        dests[act.dest] = p.name
    try:
        ns = parser.parse_args(extra)
    except SystemExit as e:
        sys.exit(e.code or 0)
    return {name: getattr(ns, dest) for dest, name in dests.items() if getattr(ns, dest) is not None}


def _parse_kv(text: str, what: str) -> tuple:
    import json

    if "=" not in text:
        raise UsageError(f"{what} must look like key=value, not {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False,
                      "help_option_names": ["-h", "--help"]},
)
@click.option("--no-cache", is_flag=True, help="Do not use cache.")
@click.option("--no-prov", is_flag=True, help="Do not record provenance.")
@click.option("--dryrun", is_flag=True, help="Perform a dry run.")
@click.option("-o", "--option", "options", multiple=True, help="Override task option (format: key=value).")
@click.option("-t", "--tag", "tags", multiple=True, help="Execution tag (format: key=value).")
@click.option("-p", "--project", default=None, help="Specify project tag.")
@click.option("--doc", default=None, help="Specify a documentation tag for the execution.")
@click.option("-u", "--user", default=None, help="Specify user tag for execution.")
@click.option("--execution-id", default=None, help="The execution id (a UUID not used before).")
@click.option("-i", "--input", "input_path", default=None,
              help="Pickle of (args, kwargs) for the task; --name value arguments override it.")
@click.argument("script")
@click.argument("task_name", metavar="TASK")
@click.argument("task_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_command(ctx, no_cache, no_prov, dryrun, options, tags, project, doc, user, execution_id, input_path,
                script, task_name, task_args):
    """Run TASK from SCRIPT; task arguments follow as --name value."""
    from .. import __version__
    from ..engine.runlog import RunLog

    log = RunLog()
    cli = ctx.obj
    repo = cli.open_repo(create=True)
    repo.trust.trusted_sources()  # a bad `[repos.NAME] trust` value fails here, not as silent cache misses
    log.log(f"redun :: version {__version__}")
    log.log(f"config dir: {repo.root}")

    if execution_id is not None:
        from ..objects.ids import parse_uuid

        parse_uuid(execution_id)
    module = _import_script(script)
    from ..scheduler import DryRunResult, Scheduler
    from ..task import get_task_registry

    fullname = task_name
    ns = getattr(module, "redun_namespace", None)
    if ns and "." not in task_name:
        fullname = f"{ns}.{task_name}"
    task = get_task_registry().get(fullname)
    if task is None:
        raise WorkflowError(f'Unknown task "{fullname}"')
    pos_args: tuple = ()
    kwargs = {}
    if input_path:
        import pickle

        try:
            with open(input_path, "rb") as f:
                pos_args, kwargs = pickle.load(f)  # the user's own input file (trusted, as upstream)
        except (OSError, pickle.UnpicklingError, ValueError, TypeError) as e:
            raise UsageError(f"Cannot read task arguments from {input_path}: {e}") from None
        pos_args, kwargs = tuple(pos_args), dict(kwargs)
    kwargs.update(_task_args(task, list(task_args)))
    task_options = dict(_parse_kv(o, "--option") for o in options)
    if task_options:
        task = task.options(**task_options)

    exec_tags = _default_tags(__version__, user, project or task.namespace or None, doc)
    exec_tags.extend(_parse_kv(t, "--tag") for t in tags)

    scheduler = Scheduler(repo=repo, log=log)
    argv = _exec_argv(script, task_name, list(task_args))
    try:
        result = scheduler.run(task(*pos_args, **kwargs), exec_argv=argv, dryrun=dryrun, cache=not no_cache,
                               tags=exec_tags, execution_id=execution_id, record=not no_prov)
    except DryRunResult:
        sys.exit(1)
    except (CorruptObjectError, RepoFormatError, RefConflictError):
        raise  # the repository's trouble, not the workflow's: one message, no traceback
    except Exception as error:
        sys.stderr.write("".join(traceback.format_exception(type(error), error, error.__traceback__)))
        sys.stderr.flush()
        sys.exit(1)
    finally:
        repo.close()
    import pprint

    sys.stderr.flush()
    pprint.pprint(result)


def _git(*args: str):
    import subprocess

    try:
        p = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.strip() or None if p.returncode == 0 else None


def _default_tags(version: str, user, project, doc) -> list:
    """Upstream's default execution tags: version, git commit/origin, user, project, doc."""
    import getpass

    tags = [("redun.version", version)]
    commit = os.environ.get("REDUN_GIT_COMMIT") or _git("rev-parse", "--verify", "HEAD")
    if commit:
        tags.append(("git_commit", commit))
    origin = os.environ.get("REDUN_GIT_ORIGIN_URL") or _git("remote", "get-url", "origin")
    if origin:
        tags.append(("git_origin_url", origin))
    if not user:
        user = os.environ.get("REDUN_USER")
        if not user:
            try:
                user = getpass.getuser()
            except (KeyError, OSError):
                user = None
    if user:
        tags.append(("user", user))
    if project:
        tags.append(("project", project))
    if doc:
        tags.append(("doc", doc))
    return tags


def _exec_argv(script: str, task_name: str, task_args: list) -> list:
    """The full argv (as upstream records it); rebuilt when not called from a shell."""
    argv = list(sys.argv)
    if "run" in argv[1:] and script in argv and task_name in argv:
        return argv
    return ["redun", "run", script, task_name] + task_args
