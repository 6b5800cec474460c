"""A task's command-line arguments: `redun run wf.py TASK --name value ...`.

The parser is upstream's, built from the task's signature: one `--kebab-name`
option per parameter (`--snake_name` is accepted too), typed by the
annotation (int, float, bool `true`/`false`, File/Dir, an Enum by `name` or
`Class.name`, datetime, List[T] as several values, Optional[T] as T, a
user Value class through its `parse_arg`), and two sub-commands: `help`
(the parser's help) and `info` (the task's hash and source).
"""

import argparse
import datetime
import enum
import inspect
import typing


class ArgFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults and keeps descriptions as written (upstream's formatter)."""


def parse_bool(text: str) -> bool:
    low = text.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    raise ValueError(f'Unknown bool "{low}"')


def parse_enum(cls, text: str):
    """An Enum member from `name` or `Class.name`."""
    name = text
    if "." in text:
        prefix, name = text.split(".", 1)
        if prefix != cls.__name__:
            raise ValueError(f"{name} is not a valid {cls.__name__}")
    try:
        return cls[name]
    except KeyError:
        raise ValueError(f"{name} is not a valid {cls.__name__}") from None


def parse_value(anno, text: str):
    """One command-line value of type anno."""
    if anno is bool:
        return parse_bool(text)
    if inspect.isclass(anno):
        if issubclass(anno, enum.Enum):
            return parse_enum(anno, text)
        if anno is datetime.datetime:
            return datetime.datetime.fromisoformat(text)
        from ..value import get_type_registry

        registry = get_type_registry()
        if registry.get_type(anno, use_default=False) is not None:  # a Value class, or a type a proxy covers
            return registry.parse_arg(anno, text)
    return anno(text)


def _element_type(anno):
    """(type of one value, nargs) for an annotation: List[T] -> (T, '+'), Optional[T] -> (T, None)."""
    origin = typing.get_origin(anno)
    if origin is list or (inspect.isclass(origin) and issubclass(origin, list)) or anno is list:
        args = typing.get_args(anno)
        return (args[0] if args else str), "+"
    if origin is typing.Union or type(anno).__name__ == "UnionType":
        args = typing.get_args(anno)
        if len(args) == 2 and type(None) in args:
            return [a for a in args if a is not type(None)][0], None
    return anno, None


def _parser_func(anno):
    if anno is None or anno is str:
        return str
    name = getattr(anno, "__name__", repr(anno))

    def parse_arg(text: str):
        try:
            return parse_value(anno, text)
        except Exception as error:
            import logging

            logging.getLogger("redun").error(f"Error parsing {name}: {error}")
            raise

    parse_arg.__name__ = name  # argparse names the type in its messages
    return parse_arg


def add_value_option(parser: argparse.ArgumentParser, name: str, anno, default) -> argparse.Action:
    """The option for one parameter (upstream's add_value_arg_parser)."""
    elem, nargs = _element_type(anno) if anno is not None else (None, None)
    kwargs: dict = {}
    if inspect.isclass(elem) and issubclass(elem, enum.Enum):
        kwargs["choices"] = list(elem)
    if nargs:
        kwargs["nargs"] = nargs
    kebab = "--" + name.lower().replace("_", "-")
    parse = _parser_func(elem)
    action = parser.add_argument(kebab, dest=name, type=parse, default=default, help=" ", **kwargs)
    if kebab != "--" + name:  # --snake_name too, kept out of the help (which shows upstream's)
        parser.add_argument("--" + name, dest=name, type=parse, default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                            **kwargs)
    return action


def task_arg_parser(task, include_defaults: bool) -> argparse.ArgumentParser:
    """The parser of TASK's arguments, with `help` and `info` sub-commands."""
    parser = argparse.ArgumentParser(prog=task.fullname, description=task.func.__doc__ if task.func else None,
                                     formatter_class=ArgFormatter)
    parser.set_defaults(show_help=False, show_info=False)
    sub = parser.add_subparsers()
    sub.add_parser("help", help="Show help for calling a task.").set_defaults(show_help=True)
    sub.add_parser("info", help="Show task information.").set_defaults(show_info=True)
    for p in task.signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        anno = p.annotation if p.annotation is not p.empty else None
        default = p.default if include_defaults and p.default is not p.empty else None
        add_value_option(parser, p.name, anno, default)
    return parser


def parse_task_args(task, argv: list) -> tuple:
    """(kwargs the user gave, "help" | "info" | None). Exits 2 on a bad argument, as argparse does."""
    with_defaults = task_arg_parser(task, include_defaults=True)
    ns = with_defaults.parse_args(argv)
    if ns.show_help:
        return with_defaults.format_help(), "help"
    if ns.show_info:
        return None, "info"
    given = task_arg_parser(task, include_defaults=False).parse_args(argv)
    kwargs = {}
    for p in task.signature.parameters.values():
        value = getattr(given, p.name, None)
        if value is not None:
            kwargs[p.name] = value
    return kwargs, None


def task_info_lines(task) -> list:
    """`redun run wf.py TASK info`: the task's hash and name, then its source."""
    lines = [f"Task {task.hash} {task.fullname} ", ""]
    lines += [("  " + line) if line else "" for line in (task.source or "").split("\n")]
    return lines
