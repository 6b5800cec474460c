"""Ready-made tasks (upstream's `redun.tools`): a lazy breakpoint, file copies, templates.

Each is versioned ("1"), so its task hash is upstream's whatever its body.
"""

import os
from typing import Optional, TypeVar

from .file import Dir, File
from .task import task

T = TypeVar("T")


@task(namespace="redun", version="1", cache=False)
def debug_task(value: T) -> T:
    """Stop in pdb at one point of a workflow, with `value` (the result of whatever was passed
    in) in hand; `c` continues. Insert it in a dataflow: `x = debug_task(x)`."""
    import pdb

    pdb.set_trace()
    return value


@task(namespace="redun", version="1", config_args=["skip_if_exists"])
def copy_file(src_file: File, dest_path: str, skip_if_exists: bool = False) -> File:
    """Copy a File to dest_path (a path ending in '/' keeps the source's basename)."""
    if dest_path.endswith("/"):
        dest_path = dest_path + src_file.basename()
    return src_file.copy_to(src_file.classes.File(dest_path), skip_if_exists=skip_if_exists)


@task(namespace="redun", version="1", config_args=["skip_if_exists", "copy_options"])
def copy_files(src_files: list, dest_paths: list, skip_if_exists: bool = False, copy_options: dict = {}) -> list:
    """Copy Files to new paths, one copy_file job each (in parallel)."""
    return [
        copy_file.options(**copy_options)(src_file, dest_path, skip_if_exists=skip_if_exists)
        for src_file, dest_path in zip(src_files, dest_paths)
    ]


@task(namespace="redun", version="1", config_args=["skip_if_exists", "copy_options"])
def copy_dir(src_dir: Dir, dest_path: str, skip_if_exists: bool = False, copy_options: dict = {}) -> Dir:
    """Copy a Dir to dest_path, its files in parallel; the Dir once every file is copied."""
    from .functools import seq

    src_files = list(src_dir)
    dest_dir = src_dir.classes.Dir(dest_path)
    dest_paths = [dest_dir.file(src_dir.rel_path(f.path)).path for f in src_files]
    return seq([copy_files(src_files, dest_paths, skip_if_exists=skip_if_exists, copy_options=copy_options),
                dest_dir])[1]


@task(namespace="redun", version="1")
def render_template(out_path: str, template: File, context: dict, template_dir: Optional[str] = None) -> File:
    """Render a jinja2 template file into out_path (jinja2 must be installed)."""
    try:
        import jinja2
    except ImportError:
        raise ImportError("jinja2 must be installed to use render_template()") from None
    if not template_dir:
        template_dir = template.dirname()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir))
    jinja_template = env.get_template(os.path.relpath(template.path, template_dir))
    out_file = File(out_path)
    out_file.write(jinja_template.render(context))
    return out_file
