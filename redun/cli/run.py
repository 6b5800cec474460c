"""`redun run [OPTIONS] SCRIPT TASK [--arg value ...]`: run a workflow task, recording it.

The options are upstream 0.44.1's and are parsed the same way (argparse, options
anywhere after `run`, exact names only), so `redun run --pdb wf.py --rerun JOB
--denom 10` works as upstream's README shows. Output as upstream: "[redun] "
lines through the redun logger (Start Execution, Run/Cached per job, the JOB
STATUS table, Execution duration), the result pretty-printed on stdout (nothing
for None). A failing task prints the redun traceback and the Python one and
exits 1; with --pdb a post-mortem debugger opens in the failing task's frame.

`redun run SCRIPT help` lists the tasks; `redun run SCRIPT TASK help` shows a
task's arguments, `... TASK info` its hash and source.
"""

import argparse
import os
import sys
import traceback

import click

from ..errors import CorruptObjectError, RefConflictError, RepoFormatError, UsageError, WorkflowError
from .task_args import ArgFormatter


def run_parser() -> argparse.ArgumentParser:
    """`redun run`'s options (upstream's names and help texts)."""
    p = argparse.ArgumentParser(prog="redun run", allow_abbrev=False, formatter_class=ArgFormatter,
                                description="Run a workflow task.")
    p.add_argument("--no-cache", action="store_true", help="Do not use cache.")
    p.add_argument("--no-prov", action="store_true", help="Do not record provenance.")
    p.add_argument("--dryrun", action="store_true", help="Perform a dry run.")
    p.add_argument("--pdb", action="store_true", help="Start debugger on exception.")
    p.add_argument("--rerun", action="store_true", help="Rerun task by job or execution id.")
    p.add_argument("-o", "--option", action="append", help="Override task option (format: key=value).")
    p.add_argument("-t", "--tag", action="append", help="Execution tag (format: key=value).")
    p.add_argument("-p", "--project", help="Specify project tag (default: current directory).")
    p.add_argument("--doc", help="Specify a documentation tag for the execution.")
    p.add_argument("-u", "--user", help="Specify user tag for execution.")
    p.add_argument("--exclude-user", action="append", default=[],
                   help="Exclude adding a specific user tag (e.g. aws, gcp).")
    p.add_argument("script", help="Python script to import.")
    p.add_argument("task", help="task within script to run.")
    p.add_argument("-i", "--input", help="Input file for task arguments. Should be a pickle of `Tuple, Dict` "
                   "containing `args, kwargs`. Additional variables specified as command line arguments will "
                   "override/supplement the contents of this file.")
    p.add_argument("--execution-id", help="If provided, the execution id. Must be a UUID that has not been used "
                   "previously.")
    p.add_argument("--context-file", help="Path to a JSON file containing updated context. If provided, overrides "
                   "the base context from redun.ini for the execution. This path should be either absolute or "
                   "relative to the current working directory.")
    p.add_argument("--context", dest="context_updates", default=[], action="append",
                   help="Updates individual values in the execution context. Format: <key>=<value>, where the keys "
                   "can use dot notation to refer to nested keys in JSON. This argument can be used multiple times "
                   "to override multiple keys.")
    return p


