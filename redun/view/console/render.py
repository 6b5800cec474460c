"""Formatting of browse view objects (redun/view/browse_models.py) as Rich text.

Pure functions of the objects they are given: nothing here queries the
repository, so a screen's content is exactly what its view objects hold.
"""

import time

from rich.text import Text

STATUS_STYLES = {"DONE": "green", "CACHED": "cyan", "FAILED": "bold red", "RUN": "yellow", "RUNNING": "yellow"}


def when(us) -> str:
    return "-" if us is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1e6))


def duration(us) -> str:
    if us is None:
        return "-"
    secs = max(us, 0) / 1e6
    if secs < 60:
        return f"{secs:.2f}s"
    minutes, secs = divmod(int(secs), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}"


def status(text: str) -> Text:
    return Text(f"{text:^6}", style=STATUS_STYLES.get(text, ""))


def status_gap(text: str) -> Text:
    """A status cell followed by a space that belongs to it (SVG export drops a lone
    space between two styled runs)."""
    out = Text()
    out.append(f"{text:^6} ", style=STATUS_STYLES.get(text, ""))
    return out


def trim(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def tags(items: dict, n: int = 60) -> str:
    return trim(" ".join(f"{k}={v}" for k, v in sorted(items.items())), n)


# -- rows of lists ---------------------------------------------------------------

EXEC_COLUMNS = ("Id", "Status", "Started", "Duration", "Task", "Args", "Tags")


def exec_cells(ex) -> tuple:
    return (ex.id[:8], status(ex.status), when(ex.start), duration(ex.duration), ex.task_name, trim(ex.args, 40),
            tags(ex.tags))


JOB_COLUMNS = ("Job", "Status", "Started", "Duration", "Call")


def job_call(job, n: int = 80) -> str:
    return trim(f"{job.task_name}({job.args})", n)


def job_cells(job) -> tuple:
    return (job.id[:8], status(job.status), when(job.start), duration(job.duration), job_call(job))


def job_label(job) -> Text:
    """One node of a job tree: status, call, duration, id."""
    out = status_gap(job.status)
    out.append(job_call(job, 70), style="bold" if job.status == "FAILED" else "")
    out.append(f"  {duration(job.duration)}", style="dim")
    out.append(f"  {job.id[:8]}", style="dim")
    return out


def value_line(ref) -> str:
    if ref.path is not None:
        return trim(f"File {ref.path} ({ref.hash[:8]})", 100)
    return trim(f"{ref.preview}  [{ref.type}]", 100)


# -- screens' text ---------------------------------------------------------------


def exec_header(detail) -> Text:
    ex = detail.summary
    out = Text()
    out.append("Execution ", style="bold")
    out.append(f"{ex.id}  ")
    out.append_text(status(ex.status))
    out.append(f"\nStarted {when(ex.start)}   Duration {duration(ex.duration)}")
    out.append(f"\nTask {ex.task_name}   Command: redun {ex.args}")
    if ex.tags:
        out.append(f"\nTags: {tags(ex.tags, 200)}")
    counts = "  ".join(f"{k}: {v}" for k, v in sorted(detail.counts.items()))
    out.append(f"\nJobs: {sum(detail.counts.values())}  ({counts})")
    return out


def job_text(d) -> Text:
    j = d.summary
    out = Text()
    out.append("Job ", style="bold")
    out.append(f"{j.id}  ")
    out.append_text(status(j.status))
    out.append(f"  {when(j.start)}\n")
    out.append("Task ", style="bold")
    out.append(f"{j.task_name}  ({d.task_hash[:8]})\n")
    out.append("Duration ", style="bold")
    out.append(f"{duration(j.duration)}\n")
    if d.execution is not None:
        out.append("Execution ", style="bold")
        out.append(f"{d.execution.id[:8]}  redun {trim(d.execution.args, 60)}\n")
    if d.call_hash:
        out.append("CallNode ", style="bold")
        out.append(f"{d.call_hash}\n")
    out.append("Cache ", style="bold")
    out.append(f"{'hit' if d.cache.hit else 'miss'}: ", style="cyan" if d.cache.hit else "yellow")
    out.append(d.cache.reason + "\n\n")
    out.append("Arguments\n", style="bold")
    for a in d.arguments:
        out.append(f"  {a.label} = {value_line(a.value)}\n")
    if not d.arguments:
        out.append("  (none)\n" if d.call_hash else "  unknown: the job has not finished or was killed\n")
    if d.failure is not None:
        out.append("\nRaised ", style="bold red")
        out.append(d.failure.error + "\n")
        out.append("Traceback\n", style="bold")
        out.append("\n".join(d.failure.traceback) + "\n" if d.failure.traceback else "  (not recorded)\n")
        if d.failure.logs:
            out.append("Output (last lines)\n", style="bold")
            out.append("\n".join(d.failure.logs) + "\n")
    elif d.result is not None:
        out.append("\nResult ", style="bold")
        out.append(value_line(d.result) + "\n")
        if d.result.is_error:
            out.append("  (error details could not be read)\n", style="dim")
    return out


def value_text(v) -> Text:
    r = v.ref
    out = Text()
    out.append("File " if r.path is not None else "Value ", style="bold")
    out.append(f"{r.hash}\n")
    if r.path is not None:
        out.append("Path ", style="bold")
        out.append(f"{r.path}\n")
    out.append("Type ", style="bold")
    out.append(f"{r.type}   ")
    out.append("Size ", style="bold")
    out.append(f"{r.size} bytes ({r.format})\n\n")
    if v.failure is not None:
        out.append("Raised ", style="bold red")
        out.append(v.failure.error + "\n" + "\n".join(v.failure.traceback) + "\n")
    else:
        out.append(v.text + "\n")
    out.append(f"\nProduced by {len(v.producers)} job(s), used by {len(v.consumers)} job(s)"
               f"{' (first 50)' if max(len(v.producers), len(v.consumers)) >= 50 else ''}.\n", style="dim")
    return out


def task_text(t) -> list:
    """Renderables of a task screen: header, source, versions."""
    from rich.syntax import Syntax  # pygments: paid when a task is shown, not at start-up
    head = Text()
    head.append("Task ", style="bold")
    head.append(f"{t.fullname}  {t.hash}\n")
    head.append(f"{len(t.versions)} version(s) recorded:\n", style="bold")
    for v in t.versions:
        mark = "*" if v.hash == t.hash else " "
        head.append(f" {mark} {v.hash[:8]}  {v.jobs:>7} jobs  first {when(v.first)}  last {when(v.last)}\n")
    return [head, Syntax(t.source, "python", line_numbers=True, word_wrap=False)]


def lineage_label(node) -> Text:
    out = Text()
    out.append(f"{node.label}: ", style="dim")
    if node.kind == "job":
        out.append_text(status(node.job.status))
        out.append(" ")
        out.append(job_call(node.job, 80))
        out.append(f"  {node.job.id[:8]}", style="dim")
    else:
        out.append(value_line(node.value), style="bold" if node.value.path is not None else "")
    return out
