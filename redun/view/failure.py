"""What a failed job raised, read from its stored ErrorValue without unpickling it.

A failed job's result is a pickled ErrorValue holding the user's exception and a
traceback: our engine stores the traceback as text, upstream as a
`redun.scheduler.Traceback` of frame summaries (with the last lines of a script's
output in `logs`). Both are read as a sketch (objects/pickleread.read_sketch):
class names, arguments and state, with no import and no call, so a hostile or
unimportable exception class is shown, never run.
"""

from typing import Any, List, Optional

from ..objects.pickleread import Built, Malformed, NotPlain, Symbol, read_sketch

ERROR_VALUE_TYPE = "redun.ErrorValue"


class Failure:
    """The error (one line, like `ValueError('too big: 4')`), traceback lines and logs."""

    __slots__ = ("error", "traceback", "logs")

    def __init__(self, error: str, traceback: List[str], logs: List[str]):
        self.error, self.traceback, self.logs = error, traceback, logs

    def __repr__(self) -> str:
        return f"Failure({self.error!r}, {len(self.traceback)} traceback lines, {len(self.logs)} log lines)"


def describe_failure(payload: bytes) -> Optional[Failure]:
    """A Failure for an ErrorValue pickle, or None when the bytes are not one."""
    try:
        root = read_sketch(payload)
    except (NotPlain, Malformed):
        return None
    state = _state(root)
    if not (isinstance(root, Built) and root.symbol.name == "ErrorValue" and isinstance(state, dict)):
        return None
    tb = state.get("traceback")
    lines: List[str] = []
    logs: List[str] = []
    if isinstance(tb, str):
        lines = tb.rstrip("\n").split("\n") if tb else []
    elif isinstance(tb, Built):
        tb_state = _state(tb)
        if isinstance(tb_state, dict):
            for frame in tb_state.get("frames") or ():
                lines += _frame_lines(frame)
            logs = [str(x).rstrip("\n") for x in tb_state.get("logs") or () if isinstance(x, str)]
    return Failure(describe_error(state.get("error")), lines, logs)


def describe_error(error: Any) -> str:
    """`ValueError: too big: 3` for an exception with one message argument (as str(error)
    reads); a script's error with the stderr it kept (ScriptError.message); else its repr."""
    if isinstance(error, Built):
        name = error.symbol.name
        if len(error.args) == 1 and isinstance(error.args[0], str):
            return f"{name}: {error.args[0]}"
        state = _state(error)
        if isinstance(state, dict) and isinstance(state.get("message"), (str, bytes)) and state["message"]:
            message = state["message"]
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            return f"{name}: {text.rstrip()}"
    return describe_object(error)


def _state(obj: Any) -> Any:
    """An object's state as one dict where it is one (slots state comes as (dict, slots))."""
    if not isinstance(obj, Built):
        return None
    st = obj.state
    if isinstance(st, tuple) and len(st) == 2:
        merged = {}
        for part in st:
            if isinstance(part, dict):
                merged.update(part)
        return merged
    return st


def _frame_lines(frame: Any) -> List[str]:
    st = _state(frame)
    if not isinstance(st, dict):
        return []
    job = st.get("job")
    job_state = _state(job) if isinstance(job, Built) else None
    prefix = ""
    if isinstance(job_state, dict) and isinstance(job_state.get("id"), str):
        prefix = f"Job {job_state['id'][:8]}: "
    out = [f'  {prefix}File "{st.get("filename")}", line {st.get("lineno")}, in {st.get("name")}']
    line = st.get("_line", st.get("line"))
    if isinstance(line, str) and line.strip():
        out.append(f"    {line.strip()}")
    return out


def describe_object(obj: Any, limit: int = 2000) -> str:
    """repr-like text of a sketched value: `Name(args…)` for built objects."""
    text = _repr(obj, 0)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _repr(obj: Any, depth: int) -> str:
    if depth > 20:
        return "..."
    if isinstance(obj, Built):
        parts = [_repr(a, depth + 1) for a in obj.args]
        parts += [f"{k}={_repr(v, depth + 1)}" for k, v in obj.kwargs.items()]
        return f"{obj.symbol.name}({', '.join(parts)})"
    if isinstance(obj, Symbol):
        return f"{obj.module}.{obj.name}"
    if isinstance(obj, (list, tuple)):
        inner = ", ".join(_repr(x, depth + 1) for x in obj)
        if isinstance(obj, tuple):
            return f"({inner}{',' if len(obj) == 1 else ''})"
        return f"[{inner}]"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{_repr(k, depth + 1)}: {_repr(v, depth + 1)}" for k, v in obj.items()) + "}"
    return repr(obj)
