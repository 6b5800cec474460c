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
    Repo.init(root)
    click.echo(f"Initialized redun repository: {root}")
