"""The `redun` command line: global options, lazy subcommands, error translation.

Subcommands live in redun/cli/ and are imported only when invoked, so
`redun log` does not pay for the engine or boto3.
"""

import importlib
import sys

import click

from .. import __version__
from ..errors import RedunError

# name -> (module, attribute, short help)
COMMANDS = {
    "init": ("redun.cli.init", "init_command", "Initialize a redun repository."),
    "run": ("redun.cli.run", "run_command", "Run a workflow task."),
    "log": ("redun.cli.log", "log_command", "Show information on historical runs."),
    "repl": ("redun.cli.repl", "repl_command", "Get a repl for querying history."),
    "db": ("redun.cli.db", "db_group", "Manage the repository format and its index."),
    "export": ("redun.cli.export_import", "export_command", "Export records as JSON lines."),
    "import": ("redun.cli.export_import", "import_command", "Import records from JSON lines."),
    "repo": ("redun.cli.repos", "repo_group", "Define additional repositories."),
    "push": ("redun.cli.push_pull", "push_command", "Sync records to another redun repo."),
    "pull": ("redun.cli.push_pull", "pull_command", "Sync records from another redun repo."),
    "fsck": ("redun.cli.fsck", "fsck_command", "Verify every object and ref of a repo."),
    "gc": ("redun.cli.gc", "gc_command", "Delete unreachable objects older than a grace period."),
    "console": ("redun.cli.console", "console_command", "Browse history in a terminal UI (needs .[console])."),
    "bundle": ("redun.cli.bundle", "bundle_group", "Move selected executions as one file."),
    "fs": ("redun.cli.fs", "fs_group", "Filesystem commands (local, s3, gs, http, etc)."),
    "help": ("redun.cli.group", "help_command", "Show help information."),
    "tag": ("redun.cli.tag", "tag_group", "Show and manipulate tags."),
    "oneshot": ("redun.cli.oneshot", "oneshot_command", "Execute one task (its function only, nothing recorded)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        spec = COMMANDS.get(name)
        if spec is None:
            return None
        module, attr, _short = spec
        mod = importlib.import_module(module)
        return getattr(mod, attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


# Commands that build a Scheduler, so --setup (the setup_scheduler arguments) applies to them.
SCHEDULER_COMMANDS = ("run",)


@click.group(cls=LazyGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_dir", default=None, help="redun configuration directory.")
@click.option("-r", "--repo", "repo_name", default="default", show_default=True, help="Redun repository to use.")
@click.option("--check-version", default=None, help="Enforce required redun version (e.g. '>=0.44,<1').")
@click.option("--log-level", type=click.Choice(["ERROR", "WARN", "INFO", "DEBUG"]), default="INFO",
              show_default=True, help="Set redun logging level.")
@click.option("-s", "--setup", "setup", multiple=True,
              help="Specify a setup argument (key=value) for [scheduler] setup_scheduler.")
@click.option("--setup-help", is_flag=True, help="Show setup argument help.")
@click.version_option(__version__, "-V", "--version", message="%(version)s")
@click.pass_context
def cli(ctx, config_dir, repo_name, check_version, log_level, setup, setup_help):
    """redun :: the redundant workflow engine, with a git-like provenance store."""
    from ..logging import set_log_level
    from .context import CliContext

    set_log_level(log_level)
    if check_version:
        from .version import require_version

        require_version(__version__, check_version)
    ctx.obj = CliContext(config_dir=config_dir, repo_name=repo_name, log_level=log_level, setup=setup)
    if setup_help:
        from .scheduler_setup import format_setup_help, setup_parser, user_setup_func

        click.echo("\n".join(format_setup_help(setup_parser(user_setup_func(ctx.obj.local_config())))))
        ctx.exit(0)
    if setup and ctx.invoked_subcommand not in SCHEDULER_COMMANDS:
        raise RedunError(f"--setup applies to `redun run` (it configures its scheduler); "
                         f"`redun {ctx.invoked_subcommand or ''}` does not use one.")
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@click.command("help")
@click.pass_context
def help_command(ctx):
    """Show help information."""
    click.echo(ctx.parent.get_help())


def main(argv=None) -> None:
    """Run a command line through click. The console entry point is
    redun/entry.py, which serves plain `redun log [ID]` without click and
    sends everything else here. We drive click ourselves (not click's main) so
    every exit path is ours: see cli/guard.py; usage errors exit 2."""
    from .guard import guarded

    guarded(_invoke, sys.argv[1:] if argv is None else list(argv))


def _invoke(args: list) -> None:
    try:
        with cli.make_context("redun", args) as ctx:
            cli.invoke(ctx)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
