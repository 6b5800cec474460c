"""`redun init`."""

import os

import click

from ..repo.repository import Repo


@click.command("init")
@click.argument("basedir", required=False)
@click.pass_obj
def init_command(obj, basedir):
    """Initialize a redun repository (BASEDIR/.redun, default: the config dir)."""
    root = os.path.join(basedir, ".redun") if basedir else obj.local_config_dir
    repo = Repo.init(root)
    if getattr(repo, "kind", "local") == "postgresql":
        click.echo(f"Initialized redun repository: PostgreSQL database {repo.location.display} (config dir {root})")
    else:
        click.echo(f"Initialized redun repository: {root}")
    repo.close()
