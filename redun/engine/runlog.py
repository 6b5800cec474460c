"""What `redun run` prints: per-job lines, the JOB STATUS table, tracebacks.

Formats follow upstream 0.44.1 exactly (semantics §5.4): every line goes
through the `redun` logger (stderr, prefixed "[redun] "), the action word is padded to 6 characters, and a
task call is shown as fullname(param=repr, ...) over the whole signature with
defaults filled in.
"""

import datetime
import sys
from typing import Iterable, Optional

STATUSES = ("PENDING", "RUNNING", "FAILED", "CACHED", "DONE", "TOTAL")
ACTION_WIDTH = 6


def trim(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


class RunLog:
    """Writes "[redun] " lines: through the `redun` logger (redun/logging.py) at INFO, as
    upstream does, or straight to `stream` when one is given (tests). quiet drops them,
    and so does a logger level above INFO (`redun --log-level ERROR`, or a Scheduler's
    `logger` set to WARNING): `quiet` is then true, so the engine does not even build its
    per-job lines."""

    def __init__(self, stream=None, quiet: bool = False, logger=None):
        self.stream = stream
        self._quiet = quiet
        if logger is None and stream is None:
            from ..logging import logger
        self.logger = logger
        self._plain = None  # (redun's logger, its direct writer) when that is the logger used
        if logger is not None:
            from .. import logging as redun_logging

            if logger is redun_logging.logger:
                self._plain = (logger, redun_logging.write_plain)

    @property
    def quiet(self) -> bool:
        if self._quiet:
            return True
        return self.logger is not None and not self.logger.isEnabledFor(20)  # logging.INFO

    def enabled(self) -> bool:
        return not self.quiet

    def log(self, message: str = "", level: int = 20) -> None:
        if self._quiet or (self.logger is not None and not self.logger.isEnabledFor(level)):
            return
        if self.stream is not None:
            self.stream.write(f"[redun] {message}\n")
        else:  # a line per job: skip building a LogRecord when logging is set up as ours
            plain = self._plain
            if plain is None or plain[0] is not self.logger or not plain[1](level, message):
                self.logger.log(level, message)

    def flush(self) -> None:
        if self.stream is not None:
            self.stream.flush()
        else:
            sys.stderr.flush()


_PARAMS: dict = {}  # id(signature) -> (signature, ((name, default), ...)); signatures are immutable


def _params(task) -> tuple:
    try:
        sig = task.signature
    except (TypeError, ValueError):
        return ()
    hit = _PARAMS.get(id(sig))
    if hit is None or hit[0] is not sig:
        if len(_PARAMS) > 10_000:
            _PARAMS.clear()
        hit = _PARAMS[id(sig)] = (sig, tuple((p.name, p.default) for p in sig.parameters.values()))
    return hit[1]


def format_task_call(task, args: tuple, kwargs: dict) -> str:
    """fullname(p1=repr, p2=repr, ...) following the signature, defaults filled."""
    params = _params(task)
    if params:
        n = len(args)
        parts = []
        for i, (name, default) in enumerate(params):
            r = repr(args[i] if i < n else kwargs.get(name, default))
            if len(r) > 200:
                r = r[:197] + "..."
            parts.append(f"{name}={r}")
    else:
        parts = [trim(repr(a)) for a in args] + [f"{k}={trim(repr(v))}" for k, v in kwargs.items()]
    return f"{task.fullname}({', '.join(parts)})"


def run_line(job_id: str, call: str, executor: str = "default", dryrun: bool = False) -> str:
    action = ("Dryrun" if dryrun else "Run").ljust(ACTION_WIDTH)
    return f"{action} Job {job_id[:8]}:  {call} on {executor}"


def cached_line(job_id: str, call: str, eval_hash: str, call_hash: Optional[str]) -> str:
    shallow = ", check_valid=shallow" if call_hash else ""
    ch = call_hash[:8] if call_hash else "None"
    return f"{'Cached'.ljust(ACTION_WIDTH)} Job {job_id[:8]}:  {call} (eval_hash={eval_hash[:8]}{shallow}, call_hash={ch})"


def miss_line(job_id: str, result_repr: str, eval_hash: str) -> str:
    return (f"{'Miss'.ljust(ACTION_WIDTH)} Job {job_id[:8]}:  Cached result is no longer valid "
            f"(result={trim(result_repr)}, eval_hash={eval_hash[:8]}).")


def untrusted_line(job_id: str, eval_hash: str, why: str) -> str:
    return (f"{'Miss'.ljust(ACTION_WIDTH)} Job {job_id[:8]}:  Cached result is a pickle {why}: not unpickled, "
            f"the job reruns (eval_hash={eval_hash[:8]}; trust its source with `trust = true` in [repos.NAME]).")


def reject_line(job_id: str, call: str) -> str:
    return f"*** {'Reject'.ljust(ACTION_WIDTH)} Job {job_id[:8]}:  {call}:"


def format_table(rows: list, justs: str, min_width: int = 0) -> Iterable[str]:
    widths = [max(max(len(r[j]) for r in rows), min_width) for j in range(len(rows[0]))]
    for i, row in enumerate(rows):
        if i == 1:
            yield ""
        yield " ".join(c.ljust(w) if j == "l" else c.rjust(w) for c, j, w in zip(row, justs, widths))


def job_status_lines(counts: dict, now: Optional[datetime.datetime] = None) -> list:
    """counts: {task fullname: {status: n}} -> the JOB STATUS table lines (upstream layout)."""
    names = sorted(counts)
    table = [["TASK", *STATUSES]]
    table.append(["ALL"] + [str(sum(counts[n].get(s, 0) for n in names)) for s in STATUSES])
    for n in names:
        table.append([n] + [str(counts[n].get(s, 0)) for s in STATUSES])
    now = now or datetime.datetime.now()
    lines = [f"| JOB STATUS {now.strftime('%Y/%m/%d %H:%M:%S')}"]
    lines += [f"| {line}" for line in format_table(table, "lrrrrrr", min_width=7)]
    lines.append("")
    return lines


def log_job_statuses(log: RunLog, counts: dict) -> None:
    log.log()
    for line in job_status_lines(counts):
        log.log(line)
    log.log()


def _def_line(func) -> tuple:
    import inspect

    lines, first = inspect.getsourcelines(func)
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("def ", "async def ")):
            return line.strip(), first + i
    return lines[0].strip(), first