@click.command("run", add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def run_command(cli, argv):
    """Run a workflow task (see `redun run --help`)."""
    args, extra = run_parser().parse_known_args(list(argv))
    return execute_run(cli, args, extra)


def execute_run(cli, args, extra: list):
    from .. import __version__
    from ..engine.runlog import RunLog
    from .scheduler_setup import import_script, setup_scheduler

    log = RunLog()
    log.log(f"redun :: version {__version__}")
    log.log(f"config dir: {cli.repo_location()}")
    if args.execution_id is not None:
        from ..objects.ids import parse_uuid

        parse_uuid(args.execution_id)
    context = resolve_context_updates(args.context_file, args.context_updates)  # bad input: before any write
    module = import_script(args.script)  # a missing script fails here, before .redun exists

    config = cli.run_config()
    scheduler = setup_scheduler(config, cli.setup)
    scheduler.load()
    if scheduler.repo is not None:
        scheduler.repo.trust.trusted_sources()  # a bad `[repos.NAME] trust` value fails here, not as silent misses
    if args.task == "help":
        tasks = sorted((t for t in scheduler.task_registry if t.namespace != "redun"), key=lambda t: t.fullname)
        click.echo("Tasks available:")
        for t in tasks:
            click.echo("   " + t.fullname)
        return None

    rerun = None
    if args.rerun:
        from .rerun import find_rerun_job

        rerun = find_rerun_job(scheduler.repo, args.task)
        fullname = rerun.task_fullname
    elif "." in args.task or not getattr(module, "redun_namespace", None):
        fullname = args.task
    else:
        fullname = f"{module.redun_namespace}.{args.task}"
    task = scheduler.task_registry.get(fullname)
    if task is None:
        raise WorkflowError(unknown_task_message(fullname, args.script, module, scheduler.task_registry))

    from .task_args import parse_task_args, task_info_lines

    kwargs, special = parse_task_args(task, list(extra))
    if special == "help":
        click.echo(kwargs)
        return None
    if special == "info":
        click.echo("\n".join(task_info_lines(task)))
        return None

    pos_args: list = []
    given = kwargs
    kwargs = {}
    if args.input:
        pos_args, kwargs = _read_input(args.input)
    elif rerun is not None:
        pos_args, kwargs = rerun.arguments()
    kwargs.update(given)

    from ..tags import parse_tag_key_value

    options = {}
    for text in args.option or ():
        options.update([_key_value(text, "--option", parse_tag_key_value)])
    if options:
        task = task.options(**options)
    if context:
        task = task.update_context(context)

    tags = default_tags(args.user, args.project or task.namespace or None, args.doc, args.exclude_user)
    tags.extend(_key_value(t, "--tag", parse_tag_key_value) for t in args.tag or ())

    from ..scheduler import DryRunResult

    expr = task(*pos_args, **kwargs)
    try:
        result = scheduler.run(expr, exec_argv=_exec_argv(args, extra), dryrun=args.dryrun,
                               cache=not args.no_cache, tags=tags, execution_id=args.execution_id,
                               record=not args.no_prov)
    except DryRunResult:
        sys.exit(1)
    except (CorruptObjectError, RepoFormatError, RefConflictError):
        raise  # the repository's trouble, not the workflow's: one message, no traceback
    except Exception as error:
        if args.pdb:
            post_mortem(sys.exc_info()[2])
        sys.stderr.write("".join(traceback.format_exception(type(error), error, error.__traceback__)))
        sys.stderr.flush()
        sys.exit(1)
    finally:
        if scheduler.repo is not None:
            scheduler.repo.close()
    sys.stderr.flush()
    if result is not None:
        import pprint

        pprint.pprint(result)
    return result


def post_mortem(tb) -> None:
    """Upstream's --pdb: a post-mortem pdb at the innermost frame (the failing task's)."""
    import pdb

    print("Uncaught exception. Entering postmortem debugging.")
    debugger = pdb.Pdb()
    debugger.botframe = None  # as upstream: pdb++ would otherwise continue at once
    debugger.interaction(None, tb)


def unknown_task_message(fullname: str, script: str, module, registry) -> str:
    """Unknown task, with close matches and the tasks the script defines."""
    import difflib

    names = sorted(t.fullname for t in registry if t.namespace != "redun")
    own = sorted(t.fullname for t in registry if t.func is not None
                 and getattr(t.func, "__module__", None) == module.__name__)
    by_short: dict = {}
    for n in names:
        by_short.setdefault(n.rsplit(".", 1)[-1], []).append(n)
    close = [full for short in difflib.get_close_matches(fullname.rsplit(".", 1)[-1], list(by_short), n=3, cutoff=0.7)
             for full in by_short[short]]
    close = [n for _, n in sorted(enumerate(close), key=lambda p: (p[1] not in own, p[0]))]  # the script's own first
    text = f'Unknown task "{fullname}".'
    if close:
        text += f" Did you mean: {', '.join(close[:3])}?"
    listed = own or names
    text += f" Tasks in {script}: {', '.join(listed)}." if listed else f" {script} defines no task."
    return text


def resolve_context_updates(context_file, updates) -> dict:
    """--context-file JSON, then each --context a.b=value on top (nested by the dots)."""
    import json

    from ..utils import merge_dicts
    from ..tags import parse_tag_key_value

    context: dict = {}
    if context_file:
        try:
            with open(context_file) as f:
                context = json.load(f)
        except OSError as e:
            raise UsageError(f"--context-file {context_file}: {e.strerror}") from None
        except ValueError as e:
            raise UsageError(f"--context-file {context_file} is not valid JSON: {e}") from None
        if not isinstance(context, dict):
            raise UsageError(f"--context-file {context_file} must hold a JSON object.")
    if updates:
        nested: dict = {}
        for text in updates:
            key, value = _key_value(text, "--context", parse_tag_key_value)
            here = nested
            parts = key.split(".")
            for part in parts[:-1]:
                here = here.setdefault(part, {})
                if not isinstance(here, dict):
                    raise UsageError(f"--context {text}: {part} is set to a value and used as a section.")
            here[parts[-1]] = value
        context = merge_dicts([context, nested])
    return context


def _key_value(text: str, what: str, parse) -> tuple:
    try:
        return parse(text)
    except ValueError as e:
        raise UsageError(f"{what} {text!r}: {e}") from None


def _read_input(path: str) -> tuple:
    import pickle

    try:
        with open(path, "rb") as f:
            pos_args, kwargs = pickle.load(f)  # the user's own input file (trusted, as upstream)
    except (OSError, pickle.UnpicklingError, ValueError, TypeError, EOFError) as e:
        raise UsageError(f"Cannot read task arguments from {path}: {e}") from None
    return list(pos_args), dict(kwargs)


def _in_git_work_tree() -> bool:
    """Whether git could find a repository here: GIT_DIR is set, or cwd or a parent holds
    `.git`. Outside one, `git rev-parse` fails anyway; not starting it keeps `redun run`
    from paying for two processes that can only say no."""
    if os.environ.get("GIT_DIR"):
        return True
    path = os.path.abspath(os.getcwd())
    while True:
        if os.path.exists(os.path.join(path, ".git")):
            return True
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent


def _git(*args: str):
    import subprocess

    if not _in_git_work_tree():
        return None
    try:
        p = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.strip() or None if p.returncode == 0 else None


def default_tags(user, project, doc, exclude_users=()) -> list:
    """Upstream's default execution tags: version, git commit/origin, user, project, doc.
    (Upstream also adds AWS and GCP user tags when credentials are set up; this redun does
    not look them up, so --exclude-user aws/gcp changes nothing.)"""
    import getpass

    from .. import __version__

    tags = [("redun.version", __version__)]
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


def _exec_argv(args, extra: list) -> list:
    """The full argv (as upstream records it); rebuilt when not called from a shell."""
    argv = list(sys.argv)
    if "run" in argv[1:] and args.script in argv and args.task in argv:
        return argv
    return ["redun", "run", args.script, args.task] + list(extra)
