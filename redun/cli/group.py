"""The `redun` command line: global options, lazy subcommands, error translation.

Subcommands live in redun/cli/ and are imported only when invoked, so
`redun log` does not pay for the engine or boto3.
"""

import importlib
import sys

import click

from .. import __version__

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


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_dir", default=None, help="redun configuration directory.")
@click.option("-r", "--repo", "repo_name", default="default", show_default=True, help="Redun repository to use.")
@click.option("--log-level", type=click.Choice(["ERROR", "WARN", "INFO", "DEBUG"]), default="INFO",
              show_default=True, help="Set redun logging level.")
@click.option("-s", "--setup", "setup", multiple=True, help="Specify a setup argument (key=value).")
@click.version_option(__version__, "-V", "--version", message="%(version)s")
@click.pass_context
def cli(ctx, config_dir, repo_name, log_level, setup):
    """redun :: the redundant workflow engine, with a git-like provenance store."""
    from .context import CliContext

    ctx.obj = CliContext(config_dir=config_dir, repo_name=repo_name, log_level=log_level, setup=setup)


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