def task_traceback_lines(failed_job, frames: list, error: BaseException) -> list:
    """Upstream's "most recent task last" traceback: each job from the root down to the
    failing one (file, def line, bound arguments), then the frames inside the task."""
    chain = []
    j = failed_job
    while j is not None:
        chain.append(j)
        j = j.parent_job
    lines = []
    for j in reversed(chain):
        code = getattr(j.task.func, "__code__", None)
        if code is None:
            continue
        try:
            text, first = _def_line(j.task.func)
        except (OSError, TypeError):
            text, first = "", code.co_firstlineno
        lines.append(f'  Job {j.id[:8]}: File "{code.co_filename}", line {first}, in {j.task.name}')
        lines.append(f"    {text}")
        try:
            bound = j.task.signature.bind(*j.call_args, **j.call_kwargs)
            bound.apply_defaults()
            params = dict(bound.arguments)
        except (TypeError, ValueError):
            params = {}
        if params:
            width = max(map(len, params))
            for k in sorted(params):
                lines.append(f"    {k.ljust(width)} = {trim(repr(params[k]))}")
    for fr in frames:
        lines.append(f'  File "{fr.filename}", line {fr.lineno}, in {fr.name}')
        lines.append(f"    {fr.line}")
    lines.append(f"{type(error).__name__}: {error}")
    return lines
