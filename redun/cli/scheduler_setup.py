"""How commands that run tasks get their Scheduler: `[scheduler] setup_scheduler` and `--setup`.

As upstream: `[scheduler] setup_scheduler = file_or_module::func` names a function
`func(config, **setup_args) -> Scheduler`; `redun --setup key=value` passes its keyword
arguments, parsed by the types of its signature (like task arguments), and
`redun --setup-help` lists them. Without the key the scheduler is
`Scheduler(config=config)`. Either way it records to the repository whose redun.ini
the config came from. An unknown `--setup` key is an error, not ignored.
"""

import importlib
import inspect
import os
import re
import sys
from typing import Callable

from ..errors import ConfigError, UsageError, WorkflowError


def import_script(filename_or_module: str, add_cwd: bool = True):
    """Import a workflow: a path ending in .py (its directory goes on sys.path) or a dotted module."""
    if filename_or_module.endswith(".py"):
        dirpath = os.path.dirname(os.path.realpath(filename_or_module))
        module_name = os.path.splitext(os.path.basename(filename_or_module))[0]
        if not os.path.exists(filename_or_module):
            raise WorkflowError(f"Cannot find Python script file or module: {filename_or_module}")
    else:
        dirpath = os.getcwd() if add_cwd else None
        module_name = filename_or_module
    if dirpath and dirpath not in sys.path:
        sys.path.insert(0, dirpath)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            raise WorkflowError(f"Cannot find Python script file or module: {filename_or_module}") from None
        raise


def parse_func_path(path: str) -> tuple:
    """('file_or_module', 'func') from 'file_or_module::func'."""
    match = re.match(r"(?P<file>.+)::(?P<func>.+)", path)
    if not match:
        raise ConfigError(f"Invalid function specification: '{path}' (expected file_or_module::function)")
    return match["file"], match["func"]


def default_setup(config):
    from ..scheduler import Scheduler

    return Scheduler(config=config)


def user_setup_func(config) -> Callable:
    """The function named by [scheduler] setup_scheduler, or the default one."""
    path = config.get("scheduler", "setup_scheduler")
    if not path:
        return default_setup
    file_or_module, name = parse_func_path(path.strip())
    module = import_script(file_or_module)
    func = getattr(module, name, None)
    if not callable(func):
        raise ConfigError(f"[scheduler] setup_scheduler = {path}: {file_or_module} has no function {name!r}")
    return func


def setup_parser(func: Callable):
    """An argparse parser of func's parameters after the first (the config)."""
    import argparse

    from .task_args import add_value_option

    parser = argparse.ArgumentParser(prog="redun --setup", description=func.__doc__, add_help=False)
    for param in list(inspect.signature(func).parameters.values())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        add_value_option(parser, param.name, param.annotation if param.annotation is not param.empty else None,
                         param.default if param.default is not param.empty else None)
    return parser


def format_setup_help(parser) -> list:
    """`redun --setup-help`: one `--setup name=VALUE (default: ...)` line per parameter."""
    from textwrap import dedent

    lines = ["redun --setup <option>=<value> ..."]
    if parser.description:
        lines += ["", dedent(parser.description).strip("\n"), ""]
    for action in parser._actions:
        if action.help == "==SUPPRESS==" or not action.option_strings:
            continue
        lines.append(f"  --setup {action.option_strings[0].strip('-')}={action.dest.upper()} "
                     f"(default: {action.default})")
    return lines


def parse_setup_args(func: Callable, setup_args) -> dict:
    """Keyword arguments for func from `--setup key=value` texts; UsageError for a bad one."""
    if not setup_args:
        return {}
    argv = []
    for key_value in setup_args:
        if "=" not in key_value:
            raise UsageError(f"Setup argument must be the format `option=value`, not {key_value!r}.")
        argv.append("--" + key_value)
    parser = setup_parser(func)
    try:
        known, unknown = parser.parse_known_args(argv)
    except SystemExit:
        raise UsageError(f"Invalid --setup argument(s): {' '.join(setup_args)} (see `redun --setup-help`).") \
            from None
    if unknown:
        names = [a[2:].split("=", 1)[0] for a in unknown if a.startswith("--")]
        accepted = [a.option_strings[0][2:] for a in parser._actions if a.option_strings
                    and a.help != "==SUPPRESS=="]
        raise UsageError(f"Unknown --setup option(s): {', '.join(names) or ' '.join(unknown)}; "
                         f"{getattr(func, '__name__', 'the setup function')} takes: "
                         f"{', '.join(accepted) or 'no options'} (see `redun --setup-help`).")
    return {k: v for k, v in vars(known).items()}


def setup_scheduler(config, setup_args=()):
    """The Scheduler for a command: the user's setup function (or the default) with --setup."""
    from ..scheduler import Scheduler

    func = user_setup_func(config)
    kwargs = parse_setup_args(func, setup_args)
    scheduler = func(config, **kwargs)
    if not isinstance(scheduler, Scheduler):
        raise ConfigError(f"[scheduler] setup_scheduler: {getattr(func, '__name__', func)} returned "
                          f"{type(scheduler).__name__}, not a redun Scheduler.")
    return scheduler
